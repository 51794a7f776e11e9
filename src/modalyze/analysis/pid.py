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
``EXACT_MAX_LABELS`` labels and alternating minimisation otherwise (``python benchmarks/pid_solvers.py``
on 2 cores, random joints: 32 × 32 × 4 took 0.2 s exactly and 0.6 s alternating; 20 × 20 × 13 1.0 s and
0.1 s; 12 × 12 × 30 1.0 s and 0.04 s). :func:`decompose_many` solves many joints at once: the
alternating ones as one batch (18 joints of up to 32 × 32 × 12 from a 12-class study: 0.7 s together,
2.2 s one by one).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
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


BATCH_CELLS = 1 << 22  # padded cells solved in one batch: 4M, 32 MB an array (a 12-class study: 18 joints, 0.2M)


def _alternating(p: np.ndarray, tol: float = 1e-9, max_iter: int = 200_000) -> np.ndarray:
    """argmax_Q H_Q(Y | X1, X2) by alternating minimisation (see the module docstring)."""
    return _alternating_many([p], tol, max_iter)[0]


def _alternating_many(joints: list[np.ndarray], tol: float = 1e-9, max_iter: int = 200_000) -> list[np.ndarray]:
    """:func:`_alternating` on many joints at once: a sweep of one small joint is mostly Python overhead,
    so each sweep is one batched product over every joint still running, and each joint stops where it
    would alone. The joints are zero-padded to one shape: zero cells stay zero and change no sum."""
    n1, n2, ny = (max(p.shape[k] for p in joints) for k in range(3))
    if len(joints) > 1 and len(joints) * n1 * n2 * ny > BATCH_CELLS:  # bounded memory: two batches in turn
        half = len(joints) // 2
        return _alternating_many(joints[:half], tol, max_iter) + _alternating_many(joints[half:], tol, max_iter)
    p = np.zeros((len(joints), n1, n2, ny))  # [B, n1, n2, ny]
    for b, joint in enumerate(joints):
        p[b, :joint.shape[0], :joint.shape[1], :joint.shape[2]] = joint
    marg_1, marg_2 = p.sum(2), p.sum(1)  # P(x1, y) [B, n1, ny], P(x2, y) [B, n2, ny]
    p_y = p.sum((1, 2))  # [B, ny]
    # r = Q(x1, x2) [B, n1, n2] of the feasible start X1 ⊥ X2 given Y
    r = np.einsum("bik,bjk->bij", marg_1, marg_2 / np.where(p_y > 0, p_y, 1)[:, None, :])
    scale_1, scale_2 = np.ones_like(marg_1), np.ones_like(marg_2)
    everyone = np.arange(len(joints))
    running, previous = everyone, np.full(len(joints), np.inf)
    for step in range(max_iter):
        a = running if len(running) < len(joints) else slice(None)
        scale_1[a], scale_2[a] = _sweep(r[a], marg_1[a], marg_2[a], scale_2[a])
        if step % 10 == 0:
            value = _sweep_information(r[a], scale_1[a], scale_2[a], marg_2[a])
        # r = Q(x1, x2) = Σ_y scale_1 · r · scale_2: a [n1, ny] @ [ny, n2] product per joint
        r[a] = r[a] * (scale_1[a] @ scale_2[a].transpose(0, 2, 1))
        if step % 10 == 0:
            running, previous[a] = running[previous[a] - value >= tol], value
            if not len(running):
                break
    running = everyone
    for _ in range(10_000):  # the final slices meet their marginals (to rounding)
        a = running if len(running) < len(joints) else slice(None)
        scale_1[a], scale_2[a] = _sweep(r[a], marg_1[a], marg_2[a], scale_2[a])
        running = running[_marginal_gap(r[a], scale_1[a], scale_2[a], marg_1[a], marg_2[a]) >= 1e-13]
        if not len(running):
            break
    q = scale_1[:, :, None, :] * r[:, :, :, None] * scale_2[:, None, :, :]  # [B, n1, n2, ny]
    return [q[b, :j.shape[0], :j.shape[1], :j.shape[2]] for b, j in enumerate(joints)]


