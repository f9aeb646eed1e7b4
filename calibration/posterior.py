"""Bayesian calibration: emcee's affine-invariant ensemble sampler with vectorised walkers.

:func:`sample` returns an :class:`arviz.InferenceData` with the groups ``posterior``
(walkers as chains; free parameters in natural units and derived quantities),
``sample_stats`` (``lp``, the log posterior, and ``loglik``, the total log-likelihood), ``observed_data``,
``posterior_predictive`` (simulated observations, including the observation noise) and
``predictions`` (the model's mean at each observation, for the same draws).

Batching: emcee's stretch move updates the ensemble in two halves, each proposed as one
batch, and :class:`~calibration.problem.CalibrationProblem` simulates a batch with one
ensemble call, so a step costs two simulate calls whatever the number of walkers.

Checkpoints: every ``checkpoint_every`` steps the chain so far, the walkers' last
positions and log-probabilities, and the sampler's random state are written to a ``.npz``
file atomically (written to a temporary file, then renamed), so a run killed at any
moment -- even during a write -- leaves the previous complete checkpoint. ``sample`` with
the same ``checkpoint`` path resumes from it: the result has the same number of draws as
an uninterrupted run and, because the random state is restored, the same draws.
(emcee's own HDF5 backend writes in place every step, and an HDF5 file killed mid-write
may be unreadable; hence the atomic snapshots.)

A checkpoint is keyed by everything that determines the posterior and the chain: the
model's hash, the data (a hash of each observed series), the observation mapping (model
variable, column, aggregate, weight, likelihood and known sigma of each series), the
windows (observation periods and which observations are used), the priors and bounds, the
likelihood, the run options, the walkers, steps, seed and moves. Resuming with any of them
changed is a :class:`~calibration.errors.CalibrationError` naming what differs, never a
silent reuse; so is a checkpoint file that is damaged.

A `callback` sees each step's :class:`SamplerProgress`; raising ``StopIteration`` in it ends
sampling early (a checkpoint is written at that step, so a later call resumes from it) and
returns the draws so far, which is how to sample for a time budget or until an effective
sample size is reached.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from sd_engine.progress import progress_bar

from .derived import Derived, make_derived
from .errors import CalibrationError, CalibrationWarning
from .observations import Observe
from .problem import CalibrationProblem

if TYPE_CHECKING:
    import arviz as az

    from .fit import FitResult

__all__ = ["sample", "diagnostics", "log_posterior_z", "SamplerProgress"]


@dataclass(frozen=True)
class SamplerProgress:
    """Where a run of :func:`sample` stands, passed to its `callback` after every step.

    Attributes
    ----------
    step : int
        Steps done, those resumed from a checkpoint included.
    total : int
        Steps planned: `tune` plus the kept steps.
    tune : int
        Steps discarded at the start.
    acceptance_fraction : float
        Mean over the walkers of the fraction of their proposals accepted so far.
    """

    step: int
    total: int
    tune: int
    acceptance_fraction: float


def _arviz() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # arviz announces its 1.0 refactor on import
        import arviz

    # arviz takes a numba code path when numba is installed (sdflow's compiled back end needs it);
    # in arviz 0.23 with numpy 2 that path fails (`float()` of a 1-element array in mcse "sd").
    arviz.Numba.disable_numba()
    return arviz


def _moves(name: str) -> Any:
    import emcee

    if name == "de":
        # Differential-evolution MCMC (ter Braak 2006): the tuned scale 2.38/sqrt(2d) most of the
        # time and gamma = 1 one step in ten, which lets walkers jump between modes. (emcee's
        # snooker move always splits the ensemble in four, which would double the simulate calls.)
        return [(emcee.moves.DEMove(), 0.9), (emcee.moves.DEMove(gamma0=1.0), 0.1)]
    if name == "stretch":
        return emcee.moves.StretchMove()
    raise CalibrationError(f"`moves` must be \"de\" or \"stretch\", not {name!r}.")


def log_posterior_z(problem: CalibrationProblem, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log posterior density in the unbounded space (prior + likelihood + log Jacobian) and the log-likelihood."""
    z = np.atleast_2d(z)
    theta = problem.to_natural(z)
    lp = problem.log_prior(theta) + problem.log_jacobian(z)
    ll = np.full(len(z), -np.inf)
    ok = np.isfinite(lp)
    if ok.any():
        ll[ok] = problem.loglik(theta[ok])
    out = lp + ll
    return np.where(np.isfinite(out), out, -np.inf), ll


