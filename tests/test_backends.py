"""Model backends: interface, learning, save/load, safety, cancellation, reproducibility.

Everything runs on tiny synthetic arrays with a few epochs so the file stays fast
on two shared cores.
"""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass, field

import numpy as np
import pytest

from genre_core.errors import DatasetError, GenreLabError, RunError, TrainingCancelled

try:  # the real InputSpec; a stand-in with the same contract while inputs.py is not there yet
    from genre_core.inputs import InputSpec  # noqa: F401
except ImportError:  # pragma: no cover - only before genre_core/inputs.py exists
    @dataclass(frozen=True)
    class InputSpec:  # type: ignore[no-redef]
        kind: str
        feature_set: str | None
        params: dict = field(default_factory=dict)
        window: float = 3.0
        hop: float | None = None
        sr: int = 22050

        def to_dict(self):
            return {"kind": self.kind, "feature_set": self.feature_set, "params": dict(self.params),
                    "window": self.window, "hop": self.hop, "sr": self.sr}

        @classmethod
        def from_dict(cls, d):
            return cls(**d)

    _mod = types.ModuleType("genre_core.inputs")
    _mod.InputSpec = InputSpec
    sys.modules["genre_core.inputs"] = _mod

from genre_core.backends import (  # noqa: E402
    GenreModel,
    Param,
    StandardScaler,
    balanced_class_weights,
    get_backend,
    list_backends,
    load_model,
)

CLASSES = ["alpha", "beta", "gamma"]


def blobs(n_per_class=40, n_features=12, seed=0, sep=2.5):
    """Gaussian blobs: class c has mean +sep on features c*2, c*2+1 (separable, noisy)."""
    rng = np.random.default_rng(seed)
    X, y, groups = [], [], []
    for c, label in enumerate(CLASSES):
        Xc = rng.normal(size=(n_per_class, n_features)).astype(np.float32)
        Xc[:, 2 * c:2 * c + 2] += sep
        X.append(Xc)
        y += [label] * n_per_class
        groups += [f"{label}/t{i // 4}" for i in range(n_per_class)]  # 4 windows per "track"
    return np.concatenate(X), np.array(y), np.array(groups)


@pytest.fixture(scope="module")
def feat_data():
    X, y, g = blobs(40, seed=0)
    Xv, yv, _ = blobs(15, seed=1)
    return X, y, g, Xv, yv


# ----------------------------------------------------------------------------- registry & params
def test_registry_lists_backends_and_aliases():
    names = list_backends()
    assert names[0] == "mlp"
    for name in names:
        cls = get_backend(name)
        assert issubclass(cls, GenreModel) and cls.name == name and cls.description
        specs = cls.param_specs()
        assert any(p.name == "seed" for p in specs)
        for p in specs:  # every parameter is described well enough to build a control
            assert isinstance(p, Param) and p.help and p.type in (int, float, bool, str, tuple)
            assert p.coerce(p.default) == p.default
            assert p.coerce(p.format(p.default)) == p.default
            json.dumps(p.to_dict())
        spec = cls.default_input()
        assert spec.kind in cls.input_kinds and spec.window == 3.0
    with pytest.raises(GenreLabError, match="Unknown model backend 'nope'"):
        get_backend("nope")


def test_default_inputs_are_overridable():
    mlp = get_backend("mlp")
    assert mlp.default_input().feature_set == "gtzan57"
    m = mlp(InputSpec("features", "edm", {}, window=5.0))
    assert m.input_spec.feature_set == "edm" and m.input_spec.window == 5.0
    with pytest.raises(GenreLabError, match="consumes features"):
        mlp(InputSpec("logmel", None, {}))


def test_param_coercion_and_errors():
    mlp = get_backend("mlp")
    m = mlp(hidden="64,32", dropout="0.1", epochs="5", class_weight="none")
    assert m.params["hidden"] == (64, 32) and m.params["dropout"] == 0.1 and m.params["epochs"] == 5
    with pytest.raises(GenreLabError, match="no hyperparameter 'hiden'"):
        mlp(hiden=(3,))
    with pytest.raises(GenreLabError, match="'dropout'.*above the maximum"):
        mlp(dropout=1.5)
    with pytest.raises(GenreLabError, match="'class_weight'.*not one of"):
        mlp(class_weight="sometimes")
    with pytest.raises(GenreLabError, match="'epochs': cannot use 'ten'"):
        mlp(epochs="ten")
    p = Param("flag", False, bool, "A switch.")
    assert p.coerce("yes") is True and p.coerce("0") is False


def test_sklearn_protocol():
    mlp = get_backend("mlp")
    m = mlp(hidden=(8,), epochs=2)
    params = m.get_params()
    assert params["hidden"] == (8,) and params["input_spec"] is m.input_spec
    clone = mlp(**params)
    assert clone.params == m.params
    m.set_params(epochs=3)
    assert m.params["epochs"] == 3
    with pytest.raises(RunError, match="not been fitted"):
        m.predict(np.zeros((2, 12), np.float32))


def test_helpers():
    w = balanced_class_weights(np.array([0, 0, 0, 1]), 3)
    np.testing.assert_allclose(w, [2 / 3, 2.0, 0.0])
    X = np.array([[1.0, 5.0], [3.0, 5.0]], np.float32)
    s = StandardScaler().fit(X)
    np.testing.assert_allclose(s.transform(X), [[-1, 0], [1, 0]])
    s2 = StandardScaler.from_dict(json.loads(json.dumps(s.to_dict())))
    np.testing.assert_array_equal(s.transform(X), s2.transform(X))
    with pytest.raises(RunError, match="inconsistent"):
        StandardScaler.from_dict({"mean": [0.0, 1.0], "scale": [1.0]})


