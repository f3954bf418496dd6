"""Names that come from clients (avatars, recordings, anything a client may name inside a server's folder) and
how they reach the disk: never as paths. A name must match a strict pattern (no separator, no leading dot, so no
`..`, no absolute path, no hidden file), an existing entry is found by listing its folder and comparing names,
and a new entry is only ever created directly inside its folder."""
from __future__ import annotations

import re
from pathlib import Path

# Avatar bundles, voices of the operator's own, anything named like an identifier.
NAME = re.compile(r"[a-z0-9_-]{1,64}")
# Files a client names: a recording "talk-2.mp4". Letters, digits, ".", "_" and "-"; not starting with a dot.
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_QUOTED = 40


class BadName(ValueError):
    """A client's name that is not a plain name of the required form."""


def shown(name: object) -> str:
    """A client's name as an error message shows it: quoted, and cut short (a 60 KiB name stays a short error)."""
    text = repr(name)
    return text if len(text) <= _QUOTED else text[: _QUOTED - 3] + "..."


def check_name(name: object, pattern: re.Pattern[str] = NAME, what: str = "name") -> str:
    """`name` itself when it is a string matching `pattern` whole; BadName otherwise."""
    if not isinstance(name, str) or pattern.fullmatch(name) is None:
        raise BadName(f"{what} {shown(name)} is not a plain name (allowed: {pattern.pattern})")
    return name


def find_entry(folder: Path, name: object, pattern: re.Pattern[str] = NAME) -> Path | None:
    """The entry of `folder` called `name`, found by listing the folder (the name is compared, never joined to a
    path), or None when there is none or the name is not a plain name."""
    try:
        check_name(name, pattern)
        return next((entry for entry in folder.iterdir() if entry.name == name), None)
    except (BadName, OSError):
        return None


def new_entry(folder: Path, name: object, pattern: re.Pattern[str] = FILE_NAME, what: str = "name") -> Path:
    """Where a file named `name` is to be created inside `folder`: BadName unless it is a plain name, and unless
    the path stays directly inside the folder once links are followed (a link planted in the folder)."""
    folder = folder.resolve()
    target = folder / check_name(name, pattern, what)
    if target.resolve().parent != folder:
        raise BadName(f"{what} {shown(name)} leads outside {folder}")
    return target