def sample(
    model: Any,
    data: Any,
    priors: Mapping[str, Any],
    observe: Mapping[str, str | Observe],
    likelihood: str = "normal",
    *,
    draws: int = 20_000,
    walkers: int = 32,
    tune: int = 500,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 50,
    start: FitResult | None = None,
    derived: Mapping[str, str | Derived] | None = None,
    predictive: int = 400,
    moves: Literal["de", "stretch"] = "de",
    progress: bool = False,
    time: str | None = None,
    origin: Any = None,
    period: float | str | None = None,
    label: Literal["start", "end"] = "start",
    window: tuple[Any, Any] | None = None,
    exclude: Iterable[tuple[Any, Any]] = (),
    run_options: Mapping[str, Any] | None = None,
    callback: Callable[[SamplerProgress], Any] | None = None,
) -> az.InferenceData:
    """Sample the posterior of model parameters with emcee.

    Parameters
    ----------
    model, data, observe, likelihood
        As for :func:`calibration.fit`.
    priors : mapping
        Parameter -> a frozen scipy.stats distribution (bounded by its support),
        ``(lo, hi)`` (uniform), ``(lo, hi, distribution)`` (the distribution truncated to
        the bounds: ``(0, None, scipy.stats.norm(2, 1))`` is Normal(2, 1) truncated at 0), a
        fixed number or a :class:`~calibration.parameters.Parameter`. The likelihood's
        nuisance parameter (``phi_inv``, ``sigma``) needs a proper prior.
    draws : int
        Posterior draws kept after tuning, over all walkers (rounded up to a multiple of
        `walkers`).
    walkers : int
        Number of walkers (at least twice the number of free parameters).
    tune : int
        Steps discarded at the start.
    seed : int
        Seed of the sampler and of the posterior-predictive noise.
    checkpoint : path, optional
        ``.npz`` file to checkpoint to every `checkpoint_every` steps; an existing file of the
        same set-up is resumed, and one of another set-up (other data, priors, mapping,
        windows, likelihood, model, walkers or seed) is refused, naming what differs.
    start : FitResult, optional
        A maximum-likelihood fit to start the walkers from (computed when omitted): walkers
        start from its Laplace approximation (normal with the inverse Hessian) in the
        unbounded space.
    derived : mapping, optional
        Derived quantities added to the posterior (``{"R0": "beta / gamma"}``).
    predictive : int
        Number of posterior draws simulated for the posterior-predictive groups.
    moves : {"de", "stretch"}
        emcee's differential-evolution moves (``DEMove``, with ``gamma = 1`` one step in ten for
        jumps between modes), or the classic stretch move. Both update the walkers in two halves.
    callback : callable, optional
        Called with a :class:`SamplerProgress` after every step (and after its checkpoint).
        Raising ``StopIteration`` stops sampling there: the checkpoint, if any, is brought up
        to that step and the draws kept so far are returned (an error while still tuning).
        Any other exception propagates, leaving the last periodic checkpoint to resume from.

    Returns
    -------
    arviz.InferenceData
    """
    az = _arviz()
    import emcee

    from .fit import build_problem, fit

    problem = build_problem(model, data, priors, observe, likelihood, time=time, origin=origin, period=period,
                            label=label, window=window, exclude=exclude, run_options=run_options)
    improper = [p.name for p in problem.free
                if p.prior is None and not (math.isfinite(p.lower) and math.isfinite(p.upper))]
    if improper:
        raise CalibrationError(
            "A posterior needs a proper prior for every free parameter; give a scipy.stats prior or finite bounds "
            "for " + ", ".join(f"`{n}`" for n in improper) + " (for example priors={\"phi_inv\": scipy.stats.expon("
            "scale=0.2)})."
        )
    k = len(problem.free)
    if walkers < 2 * k or walkers % 2:
        raise CalibrationError(f"`walkers` must be even and at least twice the number of free parameters ({2 * k}); "
                               f"got {walkers}.")
    if draws < 1 or tune < 0:
        raise CalibrationError("`draws` must be positive and `tune` non-negative.")
    kept = int(math.ceil(draws / walkers))
    total = tune + kept
    funcs = {name: make_derived(name, how) for name, how in (derived or {}).items()}
    names = list(problem.names)
    setup = _setup(problem, walkers=walkers, total=total, tune=tune, seed=seed, moves=moves)

    # Resume or start.
    chain_parts: list[np.ndarray] = []
    lp_parts: list[np.ndarray] = []
    ll_parts: list[np.ndarray] = []
    accepted = np.zeros(walkers)
    state: Any
    done = 0
    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and path.suffix != ".npz":
        path = path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
    if path is not None and path.exists():
        snap = _load(path, setup, walkers, k)
        done = int(snap["done"])
        chain_parts, lp_parts, ll_parts = [snap["chain"]], [snap["lp"]], [snap["ll"]]
        accepted = snap["accepted"]
        state = emcee.State(snap["position"], log_prob=snap["position_lp"], blobs=snap["position_ll"],
                            random_state=snap["random_state"])
    else:
        if start is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start = fit(model, data, priors, observe, likelihood, starts=2, time=time, origin=origin,
                            period=period, label=label, window=window, exclude=exclude, run_options=run_options,
                            warn=False)
        rng = np.random.default_rng(seed)
        missing = [n for n in names if n not in start.params]
        if missing:
            raise CalibrationError(f"The starting fit has no value for {', '.join(f'`{n}`' for n in missing)}; "
                                   "fit the same parameters, or leave `start` out.")
        z_hat = problem.to_z(np.array([start.params[n] for n in names])[None, :])[0]
        order = [list(start.problem.names).index(n) if n in start.problem.names else -1 for n in names]
        if -1 not in order and np.all(np.isfinite(start.hessian)):
            cov = np.linalg.pinv(start.hessian)[np.ix_(order, order)]
        else:  # the fit held some of these parameters fixed: start from a small ball
            cov = np.eye(k) * 1e-4
        cov = 0.5 * (cov + cov.T)
        w, v = np.linalg.eigh(cov)
        cov = (v * np.clip(w, 1e-10, 1.0)) @ v.T  # positive definite, and no wilder than unit variance in z
        p0 = rng.multivariate_normal(z_hat, cov, size=walkers)
        lp0, ll0 = log_posterior_z(problem, p0)
        for _ in range(20):  # redraw walkers that start where the posterior is zero
            bad = ~np.isfinite(lp0)
            if not bad.any():
                break
            p0[bad] = z_hat + 0.1 * (p0[bad] - z_hat)
            lp0[bad], ll0[bad] = log_posterior_z(problem, p0[bad])
        if not np.all(np.isfinite(lp0)):
            raise CalibrationError("No starting position of the walkers has a finite posterior; check the priors "
                                   "against the fitted values.")
        rs = np.random.RandomState(seed)
        state = emcee.State(p0, log_prob=lp0, blobs=ll0, random_state=rs.get_state())

    def log_prob(z: np.ndarray) -> np.ndarray:
        # emcee's vectorised form with a blob: one row per walker, (log posterior, log likelihood)
        return np.column_stack(log_posterior_z(problem, z))

    sampler = emcee.EnsembleSampler(walkers, k, log_prob, vectorize=True, moves=_moves(moves))
    remaining = total - done
    new_chain = np.empty((remaining, walkers, k))
    new_lp = np.empty((remaining, walkers))
    new_ll = np.empty((remaining, walkers))
    step = 0
    stopped = False
    previous = np.array(state.coords, copy=True)
    with progress_bar(total, "step", "sampling", initial=done, enabled=progress and remaining > 0) as bar:
        if remaining > 0:
            for st in sampler.sample(state, iterations=remaining, store=False, skip_initial_state_check=True):
                # A walker moved when its proposal was accepted (store=False keeps no backend counts).
                accepted = accepted + np.any(st.coords != previous, axis=1)
                previous = st.coords.copy()  # emcee updates its state in place
                new_chain[step], new_lp[step], new_ll[step] = st.coords, st.log_prob, np.ravel(st.blobs)
                step += 1
                state = st
                bar.update(1)
                saved_now = path is not None and (step % checkpoint_every == 0 or step == remaining)
                if saved_now:
                    assert path is not None
                    _save(path, setup, done + step, chain_parts + [new_chain[:step]], lp_parts + [new_lp[:step]],
                          ll_parts + [new_ll[:step]], accepted, st)
                if callback is not None:
                    try:
                        callback(SamplerProgress(done + step, total, tune, float(np.mean(accepted) / (done + step))))
                    except StopIteration:
                        stopped = True
                        if path is not None and not saved_now:
                            _save(path, setup, done + step, chain_parts + [new_chain[:step]], lp_parts + [new_lp[:step]],
                                  ll_parts + [new_ll[:step]], accepted, st)
                        break
    if stopped and done + step <= tune:
        where = f"; resume from `{path}`" if path is not None else ""
        raise CalibrationError(
            f"`callback` stopped sampling at step {done + step}, within the {tune} tuning steps, so there are no "
            f"draws to return{where}. Stop after step {tune} or tune for fewer steps."
        )
    chain = np.concatenate(chain_parts + [new_chain[:step]], axis=0)  # (steps, walkers, k)
    lp = np.concatenate(lp_parts + [new_lp[:step]], axis=0)
    ll = np.concatenate(ll_parts + [new_ll[:step]], axis=0)
    return _inference_data(problem, chain, lp, ll, accepted, tune, total, funcs, predictive, seed, moves)


