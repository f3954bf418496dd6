"""The avatars a client may name: bundles the server registered, looked up by name only.

Registered are the committed bundles (assets/avatars), every bundle inside the folders the operator gives
(`--avatar-dir`; new bundles written there, by the preparation tool or an upload, are found on their first use)
and bundle folders the operator names one by one (`--avatar /path/to/bundle`). A client's name is compared with
the names of those bundles and never used as a path: anything else is UnknownAvatar.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from assets import AVATARS_DIR
from engines.avatar.bundle import (
    AvatarBundle,
    UnknownAvatar,
    bundles_in,
    is_bundle,
    load_bundle,
)
from engines.names import shown

log = logging.getLogger(__name__)
_LISTED = 10  # names an unknown_avatar error lists


class AvatarCatalog:
    """Bundle folders by name. When two bundles share a name, the first registered wins: bundles named one by
    one, then the folders in their order (the committed bundles first)."""

    def __init__(self, folders: Sequence[Path] = ()) -> None:
        self._bundles: dict[str, Path] = {}
        self._folders: list[Path] = []
        for folder in [AVATARS_DIR, *folders]:
            if is_bundle(folder):
                self.add_bundle(folder)
            elif folder.is_dir():
                self._folders.append(folder)
            else:
                raise UnknownAvatar(f"avatar folder {folder} does not exist")

    def add_bundle(self, folder: Path) -> str:
        """Register one bundle folder under its folder's name (the operator's choice); returns that name."""
        if not is_bundle(folder):
            raise UnknownAvatar(f"{folder} is not an avatar bundle (no avatar.json)")
        name = folder.resolve().name
        existing = self.find(name)
        if existing is not None and existing.resolve() != folder.resolve():
            log.warning("avatar %s: %s hides another bundle of that name (%s)", name, folder, existing)
        self._bundles[name] = folder
        return name

    def register(self, name_or_folder: str) -> str:
        """The operator's default avatar: a registered name, or a bundle folder registered now. Returns its name."""
        if self.find(name_or_folder) is not None:
            return name_or_folder
        return self.add_bundle(Path(name_or_folder))

    def names(self) -> list[str]:
        """Every registered name (folders are listed again on each call: new bundles appear)."""
        names = dict.fromkeys(self._bundles)
        for folder in self._folders:
            names.update(dict.fromkeys(bundles_in(folder)))
        return list(names)

    def find(self, name: object) -> Path | None:
        """The bundle folder registered under `name`, or None."""
        if not isinstance(name, str):
            return None
        if name in self._bundles:
            return self._bundles[name]
        return next((found for folder in self._folders if (found := bundles_in(folder).get(name)) is not None), None)

    def load(self, name: object) -> AvatarBundle:
        """The bundle registered under `name`; UnknownAvatar for any other name."""
        folder = self.find(name)
        if folder is None:
            known = self.names()
            listed = ", ".join(known[:_LISTED]) + (f" and {len(known) - _LISTED} more" if len(known) > _LISTED else "")
            raise UnknownAvatar(f"unknown avatar {shown(name)}; known: {listed or 'none'}")
        return load_bundle(folder)
