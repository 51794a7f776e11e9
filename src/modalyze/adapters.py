"""Models that ``modalyze probe`` can question, behind one small contract and a registry.

``ADAPTER`` on the command line is ``KIND:TARGET``:

- ``run:DIR``: a run directory written by ``modalyze train`` (its classifier) or ``modalyze align``
  (zero-shot: the labels' prompts through its text modality, see :class:`RunAdapter`);
- ``py:module:function``: a Python callable ``function(rows) -> labels | probabilities``. ``rows`` is a
  DataFrame of the spec's columns (``rows.attrs["classes"]`` lists the labels, ``rows.attrs["base_dir"]``
  is where relative file paths resolve); it returns one label per row, or an array [rows, classes] of
  probabilities in that label order. ``function.accepts_missing = True`` lets the probe also remove a
  modality (its cells empty);
- ``preds:FILE``: predictions made elsewhere (an API model): a CSV with one column per condition,
  named as ``modalyze probe --write-conditions`` names the inputs it writes, one row per probed row;
- ``hf:DIR`` with ``--prompt``: a local Hugging Face vision-language or causal language model
  answering in free text (local files only; on the GPU with ``--accelerator gpu``).

Every adapter has an ``identity`` (what its predictions depend on: the files' contents, the code's
source), so cached predictions are reused only for the same model.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np
import pandas as pd

from modalyze.errors import ModalyzeError
from modalyze.registry import Registry


class Adapter(Protocol):
    name: str  # as the user wrote it
    identity: str  # a digest of what the predictions depend on
    accepts_missing: bool  # may the probe remove a modality (empty cells)?

    def predict(self, rows: pd.DataFrame, condition: str) -> Any:
        """Labels [N] or probabilities [N, C] (C = len(rows.attrs["classes"])) for ``rows``."""


ADAPTERS: Registry[Callable[[str, str, "AdapterOptions"], Adapter]] = Registry("model adapter")


@dataclass(frozen=True)
class AdapterOptions:
    """What the command line says about the models beyond their names."""

    prompt: str | None = None  # hf: the question, with {column} placeholders
    device: str = "cpu"  # hf: where the model runs


def create_adapter(text: str, options: AdapterOptions = AdapterOptions()) -> Adapter:
    """``KIND:TARGET`` -> the registered adapter; a bad one is a one-line error naming it."""
    kind, sep, target = text.partition(":")
    if not sep or not target:
        raise ModalyzeError(f"option model {text!r}: expected KIND:TARGET with KIND one of {', '.join(ADAPTERS.names())}")
    return ADAPTERS.get(kind)(text, target, options)


def _digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else part.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


class RunAdapter:
    """A modalyze run: its own featurizers read the rows; an empty cell is a missing modality.

    A ``train`` run predicts with its classifier. An ``align`` run classifies zero-shot: each row is the
    mean of its modalities' normalised embeddings, compared with every label's prompt (``--prompt``, a
    template with ``{}`` for the label; default the label itself) through the run's text modality.
    """

    accepts_missing = True

    def __init__(self, name: str, target: str, options: AdapterOptions):
        from modalyze.aligner import ALIGNER_SCHEMA, Aligner
        from modalyze.classifier import Classifier

        path = Path(target)
        self.name, self.template = name, options.prompt or "{}"
        try:
            config = json.loads((path / "config.json").read_text()) if (path / "config.json").is_file() else {}
            aligned = isinstance(config, dict) and config.get("schema") == ALIGNER_SCHEMA
            self.model = Aligner.load(path) if aligned else Classifier.load(path)
        except (ModalyzeError, ValueError) as exc:
            raise ModalyzeError(f"model {name}: {exc}") from None
        if aligned and "{}" not in self.template:
            raise ModalyzeError(f"model {name}: option prompt {self.template!r} needs a {{}} where the label goes")
        self.identity = _digest(self.template if aligned else "",
                                *(p.read_bytes() for p in sorted(path.glob("*.json")) + [path / "weights.safetensors"]))

    def predict(self, rows: pd.DataFrame, condition: str) -> np.ndarray:
        from modalyze.classifier import Classifier

        if not isinstance(self.model, Classifier):
            return self._zero_shot(rows)
        probs = self.model.predict_proba(rows, rows.attrs.get("base_dir"))  # [N, C] in the run's class order
        out = np.zeros((len(rows), len(rows.attrs["classes"])))
        index = {str(c): i for i, c in enumerate(rows.attrs["classes"])}
        for j, c in enumerate(self.model.classes_):
            if str(c) in index:
                out[:, index[str(c)]] = probs[:, j]
        return out

    def _zero_shot(self, rows: pd.DataFrame) -> np.ndarray:
        """Label per row: the nearest label prompt to the mean of the row's modality embeddings."""
        aligner = self.model
        kinds = {m: s.kind for m, s in aligner.spec_.modalities.items()}
        text = next((m for m, k in kinds.items() if k == "text"), None)
        if text is None:
            raise ModalyzeError(f"model {self.name}: zero-shot needs a text modality to embed the labels "
                                f"(the run has {', '.join(kinds)})")
        classes = [str(c) for c in rows.attrs["classes"]]
        prompts = aligner.embed_values(text, [self.template.format(c) for c in classes])  # [C, E]
        z = aligner.embed(aligner.featurize(rows, rows.attrs.get("base_dir")))  # modality -> [N, E], NaN if absent
        stacked = np.stack(list(z.values()))  # [M, N, E]
        row = np.nanmean(stacked, axis=0) if np.isfinite(stacked).any() else np.zeros(stacked.shape[1:])
        row = np.nan_to_num(row)  # a row with every modality absent: no evidence, the first label
        return np.asarray(classes, dtype=object)[np.argmax(row @ prompts.T, axis=1)]