def _setup(problem: CalibrationProblem, **sampler: Any) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: everything that determines the posterior
    (model, data, observation mapping, windows, priors, likelihood) and the chain (walkers,
    steps, seed, moves). Keys are the words an error shows when they differ."""
    series = problem.observations.series
    likelihoods = getattr(problem, "likelihoods", [None] * len(series))
    setup: dict[str, Any] = {"names": list(problem.names)}
    setup |= sampler
    setup |= {
        "likelihood": problem.likelihood_name,
        "model": problem.spec.hash(),
        "data": _digest([(s.column, s.labels, s.values) for s in series]),
        "observation mapping": _digest([
            (s.key, s.column, s.aggregate, s.weight, getattr(lik, "name", None), getattr(s, "sigma", None))
            for s, lik in zip(series, likelihoods)]),
        "windows": _digest([(s.start, s.end, s.used) for s in series]),
        "priors": _digest([(p.name, p.lower, p.upper, p.fixed, p.transform, _describe_prior(p.prior))
                           for p in problem.parameters]),
        "run options": _digest(sorted(problem.run_options.items())),
    }
    return setup


def _digest(value: Any) -> str:
    """A short SHA-256 of nested tuples, lists, arrays and scalars: arrays by their bytes (or
    their text, for dates and labels), never by a repr that numpy would abbreviate."""
    digest = hashlib.sha256()

    def feed(v: Any) -> None:
        if isinstance(v, (list, tuple)):
            digest.update(b"(")
            for item in v:
                feed(item)
            digest.update(b")")
        elif isinstance(v, np.ndarray):
            digest.update(repr((v.shape, v.dtype.kind)).encode())
            if v.dtype.kind in "fiub":
                digest.update(np.ascontiguousarray(v, dtype=v.dtype.newbyteorder("<")).tobytes())
            else:
                digest.update(json.dumps([str(x) for x in v.ravel().tolist()]).encode())
        else:
            digest.update(repr(v).encode() + b";")

    feed(value)
    return digest.hexdigest()[:16]


def _describe_prior(prior: Any) -> Any:
    """A prior as data: a frozen scipy.stats distribution by name and arguments; anything else
    by its log-density at fixed points."""
    if prior is None:
        return None
    dist = getattr(prior, "dist", None)
    if dist is not None and hasattr(prior, "args"):
        return (getattr(dist, "name", type(dist).__name__), tuple(map(float, prior.args)),
                tuple(sorted((str(k), float(v)) for k, v in getattr(prior, "kwds", {}).items())))
    with np.errstate(all="ignore"):
        return np.asarray(prior.logpdf(np.linspace(-50.0, 50.0, 201)), dtype=float)


def _load(path: Path, setup: dict[str, Any], walkers: int, k: int) -> dict[str, Any]:
    """A checkpoint's contents, checked against `setup`; a damaged file is an error naming it."""
    try:
        with np.load(path, allow_pickle=False) as snap:
            out: dict[str, Any] = {key: snap[key] for key in ("done", "chain", "lp", "ll", "accepted", "position",
                                                              "position_lp", "position_ll")}
            out["setup"] = json.loads(str(snap["setup"]))
            rs = np.random.RandomState()
            rs.set_state(tuple(json.loads(str(snap["random_state"]))))  # type: ignore[arg-type]
            out["random_state"] = rs.get_state()
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        raise CalibrationError(
            f"Checkpoint `{path}` is damaged or is not a checkpoint of `sample` ({type(exc).__name__}); delete it to "
            "start afresh, or choose another `checkpoint` path."
        ) from None
    saved = out["setup"]
    if not isinstance(saved, dict):
        raise CalibrationError(f"Checkpoint `{path}` is damaged (its set-up is not a record); delete it to start "
                               "afresh, or choose another `checkpoint` path.")
    if saved != setup:
        diff = [key for key in setup if saved.get(key) != setup[key]]
        raise CalibrationError(
            f"Checkpoint `{path}` belongs to a different run ({', '.join(diff)} differ); delete it or choose "
            "another `checkpoint` path."
        )
    done = int(out["done"])
    shapes = {"chain": (done, walkers, k), "lp": (done, walkers), "ll": (done, walkers), "accepted": (walkers,),
              "position": (walkers, k), "position_lp": (walkers,)}
    wrong = [key for key, shape in shapes.items() if out[key].shape != shape]
    if wrong:
        raise CalibrationError(
            f"Checkpoint `{path}` is damaged: its {', '.join(wrong)} do not have the shape of {done} steps of "
            f"{walkers} walkers; delete it to start afresh, or choose another `checkpoint` path."
        )
    return out


