"""Model backends: interface, learning, save/load, safety, cancellation, reproducibility.

Everything runs on tiny synthetic arrays with a few epochs so the file stays fast
on two shared cores.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import assert_weights_file_checked

from genre_core.backends import GenreModel, Param, StandardScaler, balanced_class_weights
from genre_core.backends import get_backend, list_backends, load_model
from genre_core.errors import DatasetError, GenreLabError, RunError, TrainingCancelled
from genre_core.inputs import InputSpec

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
    from sklearn.base import clone, is_classifier

    twin = clone(m)
    assert is_classifier(m) and twin is not m and twin.get_params() == m.get_params()


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
    assert_weights_file_checked(model, folder)
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


# ----------------------------------------------------------------------------- xgb
XGB_FAST = dict(n_estimators=60, max_depth=3, learning_rate=0.3, early_stopping=8, seed=5)


@pytest.fixture(scope="module")
def xgb_fitted(feat_data):
    X, y, g, Xv, yv = feat_data
    events = []
    model = get_backend("xgb")(**XGB_FAST).fit(X, y, X_valid=Xv, y_valid=yv, progress=events.append)
    return model, events


def test_xgb_learns_with_early_stopping(xgb_fitted, feat_data):
    model, events = xgb_fitted
    Xv, yv = feat_data[3], feat_data[4]
    proba = model.predict_proba(Xv)
    assert proba.shape == (len(Xv), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert model.score(Xv, yv) > 0.8
    h = model.history
    assert len(h) <= XGB_FAST["n_estimators"] and h[0]["epoch"] == 1
    assert 0 <= h[-1]["accuracy"] <= 1 and h[-1]["val_loss"] is not None
    assert model.best_epoch_ == model.best_iteration_ + 1 <= len(h)
    if len(h) < XGB_FAST["n_estimators"]:  # stopped early: patience rounds after the best
        assert len(h) == model.best_epoch_ + XGB_FAST["early_stopping"]
    assert [e["epoch"] for e in events[1:]] == list(range(1, len(h) + 1))
    assert model.n_parameters() > 0


def test_xgb_save_load_identical(xgb_fitted, feat_data, tmp_path):
    model, _ = xgb_fitted
    Xv = feat_data[3]
    written = model.save(tmp_path / "x")
    assert {p.name for p in written} == {"model.json", "booster.json"}
    again = load_model(tmp_path / "x")
    assert again.best_iteration_ == model.best_iteration_
    assert again.n_parameters() == model.n_parameters()
    # a loaded model predicts with its trees in numpy: xgboost's own predictions within 1e-6
    np.testing.assert_allclose(again.predict_proba(Xv), model.predict_proba(Xv), atol=1e-6, rtol=0)
    again.save(tmp_path / "y")  # saving a loaded model writes the same trees
    np.testing.assert_allclose(load_model(tmp_path / "y").predict_proba(Xv), model.predict_proba(Xv), atol=1e-6)


def test_xgb_numpy_trees_match_xgboost_on_missing_values(xgb_fitted, feat_data, tmp_path):
    """The models refuse NaN windows, but the tree reader follows xgboost's default directions too."""
    import xgboost

    from genre_core.backends.xgb_trees import TreeEnsemble

    model, _ = xgb_fitted
    model.save(tmp_path / "x")
    trees = TreeEnsemble.from_json(json.loads((tmp_path / "x" / "booster.json").read_text()),
                                   n_rounds=model.best_iteration_ + 1)
    X = np.array(feat_data[3], dtype=np.float32)
    X[::3, ::2] = np.nan
    ref = model._booster.predict(xgboost.DMatrix(X), iteration_range=(0, model.best_iteration_ + 1),
                                 output_margin=True)
    np.testing.assert_allclose(trees.margins(X), ref, atol=1e-5, rtol=0)


