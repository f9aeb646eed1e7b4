"""The compiled back end's whole-array functions: VECTOR SELECT, SORT ORDER, RANK, REORDER,
ALLOCATE AVAILABLE, ALLOCATE BY PRIORITY and INVERT MATRIX over one run's rows.

The unroller (:mod:`sd_engine.unroll`, ``ARRAY_ELEMENT``) gathers a call's arguments into flat
vectors in C order -- rows of `n` along the last axis, a per-row argument one value per row --
and the model's generated code takes each element from the result. Each helper repeats its
numpy implementation in :mod:`sd_engine.functions` over one run's rows, operation for
operation, so compiled runs give numpy's numbers. Like :mod:`sd_engine.numba_builtins`, this
module must stay importable without side effects: generated modules import it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .numba_builtins import maximum, minimum, power

__all__ = [
    "ARRAY_HELPERS",
    "ARRAY_RESULT",
    "select_rows",
    "sort_order_rows",
    "rank_rows",
    "reorder_rows",
    "invert_matrices",
    "row_sum",
    "allocate_rows",
    "allocate_available_rows",
    "allocate_by_priority_rows",
]

_jit = njit(cache=True, error_model="numpy", nogil=True)


#: The helper of each function of :data:`sd_engine.unroll.WHOLE_ARRAY` (called as
#: ``sf.<helper>(vector, ..., n)``).
ARRAY_HELPERS: dict[str, str] = {
    "vector_sort_order": "sort_order_rows",
    "vector_rank": "rank_rows",
    "vector_reorder": "reorder_rows",
    "allocate_available": "allocate_available_rows",
    "allocate_by_priority": "allocate_by_priority_rows",
    "invert_matrix": "invert_matrices",
    "vector_select": "select_rows",
}
#: The argument whose length the result has, where it is not the first (VECTOR SELECT: one
#: result per row, as its per-row arguments).
ARRAY_RESULT: dict[str, int] = {"vector_select": 2}


@_jit
def _before(a: float, b: float) -> bool:
    # numpy's sort order: NaN after every number.
    return a < b or (b != b and a == a)


@_jit
def _ascending(row: np.ndarray) -> np.ndarray:
    """np.argsort(row, kind="stable"): a stable insertion sort (rows are short), NaN last."""
    n = len(row)
    order = np.arange(n)
    for i in range(1, n):
        k = order[i]
        j = i - 1
        while j >= 0 and _before(row[k], row[order[j]]):
            order[j + 1] = order[j]
            j -= 1
        order[j + 1] = k
    return order


@_jit
def sort_order_rows(vector: np.ndarray, direction: np.ndarray, n: int) -> np.ndarray:
    """functions.vector_sort_order on each row: positions in ascending order where the row's
    direction > 0, else the ascending order reversed."""
    out = np.empty(len(vector))
    for g in range(len(vector) // n):
        order = _ascending(vector[g * n:(g + 1) * n])
        for i in range(n):
            out[g * n + i] = order[i] if direction[g] > 0 else order[n - 1 - i]
    return out


@_jit
def rank_rows(vector: np.ndarray, direction: np.ndarray, n: int) -> np.ndarray:
    """functions.vector_rank: the stable argsort of the sort order (a permutation, so its
    inverse) plus one."""
    order = sort_order_rows(vector, direction, n)
    out = np.empty(len(vector))
    for g in range(len(vector) // n):
        for i in range(n):
            out[g * n + int(order[g * n + i])] = i + 1.0
    return out


@_jit
def reorder_rows(vector: np.ndarray, order: np.ndarray, n: int) -> np.ndarray:
    """functions.vector_reorder: element i of a row is ``row[order[i]]``, NaN where the order
    is no whole position of the row."""
    out = np.empty(len(vector))
    for g in range(len(vector) // n):
        for i in range(n):
            k = order[g * n + i]
            valid = k >= 0 and k < n and k == math.trunc(k)
            out[g * n + i] = vector[g * n + int(k)] if valid else np.nan
    return out


@_jit
def invert_matrices(x: np.ndarray, n: int) -> np.ndarray:
    """functions.invert_matrix on each ``n`` x ``n`` matrix: LAPACK's LU solve against the
    identity (gesv, as np.linalg.inv), NaN for a matrix whose determinant (numpy's: from
    slogdet) is 0 or not finite, or with a value that is not finite (numba's LAPACK calls
    refuse those; numpy's determinant of such a matrix is never finite in practice)."""
    out = np.empty(len(x))
    size = n * n
    for g in range(len(x) // size):
        m = x[g * size:(g + 1) * size].copy().reshape((n, n))
        singular = not np.all(np.isfinite(m))
        if not singular:
            sign, logdet = np.linalg.slogdet(m)
            det = sign * math.exp(logdet)
            singular = det == 0 or not math.isfinite(det)
        if singular:
            out[g * size:(g + 1) * size] = np.nan
        else:
            inverse = np.linalg.solve(m, np.eye(n))  # Fortran order: copied element by element
            for i in range(n):
                for j in range(n):
                    out[g * size + i * n + j] = inverse[i, j]
    return out


@_jit
def _block_sum(a: np.ndarray, start: int, n: int) -> float:
    # numpy's pairwise_sum for up to 128 terms: a plain loop below 8, else eight partial sums.
    if n < 8:
        total = -0.0
        for i in range(n):
            total += a[start + i]
        return total
    r = a[start:start + 8].copy()
    i = 8
    while i < n - n % 8:
        for j in range(8):
            r[j] += a[start + i + j]
        i += 8
    total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    while i < n:
        total += a[start + i]
        i += 1
    return total


@_jit
def row_sum(a: np.ndarray, start: int, n: int) -> float:
    """np.sum of ``a[start:start + n]`` in numpy's order (pairwise, as sd_engine.unroll.numpy_sum):
    beyond 128 terms the sum of two halves (the first a multiple of 8 long), walked here with
    a stack (numba's disk cache does not take recursive functions)."""
    if n <= 128:
        return _block_sum(a, start, n)
    starts, sizes = np.empty(128, np.int64), np.empty(128, np.int64)
    split = np.zeros(128, np.bool_)
    values = np.empty(128)
    top, held = 1, 0
    starts[0], sizes[0] = start, n
    while top > 0:
        s, m = starts[top - 1], sizes[top - 1]
        if m <= 128:
            values[held] = _block_sum(a, s, m)
            held += 1
            top -= 1
        elif not split[top - 1]:
            split[top - 1] = True
            half = m // 2
            half -= half % 8
            # The second half below the first, so the first is summed first.
            starts[top], sizes[top], split[top] = s + half, m - half, False
            starts[top + 1], sizes[top + 1], split[top + 1] = s, half, False
            top += 2
        else:
            values[held - 2] = values[held - 2] + values[held - 1]
            held -= 1
            top -= 1
    return values[0]


@_jit
def _runs_sum(a: np.ndarray, start: int, n: int, inner: int) -> float:
    # numpy's sum over reduced axes of which the last ones make runs of `inner` contiguous
    # terms: each run pairwise, the runs added one after the other (sd_engine.unroll.ordered_sum).
    total = row_sum(a, start, inner)
    for s in range(start + inner, start + n, inner):
        total = total + row_sum(a, s, inner)
    return total


@_jit
def select_rows(selection: np.ndarray, value: np.ndarray, missing: np.ndarray, action: np.ndarray,
                error: np.ndarray, n: int, inner: int) -> np.ndarray:
    """functions.vector_select on each row of `n` selected-over elements (one `missing`,
    `action` and `error` per row; numpy sums in runs of `inner`): actions 0-4 on
    ``selection * value`` (sum, product, min, max, mean), 5 the product of ``value **
    selection``, 6-10 on `value`; NaN for any other action; `missing` where nothing is
    selected; NaN where the error action's condition holds. Only the row's own action is
    computed (numpy computes all eleven and selects one: the same number)."""
    rows = len(missing)
    out = np.empty(rows)
    terms = np.empty(n)
    for g in range(rows):
        a = g * n
        count = 0.0
        for i in range(n):
            count += 1.0 if selection[a + i] != 0 else 0.0  # whole numbers: exact in any order
        k = action[g]
        result = np.nan  # np.select's default: an action that is none of 0-10
        if k == math.trunc(k) and 0 <= k <= 10:
            kind = int(k)
            for i in range(n):
                x, v = selection[a + i], value[a + i]
                terms[i] = x * v if kind < 5 else power(v, x) if kind == 5 else v
            # 0 sum, 1 product, 2 min, 3 max, 4 mean (of selection * value, value ** selection, value).
            step = kind if kind < 5 else 1 if kind == 5 else kind - 6
            if step == 0 or step == 4:  # sum, mean
                for i in range(n):
                    if selection[a + i] == 0:
                        terms[i] = 0.0
                result = _runs_sum(terms, 0, n, inner)
                if step == 4:
                    result = result / count
            elif step == 1:  # product, in C order
                result = terms[0] if selection[a] != 0 else 1.0
                for i in range(1, n):
                    result = result * (terms[i] if selection[a + i] != 0 else 1.0)
            elif step == 2:
                result = np.inf if selection[a] == 0 else terms[0]
                for i in range(1, n):
                    result = minimum(result, terms[i] if selection[a + i] != 0 else np.inf)
            else:
                result = -np.inf if selection[a] == 0 else terms[0]
                for i in range(1, n):
                    result = maximum(result, terms[i] if selection[a + i] != 0 else -np.inf)
        if count == 0:
            result = missing[g]
        e = error[g]
        if ((e == 1 or e == 3) and count == 0) or ((e == 2 or e == 3) and count > 1):
            result = np.nan
        out[g] = result
    return out


@_jit
def _normal_tail(u: float) -> float:
    z = abs(u)
    t = 1.0 / (1.0 + 0.33267 * z)
    tail = math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi) * t * (0.4361836 + t * (-0.1201676 + t * 0.9372980))
    return tail if u >= 0 else 1.0 - tail


@_jit
def _profile_share(x: float, ptype: float, priority: float, width: float) -> float:
    """functions._profile_share at one point (numpy computes every profile and selects one)."""
    u = (x - priority) / width
    if ptype == 1:
        return minimum(maximum(0.5 - u, 0.0), 1.0)  # np.clip, NaN kept
    if ptype == 2:
        if u <= -0.5:
            return 1.0
        if u < 0:
            w = u + 0.5
            return 1 - 2 * (w * w)
        if u < 0.5:
            w = 0.5 - u
            return 2 * (w * w)
        return 0.0
    if ptype == 3:
        return _normal_tail(u)
    if ptype == 4:
        if u < 0:
            return 1 - 0.5 * math.exp(minimum(u, 0.0))
        return 0.5 * math.exp(-maximum(u, 0.0))
    return np.nan


@_jit
def _reach(ptype: float) -> float:
    # functions._PROFILE_REACH
    if ptype == 1 or ptype == 2:
        return 0.5
    if ptype == 3:
        return 40.0
    if ptype == 4:
        return 750.0
    return np.nan


@_jit
def _total(x: np.ndarray, request: np.ndarray, ptype: np.ndarray, priority: np.ndarray, width: np.ndarray,
           g: int, n: int, scratch: np.ndarray) -> float:
    for i in range(n):
        k = g * n + i
        scratch[i] = request[k] * _profile_share(x[g], ptype[k], priority[k], width[k])
    return row_sum(scratch, 0, n)


@_jit
def allocate_rows(request: np.ndarray, ptype_in: np.ndarray, priority: np.ndarray, width_in: np.ndarray,
                  supply: np.ndarray, n: int) -> np.ndarray:
    """functions.allocate_profiles over rows of `n` requesters (one supply per row).

    The one difference: where numpy raises (a profile type other than 0-4 for a requester
    with a request, or type 0 mixed with other types in a row), the row is NaN, so the run
    is reported as not finite (an exception cannot leave the compiled step loop)."""
    rows = len(request) // n
    ptype = ptype_in.copy()
    width = width_in.copy()
    refused = np.zeros(rows, dtype=np.bool_)
    all_fixed = np.zeros(rows, dtype=np.bool_)
    for g in range(rows):
        any_wanted, any_fixed, any_other, fixed_or_idle = False, False, False, True
        for k in range(g * n, (g + 1) * n):
            wanted = request[k] > 0
            p = ptype[k]
            if wanted and not (p == 0 or p == 1 or p == 2 or p == 3 or p == 4):
                refused[g] = True
            any_wanted |= wanted
            any_fixed |= wanted and p == 0
            any_other |= wanted and p != 0
            fixed_or_idle &= p == 0 or not wanted
        refused[g] |= any_fixed and any_other
        all_fixed[g] = fixed_or_idle and any_wanted
        if all_fixed[g]:
            ptype[g * n:(g + 1) * n] = 1.0  # any valid type; replaced below
    lo = np.empty(rows)
    hi = np.empty(rows)
    for g in range(rows):
        low, high = np.inf, -np.inf
        for k in range(g * n, (g + 1) * n):
            if request[k] > 0:
                r = _reach(ptype[k])
                low = minimum(low, priority[k] - r * width[k])  # np.min: NaN wins
                high = maximum(high, priority[k] + r * width[k])
        low, high = low - 1.0, high + 1.0
        lo[g] = low if math.isfinite(low) else 0.0
        hi[g] = high if math.isfinite(high) else 0.0
    scratch = np.empty(n)
    mid = np.empty(rows)
    eps = np.finfo(np.float64).eps
    for _ in range(200):
        for g in range(rows):
            mid[g] = 0.5 * (lo[g] + hi[g])
        done = True
        for g in range(rows):
            if _total(mid, request, ptype, priority, width, g, n, scratch) >= supply[g]:
                lo[g] = mid[g]
            else:
                hi[g] = mid[g]
            done &= (hi[g] - lo[g]) <= 4 * eps * maximum(abs(lo[g]), abs(hi[g]))
        if done:
            break
    out = np.empty(len(request))
    for g in range(rows):
        a, b = g * n, (g + 1) * n
        for k in range(a, b):
            out[k] = request[k] * _profile_share(lo[g], ptype[k], priority[k], width[k])
        given = row_sum(out, a, n)
        scale = supply[g] / given if given > 0 else 0.0
        asked = row_sum(request, a, n)
        enough = supply[g] >= asked
        bad_row = supply[g] < 0 or refused[g]
        for k in range(a, b):
            bad_row |= request[k] < 0
        for k in range(a, b):
            value = out[k] * scale
            if enough:
                value = request[k]
            elif supply[g] <= 0:
                value = 0.0
            if all_fixed[g]:
                value = 0.0 if supply[g] <= 0 else request[k] * minimum(1.0, supply[g] / asked)
                width[k] = 1.0  # ignored by type 0
            wanted = request[k] > 0
            if bad_row or (wanted and not (width[k] > 0)) or (wanted and math.isnan(_reach(ptype[k]))):
                value = np.nan
            out[k] = value
    return out


@_jit
def allocate_available_rows(request: np.ndarray, ptype: np.ndarray, priority: np.ndarray, width: np.ndarray,
                            supply: np.ndarray, n: int) -> np.ndarray:
    """functions.allocate_available: each requester's (ptype, ppriority, pwidth) profile."""
    return allocate_rows(request, ptype, priority, width, supply, n)


@_jit
def allocate_by_priority_rows(request: np.ndarray, priority: np.ndarray, width: np.ndarray, supply: np.ndarray,
                              n: int) -> np.ndarray:
    """functions.allocate_by_priority: rectangular profiles of the row's width."""
    return allocate_rows(request, np.ones(len(request)), priority, np.repeat(width, n), supply, n)
