"""The runs registry: atomic writing, statuses, verification on load, references."""

import json
import os
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from genre_core import config
from genre_core.errors import RunError, TrainingCancelled
from genre_core.runs import (
    RunWriter,
    delete_run,
    list_runs,
    load_run,
    new_run_name,
    resolve_out,
    resolve_run,
)


@pytest.fixture()
def models_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GENRE_MODELS_DIR", str(tmp_path / "models"))
    return tmp_path / "models"


def _write_fake_run(name, *, root=None, metrics=None, backend="fake"):
    """A complete run without a real model (loaded with load_model=False)."""
    with RunWriter(name, root=root, meta={"backend": backend}) as w:
        w.model_dir.mkdir()
        (w.model_dir / "model.json").write_text('{"a": 1}')
        (w.model_dir / "weights.bin").write_bytes(b"\x00\x01" * 100)
        w.write_history([{"epoch": 1, "loss": 1.0}])
        tracks = pd.DataFrame({"track_id": ["a/1", "b/2"], "true": ["a", "b"], "predicted": ["a", "a"],
                               "p_a": [0.9, 0.6], "p_b": [0.1, 0.4]})
        w.write_predictions(tracks, None)
        return w.finish({"backend": backend, "labels": ["a", "b"], "params": {"x": 1},
                         "metrics": metrics or {"track_accuracy": 0.5, "balanced_accuracy": 0.5}})


def test_complete_run_layout_and_load(models_dir):
    run = _write_fake_run("r1")
    assert run.status == "complete" and run.id == "user/r1"
    folder = config.user_runs_dir() / "r1"
    assert run.path == folder and folder.is_dir()
    assert not any(p.name.startswith(".") for p in config.user_runs_dir().iterdir())  # tmp folder gone
    info = json.loads((folder / "run.json").read_text())
    assert info["status"] == "complete" and info["format"] == 1
    assert set(info["files"]) == {"model/model.json", "model/weights.bin", "history.json", "predictions_tracks.csv"}
    assert all(len(h) == 64 for h in info["files"].values())
    assert info["size_bytes"] > info["model_size_bytes"] > 0
    assert info["versions"]["numpy"] and info["versions"]["genre_core"]
    assert "status.json" not in os.listdir(folder)
    loaded = load_run("r1", load_model=False)
    assert loaded.labels == ["a", "b"] and loaded.history() == [{"epoch": 1, "loss": 1.0}]
    assert loaded.track_correctness() == {"a/1": True, "b/2": False}
    assert load_run("user/r1", load_model=False).path == folder
    assert load_run(str(folder), load_model=False).id == "user/r1"


def test_tampered_or_missing_artifact_refused(models_dir):
    _write_fake_run("r2")
    folder = config.user_runs_dir() / "r2"
    (folder / "model" / "weights.bin").write_bytes(b"\x00\x02" * 100)
    with pytest.raises(RunError, match=r"model/weights.bin does not match its checksum"):
        load_run("r2", load_model=False)
    _write_fake_run("r3")
    (config.user_runs_dir() / "r3" / "model" / "weights.bin").unlink()
    with pytest.raises(RunError, match=r"model/weights.bin listed in run.json is missing"):
        load_run("r3", load_model=False)
    _write_fake_run("r4")
    (config.user_runs_dir() / "r4" / "model" / "extra.pkl").write_bytes(b"evil")
    with pytest.raises(RunError, match=r"unexpected file model/extra.pkl"):
        load_run("r4", load_model=False)
    _write_fake_run("r5")
    (config.user_runs_dir() / "r5" / "run.json").write_text("{not json")
    with pytest.raises(RunError, match=r"run.json is corrupt"):
        load_run("r5", load_model=False)
    # listing still shows the corrupt one, as invalid
    statuses = {r.name: r.status for r in list_runs()}
    assert statuses["r5"] == "invalid" and statuses["r2"] == "complete"


def test_failed_and_cancelled_runs_never_look_complete(models_dir):
    with pytest.raises(ValueError):
        with RunWriter("boom") as w:
            w.update({"stage": "training", "done": 3, "total": 10})
            raise ValueError("exploded")
    with pytest.raises(TrainingCancelled):
        with RunWriter("stopped") as w:
            w.model_dir.mkdir()
            raise TrainingCancelled("Training was cancelled at epoch 2.")
    runs = {r.name: r for r in list_runs()}
    assert runs["boom"].status == "failed" and "ValueError: exploded" in runs["boom"].info["error"]
    assert runs["boom"].info["stage"] == "training"
    assert runs["stopped"].status == "cancelled"
    for name, word in (("boom", "failed"), ("stopped", "cancelled")):
        with pytest.raises(RunError, match=rf"Run user/{name} is {word}, not complete"):
            load_run(name)
    # a new run with the same name replaces a failed one
    _write_fake_run("boom")
    assert load_run("boom", load_model=False).status == "complete"


