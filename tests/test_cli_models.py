"""`python -m genre_core train / evaluate / predict / runs`: output, JSON keys and exit codes."""

import json
import subprocess
import sys

import pytest
from helpers import models_folder

from genre_core import config
from genre_core.cli import build_parser, main

FAST = ["--epochs", "3", "--hidden", "16", "--test-size", "0.34", "--valid-size", "0.34", "--jobs", "1", "-q"]


@pytest.fixture(scope="module")
def registry(synthetic_dataset_dir, tmp_path_factory):
    """Runs trained through the CLI once for the module."""
    root = tmp_path_factory.mktemp("cli_models")
    with models_folder(root):
        assert main(["train", str(synthetic_dataset_dir), "--model", "mlp", "--out", "c1", *FAST]) == 0
        assert main(["train", str(synthetic_dataset_dir), "--model", "xgb", "--n-estimators", "10", "--out", "c2",
                     "--test-size", "0.34", "--valid-size", "0.34", "--jobs", "1", "-q"]) == 0
    return root


@pytest.fixture()
def env(registry, monkeypatch):
    monkeypatch.setenv("GENRE_MODELS_DIR", str(registry))
    monkeypatch.setenv("GENRE_THREADS", "1")
    return registry


def _error_line(capsys, code, argv):
    rc = main(argv)
    captured = capsys.readouterr()
    assert rc == code
    err = captured.err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_parser_exposes_every_hyperparameter():
    from genre_core.backends import get_backend, list_backends

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    flags = {opt for a in train._actions for opt in a.option_strings}
    for b in list_backends():
        for p in get_backend(b).param_specs():
            if p.name != "seed":
                assert f"--{p.name.replace('_', '-')}" in flags, p.name
    assert {"--model", "--split", "--seed", "--out", "--members", "--augment", "--epochs", "--set"} <= flags


