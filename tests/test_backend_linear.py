"""The ``linear`` head: fit, probabilities, JSON save/load, refusal of bad artifacts."""

import json

import numpy as np
import pytest

from genre_core.backends import get_backend, list_backends, load_model
from genre_core.errors import RunError
from genre_core.inputs import InputSpec

SPEC = InputSpec("features", "mfcc_stats", {}, 3.0, None)


def _problem(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 12)).astype(np.float32)
    y = np.array(["rock", "jazz", "pop"])[np.argmax(X[:, :3], axis=1)]
    return X, y


def test_linear_is_registered_with_musicnn_default_input():
    assert "linear" in list_backends()
    spec = get_backend("linear").default_input()
    assert (spec.kind, spec.feature_set, spec.window) == ("features", "musicnn", 3.0)


def test_linear_learns_and_round_trips(tmp_path):
    X, y = _problem()
    model = get_backend("linear")(SPEC, C=1.0).fit(X[:200], y[:200], X_valid=X[200:], y_valid=y[200:])
    assert model.score(X[200:], y[200:]) > 0.85  # chance is 1/3
    p = model.predict_proba(X[200:])
    assert p.shape == (100, 3) and np.allclose(p.sum(axis=1), 1.0)
    assert model.history[0]["val_accuracy"] is not None
    model.save(tmp_path)
    again = load_model(tmp_path)
    assert again.name == "linear"
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))


def test_linear_keeps_a_column_for_a_class_absent_from_training():
    X, y = _problem()
    model = get_backend("linear")(SPEC).fit(X, y, classes=["jazz", "pop", "rock", "blues"])
    p = model.predict_proba(X)
    assert p.shape[1] == 4 and p[:, model.classes_.tolist().index("blues")].max() < 1e-6


def test_linear_refuses_tampered_coefficients(tmp_path):
    X, y = _problem()
    get_backend("linear")(SPEC).fit(X, y).save(tmp_path)
    d = json.loads((tmp_path / "linear.json").read_text())
    d["coef"] = d["coef"][:-1]
    (tmp_path / "linear.json").write_text(json.dumps(d))
    with pytest.raises(RunError, match="do not fit"):
        load_model(tmp_path)
    (tmp_path / "linear.json").unlink()
    with pytest.raises(RunError, match="linear.json"):
        load_model(tmp_path)
