"""Model files are untrusted: the data files they name are confined to the model's folder tree.

A secret file sits outside the tree, reachable by an absolute path, by ``../`` and through
symbolic links (to the file and to its folder). Every GET DIRECT/XLS function that names it
is refused with a typed error naming the model file, the variable, the path and the fix;
an audit hook records every file Python opens or lists, proving the secret is never read
(and its folder never listed for a "did you mean" hint). ``data_root=`` (``--data-root``)
and paths the user passes explicitly widen access; the files read are recorded in the
spec's hash and the results' provenance.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import sd_engine as sd
from sd_engine.cli import main
from sd_engine.errors import SDError
from sd_engine.errors import excerpt
from sd_engine.io.external import DataAccessError, ExternalDataError, ExternalFileNotFoundError

# -- a record of every file Python opens or lists ------------------------------------------
_SEEN: list[str] | None = None


def _audit(event: str, args: tuple[object, ...]) -> None:
    if _SEEN is not None and event in ("open", "os.listdir", "os.scandir") and args:
        target = args[0]
        if isinstance(target, (str, bytes, os.PathLike)):
            _SEEN.append(os.fsdecode(target))


sys.addaudithook(_audit)  # hooks cannot be removed; this one records only inside `watching()`


class watching:
    """Collect the real paths of the files opened and folders listed inside the block."""

    def __enter__(self) -> list[str]:
        global _SEEN
        _SEEN = []
        self.seen = _SEEN
        return self.seen

    def __exit__(self, *exc: object) -> None:
        global _SEEN
        _SEEN = None
        self.seen[:] = [os.path.realpath(p) for p in self.seen]


# -- the tree: model/ with the model, outside/ with the secret --------------------------------
SECRET_CSV = "time,value,name\n0,42,alpha\n1,43,beta\n"
CONTROLS = "".join(f"{k} = {v}\n\t~\t~\t|\n" for k, v in
                   [("FINAL TIME", 1), ("INITIAL TIME", 0), ("SAVEPER", 1), ("TIME STEP", 1)])


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    from openpyxl import Workbook

    (tmp_path / "outside").mkdir()
    (tmp_path / "model").mkdir()
    (tmp_path / "outside" / "secret.csv").write_text(SECRET_CSV)
    book = Workbook()
    book.active.title = "S1"
    for row in (["time", "value"], [0, 42], [1, 43]):
        book.active.append(row)
    book.save(tmp_path / "outside" / "secret.xlsx")
    (tmp_path / "model" / "link.csv").symlink_to(tmp_path / "outside" / "secret.csv")
    (tmp_path / "model" / "linkdir").symlink_to(tmp_path / "outside", target_is_directory=True)
    (tmp_path / "model" / "local.csv").write_text("time,value\n0,7\n1,8\n")
    return tmp_path


def write_model(folder: Path, body: str) -> Path:
    path = folder / "m.mdl"
    path.write_text("{UTF-8}\n" + body + CONTROLS, encoding="utf-8")
    return path


def load(path: Path, **options: object) -> sd.CompiledModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PySD's parser warns about encodings
        return sd.load(path, **options)  # type: ignore[arg-type]


def equations(name: str) -> dict[str, str]:
    """One model body per GET function reading file `name` (as written in the model)."""
    return {
        "constants": f"c = GET DIRECT CONSTANTS('{name}', ',', 'B2')\n\t~\t~\t|\n",
        "data": f"d := GET DIRECT DATA('{name}', ',', 'A', 'B2')\n\t~\t~\t|\ny = d\n\t~\t~\t|\n",
        "lookups": f"l(GET DIRECT LOOKUPS('{name}', ',', 'A', 'B2'))\n\t~\t~\t|\nc = l(0.5)\n\t~\t~\t|\n",
        "subscript": f"s: GET DIRECT SUBSCRIPT('{name}', ',', 'C2', 'C3', '')\n\t~\t~\t|\nx[s] = 1\n\t~\t~\t|\n",
    }


def secret_paths(tree: Path) -> dict[str, str]:
    return {
        "absolute": str(tree / "outside" / "secret.csv"),
        "dot-dot": "../outside/secret.csv",
        "symlink": "link.csv",
        "linked folder": "linkdir/secret.csv",
    }


def cases() -> Iterator[tuple[str, str]]:
    for how in ("absolute", "dot-dot", "symlink", "linked folder"):
        for function in ("constants", "data", "lookups", "subscript"):
            yield how, function


@pytest.mark.parametrize("how, function", list(cases()))
def test_files_outside_the_tree_are_refused_and_never_read(tree: Path, how: str, function: str) -> None:
    name = secret_paths(tree)[how]
    path = write_model(tree / "model", equations(name)[function])
    with watching() as seen, pytest.raises(DataAccessError) as info:
        load(path)
    err = info.value
    assert isinstance(err, SDError) and isinstance(err, PermissionError)
    message = str(err)
    variable = {"constants": "c", "data": "d", "lookups": "l", "subscript": "s"}[function]
    assert message.startswith(f"`m.mdl`: `{variable}` reads file `{name}`, which is outside the folder")
    assert "data_root=" in message and "--data-root" in message and "files=" in message
    if how in ("symlink", "linked folder"):
        assert "(through a symbolic link)" in message
    outside = os.path.realpath(tree / "outside")
    assert not [p for p in seen if p.startswith(outside)], "a file or folder outside the tree was touched"
    assert str(tree / "model" / "m.mdl") in seen  # the watch works: the model file itself was read


def test_a_workbook_outside_is_refused(tree: Path) -> None:
    path = write_model(tree / "model", f"c = GET XLS CONSTANTS('{tree / 'outside' / 'secret.xlsx'}', 'S1', 'B2')"
                                       "\n\t~\t~\t|\n")
    with watching() as seen, pytest.raises(DataAccessError, match=r"`m.mdl`: `c` reads file `.*secret.xlsx`"):
        load(path)
    assert not [p for p in seen if "secret" in p]


def test_system_files_are_refused(tree: Path) -> None:
    for name in ("/etc/passwd", "/proc/self/environ", "/dev/zero"):
        path = write_model(tree / "model", equations(name)["constants"])
        with pytest.raises(DataAccessError, match=f"reads file `{name}`, which is outside"):
            load(path)


def test_data_root_widens_access_and_records_the_files_read(tree: Path) -> None:
    body = (equations("../outside/secret.csv")["constants"]
            + "k = GET DIRECT CONSTANTS('link.csv', ',', 'B3')\n\t~\t~\t|\n")
    path = write_model(tree / "model", body)
    with pytest.raises(DataAccessError):
        load(path, data_root=tree / "model")  # the default, spelled out
    model = load(path, data_root=tree)
    ds = model.run()
    assert float(ds["c"]) == 42 and float(ds["k"]) == 43
    # Both names reach one file: it is read once and recorded once, relative to the model.
    digest = hashlib.sha256(SECRET_CSV.encode()).hexdigest()
    assert model.spec.data_files == (("../outside/secret.csv", len(SECRET_CSV), digest),)
    assert json.loads(ds.attrs["data_files"]) == [{"path": "../outside/secret.csv", "size": len(SECRET_CSV),
                                                   "sha256": digest}]


def test_data_root_must_be_a_folder(tree: Path) -> None:
    path = write_model(tree / "model", equations("local.csv")["constants"])
    with pytest.raises(ExternalFileNotFoundError, match=r"`data_root` `.*nowhere` is not a folder"):
        load(path, data_root=tree / "nowhere")


def test_paths_the_user_gives_are_read_wherever_they_are(tree: Path) -> None:
    secret = tree / "outside" / "secret.csv"
    path = write_model(tree / "model", equations("data.csv")["constants"])
    assert float(load(path, files={"data.csv": secret}).run()["c"]) == 42
    data = tree / "outside" / "series.tab"
    data.write_text("Time\tx\n0\t5\n1\t6\n")
    path = write_model(tree / "model", "x:INTERPOLATE:\n\t~\t~\t|\nz = x\n\t~\t~\t|\n")
    model = load(path, data_files=[data])
    assert model.run()["z"].values.tolist() == [5, 6]
    assert model.spec.data_files[0][0] == "../outside/series.tab"


def test_spec_hash_follows_the_bytes_of_the_data(tree: Path) -> None:
    path = write_model(tree / "model", equations("local.csv")["constants"])
    before = load(path).spec.hash()
    # The same number written differently: the values (and the equations) are unchanged,
    # the file is not, and results should say which file they came from.
    (tree / "model" / "local.csv").write_text("time,value\n0,7.0\n1,8\n")
    after = load(path)
    assert float(after.run()["c"]) == 7
    assert after.spec.hash() != before
    assert sd.load("teacup").spec.data_files == ()  # a model without data records none


def test_hints_never_list_what_lies_outside(tree: Path) -> None:
    # `secret_lnk.csv` is one letter from `link.csv`'s sibling below, a link out of the tree.
    (tree / "model" / "secret_link.csv").symlink_to(tree / "outside" / "secret.csv")
    (tree / "model" / "data_file.csv").write_text("time,value\n0,1\n")
    path = write_model(tree / "model", equations("secret_lnk.csv")["constants"])
    with watching() as seen, pytest.raises(ExternalFileNotFoundError) as info:
        load(path)
    assert "Did you mean" not in str(info.value) and "secret_link" not in str(info.value)
    assert not [p for p in seen if p.startswith(os.path.realpath(tree / "outside"))]
    path = write_model(tree / "model", equations("data_fil.csv")["constants"])
    with pytest.raises(ExternalFileNotFoundError, match=r"Did you mean `data_file.csv`\?"):
        load(path)
    # A missing file outside is refused as outside: the error does not reveal whether it exists.
    for name in ("../outside/secret.csv", "../outside/no such file.csv"):
        path = write_model(tree / "model", equations(name)["constants"])
        with pytest.raises(DataAccessError, match="which is outside the folder"):
            load(path)


def test_cell_text_is_quoted_only_as_a_short_sanitised_excerpt(tree: Path) -> None:
    token = "TOKEN=" + "s3cr3t" * 10
    (tree / "model" / "cells.csv").write_text(f"time,value\n0,{token}\x1b[2J\n")
    path = write_model(tree / "model", equations("cells.csv")["constants"])
    with pytest.raises(ExternalDataError) as info:
        load(path)
    message = str(info.value)
    assert "`c` reads cell B2 of `cells.csv`, which holds `TOKEN=s3cr3ts3cr3ts3…`, not a number" in message
    assert "s3cr3t" * 3 not in message and "\x1b" not in message
    assert excerpt("a`b\nc") == "a'b?c"


def test_a_pipe_in_the_tree_is_not_read(tree: Path) -> None:
    os.mkfifo(tree / "model" / "pipe.csv")  # opening it for reading would block forever
    path = write_model(tree / "model", equations("pipe.csv")["constants"])
    with pytest.raises(ExternalFileNotFoundError, match="`c` reads file `pipe.csv`, which is not in"):
        load(path)


def test_the_command_line_refuses_and_widens(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_model(tree / "model", equations("../outside/secret.csv")["constants"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PySD's parser warns about encodings
        code = main(["run", str(path), "--no-progress"])
        err = capsys.readouterr().err
        assert code == 2
        assert err.startswith("sdflow: error: `m.mdl`: `c` reads file `../outside/secret.csv`, which is outside")
        code = main(["run", str(path), "--no-progress", "--data-root", str(tree)])
    assert code == 0, capsys.readouterr().err
    code = main(["run", "teacup", "--data-root", str(tree)])
    assert code == 2 and "`--data-root` applies to Vensim and XMILE model files" in capsys.readouterr().err
