"""The modality kinds, one module each: a module registers one :class:`~modalyze.kind.Kind` with
everything about it (featurizer, encoder, corruptions, file suffixes, inference rule, pretrained
mapping). Every module of this package is imported when the kind registry is first read, so a new
kind is one new file here (or one ``register_kind`` call anywhere before it is used).
"""

from modalyze.data import pretrained  # noqa: F401  (the pretrained featurizer registers itself)
from modalyze.encoders import pretrained as pretrained_encoder  # noqa: F401  (and its encoder)
from modalyze.registry import import_submodules

import_submodules(__name__, __path__, first=("tabular", "text", "vector", "timeseries", "audio", "image"))