def test_xgb_loaded_model_predicts_without_importing_xgboost(xgb_fitted, feat_data, tmp_path):
    import subprocess
    import sys

    model, _ = xgb_fitted
    model.save(tmp_path / "x")
    np.save(tmp_path / "X.npy", np.asarray(feat_data[3], dtype=np.float32))
    code = ("import sys, numpy as np; from genre_core.backends import load_model; "
            f"m = load_model({str(tmp_path / 'x')!r}); p = m.predict_proba(np.load({str(tmp_path / 'X.npy')!r})); "
            f"np.save({str(tmp_path / 'p.npy')!r}, p); print(sorted(k for k in ('xgboost', 'sklearn') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), model.predict_proba(feat_data[3]), atol=1e-6, rtol=0)


def test_xgb_artifact_errors(xgb_fitted, tmp_path):
    model, _ = xgb_fitted
    folder = tmp_path / "x"
    model.save(folder)
    text = (folder / "booster.json").read_text()
    (folder / "booster.json").write_text(text[: len(text) // 2])
    with pytest.raises(RunError, match="booster.json: the booster file is corrupt"):
        load_model(folder)
    (folder / "booster.json").unlink()
    with pytest.raises(RunError, match="booster.json.*is missing"):
        load_model(folder)
    model.save(folder)
    m = json.loads((folder / "model.json").read_text())
    m["classes"] = ["alpha", "beta"]
    (folder / "model.json").write_text(json.dumps(m))
    with pytest.raises(RunError, match="-> 3 classes, but the manifest says 12 -> 2"):
        load_model(folder)
    m["backend"] = "mystery"
    (folder / "model.json").write_text(json.dumps(m))
    with pytest.raises(RunError, match="unknown model backend 'mystery'"):
        load_model(folder)
    with pytest.raises(RunError, match="not 'mlp'"):
        model.save(folder) and get_backend("mlp").load(folder)


def test_xgb_cancel_and_reproducible(feat_data):
    X, y, _, Xv, yv = feat_data
    n = {"calls": 0}

    def stop():
        n["calls"] += 1
        return n["calls"] >= 3

    with pytest.raises(TrainingCancelled, match="after boosting round 3"):
        get_backend("xgb")(**XGB_FAST).fit(X, y, X_valid=Xv, y_valid=yv, should_stop=stop)
    kw = dict(XGB_FAST, n_estimators=15)
    a = get_backend("xgb")(**kw).fit(X, y, X_valid=Xv, y_valid=yv)
    b = get_backend("xgb")(**kw).fit(X, y, X_valid=Xv, y_valid=yv)
    np.testing.assert_array_equal(a.predict_proba(Xv), b.predict_proba(Xv))


def test_class_weights_shift_predictions_to_rare_class():
    """Unbalanced data: balanced class weights raise recall of the rare class."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(220, 2)).astype(np.float32)
    y = np.array(["common"] * 200 + ["rare"] * 20)
    X[200:] += 1.0  # overlapping classes
    Xt = rng.normal(size=(400, 2)).astype(np.float32)
    Xt[200:] += 1.0
    yt = np.array(["common"] * 200 + ["rare"] * 200)
    recall = {}
    for cw in ("none", "balanced"):
        m = get_backend("xgb")(n_estimators=30, max_depth=2, class_weight=cw).fit(X, y)
        recall[cw] = np.mean(m.predict(Xt[200:]) == "rare")
    assert recall["balanced"] > recall["none"] + 0.2


# ----------------------------------------------------------------------------- cnn
def spec_data(n_per=30, seed=0, m=16, t=24):
    """Tiny "log-mels": horizontal stripes / vertical stripes / plain noise."""
    rng = np.random.default_rng(seed)
    X, y, groups = [], [], []
    for c, label in enumerate(CLASSES):
        Xc = rng.normal(size=(n_per, m, t)).astype(np.float32)
        if c == 0:
            Xc[:, ::4, :] += 2.5
        elif c == 1:
            Xc[:, :, ::4] += 2.5
        X.append(Xc)
        y += [label] * n_per
        groups += [f"{label}/t{i // 3}" for i in range(n_per)]
    return np.concatenate(X), np.array(y), np.array(groups)


SPEC = InputSpec("logmel", None, {"n_mels": 16}, window=3.0, hop=1.5)
CNN_FAST = dict(filters=(8, 16), dense=16, epochs=6, batch_size=16, lr=1e-2, patience=0, seed=2)


@pytest.fixture(scope="module")
def spec_sets():
    X, y, g = spec_data(30, seed=0)
    Xv, yv, _ = spec_data(10, seed=1)
    return X, y, g, Xv, yv


@pytest.fixture(scope="module")
def cnn_fitted(spec_sets):
    X, y, g, Xv, yv = spec_sets
    events = []
    model = get_backend("cnn")(SPEC, **CNN_FAST).fit(X, y, X_valid=Xv, y_valid=yv, progress=events.append)
    return model, events


def test_cnn_default_input_overlaps():
    spec = get_backend("cnn").default_input()
    assert spec.kind == "logmel" and spec.window == 3.0 and spec.hop == 1.5
    with pytest.raises(GenreLabError, match="consumes logmel"):
        get_backend("cnn")(InputSpec("features", "gtzan57", {}))


def test_cnn_learns_and_reports(cnn_fitted, spec_sets):
    model, events = cnn_fitted
    Xv, yv = spec_sets[3], spec_sets[4]
    proba = model.predict_proba(Xv)
    assert proba.shape == (len(Xv), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert model.score(Xv, yv) > 0.6
    assert len(model.history) == CNN_FAST["epochs"]
    per_epoch = [e for e in events if e["epoch"] > 0]
    assert [e["epoch"] for e in per_epoch] == list(range(1, CNN_FAST["epochs"] + 1))
    keys = {"stage", "epoch", "epochs", "loss", "accuracy", "val_loss", "val_accuracy", "eta_s", "done", "total"}
    assert keys <= set(per_epoch[-1]) and per_epoch[-1]["eta_s"] == 0
    assert all(e["val_loss"] is not None for e in per_epoch)
    assert model.n_parameters() > 0


def test_cnn_save_load_identical_and_safe(cnn_fitted, spec_sets, tmp_path):
    model, _ = cnn_fitted
    Xv = spec_sets[3]
    written = model.save(tmp_path / "c")
    assert {p.name for p in written} == {"model.json", "model.keras", "scaler.json"}
    again = load_model(tmp_path / "c")
    np.testing.assert_allclose(again.predict_proba(Xv), model.predict_proba(Xv), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(again.predict(Xv), model.predict(Xv))
    (tmp_path / "c" / "model.keras").write_bytes(b"PK\x03\x04 garbage")
    with pytest.raises(RunError, match="model.keras: the network file is corrupt or unsafe"):
        load_model(tmp_path / "c")


def test_cnn_refuses_lambda_layers(cnn_fitted, tmp_path):
    """A .keras file whose network carries Python code (a Lambda layer) is refused, not run."""
    import keras

    model, _ = cnn_fitted
    folder = tmp_path / "c"
    model.save(folder)
    inp = keras.Input((16, 24, 1))
    marker = tmp_path / "PWNED"
    x = keras.layers.Lambda(lambda t: t * 1.0)(inp)  # stand-in for arbitrary code
    x = keras.layers.GlobalAveragePooling2D()(x)
    evil = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x))
    evil.save(folder / "model.keras")
    with pytest.raises(RunError, match="corrupt or unsafe"):
        load_model(folder)
    assert not marker.exists()
    with pytest.raises(RunError, match="expects windows of shape \\(16, 24\\)"):
        model.predict_proba(np.zeros((2, 16, 20), np.float32))


def test_cnn_architecture_options_build():
    """Every architecture option builds a valid network (no training needed)."""
    from genre_core.backends.cnn import build_cnn

    base = get_backend("cnn").defaults()
    shapes = {}
    for opts in ({}, {"kernel": "musical"}, {"convs_per_block": 2, "filters": (8, 16, 32, 64)},
                 {"head": "flatten", "dense": 0}, {"head": "gmp", "dropout": 0.0, "head_dropout": 0.0},
                 {"head": "time_avg"}, {"pool_before_bn": False, "input_pool": 2}):
        p = dict(base, **opts)
        net = build_cnn((32, 40, 2), 5, p)
        assert net.output_shape == (None, 5)
        assert all("lambda" not in layer.__class__.__name__.lower() for layer in net.layers)
        shapes[str(opts)] = net.count_params()
    assert shapes["{'head': 'flatten', 'dense': 0}"] != shapes["{}"]


def test_cnn_augmenting_options_reproducible_and_cancellable(spec_sets):
    X, y, g, Xv, yv = spec_sets
    kw = dict(CNN_FAST, epochs=1, mixup=0.3, freq_mask=3, time_mask=4, freq_aware=True)
    a = get_backend("cnn")(SPEC, **kw).fit(X, y, X_valid=Xv, y_valid=yv)
    b = get_backend("cnn")(SPEC, **kw).fit(X, y, X_valid=Xv, y_valid=yv)
    np.testing.assert_allclose(a.predict_proba(Xv), b.predict_proba(Xv), rtol=0, atol=1e-6)
    strip = lambda h: [{k: v for k, v in e.items() if k != "time_s"} for e in h]  # noqa: E731
    assert strip(a.history) == strip(b.history)
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] >= 2

    with pytest.raises(TrainingCancelled, match="cancelled during epoch 1"):
        get_backend("cnn")(SPEC, **kw).fit(X, y, should_stop=stop)


# ----------------------------------------------------------------------------- bagged cnn
def test_cnn_bag_fit_members_save_load(spec_sets, tmp_path):
    from genre_core.backends.ensemble import bootstrap_indices

    X, y, g, Xv, yv = spec_sets
    assert get_backend("ensemble") is get_backend("cnn_bag")
    events = []
    bag = get_backend("cnn_bag")(SPEC, n_members=2, **dict(CNN_FAST, epochs=4))
    bag.fit(X, y, X_valid=Xv, y_valid=yv, groups=g, progress=events.append)
    assert bag.bootstrap_used_ == "track" and len(bag.members_) == 2
    members = bag.member_predict_proba(Xv)
    assert members.shape == (2, len(Xv), 3)
    assert not np.allclose(members[0], members[1])  # different bootstrap samples and seeds
    np.testing.assert_allclose(bag.predict_proba(Xv), members.mean(axis=0), atol=1e-9)
    assert bag.score(Xv, yv) > 0.6
    assert [(e["member"], e["epoch"]) for e in events if e["epoch"] > 0] == \
        [(m, e) for m in (1, 2) for e in range(1, 5)]
    assert events[-1]["done"] == events[-1]["total"] == 8
    assert [h["member"] for h in bag.history] == [1] * 4 + [2] * 4
    written = bag.save(tmp_path / "bag")
    assert {p.relative_to(tmp_path / "bag").as_posix() for p in written} >= {"members/0.keras", "members/1.keras"}
    again = load_model(tmp_path / "bag")
    np.testing.assert_allclose(again.member_predict_proba(Xv), members, atol=1e-6)
    (tmp_path / "bag" / "members" / "1.keras").unlink()
    with pytest.raises(RunError, match="members/1.keras: the model bag member 1 network .* is missing"):
        load_model(tmp_path / "bag")
    # bootstrap by track keeps whole tracks and every class
    idx = bootstrap_indices(np.repeat([0, 1, 2], 30), rng=np.random.default_rng(0), groups=g)
    picked = set(g[idx].tolist())
    for track in picked:
        assert np.sum(g[idx] == track) % 3 == 0  # a drawn track comes with all of its 3 windows
    assert {t.split("/")[0] for t in picked} == set(CLASSES)


# ----------------------------------------------------------------------------- soft voting
def test_soft_voter_weights_and_order():
    from genre_core.voting import SoftVoter

    p_a = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    p_b_own_order = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])  # columns gamma, beta, alpha
    v = SoftVoter(["run-a", "run-b"], [CLASSES, ["gamma", "beta", "alpha"]])
    np.testing.assert_allclose(v.combine([p_a, p_b_own_order]), [[0.8, 0.15, 0.05], [0.1, 0.1, 0.8]])
    w = SoftVoter(["run-a", "run-b"], [CLASSES, ["gamma", "beta", "alpha"]], weights=[3, 1])
    np.testing.assert_allclose(w.combine([p_a, p_b_own_order])[0], [0.7, 0.225, 0.075])
    assert w.to_dict() == {"members": ["run-a", "run-b"], "weights": {"run-a": 0.75, "run-b": 0.25},
                           "classes": CLASSES}
    assert SoftVoter.from_dict(w.to_dict()).weights.tolist() == [0.75, 0.25]
    # rows aligned by track id
    out = v.combine([p_a, p_b_own_order[::-1]], track_ids=[["t1", "t2"], ["t2", "t1"]])
    np.testing.assert_allclose(out[0], [0.8, 0.15, 0.05])
    assert v.predict([p_a, p_b_own_order]).tolist() == ["alpha", "gamma"]
    with pytest.raises(RunError, match="missing \\['t2'\\]"):
        v.combine([p_a, p_a], track_ids=[["t1", "t2"], ["t1", "t3"]])
    with pytest.raises(RunError, match="non-negative"):
        SoftVoter(["a", "b"], [CLASSES, CLASSES], weights=[1, -1])


def test_soft_voter_label_mismatch_names_labels():
    from genre_core.voting import SoftVoter

    with pytest.raises(RunError, match="run 'b' lacks gamma and has extra delta"):
        SoftVoter(["a", "b"], [CLASSES, ["alpha", "beta", "delta"]])
    with pytest.raises(RunError, match="distinct; repeated: a"):
        SoftVoter(["a", "a"], [CLASSES, CLASSES])


def test_xgb_models_the_numpy_reader_does_not_cover_use_xgboost(xgb_fitted, feat_data, tmp_path, monkeypatch):
    from genre_core.backends import xgb_trees

    model, _ = xgb_fitted
    model.save(tmp_path / "x")

    def unsupported(*args, **kwargs):
        raise xgb_trees.UnsupportedTrees("categorical splits")

    monkeypatch.setattr(xgb_trees.TreeEnsemble, "from_json", unsupported)
    again = load_model(tmp_path / "x")
    assert again._trees is None and again._booster is not None
    np.testing.assert_array_equal(again.predict_proba(feat_data[3]), model.predict_proba(feat_data[3]))
