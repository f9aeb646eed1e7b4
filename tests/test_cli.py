"""The ``sdflow`` command line, run in-process through ``main`` and once as a real process."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sd_engine as sd
from paths import TEST_MODELS
from sd_engine import integrate
from sd_engine.cli import _METHODS, main, parse_assignment
from sd_engine.errors import SpecError


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def table_row(out: str, label: str) -> list[float]:
    """The numbers on the summary row of stock `label`."""
    for line in out.splitlines():
        if line.strip().startswith(label + " "):
            rest = line.strip()[len(label):].split()
            return [float(x) for x in rest if re.fullmatch(r"[-+0-9.eE]+|nan|inf", x)]
    raise AssertionError(f"no row for {label!r} in:\n{out}")


# -- sdflow run: single runs ---------------------------------------------------------------------
def test_run_teacup_prints_final_temperature_from_the_engine(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "run", "teacup", "--no-progress")
    assert code == 0, err
    expected = float(sd.load("teacup").run()["Teacup Temperature"].isel(time=-1))
    (final,) = table_row(out, "Teacup Temperature")
    assert final == pytest.approx(expected, rel=1e-7)
    # Euler at dt=0.125 is not the analytic 70 + 110 e^-3 = 75.4768...; the CLI shows the run, not a formula.
    assert abs(final - (70 + 110 * math.exp(-3))) > 0.05
    assert "stocks at time 30 Minute" in out
    assert "Degrees Fahrenheit" in out
    assert err == ""


def test_run_options_reach_the_engine(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(
        capsys, "run", "teacup", "--set", "Characteristic Time=12", "--set", "room_temperature = 20",
        "--final-time", "10", "--initial-time", "2", "--dt", "0.5", "--method", "rk4", "--no-progress",
    )
    assert code == 0, err
    ds = sd.load("teacup").run(params={"Characteristic Time": 12, "Room Temperature": 20}, final_time=10,
                                initial_time=2, dt=0.5, method="rk4")
    (final,) = table_row(out, "Teacup Temperature")
    assert final == pytest.approx(float(ds["Teacup Temperature"].isel(time=-1)), rel=1e-7)
    # RK4 over 8 minutes from 180 with tau = 12 towards 20: close to the analytic value.
    assert final == pytest.approx(20 + 160 * math.exp(-8 / 12), rel=1e-6)
    assert "rk4" in out and "stocks at time 10 Minute" in out


def test_run_writes_netcdf_that_loads_with_the_engine_values(capsys: pytest.CaptureFixture[str],
                                                             tmp_path: Path) -> None:
    path = tmp_path / "out" / "teacup.nc"
    code, _, err = run_cli(capsys, "run", "teacup", "--saveper", "1", "--out", str(path), "--no-progress")
    assert code == 0, err
    assert f"wrote {path}" in err
    saved = sd.open_results(path)
    expected = sd.load("teacup").run(saveper=1)
    assert saved.sizes["time"] == 31
    np.testing.assert_array_equal(saved["time"].values, expected["time"].values)
    for name in ("Teacup Temperature", "Heat Loss to Room"):
        np.testing.assert_array_equal(saved[name].values, expected[name].values)
    assert saved["Teacup Temperature"].attrs["kind"] == "stock"


def test_run_writes_csv(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "sir.csv"
    code, _, err = run_cli(capsys, "run", "sir", "--set", "Contact Infectivity=0.4", "--saveper", "1",
                           "--out", str(path), "--no-progress")
    assert code == 0, err
    frame = pd.read_csv(path, index_col="time")
    expected = sd.load("sir").run(params={"Contact Infectivity": 0.4}, saveper=1)
    assert len(frame) == 101
    np.testing.assert_allclose(frame["Infectious"].to_numpy(), expected["Infectious"].values, rtol=1e-12)
    total = frame[["Susceptible", "Infectious", "Recovered"]].sum(axis=1)
    np.testing.assert_allclose(total, 1005, rtol=1e-12)  # SIR conserves its 1000 + 5 people


# -- ensembles --------------------------------------------------------------------------------------
def test_comma_list_makes_an_ensemble_summarised_by_mean_and_range(capsys: pytest.CaptureFixture[str],
                                                                   tmp_path: Path) -> None:
    values = np.linspace(0.2, 0.5, 7)
    path = tmp_path / "ens.nc"
    code, out, err = run_cli(capsys, "run", "sir", "--set", "Contact Infectivity=" + ",".join(map(str, values)),
                             "--set", "Duration=4", "--out", str(path), "--no-progress")
    assert code == 0, err
    assert "7 runs" in out
    ens = sd.load("sir").run(params={"Contact Infectivity": values, "Duration": 4})
    for stock in ("Susceptible", "Infectious", "Recovered"):
        final = ens[stock].isel(time=-1).values
        mean, p5, p95 = table_row(out, stock)
        assert mean == pytest.approx(final.mean(), rel=1e-7)
        assert p5 == pytest.approx(np.percentile(final, 5), rel=1e-7)
        assert p95 == pytest.approx(np.percentile(final, 95), rel=1e-7)
        assert p5 < mean < p95 or stock == "Infectious"
    saved = sd.open_results(path)
    assert saved.sizes["run"] == 7
    np.testing.assert_array_equal(saved["Susceptible"].values, ens["Susceptible"].values)
    # Each ensemble member equals the single run with that parameter.
    single = sd.load("sir").run(params={"Contact Infectivity": values[3], "Duration": 4})
    np.testing.assert_allclose(saved["Infectious"].isel(run=3).values, single["Infectious"].values, rtol=1e-12)


def test_lists_of_different_lengths_are_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "run", "sir", "--set", "Contact Infectivity=0.2,0.3",
                             "--set", "Duration=4,5,6", "--no-progress")
    assert code == 2
    assert err.startswith("sdflow: error: Parameter arrays make")
    assert "different" in err and "Duration" in err
    assert "Traceback" not in err and out == ""


# -- sdflow models ----------------------------------------------------------------------------------
def test_models_lists_library_with_descriptions(capsys: pytest.CaptureFixture[str]) -> None:
    from models import available, describe

    code, out, _ = run_cli(capsys, "models")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == len(available()) >= 2
    for name, line in zip(available(), lines):
        assert line.split()[0] == name
        assert line.endswith(describe(name))
    assert any("Teacup: a cup of tea" in line for line in lines)


# -- errors -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "tecup"], "There is no library model `tecup`. Did you mean `teacup`?"),
        (["run", "teacup", "--set", "Characteristc Time=3"],
         "Model `teacup` has no parameter `Characteristc Time`. Did you mean"),
        (["run", "teacup", "--set", "Characteristic Time"], "`--set Characteristic Time` is not of the form NAME=VALUE"),
        (["run", "teacup", "--set", "=3"], "is not of the form NAME=VALUE"),
        (["run", "teacup", "--set", "Characteristic Time=ten"], "`ten` is not a number"),
        (["run", "teacup", "--set", "Characteristic Time=5,,6"], "`` is not a number"),
        (["run", "teacup", "--set", "Characteristic Time=5", "--set", "characteristic time=6"], "is set twice"),
        (["run", "teacup", "--set", "Heat Loss to Room=3"], "`Heat Loss to Room` is a flow, not a constant"),
        (["run", "teacup", "--dt", "0"], "`dt` must be a positive number"),
        (["run", "teacup", "--out", "teacup.parquet"], "Cannot save results as `teacup.parquet`"),
        (["run", "no-such-dir/model.mdl"], "No model file `no-such-dir/model.mdl`."),
        (["run", "teacup", "--file", "data.xls"], "`--file data.xls` is not of the form NAME=PATH"),
        (["run", "teacup", "--data-file", "data.tab"], "`--data-file` and `--file` apply to Vensim and XMILE"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(capsys: pytest.CaptureFixture[str], argv: list[str],
                                              message: str) -> None:
    code, out, err = run_cli(capsys, *argv, "--no-progress")
    assert code == 2
    assert err.startswith("sdflow: error: ")
    assert message in err
    assert "Traceback" not in err
    assert out == ""


def test_data_files_and_spreadsheets_reach_the_loader(capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    folder = TEST_MODELS / "tests" / "data_from_other_model"
    monkeypatch.chdir(folder)  # paths on the command line are relative to the working directory
    code, out, err = run_cli(capsys, "run", "test_data_from_other_model.mdl", "--data-file", "data.tab", "--no-progress")
    assert code == 0, err
    ds = sd.load(folder / "test_data_from_other_model.mdl", data_files=[folder / "data.tab"]).run()
    (final,) = table_row(out, "stock[C,D,A]")
    assert final == pytest.approx(float(ds["stock"].isel(time=-1).sel(dim1="C", dim2="D", dim3="A")), rel=1e-7)
    sheets = TEST_MODELS / "tests" / "get_data"
    monkeypatch.chdir(sheets.parent)
    code, out, err = run_cli(capsys, "run", "get_data/test_get_data.mdl", "--file", "data down.xls=get_data/data down.xlsx",
                             "--file", "data across.xls=get_data/data across.xlsx", "--no-progress")
    assert code == 0, err


def test_unknown_parameter_suggests_the_display_name(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "run", "sir", "--set", "contact infectivty=0.2", "--no-progress")
    assert code == 2
    assert "Did you mean" in err and "Contact Infectivity" in err


def test_argparse_errors_return_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "run", "teacup", "--method", "leapfrog")
    assert code == 2
    assert "invalid choice: 'leapfrog'" in err
    code, _, err = run_cli(capsys)
    assert code == 2 and "run" in err and "models" in err
    code, out, _ = run_cli(capsys, "run", "--help")
    assert code == 0 and "--set NAME=VALUE" in out


def test_cli_methods_match_the_engine() -> None:
    assert set(_METHODS) == set(integrate.METHODS)


def test_parse_assignment() -> None:
    assert parse_assignment(" Room Temperature = 20 ") == ("Room Temperature", 20.0)
    name, values = parse_assignment("x=1,2.5, 1e3")
    assert name == "x" and values.tolist() == [1.0, 2.5, 1000.0]  # type: ignore[union-attr]
    with pytest.raises(SpecError):
        parse_assignment("x=")


# -- the installed command, as a real process ------------------------------------------------------
def test_module_entry_point_in_a_subprocess(tmp_path: Path) -> None:
    path = tmp_path / "teacup.nc"
    ok = subprocess.run([sys.executable, "-m", "sd_engine.cli", "run", "teacup", "--out", str(path)],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    (final,) = table_row(ok.stdout, "Teacup Temperature")
    expected = sd.load("teacup").run()["Teacup Temperature"]
    assert final == pytest.approx(float(expected.isel(time=-1)), rel=1e-7)
    np.testing.assert_array_equal(sd.open_results(path)["Teacup Temperature"].values, expected.values)

    bad = subprocess.run([sys.executable, "-m", "sd_engine.cli", "run", "sir", "--set", "Duraton=3"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1, bad.stderr
    assert lines[0].startswith("sdflow: error: Model `SIR` has no parameter `Duraton`. Did you mean")
    assert "Duration" in lines[0]


# -- the summary table for subscripted stocks ---------------------------------------------------------
def arrayed_model() -> sd.Model:
    m = sd.Model("wards", final_time=4, dt=1)
    m.dimension("ward", ["medical", "surgical"])
    m.constant("discharge rate", [0.5, 0.25], dims=["ward"])
    m.stock("patients", initial=100, outflows=["discharges"], dims=["ward"])
    m.flow("discharges", "patients * discharge_rate", dims=["ward"])
    return m


def test_summary_labels_each_element_of_a_subscripted_stock() -> None:
    from sd_engine.cli import summarise

    out = summarise(arrayed_model().run())
    # Euler with dt = 1: 100 * (1 - rate) ** 4.
    assert table_row(out, "patients[medical]") == [pytest.approx(100 * 0.5**4)]
    assert table_row(out, "patients[surgical]") == [pytest.approx(100 * 0.75**4)]
    assert "discharges" not in out  # flows are not summarised


def test_summary_of_an_ensemble_of_a_subscripted_model() -> None:
    from sd_engine.cli import summarise

    ds = arrayed_model().compile().run(params={"discharge rate": np.array([[0.5, 0.25], [0.1, 0.2], [0.3, 0.3]])})
    out = summarise(ds)
    final = 100 * (1 - np.array([0.5, 0.1, 0.3])) ** 4
    assert "3 runs" in out
    mean, p5, p95 = table_row(out, "patients[medical]")
    assert mean == pytest.approx(final.mean())
    assert (p5, p95) == (pytest.approx(np.percentile(final, 5)), pytest.approx(np.percentile(final, 95)))


def test_summary_excludes_and_counts_failed_runs() -> None:
    from sd_engine.cli import summarise

    m = sd.Model("blowup", final_time=10, dt=1)
    m.constant("rate", 0.01)
    m.stock("x", initial=1, inflows=["growth"])
    m.flow("growth", "x * x * rate")
    ds = m.compile().run(params={"rate": np.array([0.01, 100.0, 0.02])})
    assert list(ds["run_status"].values != "ok") == [False, True, False]
    out = summarise(ds)
    assert "3 runs (1 failed, excluded below)" in out
    good = ds["x"].isel(time=-1).values[[0, 2]]
    mean, _, _ = table_row(out, "x")
    assert mean == pytest.approx(good.mean())


@pytest.mark.parametrize(("flag", "expected"), [([], True), (["--no-progress"], False)])
def test_progress_bar_is_on_unless_disabled(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                            flag: list[str], expected: bool) -> None:
    # The bar itself is tqdm's (on stderr, shown only for runs longer than its delay); the CLI's job
    # is to ask for it. Checked through the run call so the test does not depend on machine speed.
    from sd_engine.compile import CompiledModel

    seen: dict[str, object] = {}
    original = CompiledModel.run

    def spy(self: CompiledModel, *args: object, **kwargs: object) -> object:
        seen.update(kwargs)
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(CompiledModel, "run", spy)
    code, _, _ = run_cli(capsys, "run", "teacup", *flag)
    assert code == 0
    assert seen["progress"] is expected


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and out.strip() == f"sdflow {sd.__version__}"
    code, short, _ = run_cli(capsys, "-V")
    assert code == 0 and short == out
    from importlib.metadata import version

    assert sd.__version__ == version("sdflow")  # one source: the package metadata


def test_help_and_version_load_no_numerical_library() -> None:
    # `sdflow --help` must answer at once (issue: 2.2 s when scipy.stats loaded at import); timing
    # it would make a flaky test, so the test counts what it imports instead: no numpy, scipy,
    # pandas, xarray, networkx or emcee, with every plugin command registered.
    import subprocess
    import sys

    script = ("import sys, contextlib, io\n"
              "from sd_engine.cli import main\n"
              "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
              "    assert main(['--help']) == 0 and main(['-V']) == 0\n"
              "for name in ('calibrate', 'conformance', 'lab', 'loops', 'run', 'models'):\n"
              "    assert name in out.getvalue(), name\n"
              "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'scipy', 'pandas', 'xarray',"
              " 'networkx', 'emcee', 'arviz', 'matplotlib', 'pysd'})\n"
              "print(heavy)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_every_default_a_help_text_states_is_the_one_used() -> None:
    import argparse
    import inspect

    from calibration.fit import fit
    from calibration.posterior import sample
    from sd_engine.cli import _build_parser
    from sd_engine.loops.structure import DEFAULT_CAP

    # Options whose parser default is None and whose value comes from the function they call.
    passed_on = {("calibrate", "--starts"): inspect.signature(fit).parameters["starts"].default,
                 ("calibrate", "--seed"): inspect.signature(fit).parameters["seed"].default,
                 ("loops", "--cap"): DEFAULT_CAP}
    subparsers = next(a for a in _build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    checked = 0
    for command, parser in subparsers.choices.items():
        for action in parser._actions:
            stated = re.search(r"\(default:? (-?[0-9.]+)\)", action.help or "")
            if stated is None:
                continue
            option = action.option_strings[0] if action.option_strings else action.dest
            real = action.default if action.default is not None else passed_on[(command, option)]
            assert float(stated.group(1)) == float(real), (command, option)
            checked += 1
    assert checked >= 12
    help_text = subparsers.choices["calibrate"].format_help()
    assert "HDF5" not in help_text and ".npz" in help_text and "every 50" in help_text
    assert inspect.signature(sample).parameters["checkpoint_every"].default == 50