def _save(path: Path, setup: dict[str, Any], done: int, chain: list[np.ndarray], lp: list[np.ndarray],
          ll: list[np.ndarray], accepted: np.ndarray, state: Any) -> None:
    rs = state.random_state
    rs_json = json.dumps([rs[0], np.asarray(rs[1]).tolist(), int(rs[2]), int(rs[3]), float(rs[4])])
    # A unique temporary in the same folder, then an atomic rename: a kill leaves either the old
    # or the new checkpoint, and two samplers never write into one temporary.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            np.savez(file, setup=json.dumps(setup), done=done, chain=np.concatenate(chain, axis=0),
                     lp=np.concatenate(lp, axis=0), ll=np.concatenate(ll, axis=0), accepted=accepted,
                     position=state.coords, position_lp=state.log_prob, position_ll=np.asarray(state.blobs),
                     random_state=rs_json)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _inference_data(problem: CalibrationProblem, chain: np.ndarray, lp: np.ndarray, ll: np.ndarray,
                    accepted: np.ndarray, tune: int, total: int, funcs: Mapping[str, Derived], predictive: int,
                    seed: int, moves: str) -> az.InferenceData:
    az = _arviz()
    import emcee

    names = list(problem.names)
    post_z = chain[tune:]  # (draws, walkers, k)
    n_draw, n_walk, k = post_z.shape
    theta = problem.to_natural(post_z.reshape(-1, k)).reshape(n_draw, n_walk, k)
    posterior: dict[str, np.ndarray] = {n: theta[:, :, j].T for j, n in enumerate(names)}  # (chain, draw)
    full = problem.values(theta.reshape(-1, k))
    for dname, g in funcs.items():
        posterior[dname] = np.asarray(g(full), dtype=float).reshape(n_draw, n_walk).T
    # "loglik" is the total over the data; arviz reserves "log_likelihood" for pointwise values.
    sample_stats = {"lp": lp[tune:].T, "loglik": ll[tune:].T}
    obs = problem.observations
    observed = {s.column: s.y for s in obs.series}
    dims = {s.column: [f"{s.column}_obs"] for s in obs.series}
    coords = {f"{s.column}_obs": [str(v) for v in s.labels[s.used]] for s in obs.series}
    # Posterior predictive: a thinned set of draws simulated in one call, with observation noise.
    rng = np.random.default_rng(seed + 1)
    flat = theta.reshape(-1, k)
    pick = rng.choice(len(flat), size=min(predictive, len(flat)), replace=False) if predictive > 0 else np.arange(0)
    pp: dict[str, np.ndarray] = {}
    means: dict[str, np.ndarray] = {}
    if len(pick):
        preds, ok = problem.predict(flat[pick], full=True)
        vals = problem.values(flat[pick])
        for i, (s, lik, m) in enumerate(zip(obs.series, problem.likelihoods, preds)):
            mu = m[:, s.used]
            nuis = problem.nuisance(vals, i, len(pick))
            pp[s.column] = lik.draw(rng, mu, nuis, s.weight)[None, ...]
            means[s.column] = mu[None, ...]
    idata = az.from_dict(
        posterior=posterior, sample_stats=sample_stats, observed_data=observed,
        posterior_predictive=pp or None, predictions=means or None, dims=dims, coords=coords,
        pred_dims=dims, pred_coords=coords,
    )
    # emcee logs (and numpy warns about) chains too short for the estimate; diagnostics() reports it.
    autocorr_log = logging.getLogger("emcee.autocorr")
    level = autocorr_log.level
    autocorr_log.setLevel(logging.ERROR)
    try:
        with np.errstate(all="ignore"):
            tau = emcee.autocorr.integrated_time(post_z, quiet=True)
    except Exception:  # too short a chain for any estimate at all
        tau = np.full(k, np.nan)
    finally:
        autocorr_log.setLevel(level)
    idata.posterior.attrs.update({
        "sampler": f"emcee.EnsembleSampler ({moves} moves), walkers as chains",
        "walkers": n_walk, "tune": tune, "steps": int(chain.shape[0]), "planned_steps": total,
        "acceptance_fraction": float(np.mean(accepted / max(chain.shape[0], 1))),
        "autocorr_time": json.dumps(dict(zip(names, map(float, tau)))),
        "likelihood": problem.likelihood_name, "model": problem.spec.name,
        "simulate_calls": problem.n_simulations,
    })
    return idata


