"""Model files are untrusted input: the checks a model file passes before a parser reads it.

PySD's parsers read a path themselves and are lenient where a wrong model is worse than
no model: Vensim text is decoded with ``errors="ignore"`` (two names that differ in one
non-UTF-8 byte become one name), a file cut short loses its last definitions silently
(a missing ``TIME STEP`` becomes 1), and opening a FIFO blocks for ever. So sdflow reads
the file itself, once, and hands the parsers the checked text:

* :func:`read_model_bytes` reads regular files only (a FIFO or a device is refused without
  being opened for a blocking read) and at most :data:`MAX_MODEL_BYTES`;
* :func:`vensim_text` accepts a UTF-8 byte order mark, decodes strictly in the encoding
  the file declares (``{UTF-8}`` by default), and refuses control characters and a file
  that ends in the middle of a definition, each with the file and the line;
* :func:`vensim_definitions` finds the line of each definition, so that errors about
  duplicate or bad definitions can name the lines.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from pathlib import Path
from typing import Any

from ..errors import SDError
from ..expr import canonical

__all__ = ["ModelFileError", "MissingModelFileError", "MAX_MODEL_BYTES", "MODEL_SUFFIXES", "read_model_bytes",
           "vensim_text", "vensim_file", "vensim_definitions", "line_of", "excerpt", "equations_part", "name_file"]

#: Suffixes of the model files sdflow reads (Vensim, then XMILE).
MODEL_SUFFIXES = (".mdl", ".xmile", ".xml", ".stmx", ".itmx")
#: The largest model file sdflow reads (512 MiB); real models are a few megabytes.
MAX_MODEL_BYTES = 512 * 2**20
#: Where the equations of a Vensim file end and its sketch begins (`\\\---///`; some
#: hand-written files have two backslashes).
_SKETCH = re.compile(r"\\{2,}---///")
#: Control characters a text model file may hold: tab and line ends.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class ModelFileError(SDError, ValueError):
    """A model file that cannot be read: malformed, unsafe, or not a model."""


class MissingModelFileError(SDError, FileNotFoundError):
    """No model file exists at the path given."""


_KINDS = {stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a folder"}


def read_model_bytes(path: str | Path) -> bytes:
    """The bytes of the model file at `path`, which must be a regular file.

    A FIFO, a socket or a device would block the reader or never end, so the path is
    checked with ``stat`` before it is opened, and opened without blocking; the open file
    is checked again (it must be the file that was checked) before it is read.

    Raises
    ------
    MissingModelFileError
        Nothing exists at `path`.
    ModelFileError
        `path` is not a regular file, is larger than :data:`MAX_MODEL_BYTES`, or cannot be
        read.
    """
    path = Path(path)
    try:
        before = os.stat(path)
    except FileNotFoundError:
        raise MissingModelFileError(f"No model file `{path}`.") from None
    except OSError as exc:
        raise ModelFileError(f"Model file `{path.name}` cannot be read: {exc.strerror or exc}.") from None
    _check_regular(path, before)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ModelFileError(f"Model file `{path.name}` cannot be read: {exc.strerror or exc}.") from None
    with os.fdopen(fd, "rb") as file:
        now = os.fstat(file.fileno())
        if (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino):
            raise ModelFileError(f"Model file `{path.name}` changed while it was being opened; load it again.")
        _check_regular(path, now)
        # read(n) allocates n bytes up front: ask for the file's own size (plus one, to see a
        # file that grows past the cap while it is read), not for the cap.
        data = file.read(min(now.st_size, MAX_MODEL_BYTES) + 1)
    if len(data) > MAX_MODEL_BYTES:
        raise ModelFileError(f"Model file `{path.name}` is larger than {MAX_MODEL_BYTES // 2**20} MiB; sdflow does "
                             "not read model files that large.")
    return data


def _check_regular(path: Path, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
        raise ModelFileError(
            f"`{path.name}` is {kind}, not a model file; sdflow reads models from regular files only (a pipe or a "
            "device could block or never end). Save the model to a file and load that."
        )
    if info.st_size > MAX_MODEL_BYTES:
        raise ModelFileError(f"Model file `{path.name}` is larger than {MAX_MODEL_BYTES // 2**20} MiB; sdflow does "
                             "not read model files that large.")


def vensim_text(path: Path, raw: bytes) -> str:
    """The text of a Vensim file's bytes `raw`, checked: what PySD's parser is given.

    A UTF-8 byte order mark is dropped; the text is decoded strictly in the encoding its
    first line declares (``{UTF-8}``; UTF-8 when it declares none), with line ends made
    ``\\n`` as PySD reads them. The equations (the text before the sketch) may hold no
    control characters but tabs and line ends, and the last definition must end with its
    ``|``: a file cut short would otherwise lose its last definitions silently.

    Examples
    --------
    >>> vensim_text(Path("m.mdl"), b"\\xef\\xbb\\xbf{UTF-8}\\nx = 1\\n~~|\\n")
    '{UTF-8}\\nx = 1\\n~~|\\n'
    >>> vensim_text(Path("m.mdl"), b"{UTF-8}\\nx = 1\\n~~|\\nFINAL TIME = 10")
    Traceback (most recent call last):
    ...
    sd_engine.io.model_file.ModelFileError: `m.mdl` ends in the middle of a definition at line 4 ...
    """
    name = path.name
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ModelFileError(f"`{name}` is UTF-16 text; Vensim model files are UTF-8. Save it as UTF-8 and load it "
                             "again.")
    header = re.match(rb"[ \t\r\n]*\{([^{}\r\n]{1,40})\}", raw)
    encoding = header.group(1).decode("ascii", "replace").strip() if header else "utf-8"
    try:
        codecs.lookup(encoding)
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        raise ModelFileError(f"`{name}` line 1 declares the text encoding {encoding!r}, which sdflow does not "
                             "know; save the file as UTF-8 with `{UTF-8}` as its first line.") from None
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        declared = "declares" if header else "is read as (it declares no encoding)"
        raise ModelFileError(
            f"`{name}` line {line} holds bytes that are not {encoding} ({raw[exc.start:exc.end].hex(' ')}), which "
            f"the file {declared}; names differing only there would run as one. Save the file as UTF-8, or declare "
            "its encoding on the first line (for example `{windows-1252}`)."
        ) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    body = equations_part(text)
    bad = _CONTROL.search(body)
    if bad is not None:
        line = body.count("\n", 0, bad.start()) + 1
        raise ModelFileError(
            f"`{name}` line {line} holds the control character U+{ord(bad.group()):04X}; a Vensim model file is text. "
            "Remove it (a damaged or binary file cannot be run)."
        )
    last = body.rfind("|")
    tail = re.sub(r"\{[^{}]*\}|:END OF MACRO:", " ", body[last + 1:], flags=re.IGNORECASE)
    if tail.strip():
        start = last + 1 + len(body[last + 1:]) - len(body[last + 1:].lstrip())
        line = body.count("\n", 0, start) + 1
        raise ModelFileError(
            f"`{name}` ends in the middle of a definition at line {line} ({excerpt(tail)}): the file looks truncated. "
            "Every Vensim definition ends with `|`; restore the end of the file."
        )
    return text


def vensim_file(path: Path, text: str, sections: Any = None) -> Any:
    """PySD's ``VensimFile`` parsing the checked text `text` (:func:`vensim_text`) in place of
    reading the file at `path` again (its own read drops undecodable bytes, which can merge
    two names, and would open a path that may have changed). `sections`, when given, is the
    grammar that splits the file into main part and macros in place of PySD's own."""
    from pysd.translators.vensim.vensim_file import FileSectionsVisitor, VensimFile

    class _CheckedVensimFile(VensimFile):  # type: ignore[misc]
        def _read(self, encoding: Any) -> str:
            return text

        def parse(self, parse_all: bool = True) -> None:
            if sections is None:
                super().parse(parse_all)
                return
            # PySD's parse with the section grammar replaced (the rest as PySD 3.14 does it).
            self.sections = FileSectionsVisitor(sections.parse(self.model_text)).entries
            self.sections[0].path = self.mdl_path.with_suffix(".py")
            for section in self.sections[1:]:
                section.path = self.mdl_path.parent.joinpath(
                    self._clean_file_names(section.name)[0]).with_suffix(".py")
            if parse_all:
                for section in self.sections:
                    section.parse()

    return _CheckedVensimFile(path)