class CallableAdapter:
    """``py:module:function``: the module is imported as Python imports it (the working directory first)."""

    def __init__(self, name: str, target: str, options: AdapterOptions):
        module_name, sep, attribute = target.rpartition(":")
        if not sep or not module_name:
            raise ModalyzeError(f"model {name}: expected py:module:function")
        import sys

        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # noqa: BLE001 - any import failure is the adapter's
            raise ModalyzeError(f"model {name}: cannot import {module_name}: {type(exc).__name__}: {exc}") from None
        self.fn = getattr(module, attribute, None)
        if not callable(self.fn):
            raise ModalyzeError(f"model {name}: {module_name} has no function {attribute!r}")
        self.name = name
        self.accepts_missing = bool(getattr(self.fn, "accepts_missing", False))
        try:
            source = inspect.getsource(module)
        except (OSError, TypeError):
            source = module_name
        self.identity = _digest(name, source)

    def predict(self, rows: pd.DataFrame, condition: str) -> Any:
        try:
            return self.fn(rows)
        except Exception as exc:  # noqa: BLE001 - reported as the adapter's failure, with its cause
            raise ModalyzeError(f"model {self.name} raised {type(exc).__name__}: {exc}") from None


class PredictionsAdapter:
    """``preds:FILE``: one column per condition, one row per probed row (in the order written)."""

    accepts_missing = True  # the file says what it has: a missing column is an error naming it

    def __init__(self, name: str, target: str, options: AdapterOptions):
        from modalyze.data.table import read_source

        path = Path(target)
        self.frame = read_source(path)
        self.name, self.path = name, path
        self.identity = _digest(path.read_bytes())

    def predict(self, rows: pd.DataFrame, condition: str) -> Any:
        if condition not in self.frame.columns:
            raise ModalyzeError(f"model {self.name}: {self.path} has no column {condition!r} "
                                f"(columns: {', '.join(map(str, self.frame.columns[:8]))})")
        if len(self.frame) != rows.attrs["n_rows"]:
            raise ModalyzeError(f"model {self.name}: {self.path} has {len(self.frame)} rows; the probe has "
                                f"{rows.attrs['n_rows']}")
        return self.frame[condition].iloc[rows.index.to_numpy()].to_numpy()