def test_existing_complete_run_is_not_overwritten(models_dir):
    _write_fake_run("keep")
    with pytest.raises(RunError, match="already exists"):
        RunWriter("keep")
    run = _write_fake_run_overwrite("keep")
    assert run.info["metrics"]["track_accuracy"] == 0.9


def _write_fake_run_overwrite(name):
    with RunWriter(name, overwrite=True) as w:
        (w.path / "history.json").write_text("[]")
        return w.finish({"backend": "fake", "labels": ["a", "b"], "metrics": {"track_accuracy": 0.9}})


def test_crash_mid_write_leaves_crashed_tmp_folder(models_dir):
    code = textwrap.dedent(
        """
        import os
        from genre_core.runs import RunWriter
        w = RunWriter("crashy", meta={"backend": "mlp"})
        w.update({"stage": "extracting", "done": 5, "total": 20})
        w.model_dir.mkdir()
        (w.model_dir / "half.bin").write_bytes(b"x")
        os._exit(3)
        """
    )
    env = {**os.environ, "GENRE_MODELS_DIR": str(models_dir)}
    res = subprocess.run([sys.executable, "-c", code], env=env, cwd=config.REPO_ROOT)
    assert res.returncode == 3
    runs = list_runs()
    assert [(r.name, r.status) for r in runs] == [("crashy", "crashed")]
    crashed = runs[0]
    assert crashed.progress["stage"] == "extracting" and crashed.progress["done"] == 5
    assert crashed.headline()["backend"] == "mlp"
    assert not (config.user_runs_dir() / "crashy").exists()  # nothing complete-looking
    with pytest.raises(RunError, match="still being written or crashed"):
        load_run("crashy")
    delete_run("crashy")
    assert list_runs() == []


def test_running_run_is_listed_with_progress(models_dir):
    w = RunWriter("live", meta={"backend": "xgb"})
    try:
        w.update({"stage": "training", "done": 2, "total": 50, "epoch": 2})
        (run,) = list_runs()
        assert run.status == "running" and run.progress["epoch"] == 2 and run.progress["stage"] == "training"
        with pytest.raises(RunError, match="being trained right now"):
            delete_run(run)
    finally:
        w.abandon()
    assert list_runs() == []


def test_references_and_ambiguity(models_dir):
    _write_fake_run("same")
    _write_fake_run("same", root=config.shipped_runs_dir())
    _write_fake_run("only-shipped", root=config.shipped_runs_dir())
    with pytest.raises(RunError, match="both user/same and shipped/same"):
        resolve_run("same")
    assert resolve_run("shipped/same") == config.shipped_runs_dir() / "same"
    assert load_run("only-shipped", load_model=False).id == "shipped/only-shipped"
    with pytest.raises(RunError, match="No run 'nope'"):
        load_run("nope")
    with pytest.raises(RunError, match="No run named 'nope' in user runs"):
        load_run("user/nope")
    with pytest.raises(RunError, match="cannot be deleted"):
        delete_run("shipped/same")
    assert {r.id for r in list_runs()} == {"user/same", "shipped/same", "shipped/only-shipped"}


def test_resolve_out_and_names(models_dir, tmp_path):
    assert resolve_out("abc") == (config.user_runs_dir(), "abc")
    assert resolve_out("shipped/abc") == (config.shipped_runs_dir(), "abc")
    assert resolve_out(str(config.models_dir() / "abc"))[0] == config.user_runs_dir()
    assert resolve_out(str(tmp_path / "elsewhere" / "abc")) == ((tmp_path / "elsewhere").resolve(), "abc")
    root, name = resolve_out(None, backend="mlp", dataset_name="My Data")
    assert root == config.user_runs_dir() and name.startswith("mlp-my-data-")
    with pytest.raises(RunError, match="not a valid run name"):
        resolve_out("bad name!")
    assert new_run_name("xgb", root=tmp_path).startswith("xgb-")


def test_non_finite_metrics_written_as_null(models_dir):
    run = _write_fake_run("nan", metrics={"track_accuracy": float("nan"), "log_loss": float("inf")})
    info = json.loads((run.path / "run.json").read_text())
    assert info["metrics"] == {"track_accuracy": None, "log_loss": None}