def test_fit_input_validation():
    mlp = get_backend("mlp")(hidden=(8,), epochs=1)
    X, y, _ = blobs(5)
    with pytest.raises(DatasetError, match="outside the class list: gamma"):
        mlp.fit(X, y, classes=["alpha", "beta"])
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(DatasetError, match="1 window\\(s\\) with NaN"):
        mlp.fit(bad, y)
    with pytest.raises(DatasetError, match="X has 15 windows but y has 14"):
        mlp.fit(X, y[:-1])


# ----------------------------------------------------------------------------- mlp
MLP_FAST = dict(hidden=(32, 16), epochs=12, batch_size=16, patience=0, seed=3)


@pytest.fixture(scope="module")
def mlp_fitted(feat_data):
    X, y, g, Xv, yv = feat_data
    events = []
    model = get_backend("mlp")(**MLP_FAST).fit(X, y, X_valid=Xv, y_valid=yv, progress=events.append)
    return model, events


def test_mlp_learns(mlp_fitted, feat_data):
    model, events = mlp_fitted
    _, _, _, Xv, yv = feat_data
    proba = model.predict_proba(Xv)
    assert proba.shape == (len(Xv), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert model.classes_.tolist() == CLASSES
    assert model.score(Xv, yv) > 0.8  # chance is 1/3
    assert len(model.history) == MLP_FAST["epochs"]
    assert {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr"} <= set(model.history[0])
    assert 1 <= model.best_epoch_ <= MLP_FAST["epochs"]
    epochs = [e["epoch"] for e in events if e["epoch"] > 0]
    assert epochs == list(range(1, MLP_FAST["epochs"] + 1))
    last = events[-1]
    assert last["stage"] == "training" and last["epochs"] == MLP_FAST["epochs"] and last["eta_s"] == 0
    assert last["done"] == last["total"] == MLP_FAST["epochs"] and last["val_accuracy"] is not None


def test_mlp_save_load_identical(mlp_fitted, feat_data, tmp_path):
    model, _ = mlp_fitted
    X = feat_data[3]
    written = model.save(tmp_path / "m")
    assert {p.name for p in written} == {"model.json", "weights.pt", "scaler.json"}
    again = GenreModel.load(tmp_path / "m")
    assert type(again) is type(model) and again.params == model.params
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))
    assert again.history == model.history and again.input_spec == model.input_spec


def test_mlp_reproducible_with_seed(feat_data):
    X, y, _, Xv, yv = feat_data
    kw = dict(MLP_FAST, epochs=3)
    a = get_backend("mlp")(**kw).fit(X, y, X_valid=Xv, y_valid=yv)
    b = get_backend("mlp")(**kw).fit(X, y, X_valid=Xv, y_valid=yv)
    np.testing.assert_array_equal(a.predict_proba(Xv), b.predict_proba(Xv))
    c = get_backend("mlp")(**dict(kw, seed=4)).fit(X, y, X_valid=Xv, y_valid=yv)
    assert not np.array_equal(a.predict_proba(Xv), c.predict_proba(Xv))


def test_mlp_early_stopping_restores_best(feat_data):
    X, y, _, Xv, yv = feat_data
    m = get_backend("mlp")(hidden=(16,), epochs=60, patience=3, lr=0.05, seed=0)
    m.fit(X, y, X_valid=Xv, y_valid=yv)
    assert len(m.history) < 60
    assert len(m.history) == m.best_epoch_ + 3
    best_val = min(h["val_loss"] for h in m.history)
    assert m.history[m.best_epoch_ - 1]["val_loss"] <= best_val + 1e-4


def test_mlp_cancel(feat_data):
    X, y, *_ = feat_data
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 5

    with pytest.raises(TrainingCancelled, match="cancelled during epoch"):
        get_backend("mlp")(**MLP_FAST).fit(X, y, should_stop=stop)


def test_mlp_artifact_errors(mlp_fitted, tmp_path):
    model, _ = mlp_fitted
    folder = tmp_path / "m"
    model.save(folder)
    (folder / "weights.pt").write_bytes(b"not a zip file at all")
    with pytest.raises(RunError, match="weights.pt: the model weights are corrupt"):
        load_model(folder)
    (folder / "weights.pt").unlink()
    with pytest.raises(RunError, match="weights.pt: the model weights file .* is missing"):
        load_model(folder)
    model.save(folder)
    (folder / "scaler.json").write_text("{broken")
    with pytest.raises(RunError, match="scaler.json: the model scaler is corrupt"):
        load_model(folder)
    model.save(folder)
    (folder / "model.json").unlink()
    with pytest.raises(RunError, match="model.json: the model manifest is missing"):
        load_model(folder)
    with pytest.raises(RunError, match="does not exist"):
        load_model(tmp_path / "nowhere")


def test_mlp_refuses_pickled_code(mlp_fitted, tmp_path):
    """A weights file that would run code when unpickled is refused (weights_only=True)."""
    import torch

    model, _ = mlp_fitted
    folder = tmp_path / "m"
    model.save(folder)

    class Evil:
        def __reduce__(self):
            return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))

    torch.save({"0.weight": Evil()}, folder / "weights.pt")
    with pytest.raises(RunError, match="corrupt or not a plain state_dict"):
        load_model(folder)
    assert not (tmp_path / "PWNED").exists()


def test_mlp_shape_mismatch(mlp_fitted, tmp_path):
    model, _ = mlp_fitted
    with pytest.raises(RunError, match="expects windows of shape \\(12,\\), got \\(7,\\)"):
        model.predict_proba(np.zeros((3, 7), np.float32))
    folder = tmp_path / "m"
    model.save(folder)
    manifest = json.loads((folder / "model.json").read_text())
    manifest["params"]["hidden"] = [8]
    (folder / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(RunError, match="do not match the saved architecture"):
        load_model(folder)