def diagnostics(idata: az.InferenceData) -> pd.DataFrame:
    """Convergence diagnostics per parameter: R-hat, bulk/tail ESS (arviz) and emcee's autocorrelation time.

    ``ok`` is True when R-hat < 1.05, the bulk ESS exceeds 400 and the chain is longer than
    50 autocorrelation times (emcee's rule of thumb). The R-hat threshold is looser than the
    1.01 recommended for independent chains because emcee's walkers are not independent:
    they move together, so R-hat over walkers is a rougher check than over separate runs.
    A :class:`CalibrationWarning` names any parameter that fails.
    """
    az = _arviz()

    summary = az.summary(idata, kind="diagnostics")
    posterior = idata["posterior"]
    tau = json.loads(posterior.attrs.get("autocorr_time", "{}"))
    steps = int(posterior.sizes["draw"])
    summary["autocorr_time"] = [tau.get(str(n), np.nan) for n in summary.index]
    summary["ok"] = ((summary["r_hat"] < 1.05) & (summary["ess_bulk"] > 400)
                     & ~(summary["autocorr_time"] * 50 > steps))
    bad = [str(n) for n, ok in summary["ok"].items() if not ok and str(n) in tau]
    if bad:
        warnings.warn("The posterior of " + ", ".join(f"`{b}`" for b in bad) + " has not converged (R-hat, ESS "
                      "or autocorrelation time); sample more draws or tune longer.", CalibrationWarning,
                      stacklevel=2)
    return summary
