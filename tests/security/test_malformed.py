"""Malformed model files are refused with a typed error naming the file (and the line).

Issue #13, item 7: duplicate definitions (Vensim kept the first), a missing control
section or a truncated last line (dt silently 1), bytes that are not the file's encoding
(two names merged), random bytes (an empty model), a byte order mark (refused before, now
read), and paths that are not regular files (a FIFO hung the reader).
"""

from __future__ import annotations

import os
import random
import threading
from pathlib import Path

import numpy as np
import pytest
from security.hostile import stock_values, vensim_model, xmile_model

import sd_engine as sd
from sd_engine.errors import SDError
from sd_engine.io.pysd_import import read_model
from sd_engine.io.xml_safety import MissingModelFileError, ModelFileError


def teacup(test_models: Path) -> bytes:
    return (test_models / "samples" / "teacup" / "teacup.mdl").read_bytes()


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


PLAIN = ["k", "s", "f"]


class TestDuplicates:
    def test_a_vensim_variable_defined_twice_names_both_lines(self, tmp_path: Path) -> None:
        text = vensim_model(PLAIN).replace('TIME STEP = 0.5', '"k" = 0.9\n\t~\t1/Month\n\t~\t|\n\nTIME STEP = 0.5')
        path = write(tmp_path, "twice.mdl", text)
        with pytest.raises(ModelFileError,
                           match=r"`twice.mdl` defines `\"k\"` at lines 2 and 26; .* will not pick one"):
            sd.load(path)

    def test_an_element_defined_twice_names_it_and_both_lines(self, tmp_path: Path) -> None:
        text = vensim_model(PLAIN).replace(
            '"k" = 0.3', 'region: north, south\n\t~\t\n\t~\t|\n\nvalue[region] = 1\n\t~\t\n\t~\t|\n\n'
                         'value[north] = 2\n\t~\t\n\t~\t|\n\n"k" = 0.3')
        path = write(tmp_path, "element.mdl", text)
        with pytest.raises(ModelFileError, match=r"defines `value\[north\]` at lines 6 and 10"):
            sd.load(path)

    def test_a_subscript_range_defined_twice(self, tmp_path: Path) -> None:
        text = vensim_model(PLAIN).replace(
            '"k" = 0.3', 'region: north, south\n\t~\t\n\t~\t|\n\nregion: east, west\n\t~\t\n\t~\t|\n\n"k" = 0.3')
        path = write(tmp_path, "ranges.mdl", text)
        with pytest.raises(ModelFileError, match=r"`ranges.mdl` defines subscript range `region` at lines 2, 6"):
            sd.load(path)

    def test_an_xmile_variable_defined_twice_names_both_lines(self, tmp_path: Path) -> None:
        text = xmile_model(PLAIN).replace('<aux name="k"><eqn>0.3</eqn></aux>',
                                          '<aux name="k"><eqn>0.3</eqn></aux>\n<aux name="K"><eqn>0.9</eqn></aux>')
        path = write(tmp_path, "twice.xmile", text)
        with pytest.raises(ModelFileError, match=r"`twice.xmile` defines `K` twice, at lines 7 and 8 \(as `k`\)"):
            sd.load(path)