def test_train_prints_headline_and_json(env, synthetic_dataset_dir, capsys):
    assert main(["train", str(synthetic_dataset_dir), "--model", "mlp", "--out", "c3", "--set", "dropout=0.1",
                 "--json", *FAST]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["id"] == "user/c3" and out["status"] == "complete" and out["params"]["dropout"] == 0.1
    assert out["params"]["hidden"] == [16] and "track_accuracy" in out["metrics"]
    assert main(["train", str(synthetic_dataset_dir), "--model", "mlp", "--out", "c4", "--epochs", "2",
                 "--hidden", "8", "--test-size", "0.34", "--valid-size", "0.34", "--jobs", "1"]) == 0
    captured = capsys.readouterr()
    assert "run        user/c4" in captured.out and "track acc" in captured.out and "95% CI" in captured.out
    assert "[training] epoch 1/2" in captured.err and "[extracting]" in captured.err


def test_train_errors(env, synthetic_dataset_dir, capsys):
    ds = str(synthetic_dataset_dir)
    assert "no hyperparameter 'depth'" in _error_line(capsys, 2, ["train", ds, "--set", "depth=3", *FAST])
    assert "no hyperparameter 'n_estimators'" in _error_line(capsys, 2, ["train", ds, "--n-estimators", "5", *FAST])
    assert "already exists" in _error_line(capsys, 2, ["train", ds, "--out", "c1", *FAST])
    assert "needs a DATASET" in _error_line(capsys, 2, ["train", "--model", "mlp"])
    assert "cannot use 'abc'" in _error_line(capsys, 2, ["train", ds, "--epochs", "abc", "-q"])


def test_runs_listing(env, capsys):
    assert main(["runs", "--json"]) == 0
    heads = {h["id"]: h for h in json.loads(capsys.readouterr().out)}
    assert heads["user/c1"]["status"] == "complete" and heads["user/c1"]["backend"] == "mlp"
    assert heads["user/c2"]["backend"] == "xgb" and heads["user/c2"]["track_accuracy"] is not None
    assert main(["runs"]) == 0
    text = capsys.readouterr().out
    assert "user/c1" in text and "track acc [95% CI]" in text


def test_predict_text_and_json(env, synthetic_dataset_dir, capsys):
    wav = str(synthetic_dataset_dir / "drone" / "drone.00002.wav")
    assert main(["predict", "c1", "c2", wav, "-q"]) == 0
    text = capsys.readouterr().out
    assert "user/c1: " in text and "user/c2: " in text and "confidence" in text and "0.0-3.0" in text
    assert main(["predict", "c1", wav, "--json", "-q"]) == 0
    out = json.loads(capsys.readouterr().out)
    (p,) = out["predictions"]
    assert p["run"] == "user/c1" and p["label"] in p["probabilities"] and 0 <= p["confidence"] <= 1
    seg = p["segments"][0]
    assert seg["start"] == 0.0 and seg["end"] == 3.0 and set(seg["probabilities"]) == {"chords", "drone", "pulse"}


def test_predict_errors(env, synthetic_dataset_dir, tmp_path, capsys):
    wav = str(synthetic_dataset_dir / "drone" / "drone.00002.wav")
    assert "No run 'nope'" in _error_line(capsys, 2, ["predict", "nope", wav, "-q"])
    bad = tmp_path / "corrupt.mp3"
    bad.write_bytes(b"\xff\xfb" + b"\x00garbage" * 50)
    assert "corrupt.mp3" in _error_line(capsys, 2, ["predict", "c1", str(bad), "-q"])
    assert "does not exist" in _error_line(capsys, 2, ["predict", "c1", str(tmp_path / "none.wav"), "-q"])
    assert "at least one RUN" in _error_line(capsys, 2, ["predict", wav])


def test_evaluate_json_and_text(env, synthetic_dataset_dir, capsys):
    assert main(["evaluate", "c1", str(synthetic_dataset_dir), "--json", "-q", "--jobs", "1"]) == 0
    rep = json.loads(capsys.readouterr().out)
    for key in ("track_accuracy", "track_accuracy_ci", "balanced_accuracy", "segment_accuracy", "macro_f1",
                "confusion_matrix", "segment_confusion_matrix", "per_class", "top2_accuracy", "log_loss", "labels",
                "tracks"):
        assert key in rep
    assert rep["n_tracks"] == 18 and len(rep["tracks"]) == 18
    assert main(["evaluate", "c1", str(synthetic_dataset_dir), "-q", "--jobs", "1"]) == 0
    text = capsys.readouterr().out
    assert "confusion matrix" in text and "precision" in text


def test_evaluate_label_mismatch_exit_code(env, tmp_path, capsys):
    from genre_core.synthetic import write_synthetic_dataset

    root = write_synthetic_dataset(tmp_path / "other", genres=("sweep", "drone"), n_per_genre=2, duration=3.0)
    err = _error_line(capsys, 2, ["evaluate", "c1", str(root), "-q", "--jobs", "1"])
    assert "Label-set mismatch" in err and "sweep" in err


def test_voting_ensemble_command(env, capsys):
    assert main(["train", "--model", "ensemble", "--members", "c1", "c2", "--weights", "2", "1", "--out", "v",
                 "-q"]) == 0
    assert "run        user/v" in capsys.readouterr().out
    info = json.loads((config.user_runs_dir() / "v" / "run.json").read_text())
    assert info["backend"] == "voting" and [m["id"] for m in info["members"]] == ["user/c1", "user/c2"]
    assert "at least two" in _error_line(capsys, 2, ["train", "--model", "ensemble", "--members", "c1", "-q"])


def test_module_entry_point_exit_code(env):
    res = subprocess.run([sys.executable, "-m", "genre_core", "predict", "missing-run", "x.wav", "-q"],
                         capture_output=True, text=True, cwd=config.REPO_ROOT)
    assert res.returncode == 2
    assert res.stderr.strip().startswith("error: ") and res.stderr.strip().count("\n") == 0
