"""modalyze: measure which modalities matter, alone and together, and train models that use both."""

from modalyze.analysis import Profile, analyze
from modalyze.analysis.benchmark_map import benchmark_map
from modalyze.classifier import Classifier
from modalyze.data import list_datasets, load_dataset
from modalyze.errors import ModalyzeError
from modalyze.spec import ModalitySpec, Spec, SplitSpec, load_spec

__all__ = ["Classifier", "Profile", "analyze", "benchmark_map", "map", "ModalyzeError", "ModalitySpec", "Spec",
           "SplitSpec", "list_datasets", "load_dataset", "load_spec"]
__version__ = "0.1.0"
map = benchmark_map  # modalyze.map(profiles): the benchmark map's points (``modalyze map`` draws the page)
