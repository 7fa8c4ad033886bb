"""Dask as the execution engine: same features as the local run, sweeps, a clear error for a dead scheduler.

One small in-process Dask cluster (threads, ``processes=False``) is shared by the
module; everything it computes is synthesised audio (``synthetic_dataset_dir``).
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

pytest.importorskip("distributed")

from genre_core import engine  # noqa: E402
from genre_core.cache import FeatureCache  # noqa: E402
from genre_core.dataset import open_dataset  # noqa: E402
from genre_core.errors import TrainingCancelled  # noqa: E402
from genre_core.inputs import InputSpec  # noqa: E402
from genre_core.extraction import compute_dataset_inputs

FAST_MLP_GRID = {"epochs": [3], "hidden": [(16,)], "patience": [0], "dropout": [0.1, 0.3]}


@pytest.fixture(scope="module")
def dask_engine():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
    client = Client(cluster, set_as_default=False)
    eng = engine.Engine.from_client(client)
    yield eng
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def dataset(synthetic_dataset_dir):
    return open_dataset(synthetic_dataset_dir, n_jobs=1)


def _same(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for tid in a:
        assert a[tid].X.dtype == b[tid].X.dtype == np.float32
        assert a[tid].X.tobytes() == b[tid].X.tobytes(), tid  # bit for bit
        assert np.array_equal(a[tid].starts, b[tid].starts) and np.array_equal(a[tid].ends, b[tid].ends)


@pytest.mark.parametrize("spec", [InputSpec("features", "mfcc_stats", {}, window=2.0),
                                  InputSpec("logmel", None, {"n_mels": 32}, window=2.0, hop=1.0)],
                         ids=["mfcc_stats", "logmel"])
def test_dask_extraction_equals_local_bit_for_bit(dask_engine, dataset, spec, tmp_path):
    local, bad_local = compute_dataset_inputs(dataset.tracks, spec, n_jobs=1, use_cache=False)
    msgs = []
    cache = FeatureCache(tmp_path / "shared-cache")
    cache.root.mkdir(parents=True)
    with engine.use(dask_engine):
        assert engine.current() is dask_engine
        remote, bad_remote = compute_dataset_inputs(dataset.tracks, spec, cache=cache, progress=msgs.append)
    assert not bad_local and bad_remote == bad_local
    _same(local, remote)
    assert msgs[-1]["done"] == msgs[-1]["total"] == len(dataset.tracks)
    # the workers saw the (shared) cache folder and wrote complete entries there: a rerun is all hits
    assert len(list(cache.root.glob("*/*.npz"))) == len(dataset.tracks)
    assert not list(cache.root.glob("*/*.tmp"))
    again = []
    with engine.use(dask_engine):
        cached, _ = compute_dataset_inputs(dataset.tracks, spec, cache=cache, progress=again.append)
    assert again[-1]["cached"] == len(dataset.tracks)
    _same(local, cached)


def test_dask_extraction_can_be_cancelled(dask_engine, dataset):
    spec = InputSpec("features", "mfcc_stats", {"n_mfcc": 13}, window=1.0)
    seen = []
    with engine.use(dask_engine), pytest.raises(TrainingCancelled, match="stopped after"):
        compute_dataset_inputs(dataset.tracks, spec, use_cache=False, progress=seen.append,
                               should_stop=lambda: len(seen) > 3)
    assert seen[-1]["done"] < len(dataset.tracks)


def test_sweep_on_dask_groups_runs_with_mean_and_std(dask_engine, synthetic_dataset_dir, tmp_path, monkeypatch):
    from genre_core.runs import list_runs, load_run
    from genre_core.sweep import list_sweeps, load_sweep, run_sweep, sweep_frame

    monkeypatch.setenv("GENRE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("GENRE_THREADS", "1")
    progress = []
    rec = run_sweep(synthetic_dataset_dir, "mlp", FAST_MLP_GRID, seeds=[0, 1], name="sw", engine=dask_engine,
                    test_size=1 / 3, valid_size=1 / 3, progress=progress.append)
    assert rec["status"] == "complete" and len(rec["configs"]) == 2 and len(rec["tasks"]) == 4
    names = sorted(t["run"] for t in rec["tasks"])
    assert names == ["user/sw-c0-s0", "user/sw-c0-s1", "user/sw-c1-s0", "user/sw-c1-s1"]
    assert sorted(r.id for r in list_runs() if r.status == "complete") == names
    # each run is an ordinary, loadable run that knows its sweep
    run = load_run("user/sw-c1-s1")
    assert run.info["sweep"] == "sw" and run.info["sweep_config"] == 1 and run.params["dropout"] == 0.3
    # mean ± std across seeds, recomputed from the runs themselves
    on_disk = load_sweep("sw")
    assert json.loads(json.dumps(on_disk["summary"])) == on_disk["summary"]
    for row in on_disk["summary"]:
        accs = [load_run(n).metrics["track_accuracy"] for n in names if n.startswith(f"user/sw-c{row['config']}-")]
        assert row["track_accuracy"]["n"] == 2
        assert row["track_accuracy"]["mean"] == pytest.approx(np.mean(accs))
        assert row["track_accuracy"]["std"] == pytest.approx(np.std(accs, ddof=1))
    assert on_disk["best"] in (0, 1) and sum(r["best"] for r in on_disk["summary"]) == 1
    frame = sweep_frame(on_disk)
    assert list(frame["best"]).count("best") == 1 and "±" in frame["track_accuracy"].iloc[0]
    assert [s["name"] for s in list_sweeps()] == ["sw"]
    assert progress[-1] == {**progress[-1], "stage": "sweep", "done": 4, "total": 4}
    # Compare renders the sweep: one row per configuration, mean ± std, the best marked
    from app_fixtures import new_app

    at = new_app("pages/3_Compare.py")
    at.run()
    assert not at.exception
    assert [e.label for e in at.expander if e.label.startswith("Sweeps")] == ["Sweeps (1)"]
    shown = next(df.value for df in at.dataframe if "configuration" in df.value.columns)
    assert list(shown["configuration"]) == ["dropout=0.1", "dropout=0.3"]
    assert list(shown["best"]).count("best") == 1


def test_sweep_kfold_locally_one_run_per_fold(synthetic_dataset_dir, tmp_path, monkeypatch):
    from genre_core.sweep import run_sweep

    monkeypatch.setenv("GENRE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("GENRE_THREADS", "1")
    rec = run_sweep(synthetic_dataset_dir, "xgb", {"n_estimators": [5]}, seeds=[0], split="kfold", k=3,
                    name="kf", engine=None, n_jobs=1, valid_size=1 / 3)
    assert [t["fold"] for t in rec["tasks"]] == [1, 2, 3]
    assert rec["summary"][0]["track_accuracy"]["n"] == 3
    # the folds' test sides partition the dataset
    from genre_core.runs import load_run

    tested = [t for task in rec["tasks"] for t in load_run(task["run"]).info["split"]["test"]]
    assert len(tested) == len(set(tested)) == 18


def test_unreachable_scheduler_fails_fast_with_a_clear_message(dataset, monkeypatch):
    monkeypatch.setenv("GENRE_DASK_TIMEOUT", "2")
    spec = InputSpec("features", "mfcc_stats", {}, window=2.0)
    eng = engine.Engine("tcp://127.0.0.1:1")
    t0 = time.monotonic()
    with engine.use(eng), pytest.raises(engine.EngineError, match=r"Cannot reach the Dask scheduler at tcp://127"):
        compute_dataset_inputs(dataset.tracks[:2], spec, use_cache=False)
    assert time.monotonic() - t0 < 10


def test_cli_unreachable_scheduler_is_a_one_line_error(synthetic_dataset_dir, tmp_path, monkeypatch, capsys):
    from genre_core.cli import main

    monkeypatch.setenv("GENRE_DASK_TIMEOUT", "1")
    rc = main(["features", str(synthetic_dataset_dir), "--set", "mfcc_stats", "--out", str(tmp_path / "f.csv"),
               "--no-cache", "-q", "--dask", "tcp://127.0.0.1:1"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: Cannot reach the Dask scheduler") and "unexpected" not in err
    assert not (tmp_path / "f.csv").exists()
    # a malformed address and a bad GENRE_DASK are the same kind of error
    assert main(["features", str(synthetic_dataset_dir), "--out", str(tmp_path / "f.csv"), "--dask", "nonsense"]) == 2
    assert "not a Dask address" in capsys.readouterr().err
    monkeypatch.setenv("GENRE_DASK", "local:0")
    assert main(["features", str(synthetic_dataset_dir), "--out", str(tmp_path / "f.csv")]) == 2
    assert "local:N" in capsys.readouterr().err
    # the option wins over the environment
    assert main(["features", str(synthetic_dataset_dir), "--set", "mfcc_stats", "--out", str(tmp_path / "f.csv"),
                 "-q", "-j", "1", "--dask", "off"]) == 0


def test_addresses_and_engine_resolution(monkeypatch):
    assert engine.parse_address("local") == ("local", None, None)
    assert engine.parse_address("local:3") == ("local", None, 3)
    assert engine.parse_address("tcp://10.0.0.5:8786") == ("scheduler", "tcp://10.0.0.5:8786", None)
    assert engine.parse_address("10.0.0.5:8786") == ("scheduler", "tcp://10.0.0.5:8786", None)
    monkeypatch.delenv("GENRE_DASK", raising=False)
    assert not engine.current().is_dask and "local processes" in engine.describe_configured()
    monkeypatch.setenv("GENRE_DASK", "local:2")
    assert engine.current().is_dask and "2 worker processes" in engine.describe_configured()
    assert engine.get_engine("local:2") is engine.get_engine("local:2")  # one cluster per address
    monkeypatch.setenv("GENRE_DASK", "bogus")
    assert "invalid GENRE_DASK" in engine.describe_configured()


def test_many_small_tasks_are_chunked_and_all_come_back(dask_engine):
    assert engine.chunk_size(1200, 2) == 12 and engine.chunk_size(10, 2) == 1
    got = list(dask_engine.map(abs, [(-i,) for i in range(1200)]))
    assert sorted(got) == list(range(1200))
    n = []
    with pytest.raises(TrainingCancelled, match="halt"):
        for _ in dask_engine.map(abs, [(-i,) for i in range(1200)], should_stop=lambda: len(n) >= 30,
                                 stop_message="halt"):
            n.append(1)
    assert len(n) == 30


def test_cli_sweep_prints_mean_std_table(synthetic_dataset_dir, tmp_path, monkeypatch, capsys):
    from genre_core.cli import main

    monkeypatch.setenv("GENRE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("GENRE_THREADS", "1")
    monkeypatch.delenv("GENRE_DASK", raising=False)
    rc = main(["sweep", str(synthetic_dataset_dir), "--model", "xgb", "--param", "n_estimators=5,10",
               "--param", "max_depth=2", "--seeds", "0", "1", "--name", "clisweep", "--test-size", "0.34",
               "--valid-size", "0.34", "-q", "-j", "1"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "sweep clisweep: 4 runs on local processes" in out and out.count("±") == 6
    assert "n_estimators=5" in out and "n_estimators=10" in out
    assert (tmp_path / "models" / "user" / ".sweeps" / "clisweep.json").is_file()
    # the same name again is refused before anything is trained
    assert main(["sweep", str(synthetic_dataset_dir), "--model", "xgb", "--name", "clisweep", "-q"]) == 2
    assert "exists" in capsys.readouterr().err


def test_optuna_search_on_dask_stores_its_study_beside_the_sweep(dask_engine, synthetic_dataset_dir, tmp_path,
                                                                  monkeypatch):
    optuna = pytest.importorskip("optuna")
    from genre_core.errors import GenreLabError
    from genre_core.sweep import Range, parse_grid, run_sweep, sweeps_dir

    monkeypatch.setenv("GENRE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("GENRE_THREADS", "1")
    grid = parse_grid(["n_estimators=3:12", "learning_rate=0.05:0.5:log", "max_depth=2"], "xgb")
    assert grid["n_estimators"] == Range((3, 12, False)) and grid["max_depth"] == [2]
    with pytest.raises(GenreLabError, match="ranges need --search optuna"):
        run_sweep(synthetic_dataset_dir, "xgb", grid, name="nogrid")
    rec = run_sweep(synthetic_dataset_dir, "xgb", grid, seeds=[0], search="optuna", trials=3, name="opt",
                    engine=dask_engine, test_size=1 / 3, valid_size=1 / 3)
    assert rec["status"] == "complete" and len(rec["configs"]) == 3 and len(rec["tasks"]) == 3
    for cfg in rec["configs"]:
        assert 3 <= cfg["params"]["n_estimators"] <= 12 and cfg["params"]["max_depth"] == 2
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    study = optuna.load_study(study_name="opt", storage=JournalStorage(JournalFileBackend(
        str(sweeps_dir() / "opt.optuna.log"))))
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    best = rec["summary"][rec["best"]]
    assert best["track_accuracy"]["mean"] == pytest.approx(study.best_value)
