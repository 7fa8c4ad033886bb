"""``cnn_musicnn``: musicnn's back-end fine-tuned from the checkpoint, on synthesised audio.

The frozen front-end and mid-end give the ``musicnn_pool`` (pooling both)
features of the synthetic clips once (module fixture); the tests then check
that the trainable back-end starts as the network's own, that fine-tuning
moves it and learns the synthetic genres, and that saved models load back
exactly and refuse damaged files. The Train page, the plan and the CLI offer
it as a CNN with no feature-set choice.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import assert_weights_file_checked, models_folder

from app_fixtures import empty_env, new_app  # noqa: F401 - fixture
from genre_core.backends import GenreModel, get_backend, load_model
from genre_core.errors import DatasetError, GenreLabError, RunError, TrainingCancelled
from genre_core.inputs import InputSpec

FAST = dict(epochs=8, lr=3e-3, batch_size=8, patience=0, seed=0)


@pytest.fixture(scope="module")
def pooled(synthetic_dataset_dir):
    """``(X, y, Xv, yv)``: musicnn_pool (both) windows of the synthetic clips, 4 tracks per genre to train, 2 to test."""
    from genre_core.dataset import open_dataset
    from genre_core.inputs import stack_windows

    ds = open_dataset(str(synthetic_dataset_dir))
    spec = get_backend("cnn_musicnn").default_input()
    inputs, failures = ds.compute_inputs(spec, n_jobs=1)
    assert not failures
    label_of = {t.track_id: t.label for t in ds.tracks}
    by_genre: dict[str, list[str]] = {}
    for t in sorted(label_of):
        by_genre.setdefault(label_of[t], []).append(t)
    train = stack_windows(inputs, [t for ids in by_genre.values() for t in ids[:4]], label_of)
    test = stack_windows(inputs, [t for ids in by_genre.values() for t in ids[4:]], label_of)
    return train["X"], train["y"], test["X"], test["y"]


@pytest.fixture(scope="module")
def fitted(pooled):
    X, y, Xv, yv = pooled
    events: list = []
    model = get_backend("cnn_musicnn")(**FAST).fit(X, y, X_valid=Xv, y_valid=yv, progress=events.append)
    return model, events


def _back_end_tensors(model) -> dict:
    return {k: v.detach().clone() for k, v in model._net.back_end.named_parameters()}


# ----------------------------------------------------------------------------- one back-end implementation
@pytest.mark.parametrize("weights", ["MSD_musicnn", "MTT_musicnn"])
def test_head_starts_as_the_pretrained_back_end(weights):
    """Before training, the head's penultimate layer is exactly musicnn's for the same pooled maps."""
    import torch

    from genre_core.features.musicnn import musicnn_net
    from genre_core.features.musicnn.net_musicnn import BACK_END_TENSORS, pretrained_back_end

    net = musicnn_net(weights)
    patches = torch.from_numpy(np.random.default_rng(1).standard_normal((2, 187, 96)).astype(np.float32))
    with torch.inference_mode():
        out = net(patches)
    head = pretrained_back_end(weights)
    assert {k for k, _ in head.named_parameters()} == set(BACK_END_TENSORS)
    for name, shape in BACK_END_TENSORS.items():
        param = getattr(head, name)
        assert isinstance(param, torch.nn.Parameter) and tuple(param.shape) == shape
        assert torch.equal(param, getattr(net, name)) and param.data_ptr() != getattr(net, name).data_ptr()
    with torch.no_grad():
        mine = head(torch.cat([out["max_pool"], out["mean_pool"]], dim=1))
    assert torch.equal(mine, out["penultimate"])


def test_fine_tuning_moves_the_back_end_and_learns(fitted, pooled):
    from genre_core.features.musicnn.net_musicnn import pretrained_back_end

    model, events = fitted
    X, _, Xv, yv = pooled
    assert X.shape[1] == 1506 and model.pretrained_weights == "MSD_musicnn"
    proba = model.predict_proba(Xv)
    assert proba.shape == (len(Xv), 3) and np.allclose(proba.sum(axis=1), 1.0)
    assert model.score(Xv, yv) > 0.8  # held-out synthetic tracks; chance is 1/3
    start = {k: v.detach() for k, v in pretrained_back_end("MSD_musicnn").named_parameters()}
    tuned = _back_end_tensors(model)
    assert all(not np.array_equal(tuned[k].numpy(), start[k].numpy()) for k in ("dense_weight", "pool_bn_scale"))
    assert len(model.history) == FAST["epochs"] and 1 <= model.best_epoch_ <= FAST["epochs"]
    assert [e["epoch"] for e in events if e["epoch"] > 0] == list(range(1, FAST["epochs"] + 1))
    assert events[-1]["val_accuracy"] is not None and events[-1]["done"] == FAST["epochs"]
    assert model.n_parameters() == 304_812 + 200 * 3 + 3


def test_frozen_back_end_and_warm_up_keep_the_checkpoint(pooled):
    from genre_core.features.musicnn.net_musicnn import pretrained_back_end

    X, y, Xv, _ = pooled

    start = {k: v.detach().numpy() for k, v in pretrained_back_end("MSD_musicnn").named_parameters()}
    frozen = get_backend("cnn_musicnn")(**dict(FAST, epochs=2, pretrained_lr=0.0)).fit(X, y)
    warm = get_backend("cnn_musicnn")(**dict(FAST, epochs=2, freeze_epochs=2)).fit(X, y)
    for model in (frozen, warm):
        assert all(np.array_equal(v.numpy(), start[k]) for k, v in _back_end_tensors(model).items())
        assert model.predict_proba(Xv).shape == (len(Xv), 3)


def test_reproducible_and_cancellable(pooled):
    X, y, Xv, yv = pooled
    kw = dict(FAST, epochs=2, mixup=0.4)
    a = get_backend("cnn_musicnn")(**kw).fit(X, y, X_valid=Xv, y_valid=yv)
    b = get_backend("cnn_musicnn")(**kw).fit(X, y, X_valid=Xv, y_valid=yv)
    np.testing.assert_array_equal(a.predict_proba(Xv), b.predict_proba(Xv))
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 2  # 3 batches per epoch: stops inside the first

    with pytest.raises(TrainingCancelled, match="cancelled during epoch 1 of 8"):
        get_backend("cnn_musicnn")(**FAST).fit(X, y, should_stop=stop)


def test_input_is_the_frozen_layers_output_only():
    cls = get_backend("cnn_musicnn")
    spec = cls.default_input()
    assert (spec.feature_set, spec.params, spec.window, spec.hop) == ("musicnn_pool", {"pooling": "both"}, 3.0, 1.5)
    mtt = cls(InputSpec("features", "musicnn_pool", {"weights": "MTT_musicnn", "pooling": "both"}, 3.0, 1.5))
    assert mtt.pretrained_weights == "MTT_musicnn"
    for other in (InputSpec("features", "musicnn", {}, 3.0, 1.5),
                  InputSpec("features", "musicnn_pool", {"pooling": "mean"}, 3.0, 1.5)):
        with pytest.raises(GenreLabError, match="fine-tunes musicnn's back-end.*pooling='both'"):
            cls(other)
    with pytest.raises(DatasetError, match="takes 1506 columns"):
        cls(**FAST).fit(np.zeros((4, 200), np.float32), ["a", "b", "a", "b"])


# ----------------------------------------------------------------------------- save / load
def test_save_load_identical(fitted, pooled, tmp_path):
    model, _ = fitted
    Xv = pooled[2]
    written = model.save(tmp_path / "m")
    assert {p.name for p in written} == {"model.json", "weights.pt"}
    again = GenreModel.load(tmp_path / "m")
    assert type(again) is type(model) and again.params == model.params and again.input_spec == model.input_spec
    np.testing.assert_array_equal(again.predict_proba(Xv), model.predict_proba(Xv))
    assert again.history == model.history and again.n_parameters() == model.n_parameters()


def test_damaged_files_are_refused(fitted, tmp_path):
    import torch

    model, _ = fitted
    folder = tmp_path / "m"
    assert_weights_file_checked(model, folder)

    class Evil:
        def __reduce__(self):
            return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))

    torch.save({"classifier.weight": Evil()}, folder / "weights.pt")
    with pytest.raises(RunError, match="corrupt or not a plain state_dict"):
        load_model(folder)
    assert not (tmp_path / "PWNED").exists()

    model.save(folder)
    state = torch.load(folder / "weights.pt", weights_only=True)
    state["back_end.dense_weight"][0, 0] = float("nan")
    torch.save(state, folder / "weights.pt")
    with pytest.raises(RunError, match="non-finite values .* back_end.dense_weight"):
        load_model(folder)
    del state["back_end.dense_weight"]
    torch.save(state, folder / "weights.pt")
    with pytest.raises(RunError, match="do not match the saved architecture"):
        load_model(folder)

    model.save(folder)
    manifest = json.loads((folder / "model.json").read_text())
    manifest["classes"] = [*manifest["classes"], "extra"]
    (folder / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(RunError, match="do not match the saved architecture"):
        load_model(folder)
    manifest["classes"], manifest["input_shape"] = manifest["classes"][:-1], [200]
    (folder / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(RunError, match="model.json: The cnn_musicnn model takes 1506 columns"):
        load_model(folder)


# ----------------------------------------------------------------------------- plan, Train page, CLI
def test_offered_as_a_cnn_without_a_feature_choice(empty_env, tmp_path):
    from genre_core import plan
    from genre_core.dataset import open_dataset
    from test_jobs import write_feature_table

    audio = open_dataset("synthetic:n=4,duration=3")
    row = next(o for o in plan.backend_options(audio) if o["name"] == "cnn_musicnn")
    assert row["ok"] and "CNN" in row["label"] and row["input"].startswith("musicnn_pool features")
    assert plan.feature_choices("cnn_musicnn", audio) == []
    table = open_dataset(str(write_feature_table(tmp_path / "t.csv", n_per_genre=4)))
    row = next(o for o in plan.backend_options(table) if o["name"] == "cnn_musicnn")
    assert not row["ok"] and "musicnn_pool" in row["reason"]

    at = new_app("pages/2_Train.py")
    at.run()
    at.radio(key="train_kind").set_value("synthetic").run()
    box = at.selectbox(key="train_backend")
    label = next(o for o in box.options if o.startswith("cnn_musicnn · "))
    assert "CNN fine-tuned from pretrained musicnn" in label
    box.set_value("cnn_musicnn").run()
    assert not at.exception
    assert "train_features_cnn_musicnn" not in [s.key for s in at.selectbox]
    assert at.number_input(key="param:cnn_musicnn:epochs").value == 60


def test_cli_trains_and_predicts(synthetic_dataset_dir, tmp_path, capsys):
    from genre_core.cli import main

    ds = str(synthetic_dataset_dir)
    with models_folder(tmp_path / "models"):
        assert main(["train", ds, "--model", "cnn_musicnn", "--epochs", "3", "--lr", "0.003", "--batch-size", "8",
                     "--test-size", "0.34", "--valid-size", "0.34", "--jobs", "1", "--out", "ft", "--json",
                     "-q"]) == 0
        run = json.loads(capsys.readouterr().out)
        assert run["id"] == "user/ft" and run["status"] == "complete" and run["backend"] == "cnn_musicnn"
        assert run["input_spec"]["feature_set"] == "musicnn_pool" and run["metrics"]["track_accuracy"] is not None
        clip = next((synthetic_dataset_dir / "pulse").iterdir())
        assert main(["predict", "ft", str(clip), "--json", "-q"]) == 0
        (pred,) = json.loads(capsys.readouterr().out)["predictions"]
        assert pred["run"] == "user/ft" and pred["backend"] == "cnn_musicnn" and pred["n_segments"] >= 1
        assert set(pred["probabilities"]) == {"chords", "drone", "pulse"}
        assert main(["train", ds, "--model", "cnn_musicnn", "--feature-set", "mfcc_stats", "-q"]) == 2
        assert "fine-tunes musicnn's back-end" in capsys.readouterr().err
