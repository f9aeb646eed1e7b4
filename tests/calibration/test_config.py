"""Calibration files (TOML and JSON), templates for local data, and the command line with several series."""

import json

import numpy as np
import pandas as pd
import pytest

import calibration as cal
from calibration import CalibrationError
from calibration.cli import main, parse_observe
from calibration.config import load, loads
from calibration.examples import flu
from calibration.templates import TEMPLATES, template, write_template

TOML = """
model = "flu"
data = "flu.csv"
likelihood = "negbin"
derived = { R0 = "beta / gamma" }
holdout = [12, 14]

[params]
beta = [0.1, 5.0]
gamma = [0.05, 2.0, 0.5]

[[observe]]
column = "in_bed"
variable = "Infected"

[output]
report = "fit.txt"
"""


@pytest.fixture
def folder(tmp_path):
    flu.data().to_csv(tmp_path / "flu.csv")
    (tmp_path / "fit.toml").write_text(TOML)
    return tmp_path


def test_toml_and_json_files_give_the_same_fit(folder):
    config = load(folder / "fit.toml")
    assert config.data == (folder / "flu.csv").resolve()
    assert config.params["gamma"] == (0.05, 2.0, 0.5) and config.options["holdout"] == (12, 14)
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10 reads TOML through tomli, as sd_engine.documents does
        import tomli as tomllib

    (folder / "fit.json").write_text(json.dumps(tomllib.loads(TOML)))
    a, b = config.fit(), load(folder / "fit.json").fit()
    assert a.params == pytest.approx(b.params)
    # the file's fit is the Python fit with the same settings
    direct = cal.fit(flu.build(), flu.data(), {"beta": (0.1, 5.0), "gamma": (0.05, 2.0, 0.5)},
                     {"Infected": "in_bed"}, "negbin", holdout=(12, 14), derived={"R0": "beta / gamma"})
    assert a.params == pytest.approx(direct.params)
    assert a.derived["R0"] == pytest.approx(direct.derived["R0"])
    assert a.n_obs == 11 and list(a.validation["n"]) == [3.0]


def test_config_errors(folder):
    with pytest.raises(CalibrationError, match=r"unknown setting `likelyhood`. Did you mean `likelihood`\?"):
        loads(TOML.replace("likelihood =", "likelyhood ="), base=folder)
    with pytest.raises(CalibrationError, match="needs `observe`"):
        loads(TOML.split("[[observe]]")[0], base=folder)
    with pytest.raises(CalibrationError, match=r"observation 1: unknown key `colum`"):
        loads(TOML.replace("column =", "colum ="), base=folder)
    with pytest.raises(CalibrationError, match=r"`holdout` must be a pair \[first, last\]"):
        loads(TOML.replace("holdout = [12, 14]", "holdout = 12"), base=folder)
    with pytest.raises(CalibrationError, match="parameter `beta` must be a number"):
        loads(TOML.replace("beta = [0.1, 5.0]", 'beta = "0.1:5"'), base=folder)
    with pytest.raises(CalibrationError, match="is not valid TOML"):
        loads("model = ", base=folder)
    with pytest.raises(CalibrationError, match="There is no calibration file"):
        load(folder / "missing.toml")
    (folder / "fit.yaml").write_text("x: 1")
    with pytest.raises(CalibrationError, match="a calibration file is .toml or .json"):
        load(folder / "fit.yaml")


def test_inputs_from_a_csv_in_a_config(tmp_path):
    (tmp_path / "inputs.csv").write_text("day,g\n0,0.5\n14,0.5\n")
    text = TOML.replace("[output]", '[inputs]\ngamma = { csv = "inputs.csv", column = "g" }\n\n[output]')
    config = loads(text.replace("gamma = [0.05, 2.0, 0.5]\n", ""), base=tmp_path)
    assert config.inputs["gamma"].tolist() == [0.5, 0.5]