def vensim_definitions(text: str) -> dict[str, list[int]]:
    """The lines where each name (canonical) is defined in the Vensim text `text`, in order.

    Definitions inside macros are left out (a macro has names of its own). Used for
    messages only: the parser is PySD's.

    Examples
    --------
    >>> vensim_definitions("{UTF-8}\\nx = 1\\n~~|\\ny[a] = 2 ~~|\\nx = 3\\n~~|")
    {'x': [2, 5], 'y': [4]}
    """
    found: dict[str, list[int]] = {}
    line = 1
    in_macro = False
    for chunk in equations_part(text).split("|"):
        start, line = line, line + chunk.count("\n")
        if chunk.isspace() or not chunk:
            continue
        offset = 0
        ended = re.search(r":END OF MACRO:", chunk, flags=re.IGNORECASE)
        if ended:
            in_macro, offset = False, ended.end()
        if re.search(r":MACRO:", chunk[offset:], flags=re.IGNORECASE):
            in_macro = True
        if in_macro:
            continue
        definition = chunk[offset:].split("~", 1)[0]
        # Skip the encoding header and other {comments}, and group headers (`****` lines).
        cleaned = re.sub(r"\{[^{}]*\}", lambda m: "\n" * m.group().count("\n"), definition)
        cleaned = re.sub(r"^[ \t]*\*+[^\n]*$", "", cleaned, flags=re.MULTILINE)
        name, line_offset = _defined_name(cleaned)
        if not name:
            continue
        at = start + chunk.count("\n", 0, offset) + line_offset
        found.setdefault(canonical(name), []).append(at)
    return found


