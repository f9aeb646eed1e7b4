"""Library models built with the builder reproduce Vensim's canonical output for the same model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sd_engine as sd

CASES = {
    "teacup": "samples/teacup/output.csv",
    "sir": "samples/SIR/output.csv",
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("backend", ["numpy", "interpreter"])
def test_matches_vensim_canonical_output(name: str, backend: str, test_models: Path) -> None:
    expected = pd.read_csv(test_models / CASES[name], index_col=0)
    expected.columns = [c.strip() for c in expected.columns]
    model = sd.load(name)
    if backend == "interpreter":
        model = model.with_backend("interpreter")
    ds = model.run()
    np.testing.assert_allclose(ds["time"].values, expected.index.values, rtol=1e-5)  # times printed to 6 digits
    for column in expected.columns:
        actual = np.broadcast_to(ds[column].values, expected[column].shape)
        # The conformance tolerance: |a - e| <= 1e-5 + 1e-5 |e| (Vensim writes 6 significant digits).
        np.testing.assert_allclose(actual, expected[column].values, rtol=1e-5, atol=1e-5, err_msg=column)
