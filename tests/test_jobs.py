"""Background training jobs (genre_core.jobs): submit, FIFO queue, cancel, crash detection.

Jobs run in detached subprocesses that inherit the temporary GENRE_MODELS_DIR /
GENRE_CACHE_DIR. To stay fast they train a small MLP on a tiny synthesised
feature table (no audio decoding, no feature extraction): the worker and queue
logic do not depend on the dataset kind (training on audio is covered by
test_training.py).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import kill_leftover_jobs

from genre_core import jobs
from genre_core.errors import GenreLabError, RunError

GENRES = ("drone", "pulse", "chords")


def write_feature_table(path: Path, *, n_per_genre: int = 12, seed: int = 0) -> Path:
    """A tiny gtzan57-columns feature table with class-dependent means (learnable)."""
    from genre_core.features import get_feature_set

    cols = get_feature_set("gtzan57").columns
    rng = np.random.default_rng(seed)
    rows = []
    for g_i, genre in enumerate(GENRES):
        centre = rng.normal(0, 1, len(cols)) + 3.0 * g_i
        for i in range(n_per_genre):
            vals = centre + rng.normal(0, 0.5, len(cols))
            rows.append({"filename": f"{genre}.{i:05d}.wav", "length": 30 * 22050,
                         **dict(zip(cols, vals)), "label": genre})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture
def env(tmp_path, monkeypatch):
    models = tmp_path / "models"
    monkeypatch.setenv("GENRE_MODELS_DIR", str(models))
    table = write_feature_table(tmp_path / "tiny_table.csv")
    yield {"models": models, "table": table}
    kill_leftover_jobs()  # never leave a worker behind


def _cfg(table: Path, **kw) -> dict:
    base = {"dataset": str(table), "backend": "mlp", "split": "track", "test_size": 0.25, "valid_size": 0.25,
            "params": {"epochs": 4, "hidden": "16", "patience": 0}, "n_jobs": 1, "seed": 0}
    base.update(kw)
    return base


def _wait(pred, job_id: str, timeout: float = 180.0) -> dict:
    t_end = time.monotonic() + timeout
    while True:
        st = jobs.job_status(job_id)
        if pred(st):
            return st
        assert st["state"] not in jobs.FINAL_STATES or pred(st), f"job ended early: {st}"
        assert time.monotonic() < t_end, f"timed out waiting; last status {st}"
        time.sleep(0.2)


def test_submit_queue_of_two_runs_fifo_to_completion(env):
    first = jobs.submit_job(_cfg(env["table"], name="first"))
    second = jobs.submit_job(_cfg(env["table"], name="second", seed=1))
    assert jobs.job_status(first)["state"] in ("starting", "running")
    st2 = jobs.job_status(second)
    assert st2["state"] == "queued" and st2["queue_position"] == 1
    # state lives on disk: another "tab" lists the same jobs, newest first
    assert [j["job_id"] for j in jobs.list_jobs()] == [second, first]

    a = jobs.wait_for_job(first, timeout=240)
    assert a["state"] == "complete", (a, jobs.job_log(first))
    assert a["run_id"] == "user/first"
    assert a["headline"]["n_tracks"] == 9
    assert 0.0 <= a["headline"]["track_accuracy"] <= 1.0
    hist = jobs.job_history(first)
    assert [h["epoch"] for h in hist] == [1, 2, 3, 4]
    assert all(h["loss"] is not None and h["val_accuracy"] is not None for h in hist)
    from genre_core.runs import list_runs, load_run

    run = load_run("user/first")
    assert run.info["job_id"] == first
    assert run.info["dataset_spec"] == str(env["table"])

    b = jobs.wait_for_job(second, timeout=240)
    assert b["state"] == "complete", (b, jobs.job_log(second))
    assert b["started"] >= a["finished"]  # one at a time, in submission order
    assert b["pid"] != a["pid"]  # each job gets a fresh process
    assert sorted(r.id for r in list_runs() if r.status == "complete") == ["user/first", "user/second"]


def test_cancel_running_job_marks_run_cancelled_and_queue_moves_on(env):
    long = jobs.submit_job(_cfg(env["table"], name="long", params={"epochs": 10000, "hidden": "16",
                                                                    "patience": 0}))
    queued = jobs.submit_job(_cfg(env["table"], name="after"))
    dropped = jobs.submit_job(_cfg(env["table"], name="dropped"))
    st = jobs.cancel_job(dropped)  # cancelled while queued: never runs
    assert st["state"] == "cancelled" and st["error"] == "Cancelled before it started."

    _wait(lambda s: s.get("stage") == "training" and (s.get("done") or 0) >= 2, long)
    jobs.cancel_job(long)
    st = jobs.wait_for_job(long, timeout=120)
    assert st["state"] == "cancelled", (st, jobs.job_log(long))
    assert st["run_id"] == "user/long"
    info = json.loads((env["models"] / "user" / "long" / "run.json").read_text())
    assert info["status"] == "cancelled" and "cancelled" in info["error"]
    from genre_core.runs import load_run

    with pytest.raises(RunError, match="cancelled, not complete"):
        load_run("user/long")

    after = jobs.wait_for_job(queued, timeout=240)
    assert after["state"] == "complete"
    assert jobs.job_status(dropped)["state"] == "cancelled"
    assert not (env["models"] / "user" / "dropped").exists()


def test_killed_worker_is_reported_crashed(env):
    job_id = jobs.submit_job(_cfg(env["table"], name="doomed", params={"epochs": 10000, "hidden": "16",
                                                                        "patience": 0}))
    st = _wait(lambda s: s.get("stage") == "training" and (s.get("done") or 0) >= 1, job_id)
    os.kill(int(st["pid"]), signal.SIGKILL)
    t_end = time.monotonic() + 30
    while jobs.job_status(job_id)["state"] != "crashed":
        assert time.monotonic() < t_end
        time.sleep(0.2)
    st = jobs.job_status(job_id)
    assert "ended without finishing" in st["error"]
    jobs.resume_queue()  # records the crash on disk
    assert json.loads((Path(st["folder"]) / "status.json").read_text())["state"] == "crashed"
    from genre_core.runs import list_runs

    # the runs registry agrees once the dead process is reaped (a multi-threaded process shows as a
    # zombie for a moment before it can be reaped; job_status reaps the workers this process started)
    t_end = time.monotonic() + 30
    while [(r.name, r.status) for r in list_runs()] != [("doomed", "crashed")]:
        assert time.monotonic() < t_end, [(r.name, r.status) for r in list_runs()]
        jobs.job_status(job_id)
        time.sleep(0.2)


def test_failed_job_reports_the_user_error(env, tmp_path):
    bad = tmp_path / "one_genre.csv"
    df = pd.read_csv(env["table"])
    df[df["label"] == "drone"].to_csv(bad, index=False)
    job_id = jobs.submit_job(_cfg(bad))
    st = jobs.wait_for_job(job_id, timeout=240)
    assert st["state"] == "failed"
    assert "at least two" in st["error"]
    assert st.get("run_id") is None


def test_config_is_checked_before_queueing(env):
    with pytest.raises(GenreLabError, match="Unknown model backend"):
        jobs.submit_job({"dataset": "synthetic", "backend": "nope"})
    with pytest.raises(GenreLabError, match="epochs"):
        jobs.submit_job({"dataset": "synthetic", "params": {"epochs": 0}})
    with pytest.raises(GenreLabError, match="no hyperparameter 'depth'"):
        jobs.submit_job({"dataset": "synthetic", "params": {"depth": 3}})
    with pytest.raises(RunError, match="not a valid run name"):
        jobs.submit_job({"dataset": "synthetic", "name": "../escape"})
    with pytest.raises(GenreLabError, match="needs a dataset"):
        jobs.submit_job({"dataset": ""})
    with pytest.raises(GenreLabError, match="Unknown split"):
        jobs.submit_job({"dataset": "synthetic", "split": "random"})
    with pytest.raises(GenreLabError, match="Unknown job setting"):
        jobs.submit_job({"dataset": "synthetic", "epochs": 3})
    cfg = jobs.normalise_config({"dataset": "synthetic", "params": {"epochs": "3", "hidden": "8,4"}})
    assert cfg["params"] == {"epochs": 3, "hidden": [8, 4]} and cfg["split"] == "track"
    assert jobs.list_jobs() == []
    with pytest.raises(GenreLabError, match="No training job"):
        jobs.job_status("20990101-000000-mlp-abcdef")


def test_history_ignores_a_half_written_line(env):
    folder = jobs.jobs_dir() / "20990101-000000-mlp-000000"
    folder.mkdir(parents=True)
    (folder / "job.json").write_text(json.dumps({"job_id": folder.name, "config": {"dataset": "x"},
                                                 "submitted_ts": 0}))
    (folder / "status.json").write_text(json.dumps({"state": "complete"}))
    (folder / "history.jsonl").write_text('{"epoch": 1, "loss": 0.5}\n{"epoch": 2, "lo')
    assert jobs.job_history(folder.name) == [{"epoch": 1, "loss": 0.5}]
    # a "running" job without a live process is crashed
    (folder / "status.json").write_text(json.dumps({"state": "running", "pid": 2**22 + 7, "stage": "training"}))
    assert jobs.job_status(folder.name)["state"] == "crashed"
