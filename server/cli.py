"""Command line: `python -m server` or `avatar-server`. Every option is generated from ServerConfig's fields."""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engines.tts.base import EngineUnavailable
from server.config import ServerConfig
from server.logs import configure_logging
from server.scale.node import serve
from server.scale.supervisor import WorkerFailed


def _option(f: dataclasses.Field) -> str:
    return f.metadata.get("flag", "--" + f.name.replace("_", "-"))


def _scalar(hint: Any) -> type:
    """int, float, str or Path from a field's type (`X | None` -> X)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def _comma_list(kind: type):
    def parse(text: str) -> tuple:
        try:
            return tuple(kind(part) for part in text.split(",") if part.strip())
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"{text!r}: {error}") from None

    return parse


def _add(group: argparse._ArgumentGroup, f: dataclasses.Field, hint: Any) -> None:
    meta = f.metadata
    kwargs: dict[str, Any] = {"dest": f.name, "help": meta["help"]}
    if "choices" in meta:
        kwargs["choices"] = tuple(meta["choices"])
    if hint is bool:
        kwargs.update(action=argparse.BooleanOptionalAction, default=f.default)
    elif typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        if meta.get("repeat"):
            metavar = meta.get("metavar", f.name.upper().removesuffix("S"))
            kwargs.update(action="append", type=item, default=None, metavar=metavar)
        else:
            kwargs.update(type=_comma_list(item), default=f.default, metavar="A,B,...")
        kwargs["help"] += f" (default {','.join(map(str, f.default)) or 'none'})"
    else:
        default = os.environ.get(meta["env"]) or f.default if "env" in meta else f.default
        kwargs.update(type=_scalar(hint), default=default)
        if "env" not in meta:
            kwargs["help"] += " (default %(default)s)"
    group.add_argument(_option(f), **kwargs)


def _fields(cls: type) -> list[tuple[dataclasses.Field, Any]]:
    hints = typing.get_type_hints(cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(cls)]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="avatar-server", description="Real-time streaming avatar server.")
    for f, hint in _fields(ServerConfig):
        if dataclasses.is_dataclass(hint):
            group = parser.add_argument_group(f.name.replace("_", " "), hint.__doc__)
            for inner, inner_hint in _fields(hint):
                _add(group, inner, inner_hint)
        else:
            _add(parser, f, hint)
    return parser


def _values(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f, hint in _fields(cls):
        if dataclasses.is_dataclass(hint):
            values[f.name] = hint(**_values(hint, args))
            continue
        value = getattr(args, f.name)
        values[f.name] = f.default if value is None and f.metadata.get("repeat") else _typed(value, hint)
    return values


def _typed(value: Any, hint: Any) -> Any:
    if isinstance(value, list):
        return tuple(value)
    return Path(value) if _scalar(hint) is Path and value is not None else value


def parse_args(argv: Sequence[str] | None = None) -> ServerConfig:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = ServerConfig(**_values(ServerConfig, args))
    except ValueError as error:
        parser.error(str(error))
    configure_logging(config.log_level)
    return config


def main(argv: Sequence[str] | None = None) -> None:
    config = parse_args(argv)
    try:
        asyncio.run(serve(config))
    except KeyboardInterrupt:  # before the node has started: nothing to drain
        pass
    except (EngineUnavailable, WorkerFailed) as error:  # what the operator named cannot be used: say what, plainly
        raise SystemExit(f"avatar-server: {error}") from None


if __name__ == "__main__":
    main()
