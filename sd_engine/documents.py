"""TOML and JSON documents: scenario files, lab profiles and calibration files read and written one way.

The standard library reads TOML from Python 3.11 (``tomllib``); Python 3.10 reads it through
``tomli``, the same parser. Writing uses ``tomli-w``. Callers turn :class:`DocumentError` into
their own typed error, naming their file.

>>> parse_document(dump_document({"name": "a", "params": {"x": 1.5}}, "toml"), "toml")
{'name': 'a', 'params': {'x': 1.5}}
"""

from __future__ import annotations

import json
import sys
from typing import Any, Literal

import tomli_w

from .errors import SpecError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, published as tomli
    import tomli as tomllib

__all__ = ["Format", "DocumentError", "parse_document", "dump_document"]

Format = Literal["toml", "json"]


class DocumentError(SpecError):
    """A TOML or JSON document that does not parse; the message says where."""


def parse_document(text: str, fmt: Format) -> dict[str, Any]:
    """The data of a TOML or JSON document; a top-level value that is not a table is refused."""
    try:
        data = tomllib.loads(text) if fmt == "toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise DocumentError(f"not valid {fmt.upper()}: {exc}") from None
    if not isinstance(data, dict):
        raise DocumentError(f"the {fmt.upper()} document is a {type(data).__name__}, not a table of fields")
    return data


def dump_document(data: dict[str, Any], fmt: Format) -> str:
    """TOML or JSON text of `data` (JSON indented by two spaces, ending with a newline)."""
    return tomli_w.dumps(data) if fmt == "toml" else json.dumps(data, indent=2, ensure_ascii=False) + "\n"
