"""A variable named ``t`` in a model file. Vensim and XMILE write time ``Time``/``TIME``, so ``t``
is a plain name there (SDEverywhere's arrays, subscript, sum, except models); only the builder's
equations read ``t`` as time, and the builder still refuses it. Every back end reads ``t`` as the
variable and ``Time`` as time; the values are worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sd_engine as sd
from sd_engine.errors import SpecError

MODEL = """{UTF-8}
t = 3 ~~|
growth = t * Time ~~|
level = INTEG(growth, t) ~~|
INITIAL TIME = 0 ~~|
FINAL TIME = 3 ~~|
TIME STEP = 1 ~~|
SAVEPER = 1 ~~|
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> sd.CompiledModel:
    path = tmp_path_factory.mktemp("t") / "t.mdl"
    path.write_text(MODEL)
    return sd.load(path)


@pytest.mark.parametrize("backend", ["numpy", "interpreter", "numba"])
def test_t_is_a_variable_and_time_is_time(model: sd.CompiledModel, backend: str) -> None:
    if backend == "numba":
        pytest.importorskip("numba")
        ds = model.run(backend="numba")  # type: ignore[arg-type]
    else:
        ds = model.with_backend(backend).run()  # type: ignore[arg-type]
    np.testing.assert_array_equal(ds["t"].values, 3.0)
    np.testing.assert_array_equal(ds["growth"].values, [0.0, 3.0, 6.0, 9.0])
    # Euler from t = 3: 3, 3 + 0, 3 + 3, 6 + 6.
    np.testing.assert_array_equal(ds["level"].values, [3.0, 3.0, 6.0, 12.0])


def test_t_as_a_parameter_and_in_the_graph(model: sd.CompiledModel) -> None:
    ds = model.run(params={"t": 2.0})
    np.testing.assert_array_equal(ds["growth"].values, [0.0, 2.0, 4.0, 6.0])
    assert model.graph().has_edge("t", "growth")


def test_the_builder_still_reads_t_as_time() -> None:
    m = sd.Model("b")
    with pytest.raises(SpecError, match=r"`t` is a reserved name"):
        m.aux("t", "1")


DT_MODEL = """{UTF-8}
DT = TIME STEP ~~|
stock = INTEG(inflow, 0) ~~|
inflow = amount / DT ~~|
amount = PULSE(0, 0.5) * 3 ~~|
smoothed = SMOOTH(stock, 1) ~~|
INITIAL TIME = 0 ~~|
FINAL TIME = 2 ~~|
TIME STEP = 0.5 ~~|
SAVEPER = 0.5 ~~|
"""


@pytest.mark.parametrize("backend", ["numpy", "interpreter"])
def test_a_vensim_variable_named_dt_is_that_variable(tmp_path: Path, backend: str) -> None:
    # Industrial Dynamics models write `DT = TIME STEP`: a plain name in Vensim (IDch15d).
    path = tmp_path / "dt.mdl"
    path.write_text(DT_MODEL)
    ds = sd.load(path).with_backend(backend).run()  # type: ignore[arg-type]
    np.testing.assert_array_equal(ds["DT"].values, 0.5)
    # The pulse (3 over one step from 0 to 0.5) divided by DT: 6 a time unit for half a unit.
    np.testing.assert_array_equal(ds["inflow"].values, [6.0, 0, 0, 0, 0])
    np.testing.assert_array_equal(ds["stock"].values, [0.0, 3.0, 3.0, 3.0, 3.0])
    # SMOOTH (time 1, step 0.5) reads the engine's time step, not the variable: 0, 0, 1.5, 2.25, 2.625.
    np.testing.assert_allclose(ds["smoothed"].values, [0.0, 0.0, 1.5, 2.25, 2.625], rtol=1e-15)


def test_the_builder_still_refuses_dt() -> None:
    with pytest.raises(SpecError, match=r"`DT` is a reserved name"):
        sd.Model("b").aux("DT", "1")