def test_templates_write_files_that_read_back(tmp_path):
    csv_path, toml_path = write_template("whole_system_flow", tmp_path)
    frame = cal.read_data(csv_path)
    assert list(frame.columns) == [s.column for s in TEMPLATES["whole_system_flow"].series]
    assert len(frame) == 24 and frame.isna().all().all()
    config = load(toml_path)
    assert config.model == "whole_system_flow" and config.options["population"] == 1_000_000
    assert [o.variable for o in config.observe][1] == "ED attendances * (1 - four hour performance)"
    assert config.output["report"].name == "whole_system_flow_fit.txt"
    with pytest.raises(CalibrationError, match="already exists"):
        write_template("whole_system_flow", tmp_path)
    # any other model gets its stocks and flows
    csv_text, toml_text = template("teacup")
    assert csv_text.startswith("time,teacup_temperature,heat_loss_to_room\n2.5,,\n")  # model times, 30 / 12
    assert 'aggregate = "point"' in toml_text and 'aggregate = "total"' in toml_text


def test_a_filled_template_fits_from_the_command_line(tmp_path, capsys):
    # The DToC template filled with England's data: run exactly as an analyst would.
    from calibration.examples import dtoc

    assert main(["calibrate", "--template", "delayed_transfers_of_care", "--out", str(tmp_path)]) == 0
    data = dtoc.data()[["delayed_days_total"]].loc["2011-01-01":"2019-08-01"]
    data.index = data.index.strftime("%Y-%m-%d")
    data.to_csv(tmp_path / "delayed_transfers_of_care_data.csv")
    toml = (tmp_path / "delayed_transfers_of_care_calibration.toml").read_text()
    toml = toml.replace('window = ["2010-08-01", "2012-02-01"]', 'window = ["2011-01-01", "2016-12-01"]')
    (tmp_path / "delayed_transfers_of_care_calibration.toml").write_text(toml)
    status = main(["calibrate", "--config", str(tmp_path / "delayed_transfers_of_care_calibration.toml"),
                   "--starts", "2"])
    assert status == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert "Fit in sample and out of sample" in text and "out: r2" in text
    assert (tmp_path / "delayed_transfers_of_care_fit.nc").exists()
    assert (tmp_path / "delayed_transfers_of_care_fit.txt").read_text().startswith("Calibration of")


def test_several_observations_with_their_own_likelihoods_and_an_expression(tmp_path, capsys):
    frame = flu.data().copy()
    frame["recovering"] = np.nan
    frame.loc[[1, 7], "recovering"] = [150.0, 900.0]  # totals over days 1-6 and 7-12
    frame.to_csv(tmp_path / "flu2.csv")
    status = main(["calibrate", "flu", "--data", str(tmp_path / "flu2.csv"),
                   "--observe", "Infected=in_bed;likelihood=negbin",
                   "--observe", "gamma * Infected=recovering:total;likelihood=normal;weight=0.5;frequency=6",
                   "--param", "beta=0.1:5", "--param", "gamma=0.05:2", "--holdout", "12:14"])
    assert status == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert "likelihood negbin+normal" in text and "gamma * Infected" in text
    assert "sigma[recovering]" in text and "phi_inv[in_bed]" in text


def test_parse_observe_errors():
    with pytest.raises(CalibrationError, match=r"unknown option `weigth`. Did you mean `weight`\?"):
        parse_observe("x=c;weigth=2")
    with pytest.raises(CalibrationError, match="`weight` must be a number"):
        parse_observe("x=c;weight=two")
    assert parse_observe("x=c:mean;frequency=quarterly").frequency == "quarterly"
    assert parse_observe("x=c;frequency=7").frequency == 7.0


def test_command_line_setup_errors(capsys, tmp_path):
    assert main(["calibrate"]) == 2
    assert "Name the model to calibrate" in capsys.readouterr().err
    assert main(["calibrate", "flu"]) == 2
    assert "Give the data with --data" in capsys.readouterr().err
    flu.data().to_csv(tmp_path / "flu.csv")
    assert main(["calibrate", "flu", "--data", str(tmp_path / "flu.csv")]) == 2
    assert "at least one --param" in capsys.readouterr().err
    assert main(["calibrate", "flu", "--data", str(tmp_path / "flu.csv"), "--observe", "Infected=in_bed",
                 "--param", "beta=0.1:5", "--input", "gamma=@nowhere.csv"]) == 2
    assert "NAME=@FILE.csv:COLUMN" in capsys.readouterr().err


def test_data_frames_keep_working_with_template_dates():
    frame = pd.DataFrame({"x": [1.0]}, index=pd.Index(["2016-01-01"], name="period"))
    assert cal.read_data(frame).index.name == "period"
