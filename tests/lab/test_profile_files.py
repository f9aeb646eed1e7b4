"""Lab profiles from TOML/JSON files, and the lab on an imported model file."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from sd_engine.cli import main
from sd_engine.errors import SpecError, UnknownVariableError
from sd_engine.lab import find_profile, get_profile
from sd_engine.lab.metrics import LabProfile, Metric, load_profile, save_profile

PROFILE = '''model = "teacup"
year = 60
[uncertainty]
"Characteristic Time" = [5, 15]
[[metrics]]
key = "final_temperature"
label = "Temperature at the end"
variable = "Teacup Temperature"
statistic = "final"
units = "degrees F"
aim = "comfort"
better = "lower"
'''


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_a_profile_round_trips_through_its_file(tmp_path: Path, suffix: str) -> None:
    profile = LabProfile("sir", (Metric("peak", "Peak infected", "Infectious", "max", "people", "health", "lower",
                                        description="highest"),),
                         uncertainty={"Contact Infectivity": (0.2, 0.4)}, fan_variables=("Infectious",), saveper=1.0)
    back = load_profile(save_profile(profile, tmp_path / f"sir{suffix}"))
    assert back == profile


def test_profile_files_are_checked_field_by_field(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(PROFILE.replace("year = 60", "yaer = 60"))
    with pytest.raises(SpecError, match=r"`p.toml`: unknown field `yaer`. Did you mean `year`"):
        load_profile(path)
    path.write_text(PROFILE.replace('"Characteristic Time" = [5, 15]', '"Characteristic Time" = [15, 5]'))
    with pytest.raises(SpecError, match=r"the range of `Characteristic Time` must have low < high"):
        load_profile(path)
    path.write_text(PROFILE.replace('aim = "comfort"\n', ""))
    with pytest.raises(SpecError, match=r"metric 1 is incomplete .*aim"):
        load_profile(path)
    path.write_text("model = [")
    with pytest.raises(SpecError, match=r"`p.toml` is not valid TOML"):
        load_profile(path)


def test_library_profiles_come_through_the_library_door() -> None:
    assert find_profile("whole_system_flow") is not None
    assert find_profile("teacup") is None
    with pytest.raises(UnknownVariableError, match=r"Model `teacup` has no lab profile.*--profile FILE"):
        get_profile("teacup")


def test_the_lab_runs_an_imported_model_with_a_profile_file(test_models: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(test_models / "samples" / "teacup" / "teacup.mdl", "teacup.mdl")
    Path("profile.toml").write_text(PROFILE)
    Path("scenarios").mkdir()
    Path("scenarios/base.toml").write_text('name = "baseline"\nmodel = "teacup.mdl"\n')
    Path("scenarios/cool.toml").write_text('name = "cooler room"\nmodel = "teacup.mdl"\n'
                                           'params = { "Room Temperature" = 60 }\n')
    code = main(["lab", "teacup.mdl", "--profile", "profile.toml", "--scenarios", "scenarios", "--samples", "6",
                 "--morris", "0", "--no-loops", "--no-progress", "--out", "out"])
    assert code == 0
    ds = xr.open_dataset("out/results.nc", engine="h5netcdf")
    outcome = ds["outcome"].sel(metric="final_temperature")
    # The same draws of Characteristic Time in both scenarios (common random numbers): a room 10
    # degrees cooler leaves every cup cooler at the end, by less than 10 degrees.
    difference = (outcome.sel(scenario="baseline") - outcome.sel(scenario="cooler room")).values
    assert np.all((difference > 0) & (difference < 10))
