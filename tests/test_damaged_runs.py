"""A damaged or hostile run folder is answered with a RunError, never fatal (issue 9, parts 3 and 4).

Small trained runs (the app fixtures' synthetic runs) are copied to a temp
folder, damaged the way a bad disk or an attacker would, and re-signed (the
manifest checksums updated, so the damage is not caught by them alone).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app_fixtures import MLP_SYNTH, VOTE_SYNTH, XGB_SYNTH, app_models  # noqa: F401 - fixture
from genre_core.audio import load_audio
from genre_core.cli import main
from genre_core.errors import AudioError, RunError
from genre_core.runs import list_runs, load_run


@pytest.fixture()
def models(app_models, tmp_path, monkeypatch) -> Path:
    """A private copy of the app fixtures' models folder."""
    root = tmp_path / "models"
    shutil.copytree(app_models, root, symlinks=True)
    monkeypatch.setenv("GENRE_MODELS_DIR", str(root))
    monkeypatch.setenv("GENRE_THREADS", "1")
    return root


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _resign(run_dir: Path) -> None:
    """Recompute the manifest of run.json, as an attacker who edits files would."""
    info = json.loads((run_dir / "run.json").read_text())
    info["files"] = {rel: _sha(run_dir / rel) for rel in info["files"] if (run_dir / rel).is_file()}
    (run_dir / "run.json").write_text(json.dumps(info))


def _edit_json(path: Path, change) -> None:
    d = json.loads(path.read_text())
    change(d)
    path.write_text(json.dumps(d))


def _folder(models: Path, run_id: str) -> Path:
    loc, name = run_id.split("/")
    return models / loc / name


# --------------------------------------------------------------------------- xgboost trees


@pytest.mark.parametrize("damage, message", [
    (lambda t: t.update(left_children=[0] * len(t["left_children"])), "cycle|reached twice|out of range"),
    (lambda t: t.update(right_children=[len(t["right_children"]) + 5] * len(t["right_children"])), "out of range"),
    (lambda t: t.update(split_indices=[10 ** 6] * len(t["split_indices"])), "feature the model does not have"),
    (lambda t: t.update(base_weights=[float("nan")] * len(t["base_weights"])), "non-finite"),
])
def test_xgb_damaged_trees_are_refused_before_xgboost_sees_them(models, damage, message, capsys):
    run_dir = _folder(models, XGB_SYNTH)
    booster = run_dir / "model" / "booster.json"
    doc = json.loads(booster.read_text())
    damage(doc["learner"]["gradient_booster"]["model"]["trees"][0])
    booster.write_text(json.dumps(doc))
    _resign(run_dir)
    with pytest.raises(RunError, match=message):
        load_run(XGB_SYNTH)
    # the CLI answers with an error line (the process is not killed by a segfault)
    rc = main(["evaluate", XGB_SYNTH, "synthetic:n=4,duration=3", "--json", "-q"])
    err = capsys.readouterr().err
    assert rc != 0 and "booster" in err and "error: unexpected" not in err


# --------------------------------------------------------------------------- input spec ranges


@pytest.mark.parametrize("field, value, message", [
    ("hop", 1e-6, "'hop'"),
    ("window", 1e308, "'window'"),
    ("sr", 1e9, "'sr'"),
    ("sr", "fast", "'sr'"),
    ("window", [3], "'window'"),
    ("kind", 7, "'kind'"),
    ("params", {"n_mfcc": 1e12}, "params.n_mfcc"),
])
def test_input_spec_out_of_range_is_refused_on_load(models, field, value, message):
    run_dir = _folder(models, MLP_SYNTH)
    for f in (run_dir / "model" / "model.json",):
        _edit_json(f, lambda d: d["input_spec"].__setitem__(field, value))
    _resign(run_dir)
    with pytest.raises(RunError, match=message):
        load_run(MLP_SYNTH)
    # the same value in run.json's copy: listed as broken, load refused, naming file and field
    _edit_json(run_dir / "run.json", lambda d: d["input_spec"].__setitem__(field, value))
    with pytest.raises(RunError, match="run.json.*input_spec"):
        load_run(MLP_SYNTH)
    listed = {r.id: r for r in list_runs()}
    assert listed[MLP_SYNTH].status == "invalid"


# --------------------------------------------------------------------------- non-finite parameters


def test_mlp_nan_weights_are_refused(models):
    import torch

    run_dir = _folder(models, MLP_SYNTH)
    path = run_dir / "model" / "weights.pt"
    state = torch.load(path, weights_only=True)
    first = next(k for k, v in state.items() if v.is_floating_point())
    state[first][..., 0] = float("nan")
    torch.save(state, path)
    _resign(run_dir)
    with pytest.raises(RunError, match="non-finite"):
        load_run(MLP_SYNTH)


