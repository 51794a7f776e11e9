"""Shuffles: a modality's values permuted across rows, every other modality left in place; and the
temporal-order condition (``order:<modality>``): a video's frames (a series' steps) shuffled within
each row, which asks whether the modality's order matters rather than its content.

Permuting modality m's inputs permutes exactly m's encoder outputs (and m's intra expert's
predictions), so :class:`EncodedExperts` encodes the test rows once and each shuffle reruns only
the fusion block and heads on permuted encodings. An expert without a neural inter expert (a flat
family's, or a product whose inter member is one) is rerun on permuted inputs (:class:`PermutedInputs`);
:func:`shuffle_scorer` picks the way.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from modalyze.data.batching import FeaturizedDataset, make_loader
from modalyze.encoders import EncoderOutput
from modalyze.experts import InterExpert, ProductOfExperts, product_of_experts
from modalyze.families import FlatExpert
from modalyze.train import predict_log_probs


ORDER = "order:"  # the key prefix of a temporal-order condition among the shuffles


def condition_label(key: str) -> str:
    """How a report names a shuffle condition: 'shuffle photo', 'order of clip shuffled'."""
    return f"order of {key[len(ORDER):]} shuffled" if key.startswith(ORDER) else f"shuffle {key}"


def permute_modality(data: FeaturizedDataset, modality: str, perm: np.ndarray) -> FeaturizedDataset:
    """A view of ``data`` where row i sees modality ``modality`` of row ``perm[i]`` (no copying)."""
    return FeaturizedDataset({**data.features, modality: data.features[modality].subset(perm)}, data.targets)


class EncodedExperts:
    """An inter expert or I2M2 with its test rows encoded once; scores any row permutation."""

    def __init__(self, expert: InterExpert | ProductOfExperts, data: FeaturizedDataset, batch_size: int = 1024):
        self.expert = expert.eval()
        self.inter = expert if isinstance(expert, InterExpert) else expert.inter
        self.present = {m: f.present for m, f in data.features.items()}
        self.batch_size = batch_size
        parts: dict[str, list[EncoderOutput]] = {}
        intra: dict[str, list[torch.Tensor]] = {}
        with torch.no_grad():
            for batch in make_loader(data, batch_size, shuffle=False):
                for m, out in self.inter.encode(batch).items():
                    parts.setdefault(m, []).append(out)
                if isinstance(expert, ProductOfExperts):
                    for m, log_probs in expert.expert_log_probs_intra(batch).items():
                        intra.setdefault(m, []).append(log_probs)
        self.encoded = {m: EncoderOutput(*(torch.cat(t) for t in zip(*outs))) for m, outs in parts.items()}
        self.intra = {m: torch.cat(v) for m, v in intra.items()}  # modality -> [N, C]

    @torch.no_grad()
    def log_probs(self, perms: dict[str, np.ndarray]) -> np.ndarray:
        """Log-probabilities [N, C] with modality m's rows reordered by ``perms[m]``."""
        order = {m: torch.as_tensor(perms[m]) if m in perms else None for m in self.encoded}
        moved = {m: out if order[m] is None else EncoderOutput(*(t[order[m]] for t in out))
                 for m, out in self.encoded.items()}
        n = len(next(iter(moved.values())).pooled)
        inter = torch.cat([self.inter.predict_encoded({m: EncoderOutput(*(t[i:i + self.batch_size] for t in out))
                                                       for m, out in moved.items()})
                           for i in range(0, n, self.batch_size)])  # [N, C]
        if not self.intra:
            return inter.numpy()
        parts = [lp if order[m] is None else lp[order[m]] for m, lp in self.intra.items()]
        present = {m: p if order[m] is None else p[order[m]] for m, p in self.present.items()}
        weights = self.expert.member_weights(present).unsqueeze(-1)  # [M + 1, N, 1]: as the product weighs them
        log_probs = torch.stack([*parts, inter]) * weights  # [M + 1, N, C]
        mask = torch.stack([*present.values(), torch.ones_like(next(iter(present.values())))])  # [M + 1, N]
        return product_of_experts(log_probs, mask).numpy()


class PermutedInputs:
    """Any expert scored on permuted rows by running it again on them (the same interface as
    :class:`EncodedExperts`: what a flat family's expert needs, whose inputs are cheap to score). A
    flat family's features are flattened once; each permutation re-indexes their rows."""

    def __init__(self, expert: nn.Module, data: FeaturizedDataset):
        self.expert, self.data = expert.eval(), data
        self.present = {m: f.present for m, f in data.features.items()}
        self.blocks = expert.model.blocks(data) if isinstance(expert, FlatExpert) else None

    def log_probs(self, perms: dict[str, np.ndarray]) -> np.ndarray:
        """Log-probabilities [L, C]: row i sees modality m of row ``perms[m][i]`` (the others in place)."""
        length = len(next(iter(perms.values()))) if perms else len(self.data)
        rows = {m: np.asarray(perms[m]) if m in perms else np.arange(length) for m in self.data.features}
        if self.blocks is not None:
            return self.expert.model.log_probs_taken(self.blocks, rows)
        features = {m: f.subset(rows[m]) for m, f in self.data.features.items()}
        return predict_log_probs(self.expert, FeaturizedDataset(features)).numpy()  # (no labels: only predicted)


ShuffleScorer = EncodedExperts | PermutedInputs

ROWS_PER_CALL = 8192  # several row orders are scored in one call of about this many rows


def score_orders(scorer: ShuffleScorer, orders: list[dict[str, np.ndarray]], n: int) -> list[np.ndarray]:
    """Each row order's log-probabilities [L, C] (an order: modality -> rows; a modality it does not
    name keeps rows 0..n-1). Orders are joined into calls of about :data:`ROWS_PER_CALL` rows, so an
    expert with a cost per call (gradient-boosted trees walk every tree once per call) pays it once
    per chunk rather than once per permutation; each row's prediction is the same either way."""
    full = [{m: np.asarray(order.get(m, np.arange(n))) for m in scorer.present} for order in orders]
    per_call = max(1, ROWS_PER_CALL // max(n, 1))
    out: list[np.ndarray] = []
    for start in range(0, len(full), per_call):
        chunk = full[start:start + per_call]
        joined = scorer.log_probs({m: np.concatenate([order[m] for order in chunk]) for m in scorer.present})
        out.extend(np.split(joined, np.cumsum([len(next(iter(order.values()))) for order in chunk])[:-1]))
    return out


def shuffle_scorer(expert: nn.Module, data: FeaturizedDataset) -> ShuffleScorer:
    """The cached encodings where the expert has a neural inter expert, else reruns on permuted inputs."""
    inter = expert if isinstance(expert, InterExpert) else getattr(expert, "inter", None)
    return EncodedExperts(expert, data) if isinstance(inter, InterExpert) else PermutedInputs(expert, data)

