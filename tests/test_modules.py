"""Contract tests run against everything in the encoder and fusion registries."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from modalyze.data.featurizers import create_featurizer
from modalyze.encoders import EncoderOutput, create_encoder, list_encoders
from modalyze.fusion import create_fusion, list_fusions

ROWS = pd.DataFrame({
    "text": ["a red disc", "the blue one", "", "red red red red"],
    "num": [1.0, None, 3.0, 4.0],
    "cat": ["x", "y", None, "x"],
    "v0": [0.1, 0.2, 0.3, 0.4],
    "v1": [1.0, 0.0, 1.0, 0.0],
    "seq": [[0.1, 0.5, 0.2], "1 2 3 4 5 6", None, "[0.3, null, 0.1]"],
})
KIND_COLUMNS = {"text": ["text"], "tabular": ["num", "cat"], "vector": ["v0", "v1"], "timeseries": ["seq"]}


def _encoder_inputs(kind: str, tmp_path) -> tuple[dict, dict[str, torch.Tensor]]:
    """A fitted featurizer's info and a 4-row batch for any registered kind."""
    if kind == "pretrained":  # the frozen path (features from the cache); test_pretrained runs real towers
        torch.manual_seed(0)
        return {"hidden": 12, "freeze": True, "hf": "", "source_kind": "text"}, {"x": torch.randn(4, 12)}
    frame = ROWS
    columns = KIND_COLUMNS.get(kind)
    if kind == "image":
        from PIL import Image

        paths = []
        for i in range(4):
            Image.new("RGB", (20, 12), (60 * i, 100, 200)).save(tmp_path / f"{i}.png")
            paths.append(f"{i}.png")
        frame, columns = pd.DataFrame({"p": paths}), ["p"]
    options: dict = {}
    if kind == "image":
        options = {"base_dir": tmp_path, "size": 16}
    if kind == "audio":
        import numpy as np
        import soundfile

        for i, seconds in enumerate((0.5, 0.2, 0.05, 0.3)):
            soundfile.write(str(tmp_path / f"{i}.wav"), np.sin(np.arange(int(8000 * seconds)) * (0.1 + i)), 8000)
        frame, columns = pd.DataFrame({"a": [f"{i}.wav" for i in range(4)]}), ["a"]
        options = {"base_dir": tmp_path, "sample_rate": 8000, "n_fft": 256, "hop": 128}
    if kind == "video":  # a folder of frames per clip: the decode path without a container
        from PIL import Image

        for i in range(4):
            (tmp_path / f"clip{i}").mkdir()
            for t in range(3):
                Image.new("RGB", (12, 12), (40 * t, 60 * i, 200)).save(tmp_path / f"clip{i}" / f"{t}.png")
        frame, columns = pd.DataFrame({"v": [f"clip{i}" for i in range(4)]}), ["v"]
        options = {"base_dir": tmp_path, "frames": 4, "size": 8}
    featurizer = create_featurizer(kind, columns, **options).fit(frame)
    feats = featurizer.transform(frame)
    return featurizer.spec_info, feats.take(torch.arange(4))


VARIANTS = [(kind, {}) for kind in list_encoders()] + [("timeseries", {"arch": "gru"}), ("video", {"arch": "frames"})]


@pytest.mark.parametrize("kind,options", VARIANTS)
def test_encoder_shapes_backward_determinism(kind, options, tmp_path):
    info, x = _encoder_inputs(kind, tmp_path)
    torch.manual_seed(0)
    first = create_encoder(kind, info, dim=8, **options).eval()
    torch.manual_seed(0)
    again = create_encoder(kind, info, dim=8, **options).eval()
    assert torch.equal(first(x).pooled, again(x).pooled), "same seed must give the same encoder and output"

    encoder = create_encoder(kind, info, dim=8, **options)
    out = encoder(x)
    assert isinstance(out, EncoderOutput)
    assert out.pooled.shape == (4, 8)
    assert out.tokens.shape[0] == 4 and out.tokens.shape[2] == 8
    assert out.mask.shape == out.tokens.shape[:2] and out.mask.dtype == torch.bool
    assert out.mask.any(dim=1).all(), "every row must expose at least one token"
    (out.pooled.sum() + out.tokens.sum()).backward()
    grads = [p.grad for p in encoder.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    assert all(torch.isfinite(g).all() for g in grads if g is not None)


@pytest.mark.parametrize("fusion", list_fusions())
@pytest.mark.parametrize("n_modalities", [2, 3, 8])
def test_fusion_shapes_backward_determinism(fusion, n_modalities):
    names = [f"m{i}" for i in range(n_modalities)]
    torch.manual_seed(0)
    outputs = {m: EncoderOutput(torch.randn(5, 8, requires_grad=True), torch.randn(5, 3, 8, requires_grad=True),
                                torch.ones(5, 3, dtype=torch.bool)) for m in names}
    torch.manual_seed(1)
    block = create_fusion(fusion, names, 8)
    joint = block(outputs)
    assert joint.shape == (5, block.out_dim)
    joint.sum().backward()
    assert all(outputs[m].pooled.grad is not None or outputs[m].tokens.grad is not None for m in names)
    block.eval()
    torch.manual_seed(1)
    again = create_fusion(fusion, names, 8).eval()
    assert torch.equal(block(outputs), again(outputs))


def test_the_projector_prepends_the_other_modalities_to_the_language_tokens():
    from modalyze.errors import ModalyzeError

    block = create_fusion("projector", ["image", "question"], 8, kinds={"image": "image", "question": "text"})
    assert block.language == "question" and set(block.projectors) == {"image"}  # only the prefix is projected
    assert create_fusion("projector", ["a", "b"], 8).language == "b"  # no text kind known: the last modality
    with pytest.raises(ModalyzeError, match="option language 'c' is not a modality"):
        create_fusion("projector", ["a", "b"], 8, language="c")


@pytest.mark.parametrize("fusion", ["qformer", "projector"])
def test_the_connectors_read_every_modality_and_any_number_of_tokens(fusion):
    torch.manual_seed(0)
    block = create_fusion(fusion, ["a", "b"], 8).eval()

    def outputs(tokens_b: int, scale: float = 1.0) -> dict[str, EncoderOutput]:
        torch.manual_seed(1)
        a = torch.randn(3, 4, 8)
        b = torch.randn(3, tokens_b, 8) * scale
        return {"a": EncoderOutput(a.mean(1), a, torch.ones(3, 4, dtype=torch.bool)),
                "b": EncoderOutput(b.mean(1), b, torch.ones(3, tokens_b, dtype=torch.bool))}
    with torch.no_grad():
        base = block(outputs(5))
        assert not torch.allclose(base, block(outputs(5, scale=3.0)))  # modality b's tokens matter
        assert block(outputs(17)).shape == base.shape  # the joint width does not depend on the token count
        masked = outputs(5)
        masked["b"] = masked["b"]._replace(mask=torch.zeros(3, 5, dtype=torch.bool))  # no real token anywhere in b
        assert torch.isfinite(block(masked)).all()