def _sweep(r: np.ndarray, marg_1: np.ndarray, marg_2: np.ndarray, scale_2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One Sinkhorn step of every label's slice scale_1 · r · scale_2 towards P(x1, y) and P(x2, y):
    the new (scale_1 [B, n1, ny], scale_2 [B, n2, ny])."""
    kb = r @ scale_2
    scale_1 = np.divide(marg_1, kb, out=np.zeros_like(kb), where=kb > 0)
    ka = r.transpose(0, 2, 1) @ scale_1
    return scale_1, np.divide(marg_2, ka, out=np.zeros_like(ka), where=ka > 0)


def _sweep_information(r: np.ndarray, scale_1: np.ndarray, scale_2: np.ndarray, marg_2: np.ndarray) -> np.ndarray:
    """I_Q(Y; X1, X2) in bits [B] of Q = scale_1 · r · scale_2 after a sweep, from [n1, n2] and [n, ny]
    arrays only (Q itself is n1 · n2 · ny): log Q = log scale_1 + log r + log scale_2, and after the
    sweep Q(x2, y) = P(x2, y) and Q(y) = P(y)."""
    q_12 = r * (scale_1 @ scale_2.transpose(0, 2, 1))  # Q(x1, x2) [B, n1, n2]
    q_1 = scale_1 * (r @ scale_2)  # Q(x1, y) [B, n1, ny]
    p_y = marg_2.sum(1)  # [B, ny]
    return (_weighted_log(q_1, scale_1) + _weighted_log(q_12, r) + _weighted_log(marg_2, scale_2)
            - _weighted_log(q_12, q_12) - _weighted_log(p_y, p_y)) / LOG2


def _marginal_gap(r: np.ndarray, scale_1: np.ndarray, scale_2: np.ndarray, marg_1: np.ndarray,
                  marg_2: np.ndarray) -> np.ndarray:
    """Per joint [B]: the largest difference between Q's label marginals and P's."""
    q_1 = scale_1 * (r @ scale_2)  # [B, n1, ny]
    q_2 = scale_2 * (r.transpose(0, 2, 1) @ scale_1)  # [B, n2, ny]
    return np.maximum(np.abs(q_1 - marg_1).max((1, 2)), np.abs(q_2 - marg_2).max((1, 2)))


def _weighted_log(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Σ weights · log(values) per joint (first axis), log 0 taken as 0 (its weight is 0 there)."""
    logs = np.log(values, out=np.zeros_like(values), where=values > 0)
    return (weights * logs).reshape(len(weights), -1).sum(1)


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


def _pick(p: np.ndarray, solver: str) -> str:
    """``"auto"`` resolved: the exact program on small joints with few labels (alternating minimisation
    can crawl on a flat optimum there), alternating minimisation otherwise (where it is the faster:
    10 × 10 × 60 took 1.4 s exactly and 0.01 s alternating, with the same information to 1e-7 bits)."""
    if solver != "auto":
        return solver
    return "exact" if p.size <= EXACT_UP_TO and p.shape[2] <= EXACT_MAX_LABELS else "alternating"


SOLVERS = ("auto", "alternating", "exact")


def decompose(p: np.ndarray, solver: str = "auto") -> PID:
    """Redundancy, unique information of X1 and X2, and synergy about Y, in bits.

    ``p`` is a joint distribution array of shape [|X1|, |X2|, |Y|], non-negative, summing to 1;
    ``solver`` is one of :data:`SOLVERS` (the same optimum; see the module docstring).
    """
    return decompose_many([p], solver)[0]


def decompose_many(joints: list[np.ndarray], solver: str = "auto", threads: int = 1) -> list[PID]:
    """:func:`decompose` of each joint: the alternating solves batched into one, the exact programs
    on ``threads`` threads (Clarabel runs outside Python's lock)."""
    if solver not in SOLVERS:
        raise ModalyzeError(f"unknown PID solver {solver!r} (one of: {', '.join(SOLVERS)})")
    # Values that never occur carry no information; dropping them shrinks the program.
    joints = [p[p.sum((1, 2)) > 0][:, p.sum((0, 2)) > 0][:, :, p.sum((0, 1)) > 0] for p in map(_check, joints)]
    # a constant Y carries no information; with one constant source there is nothing to move
    todo = [k for k, p in enumerate(joints) if min(p.shape) > 1]
    batched = [k for k in todo if _pick(joints[k], solver) == "alternating"]
    exact = [k for k in todo if k not in batched]
    optimum = dict(zip(batched, _alternating_many([joints[k] for k in batched]) if batched else []))
    with ThreadPoolExecutor(max(1, threads)) as pool:
        optimum.update(zip(exact, pool.map(_exact, [joints[k] for k in exact])))
    return [_split(p, optimum.get(k, p)) for k, p in enumerate(joints)]


def _split(p: np.ndarray, q: np.ndarray) -> PID:
    """The four terms from the joint ``p`` and the optimum ``q`` [|X1|, |X2|, |Y|]."""
    n1, n2, ny = p.shape
    if ny < 2:
        return PID(0.0, (0.0, 0.0), 0.0, 0.0)
    i_y_x1 = mutual_information(p.sum(1))  # P(x1, y)
    i_y_x2 = mutual_information(p.sum(0))  # P(x2, y)
    i_full = mutual_information(p.reshape(n1 * n2, ny))
    i_q = min(max(_information(q), i_y_x1, i_y_x2), i_full)  # clamp solver tolerance into the feasible range
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
