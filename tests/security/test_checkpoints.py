"""MCMC checkpoints: keyed by everything that determines the posterior, checked when read.

A checkpoint written for one set-up is refused for another -- other data, priors,
observation mapping, windows, likelihood, model, seed or walkers -- with a typed error
naming what differs; a damaged checkpoint is a typed error naming the file. A `callback`
may stop sampling early (``StopIteration``), and the run then resumes to the very draws of
an uninterrupted one.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import calibration as cal
from calibration import CalibrationError, Observe
from calibration.examples import flu
from calibration.posterior import SamplerProgress
from sd_engine.errors import SDError

pytestmark = pytest.mark.filterwarnings("ignore:More chains")  # a few draws per walker on purpose

PRIORS = {"beta": (0, None, stats.norm(2, 1)), "gamma": (0, None, stats.norm(0.4, 0.5)),
          "phi_inv": stats.expon(scale=1 / 5)}
OBSERVE = {"Infected": "in_bed"}


@pytest.fixture(scope="module")
def start() -> cal.FitResult:
    return cal.fit(flu.build(), flu.data(), {"beta": (0.1, 5.0), "gamma": (0.05, 2.0)}, OBSERVE, "negbin")


def sample(start: cal.FitResult, checkpoint: Path | None = None, **changes: object):  # type: ignore[no-untyped-def]
    options: dict[str, object] = {"model": flu.build(), "data": flu.data(), "priors": PRIORS, "observe": OBSERVE,
                                  "likelihood": "negbin", "draws": 16 * 6, "walkers": 16, "tune": 4, "seed": 3,
                                  "predictive": 0, "start": start, "checkpoint": checkpoint}
    options.update(changes)
    return cal.sample(**options)  # type: ignore[arg-type]


def changed_data():  # type: ignore[no-untyped-def]
    data = flu.data().copy()
    data.iloc[4, 0] += 1  # one count
    return data


def other_model():  # type: ignore[no-untyped-def]
    m = flu.build()
    m.aux("doubled beta", "beta * 2")  # the same posterior, but another model: its hash differs
    return m


@pytest.mark.parametrize("change, differs", [
    ({"data": changed_data()}, "data"),
    ({"priors": PRIORS | {"beta": (0, None, stats.norm(2, 1.5))}}, "priors"),
    ({"priors": PRIORS | {"beta": (0, 4, stats.norm(2, 1))}}, "priors"),  # the bounds truncate the prior
    ({"observe": {"Infected": Observe("in_bed", weight=2.0)}}, "observation mapping"),
    ({"window": (1, 12)}, "windows"),
    ({"model": other_model()}, "model"),
    ({"seed": 4}, "seed"),
    ({"run_options": {"method": "euler"}}, "run options"),
])
def test_a_checkpoint_of_another_set_up_is_refused(tmp_path: Path, start: cal.FitResult, change: dict[str, object],
                                                   differs: str) -> None:
    path = tmp_path / "chain.npz"
    sample(start, path)
    with pytest.raises(CalibrationError) as info:
        sample(start, path, **change)
    assert isinstance(info.value, SDError)
    assert str(info.value) == (f"Checkpoint `{path}` belongs to a different run ({differs} differ); delete it or "
                               "choose another `checkpoint` path.")


def test_a_changed_likelihood_is_named(tmp_path: Path, start: cal.FitResult) -> None:
    path = tmp_path / "chain.npz"
    sample(start, path)
    with pytest.raises(CalibrationError, match=r"belongs to a different run \(.*likelihood.* differ\)"):
        sample(start, path, likelihood="poisson", priors={k: v for k, v in PRIORS.items() if k != "phi_inv"})


def test_the_same_set_up_resumes(tmp_path: Path, start: cal.FitResult) -> None:
    path = tmp_path / "chain.npz"
    first = sample(start, path)
    again = sample(start, path, data=flu.data().copy(), priors=dict(PRIORS), observe={"Infected": Observe("in_bed")})
    np.testing.assert_array_equal(again.posterior["beta"].values, first.posterior["beta"].values)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "bit flip", "other arrays", "wrong shape"])
def test_a_damaged_checkpoint_is_a_typed_error_naming_it(tmp_path: Path, start: cal.FitResult, damage: str) -> None:
    path = tmp_path / "chain.npz"
    sample(start, path)
    raw = bytearray(path.read_bytes())
    if damage == "truncated":
        path.write_bytes(bytes(raw[: len(raw) // 2]))
    elif damage == "garbage":
        path.write_bytes(b"\x00not a checkpoint" * 10)
    elif damage == "bit flip":
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("chain.npy")
        raw[info.header_offset + 30 + len(info.filename) + 200] ^= 0x10  # inside the chain's numbers
        path.write_bytes(bytes(raw))
    elif damage == "other arrays":
        np.savez(path, something=np.arange(3))
    else:
        with np.load(path) as snap:
            arrays = {k: snap[k] for k in snap.files}
        arrays["chain"] = arrays["chain"][:, :3]
        np.savez(path, **arrays)
    with pytest.raises(CalibrationError) as caught:
        sample(start, path)
    assert str(caught.value).startswith(f"Checkpoint `{path}` is damaged")
    assert "delete it to start afresh" in str(caught.value)


def test_a_callback_stops_early_and_the_run_resumes_to_the_same_draws(tmp_path: Path, start: cal.FitResult) -> None:
    reference = sample(start)
    seen: list[SamplerProgress] = []

    def stop_at_seven(progress: SamplerProgress) -> None:
        seen.append(progress)
        if progress.step == 7:
            raise StopIteration

    path = tmp_path / "chain.npz"
    early = sample(start, path, callback=stop_at_seven)
    assert [p.step for p in seen] == list(range(1, 8))
    assert {(p.total, p.tune) for p in seen} == {(10, 4)}
    assert all(0 <= p.acceptance_fraction <= 1 for p in seen)
    assert early.posterior.attrs["steps"] == 7 and early.posterior.sizes["draw"] == 3
    np.testing.assert_array_equal(early.posterior["beta"].values, reference.posterior["beta"].values[:, :3])
    assert int(np.load(path)["done"]) == 7  # brought up to the stop, though checkpoint_every is 50
    resumed = sample(start, path)
    np.testing.assert_array_equal(resumed.posterior["beta"].values, reference.posterior["beta"].values)


def test_a_stop_while_tuning_is_an_error_and_keeps_the_checkpoint(tmp_path: Path, start: cal.FitResult) -> None:
    def stop(progress: SamplerProgress) -> None:
        if progress.step == 2:
            raise StopIteration

    path = tmp_path / "chain.npz"
    with pytest.raises(CalibrationError, match=r"`callback` stopped sampling at step 2, within the 4 tuning steps"):
        sample(start, path, callback=stop)
    assert int(np.load(path)["done"]) == 2
