"""The avatars a client may name: the committed bundles, the operator's folders and bundles, nothing else; a
client's name is never used as a path."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engines.avatar import AvatarCatalog, UnknownAvatar
from engines.avatar.bundle import AVATARS_DIR


def bundle_copy(folder: Path, name: str, of: str = "astronaut") -> Path:
    target = folder / name
    shutil.copytree(AVATARS_DIR / of, target)
    return target


@pytest.fixture
def planted(tmp_path) -> Path:
    """A valid bundle somewhere on the disk that nobody registered."""
    return bundle_copy(tmp_path / "elsewhere", "planted")


def test_committed_bundles_are_registered():
    catalog = AvatarCatalog()
    assert {"astronaut", "grace_hopper"} <= set(catalog.names())
    assert catalog.load("grace_hopper").name == "grace_hopper"


def test_paths_and_odd_names_are_unknown_even_when_they_hold_a_bundle(planted):
    catalog = AvatarCatalog()
    relative = "/".join([".."] * 12) + str(planted)
    for name in [str(planted), relative, "../avatars/astronaut", "astronaut/", "./astronaut", "ASTRONAUT",
                 "astronaut\x00", "", "planted", None, 3, ["astronaut"], "x" * 10_000]:
        with pytest.raises(UnknownAvatar) as info:
            catalog.load(name)
        assert len(str(info.value)) < 200 and "astronaut" in str(info.value)  # it names the known ones


def test_operator_folders_register_their_bundles_and_new_ones_appear(tmp_path, planted):
    mine = tmp_path / "mine"
    bundle_copy(mine, "alice", of="grace_hopper")
    (mine / "not-a-bundle").mkdir()
    (mine / "Bad Name").mkdir()
    catalog = AvatarCatalog([mine, planted])
    assert {"alice", "planted"} <= set(catalog.names()) and "not-a-bundle" not in catalog.names()
    assert catalog.load("alice").image.shape == (512, 512, 3)
    assert catalog.load("planted").name == "astronaut"  # the operator named that one folder
    bundle_copy(mine, "bob")  # written by the preparation tool or an upload while the server runs
    assert "bob" in catalog.names() and catalog.load("bob").name == "astronaut"


def test_the_first_registered_bundle_of_a_name_wins(tmp_path):
    shadow = tmp_path / "shadow"
    bundle_copy(shadow, "grace_hopper", of="astronaut")
    catalog = AvatarCatalog([shadow])
    assert catalog.load("grace_hopper").name == "grace_hopper"  # the committed one
    assert catalog.names().count("grace_hopper") == 1


def test_the_operators_default_may_be_a_folder(planted):
    catalog = AvatarCatalog()
    assert catalog.register("astronaut") == "astronaut"
    assert catalog.register(str(planted)) == "planted"
    assert catalog.load("planted").name == "astronaut"
    with pytest.raises(UnknownAvatar):
        catalog.register(str(planted.parent / "nothing"))


def test_a_damaged_bundle_is_unknown_not_a_crash(tmp_path):
    mine = tmp_path / "mine"
    broken = bundle_copy(mine, "broken")
    (broken / "avatar.json").write_text('{"format": 1, "name": "broken"}')
    catalog = AvatarCatalog([mine])
    with pytest.raises(UnknownAvatar) as info:
        catalog.load("broken")
    assert "not a usable avatar bundle" in str(info.value)


def test_a_missing_operator_folder_is_refused(tmp_path):
    with pytest.raises(UnknownAvatar):
        AvatarCatalog([tmp_path / "missing"])
