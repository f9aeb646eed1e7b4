"""``sdflow calibrate``: the entry point, options, outputs and error messages."""

import numpy as np
import pytest
import xarray as xr

import calibration as cal
from calibration.cli import parse_param, parse_prior
from calibration.examples import flu
from sd_engine.cli import main


@pytest.fixture()
def flu_csv(tmp_path):
    path = tmp_path / "flu.csv"
    flu.data().to_csv(path)
    return path


def test_calibrate_flu_writes_the_fit(flu_csv, tmp_path, capsys, flu_negbin):
    out = tmp_path / "fit.nc"
    png = tmp_path / "fit.png"
    status = main(["calibrate", "flu", "--data", str(flu_csv), "--observe", "Infected=in_bed",
                   "--param", "beta=0.1:5", "--param", "gamma=0.05:2", "--likelihood", "negbin",
                   "--derived", "R0=beta/gamma", "--out", str(out), "--plot", str(png)])
    assert status == 0
    text = capsys.readouterr().out
    assert "likelihood negbin, 14 observations, 3 free parameters" in text and "R0" in text
    ds = xr.open_dataset(out, engine="h5netcdf")
    for name in ("beta", "gamma", "phi_inv"):
        assert float(ds["estimate"].sel(parameter=name)) == pytest.approx(flu_negbin.params[name], rel=1e-6)
    np.testing.assert_array_equal(ds["in_bed_data"].values, flu.IN_BED)
    assert png.stat().st_size > 1000


def test_calibrate_with_posterior_and_checkpoint(flu_csv, tmp_path, capsys):
    out = tmp_path / "post.nc"
    status = main(["calibrate", "flu", "--data", str(flu_csv), "--observe", "Infected=in_bed",
                   "--param", "beta=0:inf", "--param", "gamma=0:inf", "--likelihood", "negbin",
                   "--prior", "beta=normal:2:1", "--prior", "gamma=normal:0.4:0.5", "--prior", "phi_inv=exponential:5",
                   "--posterior", "--draws", "320", "--walkers", "8", "--tune", "40", "--checkpoint", str(tmp_path / "ck.npz"),
                   "--out", str(out)])
    assert status == 0
    assert "r_hat" in capsys.readouterr().out
    idata = cal.sample.__module__ and __import__("arviz").from_netcdf(out)
    assert idata.posterior.sizes == {"chain": 8, "draw": 40}
    assert (tmp_path / "ck.npz").exists()
    assert float(idata.posterior["beta"].min()) > 0  # the normal prior is truncated at the bound 0


def test_calibrate_dated_monthly_data(tmp_path, capsys):
    # A&E-like totals: a flow integrated over calendar months from dated rows.
    from sd_engine.builder import Model

    m = Model("arrivals", time_units="day", final_time=400, dt=1)
    m.constant("rate", 20.0)
    m.stock("Seen", initial=0, inflows=["arrivals"])
    m.flow("arrivals", "rate")
    script = tmp_path / "arrivals_model.py"
    script.write_text("from sd_engine.builder import Model\n\ndef build():\n"
                      "    m = Model('arrivals', time_units='day', final_time=400, dt=1)\n"
                      "    m.constant('rate', 20.0)\n    m.stock('Seen', initial=0, inflows=['arrivals'])\n"
                      "    m.flow('arrivals', 'rate')\n    return m\n")
    data = tmp_path / "monthly.csv"
    days = [31, 29, 31, 30, 31, 30]
    rows = "\n".join(f"2016-{i + 1:02d}-01,{12.5 * d + (i % 2) * 3}" for i, d in enumerate(days))
    data.write_text("period,arrivals\n" + rows + "\n")
    status = main(["calibrate", str(script), "--data", str(data), "--observe", "arrivals=arrivals",
                   "--param", "rate=1:100", "--likelihood", "poisson", "--origin", "2016-01-01",
                   "--exclude", "2016-06-01:2016-06-01"])
    assert status == 0
    text = capsys.readouterr().out
    assert "5 observations" in text
    rate = float(text.split("rate")[1].split()[0])
    # Poisson MLE of a constant rate from totals over exposures: sum(counts) / sum(days)
    y = np.array([12.5 * d + (i % 2) * 3 for i, d in enumerate(days)])[:5]
    assert rate == pytest.approx(y.sum() / sum(days[:5]), rel=1e-5)


@pytest.mark.parametrize("argv, message", [
    (["--observe", "Infected=in_bd"], "`in_bd` is not a column of the data. Did you mean `in_bed`?"),
    (["--observe", "Infected"], "`Infected` is not an observation; write it as NAME=VALUE."),
    (["--param", "beta=low:high"], "the bounds must be numbers"),
    (["--likelihood", "binomial"], "Unknown likelihood `binomial`"),
    (["--param", "zeta=0:1"], "no constant or stock `zeta`"),
])
def test_errors_are_reported_plainly(flu_csv, capsys, argv, message):
    base = {"--observe": "Infected=in_bed", "--param": "beta=0.1:5", "--likelihood": "negbin"}
    base.update(dict(zip(argv[::2], argv[1::2])))
    args = ["calibrate", "flu", "--data", str(flu_csv)] + [v for kv in base.items() for v in kv]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "\nsdflow: error: " in "\n" + err and message in err
    assert "Traceback" not in err


def test_missing_data_file(capsys):
    assert main(["calibrate", "flu", "--data", "nowhere.csv", "--observe", "Infected=in_bed",
                 "--param", "beta=0.1:5"]) == 2
    assert "no data file `nowhere.csv`" in capsys.readouterr().err


def test_parsers():
    assert parse_param("beta=0.1:5:2") == ("beta", (0.1, 5.0, 2.0))
    assert parse_param("x=-inf:3") == ("x", (float("-inf"), 3.0))
    name, dist = parse_prior("phi_inv=exponential:5")
    assert name == "phi_inv" and dist.mean() == pytest.approx(0.2)
    with pytest.raises(cal.CalibrationError, match="use normal:MU:SD"):
        parse_prior("beta=cauchy:0:1")


def test_calibrate_on_a_window_and_score_the_rest(flu_csv, capsys):
    status = main(["calibrate", "flu", "--data", str(flu_csv), "--observe", "Infected=in_bed",
                   "--param", "beta=0.1:5", "--param", "gamma=0.05:2", "--likelihood", "poisson",
                   "--window", "1:10", "--score", "11:14"])
    assert status == 0
    text = capsys.readouterr().out
    assert "10 observations" in text and "Score on 11:14" in text
    score = text.split("Score on 11:14")[1]
    assert " 4 " in score.splitlines()[2]  # n = 4 rows scored
