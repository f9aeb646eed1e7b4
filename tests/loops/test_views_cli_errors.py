"""Views, the `sdflow loops` command, and every error message of the loop analysis."""

from __future__ import annotations

import subprocess
import sys

import matplotlib
import numpy as np
import pytest
from builders import logistic

import sd_engine as sd
from sd_engine.graph import causal_graph
from sd_engine.loops import dominance_phases, dominant, find_loops
from sd_engine.loops.views import loops_html, plot_dominance, plot_loops

matplotlib.use("Agg")


def test_diagram_highlights_loop_edges():
    model = sd.load("sir")
    loops = model.loops()
    ax = plot_loops(model.graph(), loops, highlight=["R1"])
    texts = [t.get_text() for t in ax.texts]
    assert "Infectious" in texts and "R\ncontagion" in texts  # loops carry the names the model gives them
    # Structurally undetermined polarities (they depend on the sign of the stocks) show as "?".
    assert texts.count("+") + texts.count("\u2212") + texts.count("?") == model.graph().number_of_edges()
    assert texts.count("?") == 5


def test_dominance_plot_single_and_ensemble():
    model = logistic().compile()
    ax = plot_dominance(model.loop_dominance())
    assert len(ax.lines) == 3  # two loops and the zero line
    ens = model.loop_dominance(model.run(params={"r": np.array([0.1, 0.2])}))
    assert plot_dominance(ens).get_ylabel() == "probability of dominance"


def test_html_view_lists_loops_and_peaks():
    model = logistic().compile()
    text = loops_html(model.graph(), model.loops(), model.loop_dominance())
    assert text.count("<li ") == 2 and "peak |RLS| 1.00" in text and "<svg" in text


