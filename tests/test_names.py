"""Names from clients reach the disk only as names: plain names checked whole, entries found by listing their
folder, new files created only directly inside their folder."""
from __future__ import annotations

import os

import pytest

from engines.names import (
    FILE_NAME,
    NAME,
    BadName,
    check_name,
    find_entry,
    new_entry,
    shown,
)

PATHS = ["../x", "..", ".", "/etc/passwd", "a/b", "a\\b", "x\x00y", ".hidden", "", " x", "x ", "CON:", "~root",
         "a\nb", "é", "x" * 200]


@pytest.mark.parametrize("name", PATHS + [None, 7, ["a"], {"a": 1}])
def test_anything_but_a_plain_name_is_refused(name):
    with pytest.raises(BadName) as info:
        check_name(name)
    assert len(str(info.value)) < 120


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper", "a", "a-1_b", "0" * 64])
def test_plain_names_pass(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["talk.mp4", "Talk-2_b.MP4", "a..b.mp4"])
def test_file_names_may_have_dots_inside(name):
    assert check_name(name, FILE_NAME) == name
    with pytest.raises(BadName):
        check_name(name, NAME)


def test_entries_are_found_by_listing_never_by_joining(tmp_path):
    (tmp_path / "inside").mkdir()
    (tmp_path / "inside" / "alice").mkdir()
    (tmp_path / "outside").mkdir()
    folder = tmp_path / "inside"
    assert find_entry(folder, "alice") == folder / "alice"
    for name in ["../outside", "alice/..", str(tmp_path / "outside"), "nobody", 5]:
        assert find_entry(folder, name) is None
    assert find_entry(tmp_path / "missing", "alice") is None


def test_new_files_stay_directly_inside_their_folder(tmp_path):
    folder = tmp_path / "recordings"
    folder.mkdir()
    assert new_entry(folder, "talk.mp4") == folder.resolve() / "talk.mp4"
    for name in PATHS[:-1]:
        with pytest.raises(BadName):
            new_entry(folder, name)
    os.symlink(tmp_path, folder / "escape.mp4")  # a link planted in the folder leads out of it
    with pytest.raises(BadName):
        new_entry(folder, "escape.mp4")


def test_names_are_shown_short():
    assert shown("alice") == "'alice'"
    assert len(shown("x" * 60_000)) == 40
