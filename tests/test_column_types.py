"""Every path that turns a modality into model inputs, on every variant the generator knows: numbers
only, categories only, booleans, integer codes, one column, one token, several text columns, every
image mode and format, audio rates and channels, ragged multichannel sequences — with missing cells.

Featurizer (fit on some rows, transform others: unseen categories, other image sizes), the encoder's
forward pass, the linear baseline's flat features, and every corruption of the kind at level 0.5.
No training: these are the shapes and types that once broke on a table of numbers only.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modalyze.families.flat import flat
from modalyze.data.batching import FeaturizedDataset
from modalyze.data.corruptions import corrupt, corruptions_for
from modalyze.data.featurizers import create_featurizer
from modalyze.encoders.base import create_encoder
from tests.generated import MAKERS, VARIANTS

ALL = [(kind, variant) for kind, variants in VARIANTS.items() for variant in variants]


@pytest.mark.parametrize("kind,variant", ALL, ids=[f"{k}-{v}" for k, v in ALL])
def test_every_variant_goes_through_every_path(kind, variant, tmp_path):
    import pandas as pd

    rng = np.random.default_rng(0)
    z = rng.integers(0, 3, 30)
    columns, entry = MAKERS[kind]("m", variant, z, rng, tmp_path, False)
    new_columns, _ = MAKERS[kind]("m", variant, z[:10], rng, tmp_path, True)  # unseen categories, other sizes
    for cells in columns.values():
        cells[3] = None  # a missing cell in every column (a whole missing row of the modality where partial is invalid)
    frame, new = pd.DataFrame(columns), pd.DataFrame(new_columns)
    names = entry.get("columns") or [entry["column"]]
    featurizer = create_featurizer(kind, names, base_dir=tmp_path, **entry.get("options", {})).fit(frame)
    features = featurizer.transform(frame)
    assert len(features) == 30 and bool(features.present[:3].all())
    unseen = featurizer.transform(new)
    encoder = create_encoder(kind, featurizer.spec_info, dim=8)
    for f in (features, unseen):
        out = encoder(f.take(torch.arange(len(f))))
        pooled = out.pooled if hasattr(out, "pooled") else out[0]
        assert pooled.shape == (len(f), 8) and torch.isfinite(pooled).all()
    blocks = flat(features, np.arange(30))
    assert all(b.shape[0] == 30 for b in blocks) and sum(b.shape[1] for b in blocks) >= 1
    data = FeaturizedDataset({"m": features}, torch.as_tensor(z))
    assert len(data) == 30
    for corruption in corruptions_for(kind):
        damaged = corrupt(featurizer, frame, corruption.name, 0.5)
        assert len(damaged) == 30
        taken = damaged.take(torch.arange(30))
        assert all(torch.isfinite(t.float()).all() for t in taken.values())