def test_scaler_with_infinity_is_refused(models):
    run_dir = _folder(models, MLP_SYNTH)
    path = run_dir / "model" / "scaler.json"
    text = path.read_text()
    d = json.loads(text)
    d["mean"][0] = 1e400  # written as a literal that parses to infinity
    path.write_text(json.dumps(d).replace("Infinity", "1e400"))
    _resign(run_dir)
    with pytest.raises(RunError, match="scaler"):
        load_run(MLP_SYNTH)


def test_keras_nan_weights_are_refused(tmp_path):
    keras = pytest.importorskip("keras")
    from genre_core.backends.cnn import load_keras

    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    w = model.get_weights()
    w[0][0, 0] = np.nan
    model.set_weights(w)
    path = tmp_path / "net.keras"
    model.save(path)
    with pytest.raises(RunError, match="non-finite"):
        load_keras(path, input_shape=(4, 4, 1), n_classes=3)


def test_linear_nan_coefficients_are_refused(tmp_path):
    from genre_core.backends import get_backend
    from genre_core.backends.base import load_model

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 57)).astype(np.float32)
    y = np.array(["a", "b"] * 20)
    model = get_backend("linear")(None).fit(X, y)
    model.save(tmp_path / "m")
    _edit_json(tmp_path / "m" / "linear.json", lambda d: d["coef"][0].__setitem__(0, 1e400))
    with pytest.raises(RunError, match="not finite"):
        load_model(tmp_path / "m")


# --------------------------------------------------------------------------- malformed records

#: Values a damaged or hand-edited record may hold in place of the real one.
BAD_VALUES = [5, -1, 1e308, True, None, "x", "", [], ["mlp"], {}, {"a": {"b": []}}, [[[]]], "NaN"]
RUN_FIELDS = ["format", "status", "backend", "labels", "name", "params", "dataset", "split", "seed", "metrics",
              "timings", "files", "input_spec", "size_bytes", "created", "error", "failures"]


