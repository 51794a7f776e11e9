"""Expert families: the models a study fits for each modality and for all of them.

A dependency profile is only as true as its experts, so the study asks more than one family and keeps,
for each intra expert and for the inter expert, the one with the lowest log-loss on the validation rows
(:func:`modalyze.analysis.scoring.check_experts`; the test rows play no part in the choice):

- ``neural``: the trained experts of :mod:`modalyze.experts` (every kind);
- ``linear``: logistic regression on flat features (:class:`~modalyze.families.flat.LinearBaseline`:
  word and word-pair counts for text, scaled numbers and one-hot categories for tables, pooled pixels),
  its regularisation chosen on the validation rows; every kind;
- ``trees``: gradient-boosted trees (scikit-learn's ``HistGradientBoostingClassifier``) on tabular,
  vector and time-series inputs, grown until the validation log-loss stops improving.

Cheap first: where every modality is tabular and the table is small (:func:`cheap_first`),
the study trains no neural expert at all; each of its experts is then the flat family its validation
rows chose, and shuffles, PID and robustness are measured on those (they need only predicted
distributions). A product of experts needs only log-probabilities, so products mix families freely.
A new family is one :func:`register_family` call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from modalyze.families.flat import FlatModel, LinearBaseline, Unsuitable
from modalyze.families.trees import GradientBoostedTrees
from modalyze.registry import Registry
from modalyze.settings import CHEAP_KINDS, NEURAL_FROM_ROWS

__all__ = ["FAMILIES", "Family", "FlatExpert", "Unsuitable", "cheap_first", "fitted_families", "register_family",
           "selectable", "trained_family"]

NEURAL = "neural"


@dataclass(frozen=True)
class Family:
    """A family of experts: what it is, the kinds it accepts (None: every kind) and how to build one."""

    name: str
    model: str  # what the report calls it
    create: Callable[[list[str], int, int], Any]  # (modalities, n_classes, seed) -> .fit(train, val), .log_probs(data)
    kinds: tuple[str, ...] | None = None

    def accepts(self, kinds: list[str]) -> bool:
        return self.kinds is None or all(k in self.kinds for k in kinds)


FAMILIES: Registry[Family] = Registry("expert family")


def register_family(family: Family) -> Family:
    return FAMILIES.register(family.name)(family)


MANY = ("auto", "all", "cheap")  # --experts choices that let the validation rows pick among families


def fitted_families(choice: str, kinds: list[str]) -> list[Family]:
    """The flat families a study fits for inputs of ``kinds``: the linear family always (it is also the
    baseline check), the others that accept the kinds where ``choice`` picks among families or names them."""
    return [f for f in FAMILIES.entries.values()
            if f.accepts(kinds) and (f.name == "linear" or choice in (*MANY, f.name))]


def selectable(choice: str) -> set[str] | None:
    """The families ``--experts`` lets the validation rows choose from (None: every one fitted)."""
    return None if choice in MANY else {choice}


def cheap_first(choice: str, kinds: list[str], rows: int) -> str:
    """``--experts`` as a study applies it: ``auto`` is ``cheap`` where every modality is of a kind the
    flat families model well (``CHEAP_KINDS``) and the table is small enough that a neural expert would
    not beat them (fewer than ``NEURAL_FROM_ROWS`` rows), ``all`` otherwise."""
    if choice != "auto":
        return choice
    return "cheap" if all(k in CHEAP_KINDS for k in kinds) and rows < NEURAL_FROM_ROWS else "all"


def trained_family(choice: str, kinds: list[str]) -> str:
    """The family of the expert a study trains on inputs of ``kinds`` (a ``Classifier``'s ``family``),
    for ``choice`` as :func:`cheap_first` resolved it: flat where the choice excludes neural experts
    and a flat family reads the inputs, neural otherwise."""
    if choice == "cheap":
        return "cheap" if any(f.accepts(kinds) for f in FAMILIES.entries.values()) else NEURAL
    if choice in FAMILIES.names() and FAMILIES.get(choice).accepts(kinds):
        return choice
    return NEURAL


class FlatExpert(nn.Module):
    """A fitted flat model (linear, trees) as an expert: its forward pass takes a batch as every expert's
    does, and its state dict holds the model's arrays, so a run directory keeps it in safetensors."""

    def __init__(self, family: str, modalities: list[str], n_classes: int, model: FlatModel | None = None):
        super().__init__()
        self.family = family
        self.model = model or FAMILIES.get(family).create(modalities, n_classes, 0)

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        return torch.from_numpy(self.model.batch_log_probs(batch)).float()

    @property
    def n_parameters(self) -> int:
        """What the fitted model learned: coefficients, or tree nodes."""
        return self.model.size()

    # the fitted arrays go through PyTorch's own state-dict hooks, so the expert saves and loads alone
    # and as a member of a product (keys under the member's prefix)
    def _save_to_state_dict(self, destination: dict[str, Any], prefix: str, keep_vars: bool) -> None:
        for k, v in self.model.state().items():
            destination[prefix + k] = torch.from_numpy(np.ascontiguousarray(v))

    def _load_from_state_dict(self, state: dict[str, Any], prefix: str, local_metadata: Any, strict: bool,
                              missing_keys: list[str], unexpected_keys: list[str], error_msgs: list[str]) -> None:
        arrays = {k[len(prefix):]: v.numpy() for k, v in state.items() if k.startswith(prefix)}
        if not arrays:
            missing_keys.append(prefix + "<fitted model>")
            return
        self.model.load(arrays)


register_family(Family("linear", "logistic regression (scikit-learn)", LinearBaseline))
register_family(Family("trees", "gradient-boosted trees (scikit-learn)", GradientBoostedTrees,
                       kinds=("tabular", "vector", "timeseries")))
