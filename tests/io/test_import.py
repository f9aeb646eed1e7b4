"""The importer: safety of XMILE input, error messages, same results across formats,
ensembles by Vensim names, units and docs, and the compiler's block-by-block arrays."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import sd_engine as sd
from sd_engine.errors import SpecError, UnsupportedError
from sd_engine.expr import canonical
from sd_engine.io.xml_safety import ModelFileError, check_xmile

HERE = Path(__file__).parent / "models"

XMILE_HEAD = '<?xml version="1.0"?>\n'
XMILE_BODY = (
    '<xmile version="1.0" xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0">\n'
    '<sim_specs method="{method}"><start>0</start><stop>2</stop><dt>0.5</dt></sim_specs>\n'
    "<model><variables>\n"
    '<stock name="x"><eqn>1</eqn><outflow>loss</outflow>{extra}</stock>\n'
    '<flow name="loss"><eqn>x</eqn></flow>\n'
    "</variables></model></xmile>\n"
)


def write(tmp_path: Path, text: str, name: str = "m.xmile") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- untrusted XML -------------------------------------------------------------------------------
def test_billion_laughs_is_refused_quickly(tmp_path: Path) -> None:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    )
    path = write(tmp_path, f'<?xml version="1.0"?><!DOCTYPE xmile [{entities}]><xmile>&lol9;</xmile>')
    start = time.perf_counter()
    with pytest.raises(ModelFileError, match="declares entity `lol`.*Remove the DOCTYPE"):
        sd.load(path)
    assert time.perf_counter() - start < 1.0


def test_external_entity_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read")
    path = write(tmp_path, f'<?xml version="1.0"?><!DOCTYPE xmile [<!ENTITY e SYSTEM "file://{secret}">]>'
                           "<xmile>&e;</xmile>")
    with pytest.raises(ModelFileError, match="entit"):
        sd.load(path)


def test_malformed_file_names_file_line_and_element(tmp_path: Path) -> None:
    text = XMILE_HEAD + XMILE_BODY.format(method="Euler", extra="").replace("</flow>", "")
    path = write(tmp_path, text, "broken.xmile")
    with pytest.raises(ModelFileError, match=r"`broken.xmile` is malformed at line 7, column \d+, inside "
                                             r'<flow name="loss">'):
        sd.load(path)


def test_truncated_file_names_the_place(tmp_path: Path) -> None:
    text = XMILE_HEAD + XMILE_BODY.format(method="Euler", extra="")
    path = write(tmp_path, text[: len(text) // 2], "cut.xmile")
    with pytest.raises(ModelFileError, match="`cut.xmile` is malformed at line"):
        sd.load(path)


@pytest.mark.parametrize("tag", ["conveyor", "queue"])
def test_stella_conveyors_and_queues_are_refused_by_name(tmp_path: Path, tag: str) -> None:
    path = write(tmp_path, XMILE_HEAD + XMILE_BODY.format(method="Euler", extra=f"<{tag}><len>3</len></{tag}>"))
    with pytest.raises(UnsupportedError, match=f"`x` in `m.xmile` is a Stella {tag}"):
        sd.load(path)


def test_not_xmile_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '<?xml version="1.0"?><svg/>')
    with pytest.raises(ModelFileError, match="root element is <svg>"):
        check_xmile(path)


# -- XMILE integration method --------------------------------------------------------------------
def test_xmile_rk4_is_honoured(tmp_path: Path) -> None:
    # dx/dt = -x from 1: RK4 with h = 0.5 gives (1 - h + h^2/2 - h^3/6 + h^4/24)^k, Euler 0.5^k.
    rk4 = sd.load(write(tmp_path, XMILE_HEAD + XMILE_BODY.format(method="RK4", extra=""), "rk4.xmile"))
    euler = sd.load(write(tmp_path, XMILE_HEAD + XMILE_BODY.format(method="Euler", extra=""), "eu.xmile"))
    assert rk4.spec.time.method == "rk4"
    g = 1 - 0.5 + 0.5**2 / 2 - 0.5**3 / 6 + 0.5**4 / 24
    np.testing.assert_allclose(rk4.run()["x"].values, g ** np.arange(5), rtol=1e-12)
    np.testing.assert_allclose(euler.run()["x"].values, 0.5 ** np.arange(5), rtol=1e-12)


def test_unknown_integration_method_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, XMILE_HEAD + XMILE_BODY.format(method="Gear", extra=""))
    with pytest.raises(UnsupportedError, match="integration method `Gear`"):
        sd.load(path)


# -- formats agree ---------------------------------------------------------------------------------
@pytest.mark.parametrize("folder, mdl, xmile", [
    ("samples/teacup", "teacup.mdl", "teacup.xmile"),
    ("samples/SIR", "SIR.mdl", "SIR.xmile"),
])
def test_mdl_and_xmile_give_the_same_results(test_models: Path, folder: str, mdl: str, xmile: str) -> None:
    a = sd.load(test_models / folder / mdl).run()
    b = sd.load(test_models / folder / xmile).run()
    np.testing.assert_allclose(a["time"], b["time"])
    # XMILE writes names with underscores: match them in canonical form.
    by_key = {canonical(str(v)): v for v in b.data_vars}
    shared = [v for v in a.data_vars if canonical(str(v)) in by_key and a[v].attrs.get("kind") != "constant"]
    assert len(shared) >= 2
    for name in shared:
        np.testing.assert_allclose(a[name].values, b[by_key[canonical(str(name))]].values, rtol=1e-12,
                                   err_msg=str(name))


def test_library_and_imported_teacup_agree(test_models: Path) -> None:
    imported = sd.load(test_models / "samples/teacup/teacup.mdl").run()
    library = sd.load("teacup").run()
    np.testing.assert_allclose(imported["Teacup Temperature"], library["Teacup Temperature"], rtol=1e-12)


# -- spec contents ---------------------------------------------------------------------------------
def test_units_and_documentation_are_carried(test_models: Path) -> None:
    model = sd.load(HERE / "decay.mdl")
    var = model.spec["Decay Time"]
    assert (var.units, var.doc) == ("Month", "The average wait.")
    assert model.spec["Remaining"].outflows == ("decay",)
    assert model.spec["Decay"].kind == "flow"
    assert model.spec.time.units == "Month"
    ds = model.run()
    assert ds["Remaining"].attrs["units"] == "people"
    assert ds["Remaining"].attrs["doc"] == "People still waiting."
    # Euler: 100 * (1 - 0.5 / 2)^k
    np.testing.assert_allclose(ds["Remaining"].values, 100 * 0.75 ** np.arange(9))


def test_ensemble_by_vensim_names(test_models: Path) -> None:
    model = sd.load(test_models / "samples/teacup/teacup.mdl")
    times = np.array([5.0, 10.0, 20.0])
    ens = model.run(params={"Characteristic Time": times})
    assert ens["Teacup Temperature"].dims == ("run", "time")
    for i, tau in enumerate(times):
        single = model.run(params={"characteristic_time": tau})
        np.testing.assert_allclose(ens["Teacup Temperature"].isel(run=i), single["Teacup Temperature"])


def test_missing_file_and_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="No model file"):
        sd.load(tmp_path / "nothing.mdl")
    from sd_engine.io.pysd_import import read_model

    other = write(tmp_path, "x", "model.txt")
    with pytest.raises(ModelFileError, match="not a model file"):
        read_model(other)


def test_xmile_macros_with_variables_are_refused_by_name(tmp_path: Path) -> None:
    # Macros of one equation are expanded (tests/io/test_xmile_modules.py); a macro holding
    # stocks of its own is not.
    text = XMILE_HEAD + XMILE_BODY.format(method="Euler", extra="").replace(
        "<model>", '<macro name="twice"><parm>x</parm><eqn>level</eqn><variables><stock name="level">'
                   '<eqn>x</eqn></stock></variables></macro><model>')
    with pytest.raises(UnsupportedError, match="defines macro `twice` with variables of its own \\(`level`\\); "
                                               "sdflow expands macros of one equation only"):
        sd.load(write(tmp_path, text))


# -- engine extensions, through the builder --------------------------------------------------------
def arrayed() -> sd.Model:
    m = sd.Model("blocks", final_time=1)
    m.dimension("region", ["north", "east", "south", "west"])
    m.dimension("coast", ["east", "west"])
    m.constant("base", [1.0, 2.0, 3.0, 4.0], dims=["region"])
    return m


def test_block_definitions_subranges_and_elements() -> None:
    m = arrayed()
    m.aux("x", "_pieces(_at('north'), base['north'] * 10, _at('coast'), base['coast'] + 100, _at('south'), -1)",
          dims=["region"])
    m.aux("total", "sum(x['coast'], 'coast')")
    ds = m.compile().run()
    np.testing.assert_allclose(ds["x"].isel(time=0).values, [10.0, 102.0, -1.0, 104.0])
    np.testing.assert_allclose(ds["total"].isel(time=0), 206.0)
    interpreted = m.compile()
    assert "np.take" in interpreted.source


def test_block_that_leaves_an_element_undefined_is_refused() -> None:
    m = arrayed()
    m.aux("x", "_pieces(_at('north'), 1, _at('coast'), 2)", dims=["region"])
    with pytest.raises(SpecError, match=r"`x`\[south\] has no equation; give every element exactly one"):
        m.compile()


def test_block_defined_twice_is_refused() -> None:
    m = arrayed()
    m.aux("x", "_pieces(_at('region'), 1, _at('coast'), 2)", dims=["region"])
    with pytest.raises(SpecError, match=r"`x`\[east\] has more than one equation"):
        m.compile()


def test_pieces_must_be_the_whole_equation() -> None:
    m = arrayed()
    m.aux("x", "1 + _pieces(_at('region'), 1)", dims=["region"])
    with pytest.raises(SpecError, match="must be the whole equation of `x`"):
        m.compile()


def test_mapped_dimension_reads_in_place_of_another() -> None:
    m = sd.Model("mapped", final_time=1)
    m.dimension("a", ["a1", "a2"])
    from dataclasses import replace  # the builder has no mapping argument: set it on the spec

    m.dimension("b", ["b1", "b2"])
    m.constant("vb", [1.0, 2.0], dims=["b"])
    m.aux("va", "vb['a'] * 3", dims=["a"])
    spec = m.spec()
    dims = tuple(replace(d, maps_to=("a",)) if d.name == "b" else d for d in spec.dimensions)
    ds = sd.compile_model(replace(spec, dimensions=dims)).run()
    np.testing.assert_allclose(ds["va"].isel(time=0).values, [3.0, 6.0])


# -- command line ----------------------------------------------------------------------------------
def test_conformance_command_prints_the_table(test_models: Path) -> None:
    folder = test_models / "samples" / "teacup"
    out = subprocess.run([sys.executable, "-m", "sd_engine.cli", "conformance", str(folder)],
                         capture_output=True, text=True, timeout=120)
    assert "teacup.mdl" in out.stdout and "pass" in out.stdout
    legacy = next(line for line in out.stdout.splitlines() if "teacup_legacy.stmx" in line)
    assert " pass " in legacy
    assert out.returncode == 0


def test_conformance_command_on_missing_folder(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "sd_engine.cli", "conformance", str(tmp_path / "nope")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "no folder" in out.stdout


#: Imported models that use blocks, subranges, mappings and `dim!` reductions: the
#: generated code and the reference interpreter (which aligns by name with xarray) agree.
ARRAYED = [
    "tests/except/test_except.mdl",
    "tests/subscript_aggregation/test_subscript_aggregation.mdl",
    "tests/subscript_individually_defined_1_of_2d_arrays/subscript_individually_defined_1_of_2d_arrays.mdl",
    "tests/subscript_individually_defined_stocks/test_subscript_individually_defined_stocks.mdl",
    "tests/subscript_subranges_equal/test_subscript_subrange_equal.mdl",
    "tests/subscript_switching/subscript_switching.mdl",
    "tests/subscript_transposition/test_subscript_transposition.mdl",
    "tests/subscript_multiples/test_multiple_subscripts.mdl",
    "tests/subscripted_logicals/test_subscripted_logicals.mdl",
    "tests/subscript_individually_defined_1d_arrays/subscript_individually_defined_1d_arrays.xmile",
    "tests/subscripted_lookups/test_subscripted_lookups.mdl",
    "tests/subscript_mapping_simple/test_subscript_mapping_simple.mdl",
    "tests/smaller_range/test_smaller_range.mdl",
    "tests/invert_matrix/test_invert_matrix.mdl",
]


@pytest.mark.parametrize("name", ARRAYED)
def test_interpreter_agrees_on_arrayed_imports(test_models: Path, name: str) -> None:
    model = sd.load(test_models / name)
    a = model.run()
    b = model.with_backend("interpreter").run()
    for var in a.data_vars:
        np.testing.assert_allclose(a[var].values, b[var].values, rtol=1e-12, atol=1e-12, err_msg=str(var))


def vensim_delay_n_varying(x: np.ndarray, delay: np.ndarray, init: float, n: int, dt: float) -> np.ndarray:
    """Vensim's DELAY N, step by step: stage contents kept as value x delay time, each stage
    draining with the delay time of the step its contents entered, the output read with the
    delay time of the step before (as PySD's DelayN, which reproduces Vensim's output)."""
    state = np.full(n, init * delay[0])
    times = np.full(n, delay[0])
    out = []
    for i in range(len(x)):
        out.append(state[-1] / times[0])
        times = np.roll(times, 1)
        times[0] = delay[i]
        outflows = state / times
        inflows = np.roll(outflows, 1)
        inflows[0] = x[i]
        state = state + dt * n * (inflows - outflows)
    return np.array(out)


@pytest.mark.parametrize("order", [1, 2, 4])
def test_delay_n_with_a_changing_delay_time_follows_vensim(order: int) -> None:
    m = sd.Model("delay_n", final_time=30, dt=0.5)
    m.aux("input", "-1 + step(5, 5) + 0.1 * t")
    m.aux("delay time", "4 + step(2, 15) - step(3, 22)")
    m.aux("out", f"delay_n(input, delay_time, 6, {order})")
    ds = m.compile().run()
    t = ds["time"].values
    x = -1 + np.where(t + 0.25 > 5, 5.0, 0.0) + 0.1 * t
    delay = 4 + np.where(t + 0.25 > 15, 2.0, 0.0) - np.where(t + 0.25 > 22, 3.0, 0.0)
    np.testing.assert_allclose(ds["out"].values, vensim_delay_n_varying(x, delay, 6.0, order, 0.5), rtol=1e-12)


# -- PySD's runtime as a cross-check -------------------------------------------------------------
def test_pysd_backend_agrees_on_an_ensemble(test_models: Path) -> None:
    model = sd.load(test_models / "samples/SIR/SIR.mdl")
    values = np.array([3.0, 4.0])
    ours = model.run(params={"Contact Infectivity": values}, final_time=20)
    theirs = model.run(params={"Contact Infectivity": values}, final_time=20, backend="pysd")
    assert theirs["Infectious"].dims == ("run", "time")
    np.testing.assert_allclose(ours["Infectious"].values, theirs["Infectious"].values, rtol=1e-9)


def test_pysd_backend_needs_a_model_file() -> None:
    with pytest.raises(UnsupportedError, match="was not loaded from one; use the default backend"):
        sd.load("teacup").run(backend="pysd")


def test_pysd_backend_is_euler_only(test_models: Path) -> None:
    model = sd.load(test_models / "samples/teacup/teacup.mdl")
    with pytest.raises(UnsupportedError, match="Euler only, not `rk4`"):
        model.run(method="rk4", backend="pysd")


def test_unknown_backend(test_models: Path) -> None:
    with pytest.raises(SpecError, match="Unknown backend `jax`"):
        sd.load("teacup").run(backend="jax")  # type: ignore[arg-type]


# -- macros ----------------------------------------------------------------------------------------
def test_macro_with_a_stock_is_expanded_per_call(test_models: Path) -> None:
    model = sd.load(test_models / "tests/macro_stock/test_macro_stock.mdl")
    # EXPRESSION MACRO = INTEG(input, parameter): 1.1 + 5 t under Euler.
    ds = model.run()
    np.testing.assert_allclose(ds["macro output"].values, 1.1 + 5 * ds["time"].values)
    internal = [v for v in model.spec.variables if v.internal]
    assert any("expression_macro" in v.canonical for v in internal)


def test_recursive_macro_is_refused() -> None:
    with pytest.raises(UnsupportedError, match="Macro `looping` calls itself"):
        sd.load(HERE / "recursive_macro.mdl")


def xmile_model(equations: dict[str, str], stop: float = 6, dt: float = 0.5) -> str:
    auxes = "".join(f'<aux name="{k}"><eqn>{v}</eqn></aux>\n' for k, v in equations.items())
    return (XMILE_HEAD + '<xmile version="1.0" xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0">\n'
            f"<sim_specs><start>0</start><stop>{stop}</stop><dt>{dt}</dt></sim_specs>\n"
            f'<model><variables>\n{auxes}<stock name="total"><eqn>0</eqn><inflow>inflow</inflow></stock>\n'
            "</variables></model></xmile>\n")


def test_xmile_pulse_moves_its_volume_once(tmp_path: Path) -> None:
    # Stella's PULSE(volume, first): volume / DT for one step at `first`, so a stock gains `volume`.
    text = xmile_model({"inflow": "PULSE(10, 2)"}).replace('<aux name="inflow">', '<flow name="inflow">')
    text = text.replace("</eqn></aux>\n<stock", "</eqn></flow>\n<stock")
    ds = sd.load(write(tmp_path, text)).run()
    total = ds["total"].values
    np.testing.assert_allclose(total, np.where(ds["time"].values > 2, 10.0, 0.0))


def test_xmile_pulse_train_repeats(tmp_path: Path) -> None:
    text = xmile_model({"inflow": "PULSE(10, 1, 2)"}).replace('<aux name="inflow">', '<flow name="inflow">')
    text = text.replace("</eqn></aux>\n<stock", "</eqn></flow>\n<stock")
    ds = sd.load(write(tmp_path, text)).run()
    t = ds["time"].values
    # Pulses at 1, 3 and 5: the stock steps up by 10 one step after each.
    np.testing.assert_allclose(ds["total"].values, 10.0 * ((t > 1).astype(float) + (t > 3) + (t > 5)))


def test_xmile_ramp_without_end(tmp_path: Path) -> None:
    text = xmile_model({"inflow": "0", "r": "RAMP(2, 1)"})
    ds = sd.load(write(tmp_path, text)).run()
    t = ds["time"].values
    np.testing.assert_allclose(ds["r"].values, np.where(t < 1, 0.0, 2 * (t - 1)))


def test_invert_matrix_inverts_the_last_two_dimensions(test_models: Path) -> None:
    ds = sd.load(test_models / "tests/invert_matrix/test_invert_matrix.mdl").run()
    m = ds["matrix 2"].values  # a constant: no time axis
    inv = ds["matrix 2i"].isel(time=0).values
    for k in range(m.shape[0]):
        np.testing.assert_allclose(inv[k] @ m[k], np.eye(m.shape[-1]), atol=1e-12)


def test_invert_matrix_of_a_singular_matrix_is_nan() -> None:
    from sd_engine.functions import invert_matrix

    stack = np.array([[[1.0, 2.0], [2.0, 4.0]], [[2.0, 0.0], [0.0, 4.0]]])
    out = invert_matrix(stack, 2)
    assert np.isnan(out[0]).all()
    np.testing.assert_allclose(out[1], [[0.5, 0.0], [0.0, 0.25]])


#: Refusals: each names the variable (or file) and the construct.
REFUSALS = {
    "tests/get_time_value/test_get_time_value.mdl":
        r"GET TIME VALUE in `get time 1 dim 0` is relative to the initial time or the computer clock",
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_refusals_name_the_variable_and_construct(test_models: Path, name: str) -> None:
    with pytest.raises(UnsupportedError, match=REFUSALS[name]):
        sd.load(test_models / name)


def test_parse_failure_names_the_line_and_variable(test_models: Path) -> None:
    with pytest.raises(ModelFileError, match=r"could not read `test_logicals.stmx` at line 33, in the equation of "
                                             r"`NOT output`"):
        sd.load(test_models / "tests/logicals/test_logicals.stmx")


def write_mdl(tmp_path: Path, body: str) -> Path:
    controls = "".join(f"{k} = {v}\n\t~\t~\t|\n" for k, v in
                       [("FINAL TIME", 2), ("INITIAL TIME", 0), ("SAVEPER", 1), ("TIME STEP", 1)])
    path = tmp_path / "m.mdl"
    path.write_text("{UTF-8}\n" + body + controls)
    return path


def test_undefined_element_of_a_constant_array_is_an_error(tmp_path: Path) -> None:
    path = write_mdl(tmp_path, "d: a, b, c\n\t~\t~\t|\nx[a] = 1\n\t~\t~\t|\nx[b] = 2\n\t~\t~\t|\n"
                               "y[d] = x[d] * 2\n\t~\t~\t|\n")
    # x is defined for a and b only: it gets a range of those, and reading it over all of d fails.
    with pytest.raises(sd.DimensionError, match=r"`d` in `y` is neither dimension `d_of_x` nor one of its "
                                                 r"elements \['a', 'b'\]"):
        sd.load(path)


def test_macro_with_wrong_arguments(tmp_path: Path) -> None:
    body = (":MACRO: TWICE(input)\nTWICE = 2 * input\n\t~\tinput\n\t~\t|\n\n:END OF MACRO:\n"
            "out = TWICE(1, 2)\n\t~\t~\t|\n")
    with pytest.raises(SpecError, match=r"`out` calls macro `twice` with 2 argument\(s\); it takes 1 \(input\)"):
        sd.load(write_mdl(tmp_path, body))
