"""A model's documentation table (sd_engine.describe, `sdflow describe`)."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

import sd_engine as sd
from sd_engine.cli import main
from sd_engine.describe import describe_model, doc_html, format_doc, summary_line
from sd_engine.lab import find_profile


def test_the_table_holds_the_spec_and_the_lab_ranges() -> None:
    model = sd.load("whole_system_flow")
    doc = describe_model(model)
    visible = [v for v in model.spec.variables if not v.internal]
    assert len(doc) == len(visible) and set(doc.index) == {v.name for v in visible}
    assert list(doc["kind"].iloc[:3]) == ["constant"] * 3  # parameters first
    profile = find_profile("whole_system_flow")
    assert profile is not None
    for name, (low, high) in profile.uncertainty.items():
        row = doc.loc[model.resolve(name).name]
        assert (row["low"], row["high"]) == (low, high) and row["low"] <= row["value"] <= row["high"], name
    constants = doc[doc["kind"] == "constant"]
    for name, row in constants.iterrows():
        var = model.resolve(str(name))
        assert row["units"] == var.units and row["doc"] == " ".join(var.doc.split())
    # The values are the ones a run uses.
    ds = model.run(final_time=0)
    for name in ("population", "base beds", "active LoS"):
        assert doc.loc[model.resolve(name).name, "value"] == float(ds[model.resolve(name).name])


def test_an_imported_model_shows_where_each_variable_is_defined(test_models: Path) -> None:
    doc = describe_model(sd.load(test_models / "samples" / "teacup" / "teacup.mdl"))
    assert doc.loc["Characteristic Time", "source"].startswith("teacup.mdl line 2")
    assert doc.loc["Heat Loss to Room", "equation"] != "" and np.isnan(doc.loc["Heat Loss to Room", "low"])


def test_the_command_prints_the_same_table() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["describe", "sir", "--kind", "constant"]) == 0
    model = sd.load("sir")
    assert out.getvalue() == summary_line(model) + "\n" + format_doc(describe_model(model, ("constant",)))
    assert out.getvalue().splitlines()[0] == "<CompiledModel 'SIR': 3 constants, 3 stocks, 2 flows; euler " \
                                             "dt=0.03125 from 0 to 100 Day>"
    assert "Contact Infectivity" in out.getvalue() and "Susceptible" not in out.getvalue().split("\n", 1)[1]


def test_html_is_escaped() -> None:
    m = sd.Model("<b>tags</b>", final_time=1)
    m.constant("k <x>", 1, doc="a <script> b")
    html = doc_html(m.compile())
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;" in html


def test_model_doc_is_what_the_command_prints_and_repr_is_its_first_line() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["describe", "whole_system_flow"]) == 0
    model = sd.load("whole_system_flow")
    first, table = out.getvalue().split("\n", 1)
    assert table == format_doc(model.doc) and first == repr(model)
    # The counts in the repr, counted here from the spec's own variables.
    visible = [v for v in model.spec.variables if not v.internal]
    n_stocks = sum(v.kind == "stock" for v in visible)
    n_constants = sum(v.kind == "constant" for v in visible)
    assert f"{n_constants} constants" in first and f"{n_stocks} stocks" in first and len(first) < 200
    assert "dt=1 from 0 to 5475 day" in first


def test_the_notebook_table_is_cut_to_its_first_and_last_rows() -> None:
    model = sd.load("whole_system_flow")
    html = model._repr_html_()
    params = model.doc[model.doc["kind"] == "constant"].index
    body = html.split("<tbody>")[1]
    assert body.count("<tr>") == 41  # 20 first + "..." + 20 last
    assert f"<th>{params[0]}</th>" in body and f"<th>{params[-1]}</th>" in body
    assert f"<th>{params[20]}</th>" not in body and f"{len(params)} parameters" in html
    small = sd.load("sir")._repr_html_()
    assert small.split("<tbody>")[1].count("<tr>") == 3 and "first and last" not in small