@pytest.mark.parametrize("field", RUN_FIELDS)
def test_mutated_run_json_fields_end_in_run_error(models, field, capsys):
    """Property-style: every field x every bad value -> RunError (or a normal load), never anything else."""
    run_dir = _folder(models, MLP_SYNTH)
    original = (run_dir / "run.json").read_text()
    for value in BAD_VALUES:
        d = json.loads(original)
        d[field] = value
        (run_dir / "run.json").write_text(json.dumps(d))
        try:
            run = load_run(MLP_SYNTH)
        except RunError as err:
            assert "run.json" in str(err) or "Run " in str(err)
        else:  # accepted: then everything a page reads from it works
            run.headline()
            assert run.model is not None
        assert any(r.id == MLP_SYNTH for r in list_runs())  # listed (possibly as invalid), never raising
    assert main(["runs"]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("raw, message", [
    ('{"format": ' + "9" * 5000 + ', "status": "complete"}', "corrupt"),
    ('{"format": 1, "labels": ' + "[" * 200000 + "]" * 200000 + "}", "nested too deeply|corrupt"),
    ("\xff\xfe garbage", "corrupt"),
])
def test_pathological_run_json_text(models, raw, message):
    run_dir = _folder(models, MLP_SYNTH)
    (run_dir / "run.json").write_bytes(raw.encode("latin-1") if raw.startswith("\xff") else raw.encode())
    with pytest.raises(RunError, match=message):
        load_run(MLP_SYNTH)
    listed = {r.id: r for r in list_runs()}
    assert listed[MLP_SYNTH].status == "invalid"


@pytest.mark.parametrize("field, value", [
    ("classes", 5), ("classes", ["a"]), ("input_shape", [10 ** 9]), ("input_shape", "57"), ("params", []),
    ("history", {"loss": 1}), ("history", [{"loss": [1, 2]}]), ("best_epoch", "3"), ("format_version", 10 ** 20),
])
def test_malformed_model_json_names_file_and_field(models, field, value):
    run_dir = _folder(models, MLP_SYNTH)
    _edit_json(run_dir / "model" / "model.json", lambda d: d.__setitem__(field, value))
    _resign(run_dir)
    with pytest.raises(RunError, match=rf"model\.json.*{field}"):
        load_run(MLP_SYNTH)


def test_malformed_history_is_a_run_error(models):
    run_dir = _folder(models, MLP_SYNTH)
    (run_dir / "history.json").write_text(json.dumps({"epochs": "many"}))
    _resign(run_dir)
    with pytest.raises(RunError, match="history"):
        load_run(MLP_SYNTH).history()


def test_one_broken_run_does_not_hide_the_others(models, capsys):
    run_dir = _folder(models, XGB_SYNTH)
    _edit_json(run_dir / "run.json", lambda d: d["metrics"].__setitem__("track_accuracy_ci", "0.5-0.7"))
    listed = {r.id: r for r in list_runs()}
    assert listed[XGB_SYNTH].status == "invalid"
    assert "track_accuracy_ci" in listed[XGB_SYNTH].info["error"]
    assert listed[MLP_SYNTH].status == "complete"
    assert main(["runs", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[XGB_SYNTH]["status"] == "invalid" and rows[MLP_SYNTH]["status"] == "complete"


def test_symlink_inside_a_run_folder_is_refused(models, tmp_path):
    run_dir = _folder(models, MLP_SYNTH)
    (tmp_path / "elsewhere.txt").write_text("x")
    (run_dir / "model" / "extra").symlink_to(tmp_path / "elsewhere.txt")
    with pytest.raises(RunError, match="symbolic link"):
        load_run(MLP_SYNTH)


def test_voting_member_outside_the_models_folder_is_refused(models, tmp_path):
    outside = tmp_path / "elsewhere" / "mlp-copy"
    shutil.copytree(_folder(models, MLP_SYNTH), outside)
    vote = _folder(models, VOTE_SYNTH)
    _edit_json(vote / "run.json", lambda d: d["members"][0].update(id=str(outside), run_json_sha256=None))
    with pytest.raises(RunError, match="outside the models folder"):
        load_run(VOTE_SYNTH)


# --------------------------------------------------------------------------- cache and audio


def test_damaged_cache_entries_are_recomputed(tmp_path, synthetic_dataset_dir):
    from genre_core.cache import FeatureCache
    from genre_core.dataset import open_dataset
    from genre_core.inputs import InputSpec
    from genre_core.extraction import compute_dataset_inputs

    ds = open_dataset(str(synthetic_dataset_dir))
    tracks = ds.tracks[:3]
    spec = InputSpec("features", "mfcc_stats", window=3.0)
    cache = FeatureCache(tmp_path / "cache")
    good, fails = compute_dataset_inputs(tracks, spec, n_jobs=1, cache=cache)
    assert not fails
    entries = sorted((tmp_path / "cache").glob("*/*.npz"))
    assert len(entries) == 3
    # NaN values, a wrong width, and a folder squatting on an entry's name
    with np.load(entries[0]) as z:
        d = dict(z)
    np.savez(entries[0], **{**d, "X": np.full_like(d["X"], np.nan)})
    np.savez(entries[1], **{**d, "X": d["X"][:, :5]})
    entries[2].unlink()
    entries[2].mkdir()
    again, fails = compute_dataset_inputs(tracks, spec, n_jobs=1, cache=cache)
    assert not fails
    for tid, ti in good.items():
        assert np.all(np.isfinite(again[tid].X)) and np.array_equal(again[tid].X, ti.X)
    with np.load(entries[0]) as z:
        assert np.all(np.isfinite(z["X"]))  # replaced on disk


def test_training_records_which_files_were_left_out_and_why(tmp_path, monkeypatch, synthetic_dataset_dir):
    from genre_core.comparison import left_out_frame, load_run_data
    from genre_core.training import train

    data = tmp_path / "data"
    shutil.copytree(synthetic_dataset_dir, data)
    genre = sorted(p for p in data.iterdir() if p.is_dir())[0]
    (genre / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunk")
    monkeypatch.setenv("GENRE_MODELS_DIR", str(tmp_path / "models"))
    run = train(str(data), "mlp", params={"epochs": 2, "hidden": 8}, out="with-broken", n_jobs=1,
                test_size=0.34, valid_size=0.34)
    bad = run.info["dataset"]["unreadable"]
    assert any("broken.wav" in f and why for f, why in bad)
    frame = left_out_frame([load_run_data(run.path)])
    assert "broken.wav" in " ".join(frame["file"]) and set(frame["stage"]) == {"scan"}


def _float_wav(y: np.ndarray, sr: int = 22050) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y.astype(np.float32), sr, format="WAV", subtype="FLOAT")
    return buf.getvalue()


def test_float_wav_with_absurd_samples_is_an_audio_error():
    y = np.sin(np.linspace(0, 2000, 22050 * 3)).astype(np.float32) * 1e30
    with pytest.raises(AudioError) as err:
        load_audio(_float_wav(y), name="loud.wav")
    assert err.value.reason == "corrupt" and "outside" in err.value.detail


def test_constant_signal_is_silence():
    with pytest.raises(AudioError) as err:
        load_audio(_float_wav(np.full(22050 * 3, 0.5)), name="dc.wav")
    assert err.value.reason == "silent" and "constant" in err.value.detail
    # a tone on top of a DC offset is sound
    t = np.arange(22050 * 3) / 22050
    assert load_audio(_float_wav(0.5 + 0.1 * np.sin(2 * np.pi * 440 * t)), name="ok.wav").duration > 2.9


def test_no_unexpected_error_from_predict_on_a_damaged_run(models, tmp_path, capsys):
    run_dir = _folder(models, MLP_SYNTH)
    _edit_json(run_dir / "run.json", lambda d: d.__setitem__("labels", 5))
    wav = tmp_path / "a.wav"
    t = np.arange(22050 * 4) / 22050
    sf.write(wav, 0.3 * np.sin(2 * np.pi * 220 * t), 22050)
    rc = main(["predict", MLP_SYNTH, str(wav), "-q"])
    err = capsys.readouterr().err
    assert rc != 0 and "labels" in err and "error: unexpected" not in err
    assert os.path.exists(run_dir / "run.json")