class TestIncompleteFiles:
    def test_a_missing_control_section(self, tmp_path: Path, test_models: Path) -> None:
        text = teacup(test_models).decode().split("****")[0]
        path = write(tmp_path, "nocontrol.mdl", text)
        with pytest.raises(ModelFileError, match=r"`nocontrol.mdl` does not define `INITIAL TIME`, `FINAL TIME`, "
                                                 r"`TIME STEP`"):
            sd.load(path)

    def test_a_missing_time_step_is_not_a_silent_dt_of_one(self, tmp_path: Path) -> None:
        text = vensim_model(PLAIN).replace("TIME STEP = 0.5\n\t~\tMonth\n\t~\t|", "")
        path = write(tmp_path, "nostep.mdl", text)
        with pytest.raises(ModelFileError, match=r"`nostep.mdl` does not define `TIME STEP`"):
            sd.load(path)

    def test_a_truncated_last_line_names_its_line(self, tmp_path: Path) -> None:
        text = vensim_model(PLAIN).rsplit("TIME STEP", 1)[0] + "TIME STEP = 0.5"
        path = write(tmp_path, "cut.mdl", text)
        with pytest.raises(ModelFileError, match=r"`cut.mdl` ends in the middle of a definition at line 26 "
                                                 r"\('TIME STEP = 0.5'\): the file looks truncated"):
            sd.load(path)

    def test_every_cut_of_a_file_is_refused_or_the_whole_model(self, tmp_path: Path, test_models: Path) -> None:
        # A file cut anywhere either still holds the whole model (the cut is in the sketch) and
        # gives the whole model's numbers, or is refused by name: never a different model.
        data = teacup(test_models)
        full = sd.load(write(tmp_path, "full.mdl", data)).run()["Teacup Temperature"].values
        refused = 0
        for cut in range(0, len(data), 23):
            path = write(tmp_path, "cut.mdl", data[:cut])
            try:
                values = sd.load(path).run()["Teacup Temperature"].values
            except SDError as exc:
                assert "cut.mdl" in str(exc), str(exc)
                refused += 1
                continue
            np.testing.assert_array_equal(values, full)
        assert refused > 30  # every cut inside the equations

    def test_xmile_without_time_settings(self, tmp_path: Path) -> None:
        text = xmile_model(PLAIN)
        path = write(tmp_path, "nodt.xmile", text.replace("<dt>0.5</dt>", ""))
        with pytest.raises(ModelFileError, match=r"`nodt.xmile` gives no <dt> in its <sim_specs> at line 4"):
            sd.load(path)
        start = text.index("<sim_specs")
        path = write(tmp_path, "nospecs.xmile", text[:start] + text[text.index("</sim_specs>") + 12:])
        with pytest.raises(ModelFileError, match=r"`nospecs.xmile` has no <sim_specs>"):
            sd.load(path)

    def test_a_model_without_variables(self, tmp_path: Path) -> None:
        text = xmile_model(PLAIN)
        path = write(tmp_path, "empty.xmile", text[:text.index("<variables>")] + "<variables/></model></xmile>")
        with pytest.raises(ModelFileError, match=r"`empty.xmile` defines no model variables"):
            sd.load(path)
        for junk in ("", "   \n\n", "xx ~ yy | zz |"):
            path = write(tmp_path, "junk.mdl", junk)
            with pytest.raises(ModelFileError, match="`junk.mdl`"):
                sd.load(path)


