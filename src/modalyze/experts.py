"""Experts: predictors that output class log-probabilities [B, C].

- ``intra:<m>``  one modality's encoder and a head;
- ``inter``      every modality's encoder, a fusion block and a head;
- ``additive``   the product of the intra experts alone (no interaction term);
- ``i2m2``       the product of the intra experts and the inter expert (Madaan et al., the seed post);
- ``i2m2-shared`` the same product at about the cost of the inter expert alone: the intra experts are
  heads on the inter expert's per-modality encoders (one encoder per modality, shared).

A product of experts sums log-softmax outputs and renormalises with logsumexp; an expert whose
modality is absent for a row is left out of that row's product. Each member's log-probabilities are
scaled by a weight chosen per presence pattern (which modalities a row has) on validation rows after
training (:mod:`modalyze.train.weighting`): a member trained with every modality present may be
confidently wrong without one, and the weights keep the product at least as good as its best present
member. Until fitted, every weight is 1 (the plain product).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from itertools import combinations
from typing import Any, Callable

import torch
from torch import nn

from modalyze.data.batching import Batch
from modalyze.encoders import EncoderOutput, create_encoder
from modalyze.encoders.base import mlp
from modalyze.errors import ModalyzeError
from modalyze.fusion import create_fusion
from modalyze.settings import MODEL


@dataclass
class ModelConfig:
    """Everything needed to rebuild an expert's modules; saved as JSON beside the weights."""

    model: str  # "intra:<modality>", "inter", "additive", "i2m2" or "i2m2-shared"
    modalities: dict[str, dict[str, Any]]  # name -> {"kind", "info" (from featurizer), "encoder" options}
    n_classes: int
    dim: int = MODEL.dim
    fusion: str = MODEL.fusion
    fusion_options: dict[str, Any] = field(default_factory=dict)
    dropout: float = 0.1
    family: str = "neural"  # "linear", "trees": a fitted flat model (modalyze.families); "auto" on a product
    members: dict[str, str] = field(default_factory=dict)  # a product's member ('intra:<m>', 'inter') -> its family

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def product_of_experts(log_probs: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """Renormalised sum of expert log-probabilities over the active experts.

    log_probs: [E, B, C]; active: bool [E, B] -> [B, C]. A row with no active expert is uniform.
    """
    summed = torch.where(active.unsqueeze(-1), log_probs, torch.zeros_like(log_probs)).sum(0)  # [B, C]
    return summed - torch.logsumexp(summed, dim=-1, keepdim=True)


def presence_patterns(modalities: list[str]) -> list[tuple[str, ...]]:
    """The subsets of modalities a product weighs its members for (and robustness scores), largest first:
    all 2^M − 1 up to M = 6; beyond, all of them, all but one, and each alone."""
    m = len(modalities)
    if m <= 6:
        return [c for k in range(m, 0, -1) for c in combinations(modalities, k)]
    all_but_one = [tuple(x for x in modalities if x != drop) for drop in modalities]
    return [tuple(modalities), *all_but_one, *[(x,) for x in modalities]]


def _encoder(name: str, cfg: ModelConfig) -> nn.Module:
    m = cfg.modalities[name]
    return create_encoder(m["kind"], m["info"], dim=cfg.dim, **m.get("encoder", {}))


def _head(cfg: ModelConfig) -> nn.Module:
    return mlp([cfg.dim, cfg.dim, cfg.n_classes], cfg.dropout)


class IntraExpert(nn.Module):
    """One modality -> encoder -> MLP head -> log-probabilities."""

    def __init__(self, modality: str, encoder: nn.Module, head: nn.Module):
        super().__init__()
        self.modality, self.encoder, self.head = modality, encoder, head

    @classmethod
    def build(cls, modality: str, cfg: ModelConfig) -> IntraExpert:
        return cls(modality, _encoder(modality, cfg), _head(cfg))

    def forward(self, batch: Batch) -> torch.Tensor:
        pooled = self.encoder(batch["x"][self.modality]).pooled  # [B, D]
        return torch.log_softmax(self.head(pooled), dim=-1)  # [B, C]


class InterExpert(nn.Module):
    """All modalities -> encoders -> fusion -> head. Absent modalities become a learned embedding."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        names = list(cfg.modalities)
        self.encoders = nn.ModuleDict({m: _encoder(m, cfg) for m in names})
        self.missing = nn.ParameterDict({m: nn.Parameter(torch.zeros(cfg.dim)) for m in names})
        self.fusion = create_fusion(cfg.fusion, names, cfg.dim, kinds={m: cfg.modalities[m]["kind"] for m in names},
                                    **cfg.fusion_options)
        self.head = mlp([self.fusion.out_dim, cfg.n_classes])

    def encode(self, batch: Batch, raw: dict[str, EncoderOutput] | None = None) -> dict[str, EncoderOutput]:
        """Each modality's encoding [B, ...], absent rows filled; ``raw``: encoder outputs of this batch
        already computed for some modalities (reused, so only the others run their encoder)."""
        outputs = {}
        for m, encoder in self.encoders.items():
            out = raw[m] if raw and m in raw else encoder(batch["x"][m])
            present = batch["present"][m]  # [B]
            if not bool(present.all()):
                fill = self.missing[m].to(out.pooled.dtype)
                keep = present.view(-1, 1)
                out = EncoderOutput(
                    torch.where(keep, out.pooled, fill),  # [B, D]
                    torch.where(keep.unsqueeze(-1), out.tokens, fill),  # [B, T, D]
                    out.mask | ~keep,  # an absent modality exposes its (filled) tokens
                )
            outputs[m] = out
        return outputs

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.predict_encoded(self.encode(batch))

    def predict_encoded(self, outputs: dict[str, EncoderOutput]) -> torch.Tensor:
        """Log-probabilities [B, C] from already encoded modalities (lets shuffles reuse encodings)."""
        return torch.log_softmax(self.head(self.fusion(outputs)), dim=-1)


class MemberWeights(nn.Module):
    """Per presence pattern, one weight per member of a product: ``weights`` [P, E] (saved with the
    model), rows matched to a pattern by which modalities they have; a row of no listed pattern gets 1."""

    def __init__(self, modalities: list[str], members: list[str]):
        super().__init__()
        self.modalities, self.members = modalities, members
        self.patterns = presence_patterns(modalities)
        self.register_buffer("weights", torch.ones(len(self.patterns), len(members)))
        codes = [sum(1 << modalities.index(m) for m in kept) for kept in self.patterns]
        self.register_buffer("codes", torch.tensor(codes), persistent=False)
        self.register_load_state_dict_pre_hook(self._ones_if_absent)

    def forward(self, present: dict[str, torch.Tensor]) -> torch.Tensor:
        """present: modality -> bool [B] -> weights [E, B]."""
        code = sum(present[m].long() << i for i, m in enumerate(self.modalities))  # [B]
        match = code[:, None] == self.codes[None]  # [B, P]
        weights = self.weights[match.long().argmax(1)]  # [B, E]
        return torch.where(match.any(1, keepdim=True), weights, torch.ones_like(weights)).T

    def _ones_if_absent(self, module: nn.Module, state: dict[str, Any], prefix: str, *args: Any) -> None:
        """A run saved before member weights existed loads as the plain product."""
        state.setdefault(prefix + "weights", torch.ones_like(self.weights))


class ProductOfExperts(nn.Module):
    """Intra experts (one per modality) times an optional inter expert, renormalised in log space."""

    def __init__(self, cfg: ModelConfig, with_inter: bool = True):
        super().__init__()
        self.intra = nn.ModuleDict({m: _member(cfg, f"intra:{m}") for m in cfg.modalities})
        self.inter = _member(cfg, "inter") if with_inter else None
        self.member_weights = MemberWeights(list(cfg.modalities), member_names(list(cfg.modalities), with_inter))

    def expert_log_probs_intra(self, batch: Batch, known: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Each intra expert's log-probabilities [B, C], keyed by modality (those in ``known`` as given)."""
        known = known or {}
        return {m: known[m] if m in known else expert(batch) for m, expert in self.intra.items()}

    def expert_log_probs(self, batch: Batch, known: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Each expert's own log-probabilities, keyed 'intra:<m>' and 'inter' (``known``: intra experts'
        outputs on this batch already computed, by modality)."""
        out = {f"intra:{m}": lp for m, lp in self.expert_log_probs_intra(batch, known).items()}
        if self.inter is not None:
            out["inter"] = self.inter(batch)
        return out

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.combine(self.expert_log_probs(batch), batch)

    def combine(self, parts: dict[str, torch.Tensor], batch: Batch) -> torch.Tensor:
        """The weighted, renormalised product of ``expert_log_probs`` output, leaving out absent modalities."""
        weights = self.member_weights(batch["present"]).unsqueeze(-1)  # [E, B, 1]
        return product_of_experts(torch.stack(list(parts.values())) * weights, _active(list(parts), batch))  # [B, C]


def _member(cfg: ModelConfig, name: str) -> nn.Module:
    """A product's member of its recorded family (neural when none is recorded)."""
    family = cfg.members.get(name, "neural")
    modalities = [name.split(":", 1)[1]] if name.startswith("intra:") else list(cfg.modalities)
    if family != "neural":
        from modalyze.families import FlatExpert

        return FlatExpert(family, modalities, cfg.n_classes)
    return IntraExpert.build(modalities[0], cfg) if name.startswith("intra:") else InterExpert(cfg)


PRODUCTS = ("additive", "i2m2")  # products of separate members, so of members of any family


def member_names(modalities: list[str], with_inter: bool = True) -> list[str]:
    """A product's members in the order of ``expert_log_probs``: 'intra:<m>' per modality, then 'inter'."""
    return [f"intra:{m}" for m in modalities] + (["inter"] if with_inter else [])


def _active(names: list[str], batch: Batch) -> torch.Tensor:
    """bool [E, B]: member 'intra:<m>' takes part where m is present; the inter expert everywhere."""
    everywhere = torch.ones_like(next(iter(batch["present"].values())))
    return torch.stack([batch["present"][n.split(":", 1)[1]] if n.startswith("intra:") else everywhere for n in names])


class SharedProductOfExperts(ProductOfExperts):
    """I2M2 with shared encoders: each intra expert is a head on its modality's encoder inside the
    inter expert, so the product costs one set of encoders. A modality's head reads only that
    modality's encoding, so it is an intra expert in the seed's sense; the members' own losses
    (``aux_weight``) keep each head predictive on its own."""

    def __init__(self, cfg: ModelConfig):
        nn.Module.__init__(self)
        self.inter = InterExpert(cfg)
        self.heads = nn.ModuleDict({m: _head(cfg) for m in cfg.modalities})
        self.member_weights = MemberWeights(list(cfg.modalities), member_names(list(cfg.modalities)))

    def _intra(self, outputs: dict[str, EncoderOutput]) -> dict[str, torch.Tensor]:
        return {m: torch.log_softmax(head(outputs[m].pooled), dim=-1) for m, head in self.heads.items()}  # [B, C]

    def expert_log_probs_intra(self, batch: Batch) -> dict[str, torch.Tensor]:
        return self._intra(self.inter.encode(batch))

    def member(self, name: str) -> nn.Module:
        """Member 'intra:<m>' or 'inter' as an expert of its own (sharing this model's parameters)."""
        if name == "inter":
            return self.inter
        modality = name.split(":", 1)[1]
        return IntraExpert(modality, self.inter.encoders[modality], self.heads[modality])

    def expert_log_probs(self, batch: Batch, raw: dict[str, EncoderOutput] | None = None) -> dict[str, torch.Tensor]:
        outputs = self.inter.encode(batch, raw)  # every modality encoded once, for its head and for the fusion
        return {**{f"intra:{m}": lp for m, lp in self._intra(outputs).items()}, "inter": self.inter.predict_encoded(outputs)}

    def forward(self, batch: Batch) -> torch.Tensor:
        """The product from raw logits: each member's (weighted) log-softmax normaliser is a per-row
        constant that the product's renormalisation removes, so the members' log_softmax calls are skipped."""
        outputs = self.inter.encode(batch)
        logits = torch.stack([*(head(outputs[m].pooled) for m, head in self.heads.items()),
                              self.inter.head(self.inter.fusion(outputs))])  # [M + 1, B, C]
        weights = self.member_weights(batch["present"]).unsqueeze(-1)  # [M + 1, B, 1]
        return product_of_experts(logits * weights, _active(self.member_weights.members, batch))


EXPERTS: dict[str, Callable[[ModelConfig, str], nn.Module]] = {
    "intra": lambda cfg, arg: IntraExpert.build(arg, cfg),
    "inter": lambda cfg, arg: InterExpert(cfg),
    "additive": lambda cfg, arg: ProductOfExperts(cfg, with_inter=False),
    "i2m2": lambda cfg, arg: ProductOfExperts(cfg, with_inter=True),
    "i2m2-shared": lambda cfg, arg: SharedProductOfExperts(cfg),
}


def model_choices() -> str:
    """The registry's model names for help texts and errors: 'intra:<modality>, inter, ...'."""
    return ", ".join("intra:<modality>" if e == "intra" else e for e in EXPERTS)


def parse_model_name(name: str, modalities: list[str]) -> tuple[str, str]:
    """'intra:image' -> ('intra', 'image'); validates against the registry and the spec's modalities."""
    family, _, arg = name.partition(":")
    if family not in EXPERTS:
        raise ModalyzeError(f"unknown model '{name}' (one of: {model_choices()})")
    if family == "intra" and arg not in modalities:
        raise ModalyzeError(f"model '{name}': modality '{arg}' is not in the spec (modalities: {', '.join(modalities)})")
    if family != "intra" and arg:
        raise ModalyzeError(f"unknown model '{name}'")
    return family, arg


def build_expert(cfg: ModelConfig) -> nn.Module:
    """Instantiate the expert a config names."""
    family, arg = parse_model_name(cfg.model, list(cfg.modalities))
    if family in ("intra", "inter") and cfg.family != "neural":
        return _member(replace(cfg, members={cfg.model: cfg.family}), cfg.model)
    return EXPERTS[family](cfg, arg)


def list_models(modalities: list[str]) -> list[str]:
    return [f"intra:{m}" for m in modalities] + [e for e in EXPERTS if e != "intra"]
