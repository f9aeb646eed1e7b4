"""Constructs of published Vensim models (MetaSD's library, Industrial Dynamics, Sterman's beer
game, ...) that sdflow's importer had refused, each pinned by a small model of our own with the
answer worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sd_engine as sd
from sd_engine.errors import SpecError, UnsupportedError
from sd_engine.io.external import DataAccessError, ExternalFileNotFoundError

CONTROL = "INITIAL TIME = 0 ~~|\nFINAL TIME = 2 ~~|\nTIME STEP = 1 ~~|\nSAVEPER = TIME STEP ~~|\n"


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body + CONTROL)
    return path


# -- a macro called over a mapped range (scirev7/8: CLIP(..., X["N-1"], X[N]) in CX[N]) -------------
CLIP = (":MACRO: CLIP(true,false,a,b)\nCLIP=IF THEN ELSE(a>=b,true,false)\n\t~\ttrue\n\t~\t|\n\n:END OF MACRO:\n"
        "PM : (p1-p4) ~~|\nN : (p2-p4) ~~|\n\"N-1\" : (p1-p3) -> N ~~|\n"
        "X[PM] = 1, 3, 2, 5 ~~|\nK[PM] = Time * X[PM] ~~|\n")


def test_macro_over_a_mapped_range_in_a_block_is_one_call_per_element(tmp_path: Path) -> None:
    # Each element of N compares X one element back (through "N-1" -> N) with X itself:
    # p2: 1 >= 3 no, p3: 3 >= 2 yes, p4: 2 >= 5 no. The same holds for K = Time * X from t = 1.
    path = write(tmp_path, "clip.mdl", CLIP + "CX[p1] = 7 ~~|\nCX[N] = CLIP(1, 0, X[\"N-1\"], X[N]) ~~|\n"
                 "CK[p1] = 7 ~~|\nCK[N] = CLIP(Time, -Time, K[\"N-1\"], K[N]) ~~|\n")
    ds = sd.load(path).run()
    np.testing.assert_array_equal(ds["CX"].sel(time=2).values, [7, 0, 1, 0])
    # At t = 0 every K is 0, so a >= b and each element of N is Time = 0.
    np.testing.assert_array_equal(ds["CK"].values, [[7, 0, 0, 0], [7, -1, 1, -1], [7, -2, 2, -2]])


# -- DELAY MATERIAL (thyroid dynamics' PIPELINE macro) ------------------------------------------------
def test_delay_material_with_a_fixed_delay_time_is_delay_fixed(tmp_path: Path) -> None:
    # Vensim's reference: "the same as DELAY FIXED except that delay time can be a variable".
    # The input Time + 1 comes out 2 steps later; before that the initial value 5 comes out.
    path = write(tmp_path, "material.mdl",
                 "inp = Time + 1 ~~|\nlag = 2 ~~|\nout = DELAY MATERIAL(inp, lag, 5, 0) ~~|\n"
                 ":MACRO: PIPELINE(Input,DelayTime,Init)\nPIPELINE = DELAY MATERIAL(Input,DelayTime,Init,0)\n"
                 "\t~\tInput\n\t~\t|\n\n:END OF MACRO:\nvia macro = PIPELINE(inp, lag, 5) ~~|\n")
    path.write_text(path.read_text().replace("FINAL TIME = 2", "FINAL TIME = 5"))
    ds = sd.load(path).run()
    np.testing.assert_array_equal(ds["out"].values, [5, 5, 1, 2, 3, 4])
    np.testing.assert_array_equal(ds["via macro"].values, ds["out"].values)


def test_delay_material_with_a_changing_delay_time_is_refused(tmp_path: Path) -> None:
    # Vensim merges or spaces material when the delay time moves, in ways its reference does
    # not spell out: refused rather than run as a fixed delay.
    path = write(tmp_path, "moving.mdl", "inp = 1 ~~|\nlag = 1 + Time ~~|\nout = DELAY MATERIAL(inp, lag, 0, 0) ~~|\n")
    with pytest.raises(UnsupportedError, match=r"DELAY MATERIAL in `out` has a delay time that may change.*`lag`"):
        sd.load(path)


# -- a variable named DT (Industrial Dynamics, IDch15d: `DT = TIME STEP`) -----------------------------
def test_a_vensim_variable_named_dt_is_a_plain_variable(tmp_path: Path) -> None:
    # In Vensim only TIME STEP is the step: here DT is half of it, so x grows by 1 / 0.5 = 2 per
    # unit of time (reading the engine's dt would give 1). The results name it as the file does.
    path = write(tmp_path, "dt.mdl", "DT = 0.5 ~~|\nx = INTEG(1 / DT, 0) ~~|\ny = DT * 4 ~~|\n")
    model = sd.load(path)
    ds = model.run()
    np.testing.assert_array_equal(ds["x"].values, [0, 2, 4])
    np.testing.assert_array_equal(ds["y"].values, [2, 2, 2])
    assert float(ds["DT"]) == 0.5



# -- random seeds written with constants; SAMPLE IF TRUE of itself (Sterman's beer game) ------------
def test_a_seed_written_with_constants_picks_a_fixed_stream(tmp_path: Path) -> None:
    # `Seed + Games` per element (the beer game's PINK NOISE call): the same stream each run, another
    # when the seed changes; a seed of Seed + 0 is the seed 7, drawing what `v`'s seed 7 draws.
    body = ("G : (g1-g3) ~~|\nSeed = 7 ~~|\nu[G] = RANDOM UNIFORM(0, 1, Seed + G) ~~|\n"
            "v = RANDOM UNIFORM(0, 1, Seed + 0) ~~|\n")
    first = sd.load(write(tmp_path, "seed.mdl", body)).run()
    again = sd.load(write(tmp_path, "seed.mdl", body)).run()
    other = sd.load(write(tmp_path, "seed.mdl", body.replace("Seed = 7", "Seed = 8"))).run()
    np.testing.assert_array_equal(first["u"].values, again["u"].values)
    assert not np.array_equal(first["u"].values, other["u"].values)
    assert len(np.unique(first["u"].values)) == first["u"].size  # each element its own stream
    literal = sd.load(write(tmp_path, "seed.mdl", body.replace("Seed + 0)", "7)"))).run()
    np.testing.assert_array_equal(first["v"].values, literal["v"].values)
    assert not np.array_equal(first["v"].values, other["v"].values)


def test_a_seed_that_changes_during_the_run_is_still_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "moving_seed.mdl", "u = RANDOM UNIFORM(0, 1, 3 + Time) ~~|\n")
    with pytest.raises(UnsupportedError, match=r"seed of a random function in `u` must be a number"):
        sd.load(path)


def test_sample_if_true_that_reads_itself_reads_its_previous_value(tmp_path: Path) -> None:
    # Vensim's reference: "When the same variable appears on the right it is the previous value of
    # the variable that is used" (its example: max workforce; Sterman's beer game: peak inventory).
    # x = 5 - (t - 2)^2 = 1, 4, 5, 4, 1, -4; the running maximum from 1 and the running minimum
    # from 100 (at t = 0 the condition already holds, 1 < 100), worked out by hand.
    path = tmp_path / "peak.mdl"
    path.write_text("x = 5 - (Time - 2) * (Time - 2) ~~|\npeak = SAMPLE IF TRUE(x > peak, x, x) ~~|\n"
                    "lowest = SAMPLE IF TRUE(x < lowest, x, 100) ~~|\n"
                    "PEAKS[R] = SAMPLE IF TRUE(x * k[R] > PEAKS[R], x * k[R], 0) ~~|\nR: r1, r2 ~~|\nk[R] = 1, -1 ~~|\n"
                    "INITIAL TIME = 0 ~~|\nFINAL TIME = 5 ~~|\nTIME STEP = 1 ~~|\nSAVEPER = TIME STEP ~~|\n")
    ds = sd.load(path).run()
    np.testing.assert_array_equal(ds["peak"].values, [1, 4, 5, 5, 5, 5])
    np.testing.assert_array_equal(ds["lowest"].values, [1, 1, 1, 1, 1, -4])
    np.testing.assert_array_equal(ds["PEAKS"].values, [[1, 0], [4, 0], [5, 0], [5, 0], [5, 0], [5, 4]])


def test_sample_if_true_that_starts_from_itself_is_refused_by_name(tmp_path: Path) -> None:
    path = write(tmp_path, "peak.mdl", "x = Time ~~|\npeak = SAMPLE IF TRUE(x > 1, x, peak) ~~|\n")
    with pytest.raises(UnsupportedError, match=r"SAMPLE IF TRUE in `peak` reads `peak` in its initial value"):
        sd.load(path)


# -- ?tag file references resolved in the model's XLS Files settings (Groupon valuation models) --------
SETTINGS = "\\\\\\---/// Sketch information - do not modify anything except names\nV300\n///---\\\\\\\n:L\x7f<%^E!@\n" \
           "9:Current\n30:?series=d.csv\n"


def test_an_indirect_file_reference_is_resolved_in_the_files_settings(tmp_path: Path) -> None:
    # Vensim: "use '?Tag' to indirectly reference a file and resolve the reference in Model>Settings>
    # XLS Files", which the .mdl stores after the sketch as `30:?tag=file`.
    (tmp_path / "d.csv").write_text("time,0,2\nx,10,30\n")
    path = tmp_path / "tagged.mdl"
    path.write_text("d := GET DIRECT DATA('?series', ',', '1', 'B2') ~~|\n" + CONTROL + SETTINGS)
    np.testing.assert_array_equal(sd.load(path).run()["d"].values, [10, 20, 30])


def test_an_indirect_reference_to_a_missing_file_names_tag_and_file(tmp_path: Path) -> None:
    path = tmp_path / "tagged.mdl"
    path.write_text("d := GET DIRECT DATA('?series', ',', '1', 'B2') ~~|\n" + CONTROL + SETTINGS)
    with pytest.raises(ExternalFileNotFoundError,
                       match=r"`d` reads file `d.csv` \(`\?series` in the model's XLS Files settings\), which is not"):
        sd.load(path)


def test_an_indirect_reference_in_the_settings_is_confined_to_the_models_folder(tmp_path: Path) -> None:
    # The settings are model text, as untrusted as a file name in an equation.
    (tmp_path / "outside.csv").write_text("time,0,2\nx,10,30\n")
    (tmp_path / "m").mkdir()
    path = tmp_path / "m" / "tagged.mdl"
    path.write_text("d := GET DIRECT DATA('?series', ',', '1', 'B2') ~~|\n" + CONTROL
                    + SETTINGS.replace("d.csv", "../outside.csv"))
    with pytest.raises(DataAccessError, match=r"outside the folder"):
        sd.load(path)


def test_a_data_variable_without_a_readable_source_names_the_vensim_datasets(tmp_path: Path) -> None:
    # FREE6: the data live only in `all_data2.vdf`, Vensim's binary dataset, which sdflow does not read.
    (tmp_path / "all_data2.vdf").write_bytes(b"\x00vdf")
    path = write(tmp_path, "free.mdl", "emissions ~ TonC/year ~|\ntotal = INTEG(emissions, 0) ~~|\n")
    with pytest.raises(UnsupportedError, match=r"`emissions` is a data variable with no equation: Vensim reads its "
                                               r"values from a dataset \(.vdf\) \(beside the model: `all_data2.vdf`\)"):
        sd.load(path)


# -- VECTOR LOOKUP (MetaSD's interpolating arrays) -----------------------------------------------------
def test_vector_lookup_modes_against_numpy(tmp_path: Path) -> None:
    # y values 2, 1, 3, 5, 4 at x = 0, 0.25, ..., 1 (Vensim: n + 1 values on an even grid from xmin
    # to xmax); x runs from -0.25 to 1.375 in steps of 0.125, off the grid and past both ends.
    body = ("i : (i1-i5) ~~|\nv[i] = 2, 1, 3, 5, 4 ~~|\nx = Time / 8 - 0.25 ~~|\nmode = 0 ~~|\n"
            "lookup = VECTOR LOOKUP(v[i1], x, 0, 1, 0) ~~|\nbackward = VECTOR LOOKUP(v[i1], x, 0, 1, 2) ~~|\n"
            "extrapolate = VECTOR LOOKUP(v[i1], x, 0, 1, 3) ~~|\nforward = VECTOR LOOKUP(v[i1], x, 0, 1, 4) ~~|\n"
            "by constant = VECTOR LOOKUP(v[i1], x, 0, 1, mode) ~~|\n")
    path = write(tmp_path, "vl.mdl", body)
    path.write_text(path.read_text().replace("FINAL TIME = 2", "FINAL TIME = 13"))
    model = sd.load(path)
    ds = model.run()
    x, grid, ys = ds["x"].values, np.linspace(0, 1, 5), np.array([2, 1, 3, 5, 4.0])
    np.testing.assert_allclose(ds["lookup"].values, np.interp(x, grid, ys), rtol=0, atol=1e-14)
    held = np.clip(x, 0, 1) * 4
    np.testing.assert_array_equal(ds["backward"].values, ys[np.floor(held + 1e-12).astype(int)])
    np.testing.assert_array_equal(ds["forward"].values, ys[np.ceil(held - 1e-12).astype(int)])
    # Extrapolation continues the end segments: slope -4 below 0, slope -4 above 1.
    ext = np.where(x < 0, 2 - 4 * x, np.where(x > 1, 4 - 4 * (x - 1), np.interp(x, grid, ys)))
    np.testing.assert_allclose(ds["extrapolate"].values, ext, rtol=0, atol=1e-14)
    np.testing.assert_allclose(ds["by constant"].values, ds["lookup"].values, rtol=0, atol=0)
    # The mode named by a constant is read at run time, so setting it for a run takes effect.
    np.testing.assert_array_equal(model.run(params={"mode": 2})["by constant"].values, ds["backward"].values)


def test_vector_lookup_area_mode_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "area.mdl", "i : (i1-i3) ~~|\nv[i] = 1, 2, 3 ~~|\nmode = 1 ~~|\n"
                 "a = VECTOR LOOKUP(v[i1], Time, 0, 2, mode) ~~|\n")
    with pytest.raises(UnsupportedError, match=r"VECTOR LOOKUP in `a` has mode 1; sdflow runs modes 0 \(LOOKUP\)"):
        sd.load(path)


# -- macros with extra outputs (Homer's COVID-19 SSTATS, Theil statistics) ----------------------------
STATS = (":MACRO: STATS(x, y : total, biggest)\nSTATS = x - y\n\t~\tx\n\t~\t|\n"
         "total = INTEG(x + y, 0) ~~|\nbiggest = MAX(x, y) ~~|\n:END OF MACRO:\n")


def test_macro_extra_outputs_are_model_variables_per_call(tmp_path: Path) -> None:
    # Two calls, each binding its own outputs (one over a line break, as Vensim writes long calls),
    # and an equation of the model that reads an output.
    path = write(tmp_path, "stats.mdl", STATS + "a = Time ~~|\nb = 2 ~~|\n"
                 "d1 = STATS(a, b : sum ab, max ab) ~~|\n"
                 "d2 = STATS(b, 5 :\\\n\tsum b5 , max b5) ~~|\nuse = max ab * 10 ~~|\n")
    ds = sd.load(path).run()
    t = ds["time"].values
    np.testing.assert_array_equal(ds["d1"].values, t - 2)
    np.testing.assert_array_equal(ds["sum ab"].values, [0, 2, 5])  # Euler sum of Time + 2 at t = 0, 1
    np.testing.assert_array_equal(ds["max ab"].values, np.maximum(t, 2))
    np.testing.assert_array_equal(ds["sum b5"].values, [0, 7, 14])
    np.testing.assert_array_equal(ds["max b5"].values, [5, 5, 5])
    np.testing.assert_array_equal(ds["use"].values, 10 * np.maximum(t, 2))


def test_macro_extra_outputs_of_an_arrayed_call_take_its_dimensions(tmp_path: Path) -> None:
    path = write(tmp_path, "stats_array.mdl", STATS + "R : (r1-r2) ~~|\nk[R] = 1, 4 ~~|\n"
                 "d[R] = STATS(k[R], 3 : s[R], m[R]) ~~|\n")
    ds = sd.load(path).run()
    np.testing.assert_array_equal(ds["m"].values[0], [3, 4])
    np.testing.assert_array_equal(ds["s"].values[-1], [8, 14])  # two Euler steps of 4 and 7


def test_a_call_binding_the_wrong_number_of_outputs_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "stats_bad.mdl", STATS + "d = STATS(1, 2 : only one) ~~|\n")
    with pytest.raises(SpecError, match=r"`d` binds 1 output\(s\) of macro `STATS` after `:`; the macro has 2"):
        sd.load(path)


# -- what no engine can simulate: causal-loop placeholders, an undocumented builtin --------------------
def test_a_causal_loop_placeholder_is_refused_naming_variable_and_line(tmp_path: Path) -> None:
    # FREE6's energy_pos_loop.mdl: a causal-loop diagram, each variable `A FUNCTION OF(causes)`.
    path = write(tmp_path, "cld.mdl", "price = 1 ~~|\n\ndemand = A FUNCTION OF(price) ~~|\n")
    with pytest.raises(UnsupportedError, match=r"`cld.mdl` line 3: `demand` calls A FUNCTION OF, a placeholder"):
        sd.load(path)


def test_sinteg_with_euler_clips_the_level_each_step(tmp_path: Path) -> None:
    # Vensim's reference: SINTEG "will never go below min or above max" and is non-conservative.
    # r = 0.3 - 0.1 t from 0.5 with TIME STEP 1, worked by hand: 0.5, 0.8, then 1.0 (0.8 + 0.2),
    # held at 1 while r >= 0, then down from 1 (not from the unclipped 1.1): 0.9, 0.7, 0.4, 0, 0.
    path = tmp_path / "sinteg.mdl"
    path.write_text("r = 0.3 - 0.1 * Time ~~|\nk = SINTEG(r, 0.5, 0, 1, :NA:, :NA:, :NA:) ~~|\n"
                    "low = SINTEG(-1, 5, :NA:, 2, :NA:, :NA:, :NA:) ~~|\n"
                    "INITIAL TIME = 0 ~~|\nFINAL TIME = 10 ~~|\nTIME STEP = 1 ~~|\nSAVEPER = TIME STEP ~~|\n")
    model = sd.load(path)
    ds = model.run()
    np.testing.assert_allclose(ds["k"].values, [0.5, 0.8, 1, 1, 1, 0.9, 0.7, 0.4, 0, 0, 0], atol=1e-15)
    # No lower bound: the start 5 is clipped to the maximum 2, then falls by 1 a step.
    np.testing.assert_array_equal(ds["low"].values, 2.0 - np.arange(11))
    np.testing.assert_array_equal(model.with_backend("interpreter").run()["k"].values, ds["k"].values)


def test_sinteg_with_runge_kutta_is_refused(tmp_path: Path) -> None:
    # Wonderland3 asks for RK4; the reference does not say how the bounds act inside its stages.
    path = tmp_path / "sinteg_rk4.mdl"
    path.write_text("r = 0.1 ~~|\nk = SINTEG(r, 0.5, 0, 1, :NA:, :NA:, :NA:) ~~|\n" + CONTROL + settings(1))
    with pytest.raises(UnsupportedError, match=r"`sinteg_rk4.mdl` line 2: `k` calls SINTEG in a model run with rk4"):
        sd.load(path)


def test_sinteg_with_a_quantum_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "sinteg_quant.mdl", "r = 0.1 ~~|\nk = SINTEG(r, 0.5, 0, 1, 0.25, :NA:, :NA:) ~~|\n")
    with pytest.raises(UnsupportedError, match=r"line 2: SINTEG in `k` gives `quant`, `spec` or `thresh`"):
        sd.load(path)


# -- the integration method a Vensim file's settings ask for ------------------------------------------
def settings(code: int) -> str:
    return f"\\\\\\---/// Sketch information\nV300\n///---\\\\\\\n:L\x7f<%^E!@\n15:0,0,0,{code},0,0\n"


def test_a_vensim_file_asking_for_rk4_runs_rk4(tmp_path: Path) -> None:
    # dy/dt = -y, y0 = 1, TIME STEP 1: one classic RK4 step multiplies y by 1 - 1 + 1/2 - 1/6 + 1/24
    # (Euler, which PySD's parser would imply, gives 0).
    path = tmp_path / "rk4.mdl"
    path.write_text("y = INTEG(-y, 1) ~~|\n" + CONTROL + settings(1))
    model = sd.load(path)
    assert model.spec.time.method == "rk4"
    np.testing.assert_allclose(model.run()["y"].values, [1, 0.375, 0.375 ** 2], rtol=1e-15)
    path.write_text("y = INTEG(-y, 1) ~~|\n" + CONTROL + settings(4))
    assert sd.load(path).spec.time.method == "rk2"
    path.write_text("y = INTEG(-y, 1) ~~|\n" + CONTROL + settings(0))
    assert sd.load(path).spec.time.method == "euler"


def test_runge_kutta_holds_test_inputs_over_each_step(tmp_path: Path) -> None:
    # Vensim's reference (Runge-Kutta integration): it "holds all exogenous and test inputs (STEP,
    # PULSE and RAMP) constant over the integration interval", so each RK4 step integrates the
    # inputs' values at its start: by hand, with TIME STEP 1 and starts 0, 1, 2, 3,
    # PULSE(1, 1) = 0, 1, 0, 0; RAMP(1, 0, 10) = 0, 1, 2, 3; STEP(2, 1) = 0, 2, 2, 2;
    # PULSE TRAIN(0, 1, 2, 10) = 1, 0, 1, 0; the stocks are their running sums. (Read at each
    # stage's time, the PULSE would give y(1) = 1/6 and the RAMP z(2) = 2.)
    path = tmp_path / "rk4_inputs.mdl"
    path.write_text("y = INTEG(PULSE(1, 1), 0) ~~|\nz = INTEG(RAMP(1, 0, 10), 0) ~~|\nw = INTEG(STEP(2, 1), 0) ~~|\n"
                    "q = INTEG(PULSE TRAIN(0, 1, 2, 10), 0) ~~|\nx = PULSE(1, 1) ~~|\n"
                    "INITIAL TIME = 0 ~~|\nFINAL TIME = 4 ~~|\nTIME STEP = 1 ~~|\nSAVEPER = TIME STEP ~~|\n" + settings(5))
    model = sd.load(path)
    assert model.spec.time.method == "rk4"
    ds = model.run()
    np.testing.assert_array_equal(ds["y"].values, [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(ds["z"].values, [0, 0, 1, 3, 6])
    np.testing.assert_array_equal(ds["w"].values, [0, 0, 2, 4, 6])
    np.testing.assert_array_equal(ds["q"].values, [0, 1, 1, 2, 2])
    np.testing.assert_array_equal(ds["x"].values, [0, 1, 0, 0, 0])
    assert not any(str(v).startswith("_") for v in ds.data_vars)
    np.testing.assert_array_equal(model.with_backend("interpreter").run()["y"].values, ds["y"].values)


# -- a subscripted lookup called over a `!` range (C-LEARN: SUM(RS CO2 FF[COP!](Time/One year))) --
def test_a_subscripted_lookup_called_over_a_bang_range_is_summed(tmp_path: Path) -> None:
    # Each element's table is a line through the origin with slope 1, 2, 3; at Time = t the sum is
    # t + 2t + 3t = 6t; the block form reads each region's table and the sum takes the largest.
    path = write(tmp_path, "bang_lookup.mdl",
                 "R: r1, r2, r3 ~~|\nB: b1, b2 ~~|\ntab[r1]((0, 0), (10, 10)) ~~|\ntab[r2]((0, 0), (10, 20)) ~~|\n"
                 "tab[r3]((0, 0), (10, 30)) ~~|\ntotal = SUM(tab[R!](Time)) ~~|\n"
                 "largest[B] = VMAX(tab[R!](Time + 1)) ~~|\nstart[R] = ACTIVE INITIAL(Time, tab[R](4)) ~~|\n"
                 "s[R] = INTEG(0, start[R]) ~~|\n")
    ds = sd.load(path).run()
    np.testing.assert_allclose(ds["total"].values, 6 * ds["time"].values)
    np.testing.assert_allclose(ds["largest"].values, np.outer(3 * (ds["time"].values + 1), [1, 1]))
    # ACTIVE INITIAL's start reads each region's own table at 4: 4, 8, 12.
    np.testing.assert_allclose(ds["s"].values[0], [4, 8, 12])
