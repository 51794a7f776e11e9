"""Partial information decomposition (PID) of I(Y; X1, X2) with the BROJA definition.

Bertschinger, Rauh, Olbrich, Jost & Ay (2014): among all distributions Q with the same (X1, Y) and
(X2, Y) marginals as P, take the one that maximises H_Q(Y | X1, X2). Then, in bits,

    unique_1   = I_Q(Y; X1, X2) - I(Y; X2)
    unique_2   = I_Q(Y; X1, X2) - I(Y; X1)
    redundancy = I(Y; X1) - unique_1
    synergy    = I_P(Y; X1, X2) - I_Q(Y; X1, X2)

The optimisation is convex: minimise I_Q(Y; X1, X2) over the Q with those marginals. Two solvers
give the same optimum (tested against each other and against the `dit` package's BROJA):

- ``"alternating"``: I_Q(Y; X1, X2) = min over r(x1, x2) of KL(Q || r ⊗ P(y)), a
  jointly convex function, so alternating minimisation converges to the optimum (Csiszár & Tusnády,
  1984): for fixed r, each label's slice Q(·, ·, y) is the Sinkhorn scaling of r to the marginals
  P(x1, y) and P(x2, y); for fixed Q, r = Q(x1, x2). Under a second on 32 × 32 × 13.
- ``"exact"``: the exponential-cone program, solved by Clarabel (interior point).

``"auto"`` (the default) takes the exact program up to ``EXACT_UP_TO`` cells with at most
``EXACT_MAX_LABELS`` labels and alternating minimisation otherwise (measured on 2 cores, random
joints: 32 × 32 × 4 took 0.2 s exactly and 1.6 s alternating; 20 × 20 × 13 1.1 s and 0.2 s; 12 × 12 × 30
1.0 s and 0.06 s).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import sparse

from modalyze.errors import ModalyzeError

LOG2 = np.log(2.0)


@dataclass
class PID:
    redundancy: float
    unique: tuple[float, float]
    synergy: float
    total: float  # I(Y; X1, X2) = redundancy + unique_1 + unique_2 + synergy

    def to_dict(self) -> dict:
        out = asdict(self)
        out["unique"] = list(self.unique)
        return out


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def mutual_information(p_xy: np.ndarray) -> float:
    """I(X; Y) in bits of a 2-D joint distribution."""
    return _entropy(p_xy.sum(1)) + _entropy(p_xy.sum(0)) - _entropy(p_xy.ravel())


def _check(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 3:
        raise ModalyzeError(f"PID needs a joint distribution of shape [|X1|, |X2|, |Y|], got shape {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise ModalyzeError("PID needs a non-negative, finite joint distribution")
    if abs(p.sum() - 1.0) > 1e-6:
        raise ModalyzeError(f"PID needs a joint distribution that sums to 1 (it sums to {p.sum():.6g})")
    return p


def _alternating(p: np.ndarray, tol: float = 1e-9, max_iter: int = 200_000) -> np.ndarray:
    """argmax_Q H_Q(Y | X1, X2) by alternating minimisation (see the module docstring)."""
    marg_1, marg_2 = p.sum(1), p.sum(0)  # P(x1, y) [n1, ny], P(x2, y) [n2, ny]
    p_y = p.sum((0, 1))
    q = marg_1[:, None, :] * marg_2[None, :, :] / np.where(p_y > 0, p_y, 1)  # X1 ⊥ X2 given Y: feasible
    r = q.sum(2)  # Q(x1, x2)
    scale_1, scale_2 = np.ones_like(marg_1), np.ones_like(marg_2)

    def sweep() -> None:  # one Sinkhorn step of every label's slice towards its two marginals
        nonlocal scale_1, scale_2
        kb = r @ scale_2
        scale_1 = np.divide(marg_1, kb, out=np.zeros_like(marg_1), where=kb > 0)
        ka = r.T @ scale_1
        scale_2 = np.divide(marg_2, ka, out=np.zeros_like(marg_2), where=ka > 0)

    previous = np.inf
    for step in range(max_iter):
        sweep()
        checked = step % 10 == 0
        if checked:
            value = _information(scale_1[:, None, :] * r[:, :, None] * scale_2[None, :, :])  # of Q [n1, n2, ny]
        # r = Q(x1, x2) = Σ_y scale_1 · r · scale_2: a [n1, ny] @ [ny, n2] product; Q itself is not needed
        r = r * (scale_1 @ scale_2.T)
        if checked:
            if previous - value < tol:
                break
            previous = value
    for _ in range(10_000):  # the final slices meet their marginals (to rounding)
        sweep()
        q = scale_1[:, None, :] * r[:, :, None] * scale_2[None, :, :]
        if max(np.abs(q.sum(1) - marg_1).max(), np.abs(q.sum(0) - marg_2).max()) < 1e-13:
            break
    return q


def _information(q: np.ndarray) -> float:
    n1, n2, ny = q.shape
    return mutual_information((q / q.sum()).reshape(n1 * n2, ny))


def _exact(p: np.ndarray) -> np.ndarray:
    """argmax_Q H_Q(Y | X1, X2) subject to Q(x1, y) = P(x1, y) and Q(x2, y) = P(x2, y): an
    exponential-cone program handed to Clarabel (interior point) as its conic form.

    Variables x = [q (n), t (n), s (K)]: q the cells (x1, x2, y) flattened, s the pairs' mass
    Q(x1, x2) = Σ_y q, t bounds each cell's q·log(q / s); minimise Σ t (= -H_Q(Y | X1, X2)). Clarabel
    takes constraints as b - A x in a cone: zero (the marginals, and s = Σ_y q) and, per cell, the
    exponential cone {(u, v, w): v·exp(u / v) <= w} holding (-t, q, s), i.e. t >= q·log(q / s).
    Where Clarabel does not solve it, alternating minimisation (the same optimum) does.
    """
    import clarabel  # the interior-point solver; only this solver needs it

    n1, n2, ny = p.shape
    pairs, n = n1 * n2, p.size
    cell = np.arange(n)  # cell index (x1 · n2 + x2) · ny + y
    x1, x2, y, pair = cell // (n2 * ny), (cell // ny) % n2, cell % ny, cell // ny
    width = 2 * n + pairs
    ones = np.ones(n)

    def rows(values: np.ndarray, r: np.ndarray, c: np.ndarray, height: int) -> sparse.coo_matrix:
        return sparse.coo_matrix((values, (r, c)), shape=(height, width))

    a = sparse.vstack([
        rows(ones, x1 * ny + y, cell, n1 * ny),  # Σ_x2 q = P(x1, y)
        rows(ones, x2 * ny + y, cell, n2 * ny),  # Σ_x1 q = P(x2, y)
        rows(np.r_[np.ones(pairs), -ones], np.r_[np.arange(pairs), pair], np.r_[2 * n + np.arange(pairs), cell],
             pairs),  # s - Σ_y q = 0
        rows(np.r_[ones, -ones, -ones], np.r_[3 * cell, 3 * cell + 1, 3 * cell + 2], np.r_[n + cell, cell, 2 * n + pair],
             3 * n),  # (-t, q, s) per cell
    ]).tocsc()
    equalities = np.r_[p.sum(1).ravel(), p.sum(0).ravel(), np.zeros(pairs)]
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    solution = clarabel.DefaultSolver(sparse.csc_matrix((width, width)), np.r_[np.zeros(n), np.ones(n), np.zeros(pairs)],
                                      a, np.r_[equalities, np.zeros(3 * n)],
                                      [clarabel.ZeroConeT(len(equalities)), *[clarabel.ExponentialConeT()] * n],
                                      settings).solve()
    if str(solution.status) not in ("Solved", "AlmostSolved"):
        return _alternating(p)
    return np.clip(np.asarray(solution.x[:n]), 0, None).reshape(n1, n2, ny)  # "almost": clamped below


EXACT_UP_TO = 6000  # "auto": cells |X1|·|X2|·|Y| up to which the exact program may be the faster one ...
EXACT_MAX_LABELS = 4  # ... with this many labels at most: its cost grows steeply with |Y|


def _auto(p: np.ndarray) -> np.ndarray:
    """The exact program on small joints with few labels (alternating minimisation can crawl on a flat
    optimum there), alternating minimisation otherwise (where it is the faster: 10 × 10 × 60 took 1.6 s
    exactly and 0.03 s alternating, with the same information to 1e-7 bits)."""
    return _exact(p) if p.size <= EXACT_UP_TO and p.shape[2] <= EXACT_MAX_LABELS else _alternating(p)


SOLVERS = {"auto": _auto, "alternating": _alternating, "exact": _exact}


def decompose(p: np.ndarray, solver: str = "auto") -> PID:
    """Redundancy, unique information of X1 and X2, and synergy about Y, in bits.

    ``p`` is a joint distribution array of shape [|X1|, |X2|, |Y|], non-negative, summing to 1;
    ``solver`` is one of :data:`SOLVERS` (the same optimum; see the module docstring).
    """
    if solver not in SOLVERS:
        raise ModalyzeError(f"unknown PID solver {solver!r} (one of: {', '.join(SOLVERS)})")
    p = _check(p)
    # Values that never occur carry no information; dropping them shrinks the program.
    p = p[p.sum((1, 2)) > 0][:, p.sum((0, 2)) > 0][:, :, p.sum((0, 1)) > 0]
    n1, n2, ny = p.shape
    if ny < 2:  # a constant Y carries no information
        return PID(0.0, (0.0, 0.0), 0.0, 0.0)
    i_y_x1 = mutual_information(p.sum(1))  # P(x1, y)
    i_y_x2 = mutual_information(p.sum(0))  # P(x2, y)
    i_full = mutual_information(p.reshape(n1 * n2, ny))
    q = SOLVERS[solver](p) if n1 > 1 and n2 > 1 else p  # one constant source: nothing to move
    i_q = _information(q)
    i_q = min(max(i_q, i_y_x1, i_y_x2), i_full)  # clamp solver tolerance into the feasible range
    unique_1, unique_2 = i_q - i_y_x2, i_q - i_y_x1
    return PID(redundancy=_tidy(i_y_x1 - unique_1), unique=(_tidy(unique_1), _tidy(unique_2)),
               synergy=_tidy(i_full - i_q), total=_tidy(i_full))


def _tidy(value: float) -> float:
    """Round away solver noise (values are in bits; 1e-6 bits is far below any estimate's error)."""
    return 0.0 if abs(value) < 1e-6 else float(value)


def joint_distribution(x1: np.ndarray, x2: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Empirical P(x1, x2, y) [|X1|, |X2|, |Y|] from integer codes."""
    shape = (int(x1.max()) + 1, int(x2.max()) + 1, int(y.max()) + 1)
    counts = np.zeros(shape)
    np.add.at(counts, (x1, x2, y), 1)
    return counts / counts.sum()
