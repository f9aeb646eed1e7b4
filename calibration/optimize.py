"""Maximum-likelihood optimisers, curvature and profile likelihood on a CalibrationProblem.

Everything works in the unbounded space ``z`` of the parameter transforms. Each
function/gradient evaluation is one ensemble simulation: the central finite differences of
``k`` parameters are ``2k + 1`` runs of the same call; the Hessian's ``2k^2 + 1`` points
are one call; differential evolution simulates its whole population per generation in
one call (scipy's ``vectorized=True``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats
from scipy.stats import qmc

from .errors import CalibrationError
from .parameters import Parameter
from .problem import CalibrationProblem

__all__ = ["LocalResult", "negloglik_z", "local_fit", "newton_lockstep", "fisher_lockstep", "multistart", "differential_evolution", "least_squares_fit",
           "hessian_z", "information_z", "profile_parameter", "profile_function", "threshold"]

_BAD = 1e100  # what optimisers see for a failed run: large but finite, so line searches back off
_H_GRAD = 1e-5
_H_JAC = 1e-4
_RADIUS = 0.5  # the longest step of Fisher scoring, in units of a parameter's range (or size)
_STALL_ITERATIONS = 5
_STALL_GAIN = 1e-3
_H_HESS = 1e-3


@dataclass(frozen=True)
class LocalResult:
    """The end of one local optimisation."""

    z_start: np.ndarray
    z: np.ndarray
    loglik: float
    converged: bool
    iterations: int
    message: str


def threshold(level: float) -> float:
    """Log-likelihood drop of a profile interval: ``chi2_1(level) / 2`` (1.92 at 95%)."""
    return float(stats.chi2.ppf(level, 1) / 2)


def negloglik_z(problem: CalibrationProblem, z: np.ndarray) -> np.ndarray:
    """Negative log-likelihood of a batch in ``z`` space (failed runs -> a large number)."""
    ll = problem.loglik(problem.to_natural(np.atleast_2d(z)))
    return np.where(np.isfinite(ll), -ll, _BAD)


def _value_and_grad(problem: CalibrationProblem, free: np.ndarray, fixed: np.ndarray | None = None,
                    mask: np.ndarray | None = None) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """f and central-difference gradient of -loglik in one simulate call; `mask` selects moving coordinates."""
    k = problem.start.size

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        if mask is None:
            z0 = np.asarray(x, float)
        else:
            z0 = np.array(fixed, dtype=float)
            z0[mask] = x
        idx = np.flatnonzero(mask) if mask is not None else np.arange(k)
        pts = np.repeat(z0[None, :], 1 + 2 * len(idx), axis=0)
        for j, i in enumerate(idx):
            pts[1 + 2 * j, i] += _H_GRAD
            pts[2 + 2 * j, i] -= _H_GRAD
        f = negloglik_z(problem, pts)
        grad = (f[1::2] - f[2::2]) / (2 * _H_GRAD)
        if f[0] >= _BAD or not np.all(np.isfinite(grad)) or np.any(f[1:] >= _BAD):
            return float(f[0]), np.zeros(len(idx))
        return float(f[0]), grad

    return fun


def local_fit(problem: CalibrationProblem, z0: np.ndarray, maxiter: int = 200,
              mask: np.ndarray | None = None) -> LocalResult:
    """Quasi-Newton (L-BFGS-B) from `z0`, gradient by batched central differences."""
    fun = _value_and_grad(problem, z0, fixed=z0, mask=mask)
    x0 = z0 if mask is None else z0[mask]
    res = optimize.minimize(fun, x0, jac=True, method="L-BFGS-B",
                            options={"maxiter": maxiter, "ftol": 1e-12, "gtol": 1e-6})
    z = np.array(z0, dtype=float)
    if mask is None:
        z = res.x
    else:
        z[mask] = res.x
    return LocalResult(np.asarray(z0, float), z, -float(res.fun), bool(res.success), int(res.nit), str(res.message))


def _candidates(problem: CalibrationProblem, n: int, seed: int) -> np.ndarray:
    """Sobol points over the bounds (log-uniform over a decade around the start for open bounds), in z."""
    k = len(problem.free)
    u = qmc.Sobol(k, scramble=True, seed=seed).random(n)
    theta = np.empty((n, k))
    for j, p in enumerate(problem.free):
        if math.isfinite(p.lower) and math.isfinite(p.upper):
            theta[:, j] = p.lower + (p.upper - p.lower) * (0.02 + 0.96 * u[:, j])
        else:
            s = float(p.start)  # type: ignore[arg-type]
            scale = abs(s - (p.lower if math.isfinite(p.lower) else p.upper)) or 1.0
            offset = scale * 10.0 ** (2 * u[:, j] - 1)
            theta[:, j] = (p.lower + offset if math.isfinite(p.lower) else
                           p.upper - offset if math.isfinite(p.upper) else s + scale * (4 * u[:, j] - 2))
    return problem.to_z(theta)


def _stencil(z: np.ndarray, h: float) -> np.ndarray:
    """Central-difference points for the gradient and Hessian at each row of `z`: ``(n, 2k^2 + 1, k)``."""
    n, k = z.shape
    offsets = [np.zeros(k)]
    for i in range(k):
        for s in (1.0, -1.0):
            e = np.zeros(k)
            e[i] = s * h
            offsets.append(e)
    for i in range(k):
        for j in range(i + 1, k):
            for si, sj in ((1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)):
                e = np.zeros(k)
                e[i], e[j] = si * h, sj * h
                offsets.append(e)
    return z[:, None, :] + np.array(offsets)[None, :, :]


def _derivatives(f: np.ndarray, k: int, h: float) -> tuple[float, np.ndarray, np.ndarray]:
    """Value, gradient and Hessian from values on :func:`_stencil` points."""
    f0 = f[0]
    g = np.array([(f[1 + 2 * i] - f[2 + 2 * i]) / (2 * h) for i in range(k)])
    H = np.empty((k, k))
    for i in range(k):
        H[i, i] = (f[1 + 2 * i] + f[2 + 2 * i] - 2 * f0) / (h * h)
    n = 1 + 2 * k
    for i in range(k):
        for j in range(i + 1, k):
            fpp, fpm, fmp, fmm = f[n: n + 4]
            H[i, j] = H[j, i] = (fpp - fpm - fmp + fmm) / (4 * h * h)
            n += 4
    return float(f0), g, H


def newton_lockstep(problem: CalibrationProblem, z0: np.ndarray, maxiter: int = 100,
                    h: float = _H_HESS, mask: np.ndarray | None = None) -> list[LocalResult]:
    """Damped Newton (Levenberg-Marquardt) from every row of `z0` at once.

    Each iteration simulates the finite-difference stencils of all starts -- value, gradient
    and Hessian, ``2k^2 + 1`` points each -- in **one** ensemble call, so several starts cost
    about as much as one. A step solves ``(H + lambda I) p = -g``; it is kept when the value
    falls (then lambda shrinks) and retried with a larger lambda otherwise. A start stops when
    the Newton decrement ``g' (H + lambda I)^-1 g / 2`` falls below 1e-10 (the log-likelihood
    cannot rise by more than that) or after `maxiter` iterations. With `mask`, only the
    coordinates where it is True move (the others stay as in `z0`: profile likelihoods).
    """
    full0 = np.array(z0, dtype=float, copy=True)
    free = np.ones(full0.shape[1], dtype=bool) if mask is None else np.asarray(mask, dtype=bool)

    def embed(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        out = np.repeat(full0[rows][:, None, :], x.shape[1], axis=1)
        out[:, :, free] = x
        return out

    z = full0[:, free].copy()
    z0 = z.copy()
    n, k = z.shape
    lam = np.full(n, 1e-3)
    best_f = np.full(n, np.inf)
    best_z = z.copy()
    best_g = np.zeros((n, k))
    best_H = np.tile(np.eye(k), (n, 1, 1))
    active = np.ones(n, dtype=bool)
    converged = np.zeros(n, dtype=bool)
    iterations = np.zeros(n, dtype=int)
    trial = z.copy()
    for _ in range(maxiter):
        idx = np.flatnonzero(active)
        if not len(idx):
            break
        pts = embed(_stencil(trial[idx], h), idx)
        vals = negloglik_z(problem, pts.reshape(-1, full0.shape[1])).reshape(len(idx), -1)
        for row, i in enumerate(idx):
            iterations[i] += 1
            f0, g, H = _derivatives(vals[row], k, h)
            ok = f0 < _BAD and np.all(vals[row] < _BAD)
            if ok and f0 <= best_f[i]:
                improvement = best_f[i] - f0
                best_f[i], best_z[i], best_g[i], best_H[i] = f0, trial[i], g, H
                lam[i] = max(lam[i] / 3, 1e-9)
                if improvement < 1e-12 and np.isfinite(improvement):
                    converged[i], active[i] = True, False
                    continue
            else:
                lam[i] *= 8
                if lam[i] > 1e8:
                    active[i] = False
                    continue
            g_b, H_b = best_g[i], best_H[i]
            scale = max(float(np.max(np.abs(np.diag(H_b)))), 1e-8)
            while True:
                A = H_b + lam[i] * scale * np.eye(k)
                try:
                    c = np.linalg.cholesky(A)
                    break
                except np.linalg.LinAlgError:
                    lam[i] *= 8
            step = -np.linalg.solve(c.T, np.linalg.solve(c, g_b))
            if float(-g_b @ step) / 2 < 1e-10:
                converged[i], active[i] = True, False
                continue
            trial[i] = best_z[i] + step
    ends = full0.copy()
    ends[:, free] = best_z
    return sorted((LocalResult(full0[i], ends[i], -float(best_f[i]), bool(converged[i]), int(iterations[i]),
                               "converged" if converged[i] else "iteration limit or no descent")
                   for i in range(n)), key=lambda r: -r.loglik)


def _screen(problem: CalibrationProblem, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Negative log-likelihoods of the rows of `z` with the nuisance parameters at their best
    for each row's model values (one simulate call), and the rows with those nuisance values."""
    theta = problem.to_natural(z)
    preds, ok = problem.predict(theta)
    theta = problem.best_nuisance(preds, theta)
    ll = problem.loglik_from(preds, ok, theta)
    return np.where(np.isfinite(ll), -ll, _BAD), problem.to_z(theta)