class TestBytes:
    def test_bytes_that_are_not_utf8_are_refused_with_their_line(self, tmp_path: Path) -> None:
        # Café and Cafè: PySD dropped the byte, and the two names became one.
        text = vensim_model(PLAIN).replace('"k" = 0.3', '"Caf\xe9" = 0.1\n\t~\t\n\t~\t|\n\n"Caf\xe8" = 0.2\n\t~\t\n'
                                                      '\t~\t|\n\n"k" = 0.3')
        latin = text.encode("latin-1")
        path = write(tmp_path, "latin.mdl", latin)
        with pytest.raises(ModelFileError, match=r"`latin.mdl` line 2 holds bytes that are not UTF-8 \(e9\)"):
            sd.load(path)
        path = write(tmp_path, "latin.mdl", latin.replace(b"{UTF-8}\n", b""))
        with pytest.raises(ModelFileError, match=r"`latin.mdl` line 1 holds bytes that are not utf-8 \(e9\), "
                                                 r"which the file is read as \(it declares no encoding\)"):
            sd.load(path)
        # Declared, the same bytes are two names, as Vensim reads them.
        path = write(tmp_path, "latin.mdl", latin.replace(b"{UTF-8}", b"{windows-1252}"))
        spec = read_model(path)
        assert spec['"Café"'].equation != spec['"Cafè"'].equation

    def test_a_byte_order_mark_is_read(self, tmp_path: Path, test_models: Path) -> None:
        data = teacup(test_models)
        plain = sd.load(write(tmp_path, "plain.mdl", data)).run()
        marked = sd.load(write(tmp_path, "marked.mdl", b"\xef\xbb\xbf" + data)).run()
        np.testing.assert_array_equal(marked["Teacup Temperature"].values, plain["Teacup Temperature"].values)
        xmile = xmile_model(PLAIN).encode()
        marked_x = sd.load(write(tmp_path, "marked.xmile", b"\xef\xbb\xbf" + xmile)).run()
        plain_x = sd.load(write(tmp_path, "p.xmile", xmile)).run()
        np.testing.assert_array_equal(stock_values(marked_x), stock_values(plain_x))

    def test_other_encodings_and_control_characters(self, tmp_path: Path) -> None:
        text = vensim_model(PLAIN)
        path = write(tmp_path, "utf16.mdl", text.encode("utf-16"))
        with pytest.raises(ModelFileError, match=r"`utf16.mdl` is UTF-16 text"):
            sd.load(path)
        path = write(tmp_path, "odd.mdl", text.replace("{UTF-8}", "{klingon}"))
        with pytest.raises(ModelFileError, match=r"`odd.mdl` line 1 declares the text encoding 'klingon'"):
            sd.load(path)
        # Found by the fuzz: a NUL in the encoding's name (codecs raised ValueError).
        path = write(tmp_path, "nul.mdl", text.replace("{UTF-8}", "{U\x00TF-8}"))
        with pytest.raises(ModelFileError, match=r"`nul.mdl` line 1 declares the text encoding 'U\\x00TF-8'"):
            sd.load(path)
        path = write(tmp_path, "bell.mdl", text.replace("1/Month", "1/Month\x07"))
        with pytest.raises(ModelFileError, match=r"`bell.mdl` line 3 holds the control character U\+0007"):
            sd.load(path)

    def test_an_xml_declaration_with_an_unknown_encoding(self, tmp_path: Path) -> None:
        # Found by the fuzz: expat raised LookupError.
        text = xmile_model(PLAIN).replace('encoding="utf-8"', 'encoding="utf-1e308"')
        path = write(tmp_path, "enc.xmile", text)
        with pytest.raises(ModelFileError, match=r"`enc.xmile` cannot be decoded \(unknown encoding: utf-1e308\)"):
            sd.load(path)

    @pytest.mark.parametrize("seed", range(12))
    def test_random_bytes_are_refused(self, tmp_path: Path, seed: int) -> None:
        rng = random.Random(seed)
        size = rng.randrange(1, 4096)
        for suffix, data in ((".mdl", bytes(rng.randrange(256) for _ in range(size))),
                             (".mdl", "".join(rng.choice("abc =+|~:[]()\n\t\"") for _ in range(size)).encode()),
                             (".xmile", bytes(rng.randrange(256) for _ in range(size)))):
            path = write(tmp_path, f"noise{suffix}", data)
            with pytest.raises(SDError, match=f"`noise{suffix}`"):
                sd.load(path)


class TestPaths:
    def _load_in_thread(self, path: Path) -> BaseException | None:
        outcome: list[BaseException | None] = []

        def target() -> None:
            try:
                sd.load(path)
                outcome.append(None)
            except BaseException as exc:  # noqa: BLE001 -- handed back to the test
                outcome.append(exc)

        worker = threading.Thread(target=target, daemon=True)
        worker.start()
        worker.join(timeout=20)
        assert not worker.is_alive(), f"loading {path} hangs"
        return outcome[0]

    @pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
    @pytest.mark.parametrize("suffix", [".mdl", ".xmile"])
    def test_a_fifo_is_refused_without_hanging(self, tmp_path: Path, suffix: str) -> None:
        path = tmp_path / f"pipe{suffix}"
        os.mkfifo(path)
        exc = self._load_in_thread(path)
        assert isinstance(exc, ModelFileError) and f"`pipe{suffix}` is a FIFO" in str(exc)

    def test_a_device_or_folder_is_refused(self, tmp_path: Path) -> None:
        if Path("/dev/zero").exists():
            (tmp_path / "zero.mdl").symlink_to("/dev/zero")
            exc = self._load_in_thread(tmp_path / "zero.mdl")
            assert isinstance(exc, ModelFileError) and "`zero.mdl` is a character device" in str(exc)
        (tmp_path / "folder.xmile").mkdir()
        with pytest.raises(ModelFileError, match=r"`folder.xmile` is a folder"):
            sd.load(tmp_path / "folder.xmile")

    def test_a_missing_file_is_a_typed_error(self, tmp_path: Path) -> None:
        for name in ("missing.mdl", "missing.xmile", "missing.txt"):
            with pytest.raises(MissingModelFileError, match="No model file") as info:
                read_model(tmp_path / name)
            assert isinstance(info.value, SDError) and isinstance(info.value, FileNotFoundError)
        with pytest.raises(MissingModelFileError):
            sd.load(tmp_path / "missing.mdl")
