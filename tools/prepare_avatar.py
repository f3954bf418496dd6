"""Prepare an avatar bundle from one portrait photo (the command line of engines/avatar/prepare.py).

    .venv/bin/python tools/prepare_avatar.py PHOTO --name NAME [--out AVATARS_FOLDER] [--force]

Finds exactly one face, crops a square video-call framing around it, scales it to --size, and writes the bundle
AVATARS_FOLDER/NAME (default: the committed avatars, assets/avatars). Errors are one line on stderr, with the
protocol's error code, and exit status 2.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assets import AVATARS_DIR  # noqa: E402
from engines.avatar.prepare import MIN_FACE_PX, PreparationError, prepare_avatar  # noqa: E402

log = logging.getLogger("prepare_avatar")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photo", type=Path, help="a JPEG, PNG or WebP photo of one person, at most 10 MB")
    parser.add_argument("--name", required=True, help="1-40 of a-z, 0-9, _ and -")
    parser.add_argument("--out", type=Path, default=AVATARS_DIR, help="the avatars folder the bundle goes into")
    parser.add_argument("--size", type=int, default=512, help="output frame side in pixels")
    parser.add_argument("--min-face", type=int, default=MIN_FACE_PX, help="smallest usable face height in the photo")
    parser.add_argument("--source", default="", help="where the photo came from, recorded in the bundle")
    parser.add_argument("--force", action="store_true", help="replace a bundle of that name")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        photo = args.photo.read_bytes()
    except OSError as error:
        print(f"prepare_avatar: error: cannot read {args.photo}: {error.strerror.lower()}", file=sys.stderr)
        return 2
    source = {"photo": args.photo.name, **({"credit": args.source} if args.source else {})}
    try:
        folder = prepare_avatar(photo, args.name, args.out, args.size, args.min_face, source, overwrite=args.force)
    except PreparationError as error:
        print(f"prepare_avatar: error: {error.code}: {error}", file=sys.stderr)
        return 2
    log.info("wrote %s", folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