def _fisher_terms(problem: CalibrationProblem, preds: list[np.ndarray], theta: np.ndarray, steps: np.ndarray,
                  sides: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Gradient and expected information of the log-likelihood in the model parameters.

    `preds` are the model values at the stencil of :func:`fisher_lockstep` (the point first);
    ``J = dm/dtheta`` of each series comes from central differences, or second-order
    one-sided ones where `sides` is +-1. Then ``g = sum_s w_s J_s' score_s`` and
    ``F = sum_s w_s J_s' diag(info_s) J_s``. Returns None when a value is not finite.
    """
    k = len(steps)
    g = np.zeros(k)
    F = np.zeros((k, k))
    vals = problem.values(theta[None, :])
    a = np.arange(k)
    for i, (s, lik) in enumerate(zip(problem.observations.series, problem.likelihoods)):
        if not s.n_used:
            continue
        m = preds[i][:, s.used]
        m0, m1, m2 = m[0][None, :], m[1 + 2 * a], m[2 + 2 * a]
        central = (m1 - m2) / (2 * steps[:, None])
        one_sided = (4 * m1 - m2 - 3 * m0) / (2 * np.where(sides == 0, 1.0, sides * steps)[:, None])
        J = np.where((sides == 0)[:, None], central, one_sided)  # (k, n_used)
        nu = problem.nuisance(vals, i, 1)
        assert lik.score is not None and lik.information is not None
        with np.errstate(all="ignore"):
            score = lik.score(s.y, m0, nu, s.weight)[0]
            info = lik.information(m0, nu, s.weight)[0]
        factor = 1.0 if lik.name == "wsse" else s.weight
        if not (np.all(np.isfinite(J)) and np.all(np.isfinite(score)) and np.all(np.isfinite(info))):
            return None
        g += factor * (J @ score)
        F += factor * ((J * info[None, :]) @ J.T)
    return g, F


def _scales(problem: CalibrationProblem, theta: np.ndarray) -> np.ndarray:
    """A natural scale of each model parameter: its range when bounded, else its size."""
    out = []
    for c in problem.model_columns:
        p = problem.free[c]
        if math.isfinite(p.lower) and math.isfinite(p.upper):
            out.append(p.upper - p.lower)
        else:
            out.append(max(abs(float(theta[c])), abs(float(p.start or 0.0)), 1e-6))
    return np.array(out)


def _bounded_step(g: np.ndarray, F: np.ndarray, lam: float, x: np.ndarray, lo: np.ndarray,
                  hi: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, bool] | None:
    """The damped step maximising ``g'p - p'Fp/2`` with ``lo <= x + p <= hi`` (an active set).

    Parameters on a bound with the gradient pointing out are held. When the step would carry
    parameters across bounds, the one it crosses first is put on its bound and held, and the
    others are solved again given that move, until the step stays inside. Returns the step
    and whether a bound was added on the way (None when the system cannot be solved).

    The system is solved in units of each parameter's `scale` by a pseudo-inverse that
    ignores directions with less than 1e-9 of the largest information: there the data say
    nothing (a parameter the fit cannot identify), so the step does not move along them
    (a plain solve would turn rounding noise into a jump across the whole range).
    """
    k = len(x)
    held = ((x <= lo) & (g < 0)) | ((x >= hi) & (g > 0))
    step = np.zeros(k)
    Fs = F * np.outer(scale, scale)
    gs = g * scale
    diag = np.maximum(np.diag(Fs), 1e-12 * max(float(np.max(np.diag(Fs))), 1e-300))
    clipped = False
    for _ in range(k + 1):
        free = ~held
        if not free.any():
            return step, clipped
        A = Fs[np.ix_(free, free)] + lam * np.diag(diag[free])
        b = gs[free] - Fs[np.ix_(free, held)] @ (step[held] / scale[held])
        try:
            step[free] = (np.linalg.pinv(A, rcond=1e-9, hermitian=True) @ b) * scale[free]
        except np.linalg.LinAlgError:
            return None
        new = x + step
        crossing = free & ((new < lo) | (new > hi))
        if not crossing.any():
            return step, clipped
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = np.where(new < lo, lo, hi)
            fraction = np.where(crossing, (bound - x) / step, np.inf)
        first = int(np.argmin(fraction))
        step[first] = bound[first] - x[first]
        held[first] = True
        clipped = True
    return np.clip(x + step, lo, hi) - x, clipped


def _jacobian_points(problem: CalibrationProblem, theta: np.ndarray,
                     h: float = _H_JAC) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The point `theta` and, for each model parameter, two more points for its derivative:
    at +-step, or at +step, +2 step (-step, -2 step) when the other side would cross a bound.
    Returns the ``(2k + 1, n_free)`` points, the steps and the sides (0 central, +-1 one-sided)."""
    cols = problem.model_columns
    lo = np.array([problem.free[c].lower for c in cols])
    hi = np.array([problem.free[c].upper for c in cols])
    pts = np.repeat(np.asarray(theta, dtype=float)[None, :], 1 + 2 * len(cols), axis=0)
    step = h * _scales(problem, theta)
    x = theta[cols]
    side = np.where(x + step > hi, -1.0, np.where(x - step < lo, 1.0, 0.0))
    for a, c in enumerate(cols):
        if side[a] == 0:
            pts[1 + 2 * a, c] = x[a] + step[a]
            pts[2 + 2 * a, c] = x[a] - step[a]
        else:
            pts[1 + 2 * a, c] = x[a] + side[a] * step[a]
            pts[2 + 2 * a, c] = x[a] + 2 * side[a] * step[a]
    return pts, step, side


def information_z(problem: CalibrationProblem, z: np.ndarray, h: float = _H_JAC) -> np.ndarray:
    """The expected (Fisher) information of all free parameters at `z`, in the unbounded space.

    For the model parameters it is ``J' W J`` from the Jacobian of the model values (one
    simulate call of ``2k + 1`` runs); for each nuisance parameter the second derivative of
    its series' log-likelihood (no simulation); between the two it is zero, as it is in
    expectation for the normal, lognormal and NB2 observation models. It needs first
    derivatives of the model only, so the kinks of ``min``, ``max`` and lookups, which make
    a finite-difference Hessian of the log-likelihood unstable, do not disturb it.
    """
    z = np.asarray(z, dtype=float)
    theta = problem.to_natural(z[None, :])[0]
    k_all = len(z)
    H = np.zeros((k_all, k_all))
    cols = problem.model_columns
    pts, steps, sides = _jacobian_points(problem, theta, h)
    preds, ok = problem.predict(pts)
    if not ok.all():
        return np.full((k_all, k_all), np.nan)
    if len(cols):
        terms = _fisher_terms(problem, preds, theta, steps, sides)
        if terms is None:
            return np.full((k_all, k_all), np.nan)
        dz = np.array([_dtheta_dz(problem.free[c], z[c]) for c in cols])
        H[np.ix_(cols, cols)] = terms[1] * np.outer(dz, dz)
    centre = [p[:1] for p in preds]
    for j in problem.nuisance_columns.values():
        hz = 1e-4
        rows = np.repeat(z[None, :], 3, axis=0)
        rows[1, j] += hz
        rows[2, j] -= hz
        f = problem.loglik_from([np.repeat(c, 3, axis=0) for c in centre], np.ones(3, dtype=bool),
                                problem.to_natural(rows))
        H[j, j] = -(f[1] + f[2] - 2 * f[0]) / (hz * hz)
    return H


def _dtheta_dz(p: Parameter, z: float) -> float:
    step = 1e-6
    return float((p.to_natural(np.array(z + step)) - p.to_natural(np.array(z - step))) / (2 * step))


def fisher_lockstep(problem: CalibrationProblem, z0: np.ndarray, maxiter: int = 100,
                    h: float = _H_JAC) -> list[LocalResult]:
    """Fisher scoring (Levenberg-Marquardt damped, projected onto the bounds) from every row of `z0` at once.

    The likelihood's nuisance parameters are profiled out at every point (no simulation:
    :meth:`~calibration.problem.CalibrationProblem.best_nuisance`); the model parameters move
    by ``(F + lambda diag F) p = g``, with ``g = J' score`` and ``F = J' W J`` the expected
    information, from the Jacobian ``J`` of the model values by finite differences. Each
    iteration simulates, for all starts together, the ``2k + 1`` points of their Jacobians
    (``k`` model parameters) in **one** ensemble call -- against ``2k^2 + 1`` points for a
    full Hessian. The information is never indefinite, so steps go uphill far from the
    optimum, and near it the method converges as Gauss-Newton does.

    The model parameters move in their natural units, clipped to their bounds, as L-BFGS-B
    and scipy's trust-region least squares do: a parameter whose best value lies on a bound
    reaches it in one step and stays there while the gradient points out (an active set),
    where a logit transform would approach it ever more slowly. Differences are central, or
    one-sided with second-order accuracy next to a bound. The damping follows Nielsen's rule
    (the ratio of the actual to the predicted rise sets how fast lambda shrinks; a rejected
    step doubles its growth factor). A start stops when the predicted rise is below 1e-9, an
    accepted step gains less than 1e-10, or after `maxiter` iterations.
    """
    cols = problem.model_columns
    full = np.array(np.atleast_2d(z0), dtype=float)
    n, kz = full.shape
    k = len(cols)
    if k == 0:
        fz, zz = _screen(problem, full)
        return sorted((LocalResult(full[i], zz[i], -float(fz[i]), True, 1, "converged") for i in range(n)),
                      key=lambda r: -r.loglik)
    lo = np.array([problem.free[c].lower for c in cols])
    hi = np.array([problem.free[c].upper for c in cols])
    start = problem.to_natural(full)
    trial = start.copy()
    # A parameter exactly on a bound maps to an infinite z: keep it a hair inside.
    margin = 1e-12 * np.where(np.isfinite(hi - lo), hi - lo, 1.0)
    trial[:, cols] = np.clip(trial[:, cols], lo, hi)
    best = trial.copy()
    best_f = np.full(n, np.inf)
    best_g = np.zeros((n, k))
    best_F = np.tile(np.eye(k), (n, 1, 1))
    predicted = np.zeros(n)
    lam = np.full(n, 1e-3)
    nu = np.full(n, 2.0)
    active = np.ones(n, dtype=bool)
    converged = np.zeros(n, dtype=bool)
    iterations = np.zeros(n, dtype=int)
    stalled = np.zeros(n, dtype=bool)
    history: list[list[float]] = [[] for _ in range(n)]
    width = 1 + 2 * k
    for _ in range(maxiter):
        idx = np.flatnonzero(active)
        if not len(idx):
            break
        pts = np.empty((len(idx), width, kz))
        steps = np.zeros((len(idx), k))
        sides = np.zeros((len(idx), k))
        for r, i in enumerate(idx):
            pts[r], steps[r], sides[r] = _jacobian_points(problem, trial[i], h)
        theta = pts.reshape(-1, kz)
        preds, ok = problem.predict(theta)
        for r, i in enumerate(idx):
            iterations[i] += 1
            rows = slice(r * width, (r + 1) * width)
            block = [p[rows] for p in preds]
            centre = problem.best_nuisance([b[:1] for b in block], theta[r * width][None, :])[0]
            f0 = -float(problem.loglik_from([b[:1] for b in block], ok[rows][:1], centre[None, :])[0])
            terms = (_fisher_terms(problem, block, centre, steps[r], sides[r]) if ok[rows].all() else None)
            if terms is not None and np.isfinite(f0) and f0 <= best_f[i]:
                improvement = best_f[i] - f0
                if np.isfinite(improvement) and predicted[i] > 0:
                    rho = improvement / predicted[i]
                    lam[i] = max(lam[i] * max(1 / 3, 1 - (2 * rho - 1) ** 3), 1e-12)
                nu[i] = 2.0
                best_f[i], best[i] = f0, centre
                best_g[i], best_F[i] = terms
                if 0 <= improvement < 1e-10:
                    converged[i], active[i] = True, False
                    continue
            history[i].append(best_f[i])
            if len(history[i]) > _STALL_ITERATIONS and history[i][-_STALL_ITERATIONS - 1] - best_f[i] < _STALL_GAIN:
                # Weakly identified directions and the kinks of min/max/lookups make the last
                # gains slow and tiny; gains this small do not move any interval (1.92 at 95%).
                converged[i], active[i], stalled[i] = True, False, True
                continue
            if terms is None or not np.isfinite(f0) or f0 > best_f[i]:
                lam[i] *= nu[i]
                nu[i] *= 2
                if lam[i] > 1e10 or not np.isfinite(best_f[i]):
                    active[i] = False
                    continue
            x = best[i, cols]
            bounded = _bounded_step(best_g[i], best_F[i], lam[i], x, lo, hi, _scales(problem, best[i]))
            if bounded is None:
                lam[i] *= nu[i]
                continue
            step, clipped = bounded
            gain = float(best_g[i] @ step - 0.5 * step @ best_F[i] @ step)
            if gain < 1e-9:
                if clipped:  # the bounds spoilt the step, not a maximum: damp it towards the gradient
                    lam[i] *= nu[i]
                    continue
                converged[i], active[i] = True, False
                continue
            scale = _scales(problem, best[i])
            longest = float(np.max(np.abs(step) / scale))
            if longest > _RADIUS:  # at most half a parameter's range (or size) per iteration
                step *= _RADIUS / longest
                gain = float(best_g[i] @ step - 0.5 * step @ best_F[i] @ step)
            new = x + step
            predicted[i] = gain
            trial[i] = best[i]
            trial[i, cols] = new
    best[:, cols] = np.clip(best[:, cols], lo + margin, hi - margin)
    ends = problem.to_z(best)
    return sorted((LocalResult(full[i], ends[i], -float(best_f[i]), bool(converged[i]), int(iterations[i]),
                               "converged (gains below 0.001 over 5 iterations)" if stalled[i] else
                               "converged" if converged[i] else "iteration limit or no ascent")
                   for i in range(n)), key=lambda r: -r.loglik)


def multistart(problem: CalibrationProblem, starts: int = 4, candidates: int = 64, seed: int = 0,
               maxiter: int = 200) -> list[LocalResult]:
    """Local fits from the model's values and the best of `candidates` Sobol points (screened in one call).

    Candidates are ranked with their nuisance parameters profiled out, so a good model fit is
    not hidden by a poor guess of ``sigma`` or ``phi_inv``. All starts run together by
    :func:`fisher_lockstep` (one simulate call per iteration for all of them); if the best
    does not converge it is finished by exact Newton steps (:func:`newton_lockstep`) and then
    L-BFGS-B. Returns the local results, best first.
    """
    z_model = problem.to_z(problem.start[None, :])
    _, z0 = _screen(problem, z_model)
    if starts > 1:
        cand = _candidates(problem, candidates, seed)
        f, cand = _screen(problem, cand)
        z0 = np.vstack([z0, cand[np.argsort(f)[: starts - 1]]])
    results = fisher_lockstep(problem, z0, maxiter=min(maxiter, 100))
    finished = []
    for n, r in enumerate(results):
        # Only the best start needs finishing: the others are reported as they ended.
        if n == 0 and not r.converged and r.loglik > -_BAD / 2:
            newton = newton_lockstep(problem, r.z[None, :], maxiter=20)[0]
            if newton.loglik >= r.loglik:
                r = LocalResult(r.z_start, newton.z, newton.loglik, newton.converged, r.iterations + newton.iterations,
                                newton.message)
            if not r.converged:
                polished = local_fit(problem, r.z, maxiter)
                if polished.loglik >= r.loglik:
                    r = LocalResult(r.z_start, polished.z, polished.loglik, polished.converged,
                                    r.iterations + polished.iterations, polished.message)
        finished.append(r)
    return sorted(finished, key=lambda r: -r.loglik)


def differential_evolution(problem: CalibrationProblem, seed: int = 0, popsize: int = 15,
                           maxiter: int = 200, tol: float = 1e-8) -> tuple[LocalResult, int]:
    """scipy's differential evolution over the (finite) bounds, one simulate call per generation,
    polished by :func:`local_fit`. Returns the polished result and the number of generations.

    Estimated nuisance parameters without an upper bound are searched over three decades
    either side of their starting value."""
    nuisance = set(problem.nuisance_of.values())
    bounds = []
    for p in problem.free:
        if p.name in nuisance and not math.isfinite(p.upper):
            # an estimated scale or dispersion: search three decades either side of its start
            s = float(p.start)  # type: ignore[arg-type]
            bounds.append((max(p.lower, s * 1e-3), s * 1e3))
        else:
            bounds.append((p.lower, p.upper))
    open_ = [p.name for p, b in zip(problem.free, bounds) if not (math.isfinite(b[0]) and math.isfinite(b[1]))]
    if open_:
        raise CalibrationError(
            f"Differential evolution needs finite bounds; give bounds to {', '.join(f'`{n}`' for n in open_)} "
            "(for example `(0, 10)`) or use method=\"multistart\"."
        )

    def func(x: np.ndarray) -> np.ndarray:
        ll = problem.loglik(np.asarray(x, float).T)  # x is (k, S): the whole population
        return np.where(np.isfinite(ll), -ll, _BAD)

    res = optimize.differential_evolution(func, bounds, vectorized=True, updating="deferred", seed=seed,
                                          popsize=popsize, maxiter=maxiter, tol=tol, polish=False,
                                          x0=np.clip(problem.start, [b[0] for b in bounds], [b[1] for b in bounds]))
    z0 = problem.to_z(np.asarray(res.x)[None, :])[0]
    return local_fit(problem, z0), int(res.nit)


def least_squares_fit(problem: CalibrationProblem, z0: np.ndarray) -> LocalResult:
    """Trust-region least squares (scipy ``least_squares``) for the ``wsse`` likelihood.

    Residuals are ``weight * (model - data)``; the Jacobian is one batched simulate call.
    """
    if any(lik.name != "wsse" for lik in problem.likelihoods):
        raise CalibrationError("method=\"least_squares\" needs likelihood=\"wsse\" (weighted sum of squares); use "
                               "method=\"multistart\" for the other likelihoods.")
    k = len(z0)

    def residuals_batch(z: np.ndarray) -> np.ndarray:
        theta = problem.to_natural(z)
        preds, ok = problem.predict(theta)
        parts = [s.weight * (m[:, s.used] - s.y) for s, m in zip(problem.observations.series, preds)]
        r = np.concatenate(parts, axis=1)
        r[~ok] = 1e50
        return np.where(np.isfinite(r), r, 1e50)

    def fun(z: np.ndarray) -> np.ndarray:
        return residuals_batch(z[None, :])[0]

    def jac(z: np.ndarray) -> np.ndarray:
        pts = np.repeat(z[None, :], 2 * k, axis=0)
        for i in range(k):
            pts[2 * i, i] += _H_GRAD
            pts[2 * i + 1, i] -= _H_GRAD
        r = residuals_batch(pts)
        return ((r[0::2] - r[1::2]) / (2 * _H_GRAD)).T

    res = optimize.least_squares(fun, z0, jac=jac, method="trf", xtol=1e-12, ftol=1e-12, gtol=1e-10)
    ll = float(problem.loglik(problem.to_natural(res.x[None, :]))[0])
    return LocalResult(np.asarray(z0, float), res.x, ll, bool(res.success), int(res.nfev), str(res.message))


def hessian_z(problem: CalibrationProblem, z: np.ndarray, h: float = _H_HESS) -> np.ndarray:
    """Hessian of -loglik at `z` by central differences: all ``2k^2 + 1`` points in one call."""
    k = len(z)
    pts = [z.copy()]
    for i in range(k):
        for s in (1, -1):
            p = z.copy()
            p[i] += s * h
            pts.append(p)
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    for i, j in pairs:
        for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
            p = z.copy()
            p[i] += si * h
            p[j] += sj * h
            pts.append(p)
    f = negloglik_z(problem, np.array(pts))
    f0 = f[0]
    H = np.empty((k, k))
    for i in range(k):
        H[i, i] = (f[1 + 2 * i] + f[2 + 2 * i] - 2 * f0) / (h * h)
    base = 1 + 2 * k
    for n, (i, j) in enumerate(pairs):
        fpp, fpm, fmp, fmm = f[base + 4 * n: base + 4 * n + 4]
        H[i, j] = H[j, i] = (fpp - fpm - fmp + fmm) / (4 * h * h)
    return H


@dataclass(frozen=True)
class Profile:
    """A profile likelihood: grid of values, the maximised log-likelihood there, and the interval."""

    name: str
    values: np.ndarray
    loglik: np.ndarray
    lower: float
    upper: float
    lower_open: bool
    upper_open: bool


def _walk(f: Callable[[float], float], x0: float, step: float, target: float, limit: float,
          grid: list[tuple[float, float]]) -> tuple[float, bool]:
    """Move from x0 by `step` until f drops below `target`; refine the crossing with brentq."""
    prev_x, prev_f = x0, f(x0)
    grid.append((prev_x, prev_f))
    x = x0
    for _ in range(40):
        x = prev_x + step
        if abs(x - x0) > limit:
            return prev_x, True
        fx = f(x)
        grid.append((x, fx))
        if fx < target:
            root = optimize.brentq(lambda v: f(v) - target, prev_x, x, xtol=1e-6 * max(1.0, abs(x)), maxiter=40)
            return float(root), False
        prev_x, prev_f = x, fx
        step *= 1.5 if fx > target + 0.5 * (grid[0][1] - target) else 1.0
    return prev_x, True


def profile_parameter(problem: CalibrationProblem, z_hat: np.ndarray, ll_hat: float, j: int, se_z: float,
                      level: float = 0.95, limit: float = 12.0) -> Profile:
    """Profile likelihood of free parameter `j`: re-optimise the others along a walk out from the optimum.

    The walk is in ``z`` space from the maximum both ways; the interval ends where the profile
    drops by ``chi2_1(level)/2``. An end that is not reached within `limit` (in ``z``) or the
    parameter's bound is "open": the data do not bound the parameter on that side.
    """
    target = ll_hat - threshold(level)
    k = len(z_hat)
    mask = np.ones(k, dtype=bool)
    mask[j] = False
    warm = {"z": z_hat.copy()}
    cache: dict[float, float] = {}

    def f(v: float) -> float:
        if v in cache:
            return cache[v]
        z = warm["z"].copy()
        z[j] = v
        if k == 1:
            ll = -float(negloglik_z(problem, z[None, :])[0])
        else:
            r = newton_lockstep(problem, z[None, :], maxiter=50, mask=mask)[0]
            if not r.converged:
                r = local_fit(problem, r.z, maxiter=100, mask=mask)
            ll = r.loglik
            if ll > -_BAD / 2:
                warm["z"] = r.z
        cache[v] = ll
        return ll

    step = se_z if math.isfinite(se_z) and se_z > 0 else 0.5
    step = min(max(step, 1e-3), 2.0)
    grid: list[tuple[float, float]] = []
    lo, lo_open = _walk(f, float(z_hat[j]), -step, target, limit, grid)
    warm["z"] = z_hat.copy()
    hi, hi_open = _walk(f, float(z_hat[j]), step, target, limit, grid)
    pts = sorted(set(grid))
    p = problem.free[j]
    zs = np.array([x for x, _ in pts])
    return Profile(p.name, p.to_natural(zs), np.array([v for _, v in pts]),
                   float(p.to_natural(np.array(lo))), float(p.to_natural(np.array(hi))), lo_open, hi_open)


def profile_function(problem: CalibrationProblem, z_hat: np.ndarray, ll_hat: float, name: str,
                     g: Callable[[np.ndarray], float], sd: float, level: float = 0.95) -> Profile:
    """Profile likelihood of a derived quantity ``g(theta)`` (for example R0 = beta / gamma).

    Each point maximises the log-likelihood subject to ``g(theta) = value`` (SLSQP, gradient
    by batched differences).
    """
    target = ll_hat - threshold(level)
    g_hat = g(problem.to_natural(z_hat[None, :])[0])
    fun = _value_and_grad(problem, z_hat)
    warm = {"z": z_hat.copy()}

    def gz(z: np.ndarray) -> float:
        return float(g(problem.to_natural(z[None, :])[0]))

    def f(v: float) -> float:
        cons = {"type": "eq", "fun": lambda z: gz(z) - v}
        res = optimize.minimize(fun, warm["z"], jac=True, method="SLSQP", constraints=[cons],
                                options={"maxiter": 100, "ftol": 1e-10})
        if abs(gz(res.x) - v) > 1e-6 * max(1.0, abs(v)):
            return -_BAD
        warm["z"] = res.x
        return -float(res.fun)

    step = sd if math.isfinite(sd) and sd > 0 else 0.1 * max(abs(g_hat), 1e-3)
    grid: list[tuple[float, float]] = []
    limit = 50 * step
    lo, lo_open = _walk(f, g_hat, -step, target, limit, grid)
    warm["z"] = z_hat.copy()
    hi, hi_open = _walk(f, g_hat, step, target, limit, grid)
    pts = sorted(set(grid))
    return Profile(name, np.array([x for x, _ in pts]), np.array([v for _, v in pts]), lo, hi, lo_open, hi_open)


def derived_gradient(problem: CalibrationProblem, z: np.ndarray, g: Callable[[np.ndarray], float],
                     h: float = 1e-6) -> np.ndarray:
    """Gradient of ``g(theta(z))`` by central differences (no simulation)."""
    out = np.empty(len(z))
    for i in range(len(z)):
        zp, zm = z.copy(), z.copy()
        zp[i] += h
        zm[i] -= h
        out[i] = (g(problem.to_natural(zp[None, :])[0]) - g(problem.to_natural(zm[None, :])[0])) / (2 * h)
    return out
