"""Vensim's NPV: lowered to its discount-factor and accumulation stocks.

Checked against a geometric series worked by hand, against the same model written out with
explicit stocks (Vensim's documented equivalent), and against the reference interpreter.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sd_engine as sd
from sd_engine.errors import SpecError

MODEL = """{UTF-8}
payment = 10 + STEP(5, 4) ~~|
yearly rate = 0.08 ~~|
rate per step = yearly rate * TIME STEP ~~|
opening value = 3 ~~|
scale = 2 ~~|
present value = NPV(payment, yearly rate, opening value, scale) ~~|
discount factor = INTEG(-discount factor * yearly rate / (1 + yearly rate * TIME STEP), 1) ~~|
accumulated = INTEG(payment * discount factor, opening value) ~~|
written out = (accumulated + payment * TIME STEP * discount factor) * scale ~~|
INITIAL TIME = 0 ~~|
FINAL TIME = 10 ~~|
TIME STEP = 0.5 ~~|
SAVEPER = TIME STEP ~~|
"""


@pytest.fixture(scope="module")
def npv_model(tmp_path_factory: pytest.TempPathFactory) -> sd.CompiledModel:
    path = Path(tmp_path_factory.mktemp("npv")) / "npv.mdl"
    path.write_text(MODEL)
    return sd.load(path)


def test_npv_of_a_constant_stream_is_a_geometric_series(tmp_path: Path) -> None:
    # With TIME STEP 1 the discount factor is q^k, q = 1 / (1 + r), so
    # NPV_k = s * (1 + q + ... + q^k) for a constant stream s, no initial value, factor 1.
    path = tmp_path / "constant.mdl"
    path.write_text("s = 4 ~~|\nr = 0.1 ~~|\nv = NPV(s, r, 0, 1) ~~|\n"
                    "INITIAL TIME = 0 ~~|\nFINAL TIME = 12 ~~|\nTIME STEP = 1 ~~|\nSAVEPER = TIME STEP ~~|\n")
    v = sd.load(path).run()["v"].values
    k = np.arange(13)
    q = 1 / 1.1
    np.testing.assert_allclose(v, 4 * (1 - q ** (k + 1)) / (1 - q), rtol=1e-12)


def test_npv_equals_its_documented_stock_form(npv_model: sd.CompiledModel) -> None:
    ds = npv_model.run()
    np.testing.assert_allclose(ds["present value"].values, ds["written out"].values, rtol=1e-13)
    # At the start only the first payment, discounted by 1, counts: (3 + 10 * 0.5) * 2.
    assert ds["present value"].values[0] == pytest.approx(16.0)
    assert ds["present value"].values[-1] > ds["present value"].values[0]


def test_npv_compiled_equals_interpreter_and_ensemble(npv_model: sd.CompiledModel) -> None:
    fast = npv_model.run()["present value"].values
    slow = npv_model.with_backend("interpreter").run()["present value"].values
    np.testing.assert_array_equal(fast, slow)
    rates = np.array([0.02, 0.08, 0.2])
    ensemble = npv_model.run(params={"yearly rate": rates})["present value"].values
    for i, rate in enumerate(rates):
        single = npv_model.run(params={"yearly rate": rate})["present value"].values
        np.testing.assert_allclose(ensemble[i], single, rtol=1e-14)
    assert ensemble[0, -1] > ensemble[2, -1]  # a higher rate discounts more


def test_npv_with_the_wrong_number_of_arguments_names_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "bad.mdl"
    path.write_text("s = 4 ~~|\nv = NPV(s, 0.1, 0) ~~|\n"
                    "INITIAL TIME = 0 ~~|\nFINAL TIME = 2 ~~|\nTIME STEP = 1 ~~|\nSAVEPER = TIME STEP ~~|\n")
    with pytest.raises(SpecError, match=r"`npv` in the equation of `v` takes 4 arguments, not 3"):
        sd.load(path).run()