def equations_part(text: str) -> str:
    """The equations of the Vensim text `text`: what comes before its sketch."""
    return _SKETCH.split(text, maxsplit=1)[0]


def _defined_name(definition: str) -> tuple[str, int]:
    """The name a Vensim definition defines (``name``, ``"quoted name"``, before ``=``, ``:``,
    ``(``, ``[...]`` or ``<->``) and the number of line breaks before it; ``""`` if none.

    Scanned with anchored, unambiguous patterns only: file text is untrusted, and a regular
    expression with overlapping repetitions can take quadratic time on one long line.
    """
    text = definition.lstrip()
    before = definition.count("\n", 0, len(definition) - len(text))
    found = _QUOTED.match(text) if text.startswith('"') else _PLAIN_NAME.match(text)
    if found is None:
        return "", 0
    rest = text[found.end():].lstrip(" \t")
    if rest.startswith("["):
        close = rest.find("]")
        if close < 0 or "\n" in rest[:close]:
            return "", 0
        rest = rest[close + 1:].lstrip()
    if not rest.startswith(("=", ":", "(", "<->")):
        return "", 0
    name = found.group().strip()
    return (name, before) if name.strip('"').strip() else ("", 0)


_QUOTED = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_PLAIN_NAME = re.compile(r'[^"=\[(:<~\n]+')


def line_of(text: str, fragment: str) -> int | None:
    """The first line of `text` that holds `fragment` (spaces compared loosely), or None."""
    words = fragment.split()
    if not words:
        return None
    pattern = re.compile(r"\s+".join(re.escape(w) for w in words))
    found = pattern.search(text)
    return None if found is None else text.count("\n", 0, found.start()) + 1


def name_file(exc: SDError, source: str) -> None:
    """Make the message of `exc` name the model file `source` (a path) it comes from, when it
    does not yet: every refusal of a model file says which file. The error keeps its type
    and fields; nothing happens when `source` is not a model file (a builder's spec)."""
    filename = Path(source).name
    if Path(source).suffix.lower() in MODEL_SUFFIXES and exc.args and isinstance(exc.args[0], str) \
            and f"`{filename}`" not in exc.args[0]:
        exc.args = (f"{exc.args[0]} (model file `{filename}`)",) + exc.args[1:]


def excerpt(text: str, limit: int = 40) -> str:
    """A short, printable quotation of file text for a message: whitespace collapsed, shown
    through ``repr`` so no character of the file reaches a terminal or a log as is."""
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[:limit - 3] + "...")
