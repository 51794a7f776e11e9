"""The estimators in the scikit-learn contract: clone, params, GridSearchCV, cross_val_score, estimator_checks."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.utils import estimator_checks as checks

from modalyze import Aligner, Classifier
from modalyze.errors import ModalyzeError

FAST = dict(dim=16, max_epochs=4, min_steps=0, patience=2, progress=False)
HALVES = ["top=t*:vector", "bottom=b*:vector"]  # digits as two modalities: the image's top and bottom half


@pytest.fixture(scope="module")
def digits() -> tuple[pd.DataFrame, pd.Series]:
    """scikit-learn's digits as a DataFrame: 32 pixel columns per half, and the label as a Series."""
    images = load_digits().images.reshape(-1, 64)
    columns = [f"t{j}" for j in range(32)] + [f"b{j}" for j in range(32)]
    return pd.DataFrame(images, columns=columns), pd.Series(load_digits().target, name="digit")


def test_params_come_from_the_signature_and_clone_keeps_them():
    clf = Classifier(model="inter", max_epochs=7, lr=1e-3, modalities=HALVES)
    assert clf.get_params()["max_epochs"] == 7 and clf.get_params()["modalities"] == HALVES
    twin = clone(clf)
    assert twin is not clf and twin.get_params() == clf.get_params()
    assert clf.set_params(max_epochs=3) is clf and clf.max_epochs == 3
    assert repr(Classifier(max_epochs=5)) == "Classifier(max_epochs=5)"
    aligner = Aligner(loss="siglip", lock=["a"])
    assert clone(aligner).get_params() == aligner.get_params() and repr(aligner) == "Aligner(lock=['a'], loss='siglip')"


def test_fit_takes_a_dataframe_and_labels_and_keeps_no_training_data(digits):
    X, y = digits
    clf = Classifier(model="inter", modalities=HALVES, **FAST).fit(X, y)
    assert list(clf.spec_.modalities) == ["top", "bottom"] and clf.spec_.target == "digit"
    assert clf.predict(X.iloc[:5]).dtype.kind == "i"  # the labels as given
    assert clf.score(X, y) > 0.5
    assert not any(isinstance(v, pd.DataFrame) or type(v).__name__ in ("Prepared", "FeaturizedDataset")
                   for v in vars(clf).values())
    with pytest.raises(ModalyzeError, match="one label per row"):
        Classifier(**FAST).fit(X, y[:10])
    with pytest.raises(ModalyzeError, match="already has a column 't0'"):
        Classifier(**FAST).fit(X, y, target="t0")


def test_grid_search_and_cross_val_score_on_digits(digits):
    X, y = digits
    X, y = X.iloc[:600], y.iloc[:600]
    search = GridSearchCV(Classifier(model="inter", modalities=HALVES, **FAST), {"max_epochs": [1, 6]},
                          cv=StratifiedKFold(2, shuffle=True, random_state=0))
    search.fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert search.best_params_ == {"max_epochs": 6} and scores[1] > scores[0], scores
    assert search.best_estimator_.score(X, y) > 0.8
    folds = cross_val_score(Classifier(model="i2m2", modalities=HALVES, **FAST), X, y, cv=3)
    assert folds.shape == (3,) and folds.min() > 0.6, folds


# The scikit-learn checks that apply to an estimator of tables. The others do not: modalyze reads
# named columns (a DataFrame with a spec), not anonymous feature matrices, so the checks that feed
# sparse, complex, 1-d, NaN/inf or read-only arrays, sample weights, multi-output or n_features_in_,
# or compare predictions across subsets with a 1e-7 tolerance, test promises it does not make; a
# label column and early stopping need a validation part, so one-sample and one-label fits are errors.
APPLICABLE = [
    "check_parameters_default_constructible", "check_no_attributes_set_in_init", "check_get_params_invariance",
    "check_set_params", "check_estimator_cloneable", "check_estimator_repr", "check_do_not_raise_errors_in_init_or_set_params",
    "check_estimators_unfitted", "check_fit_score_takes_y", "check_estimators_fit_returns_self",
    "check_dont_overwrite_parameters", "check_estimators_overwrite_params", "check_dict_unchanged",
    "check_fit_idempotent", "check_classifiers_train", "check_mixin_order",
]


@pytest.mark.parametrize("check", APPLICABLE)
def test_applicable_estimator_checks_pass(check):
    getattr(checks, check)("Classifier", Classifier(model="inter", **{**FAST, "max_epochs": 20}))