def test_cli_loops(tmp_path):
    out = tmp_path / "sir.html"
    result = subprocess.run([sys.executable, "-m", "sd_engine.cli", "loops", "sir", "--dominance", "--html", str(out)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "R1 (R, contagion): Infectious -> Succumbing -> Infectious" in result.stdout
    assert "0 - 30.1562: contagion" in result.stdout
    assert out.read_text(encoding="utf-8").count("<li ") == 3


# -- errors ----------------------------------------------------------------------------------------
def test_unknown_view_and_internal_mode():
    spec = sd.load("teacup").lowered
    with pytest.raises(sd.SpecError, match="Unknown graph view `flows`"):
        causal_graph(spec, view="flows")  # type: ignore[arg-type]
    with pytest.raises(sd.SpecError, match="Unknown `internal` mode `hide`"):
        causal_graph(spec, internal="hide")  # type: ignore[arg-type]


def test_bad_cap_and_length():
    g = sd.load("teacup").graph()
    with pytest.raises(sd.SpecError, match="`cap` must be a positive whole number"):
        find_loops(g, cap=0)
    with pytest.raises(sd.SpecError, match="`max_length` must be a positive whole number"):
        find_loops(g, max_length=0)


def test_loop_names_must_exist():
    model = sd.load("sir")
    with pytest.raises(sd.UnknownVariableError, match="Loop `R1` names `Infected`.*Did you mean"):
        model.loops(names={"R1": ["Infected", "Succumbing"]})
    with pytest.raises(sd.SpecError, match="Loop `X` \\(`Recovered` -> `Succumbing`\\) is not a feedback loop"):
        model.loops(names={"X": ["Recovered", "Succumbing"]})
    with pytest.raises(sd.UnknownVariableError, match="There is no loop `R9`"):
        model.loops()["R9"]


def test_dataset_from_another_model_is_refused():
    model = logistic().compile()
    ds = model.run(params={"r": 0.3})
    ds.attrs["parameters"] = "{}"  # as if the settings had been lost
    ds = ds.drop_vars("r")
    with pytest.raises(sd.SpecError, match="Stock `P` in `ds` differs from this model's run"):
        model.loop_dominance(ds)
    with pytest.raises(sd.SpecError, match="`ds` must be the xarray.Dataset"):
        model.loop_dominance(ds["P"])  # type: ignore[arg-type]
    with pytest.raises(sd.SpecError, match="`ds` has no values of stock `P`"):
        model.loop_dominance(model.run().drop_vars("P"))


def test_dataset_with_reordered_variables_and_saved_subset():
    m = sd.Model("order", final_time=10, dt=0.5, saveper=2)
    m.aux("g", "0.1 * (1 - p / 100)")
    m.flow("growth", "g * p")
    m.stock("P", initial=5, inflows=["growth"])
    model = m.compile()
    ds = model.run()
    rls = model.loop_dominance(ds)
    np.testing.assert_allclose(rls.sel(loop="R1").values[:-1], 1 - ds["P"].values[:-1] / 100, rtol=1e-10)


def test_bad_labelling_and_formula():
    model = logistic().compile()
    with pytest.raises(sd.SpecError, match="`labelling` must be \"forward\" or \"backward\""):
        model.loop_dominance(labelling="sideways")
    with pytest.raises(sd.SpecError, match="`flow_formula` must be \"2023\" or \"2020\""):
        model.loop_dominance(flow_formula="2021")


def test_subscripted_model_refused_for_scores_but_has_loops():
    m = sd.Model("regions", final_time=5)
    m.dimension("region", ["north", "south"])
    m.stock("x", initial=1, outflows=["loss"], dims=("region",))
    m.flow("loss", "x / 2", dims=("region",))
    model = m.compile()
    assert [loop.polarity for loop in model.loops()] == ["B"]
    with pytest.raises(sd.UnsupportedError, match="subscripted models are not supported yet \\(`x` is arrayed\\)"):
        model.loop_dominance()


def test_discrete_state_in_loop_refused():
    m = sd.Model("pipeline", final_time=5)
    m.stock("x", initial=1, inflows=["gain"])
    m.aux("held", "delay_fixed(x, 1, 1)")
    m.flow("gain", "held * 0.1")
    model = m.compile()
    with pytest.raises(sd.UnsupportedError, match="runs through `_delay_fixed_1 of held`, a discrete state"):
        model.loop_dominance()


def test_dominance_helpers_reject_other_input():
    model = logistic().compile()
    with pytest.raises(sd.SpecError, match="Pass the DataArray returned by `model.loop_dominance"):
        dominant(model.run()["P"])
    with pytest.raises(sd.SpecError, match="`threshold` must be in \\(0, 1\\]"):
        dominant(model.loop_dominance(), threshold=2)
    ens = model.loop_dominance(model.run(params={"r": np.array([0.1, 0.2])}))
    with pytest.raises(sd.SpecError, match="`dominance_phases` takes one run"):
        dominance_phases(ens)
    with pytest.raises(sd.SpecError, match="no loop `Z1` to highlight"):
        plot_loops(model.graph(), model.loops(), highlight="Z1")


def test_max_length_lists_the_short_loops_with_the_names_they_have_in_the_full_listing(capsys):
    # acute_flow_coping names a loop of 3 links and one of 5; `--max-length 4` used to fail on the long one.
    from sd_engine.cli import main

    model = sd.load("acute_flow_coping")
    full = model.loops()
    assert max(loop.length for loop in full if loop.name) > 4  # the case that failed
    short = model.loops(max_length=4)
    expected = {loop.variables: loop.name for loop in full if loop.length <= 4}
    assert {loop.variables: loop.name for loop in short} == expected
    assert sorted(n for n in expected.values() if n) == ["L15 overwhelm tipping"]
    assert main(["loops", "acute_flow_coping", "--max-length", "4"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"acute flow coping: {len(short)} feedback loop(s)") and "L15 overwhelm tipping" in out    # A name that is no loop at all is still an error when every loop is listed: test_loop_names_must_exist.