class _Cells(dict):
    """A row for ``str.format_map``: a name that is not a column is a one-line error."""

    def __missing__(self, key: str) -> Any:
        raise ModalyzeError(f"option prompt names {{{key}}}, which is not a column of the rows")


class HFAdapter:
    """``hf:DIR``: a local Hugging Face model answering ``prompt`` in free text (never a download): a
    vision-language model when its config has a vision part (the image is the row's first image
    modality; a kind's pretrained mapping names what the processor takes), else a causal language
    model. ``{column}`` in the prompt is the row's cell."""

    accepts_missing = False
    MAX_NEW_TOKENS = 16

    def __init__(self, name: str, target: str, options: AdapterOptions):
        prompt, device = options.prompt, options.device
        try:
            import transformers as hf
        except ImportError:
            raise ModalyzeError(f"model {name}: needs transformers: pip install 'modalyze[pretrained]'") from None
        path = Path(target)
        if not (path / "config.json").is_file():
            raise ModalyzeError(f"model {name}: {path} is not a Hugging Face model directory (no config.json)")
        if not prompt:
            raise ModalyzeError(f"model {name}: give the question with --prompt, e.g. --prompt '<image> {{question}}'")
        try:
            config = hf.AutoConfig.from_pretrained(path, local_files_only=True)
            self.vision = hasattr(config, "vision_config")
            if self.vision:
                self.processor = hf.AutoProcessor.from_pretrained(path, local_files_only=True)
                self.model = hf.AutoModelForImageTextToText.from_pretrained(path, local_files_only=True)
                self.tokenizer = self.processor.tokenizer
            else:
                self.processor = self.tokenizer = hf.AutoTokenizer.from_pretrained(path, local_files_only=True)
                self.model = hf.AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModalyzeError(f"model {name}: {path} cannot be loaded as a local model: "
                                f"{str(exc).strip().splitlines()[0]}") from None
        self.tokenizer.padding_side = "left"  # decoder-only generation continues after the prompt
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model.eval().to(device)
        self.name, self.prompt, self.device = name, prompt, device
        weights = sorted(path.glob("*.safetensors")) + sorted(path.glob("*.json"))
        self.identity = _digest(prompt, *(p.read_bytes() for p in weights))

    def predict(self, rows: pd.DataFrame, condition: str) -> list[str]:
        import torch

        from modalyze.kind import get_kind

        records = rows.to_dict("records")
        prompts = [self.prompt.format_map(_Cells(r)) for r in records]
        if self.vision:
            base, files = Path(rows.attrs.get("base_dir") or "."), {}
            for column, kind in rows.attrs.get("prompt_columns") or []:  # the first modality of each keyword
                mapping = get_kind(kind).pretrained
                if mapping.prompt_input not in files:
                    files[mapping.prompt_input] = [mapping.read(base / str(r[column])) for r in records]
            if "images" not in files:
                raise ModalyzeError(f"model {self.name}: a vision-language model needs an image modality in the spec")
            inputs = self.processor(text=prompts, **files, return_tensors="pt", padding=True)
        else:
            inputs = self.tokenizer(prompts, return_tensors="pt", padding=True)
        inputs = inputs.to(self.device)
        with torch.no_grad():
            out = self.model.generate(**inputs, max_new_tokens=self.MAX_NEW_TOKENS, do_sample=False)
        texts = self.tokenizer.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        return [t.strip() for t in texts]


ADAPTERS.register("run")(RunAdapter)
ADAPTERS.register("py")(CallableAdapter)
ADAPTERS.register("preds")(PredictionsAdapter)
ADAPTERS.register("hf")(HFAdapter)
