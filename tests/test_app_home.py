"""Home page: loads on a fresh clone (no runs) and with runs; leaderboard, flagged runs, data, locations."""

from __future__ import annotations

import pytest

from helpers import metric_value
from app_fixtures import (  # noqa: F401 - fixtures
    COMPLETE_RUNS,
    CRASHED_RUN,
    VOTE_SYNTH,
    FAILED_RUN,
    REPO_ROOT,
    app_env,
    app_models,
    empty_env,
    new_app,
    texts,
)

HOME = "Home.py"




def _frames(at):
    return [d.value for d in at.dataframe]


def test_home_fresh_clone_without_runs(empty_env):
    at = new_app(HOME)
    at.run()
    assert not at.exception
    assert not at.error
    assert metric_value(at, "Trained runs ready") == "0"
    info = " ".join(texts(at.info))
    assert "No trained model is ready" in info
    assert "python -m genre_core train" in info
    assert str(empty_env / "shipped") in info
    # the bundled table and the synthetic demo are always found
    data = next(df for df in _frames(at) if "kind" in df.columns)
    assert "features_30_sec.csv" in set(data["name"])
    assert "synthetic" in set(data["kind"])
    # links to the other pages that exist
    links = [p.proto.page for p in at.get("page_link")]
    assert "Predict" in links


def test_home_lists_runs_leaderboard_and_flags(app_env):
    at = new_app(HOME)
    at.run()
    assert not at.exception
    assert not at.error
    assert metric_value(at, "Trained runs ready") == str(len(COMPLETE_RUNS))
    assert metric_value(at, "Runs needing attention") == "2"
    # one table per group of comparable runs (same data and protocol), best first within each
    boards = [df for df in _frames(at) if "track acc." in df.columns]
    assert len(boards) >= 2
    assert set().union(*(set(b["run"]) for b in boards)) == set(COMPLETE_RUNS)
    for board in boards:
        for col in ("backend", "track acc.", "95% CI", "balanced", "segments", "training", "size"):
            assert col in board.columns, col
        assert board["track acc."].between(0, 100).all()  # shown in percent
        assert list(board["track acc."]) == sorted(board["track acc."], reverse=True)
        assert all("–" in ci for ci in board["95% CI"])
        assert "None" not in " ".join(map(str, board.to_numpy().ravel()))
    vote = next(b for b in boards if VOTE_SYNTH in set(b["run"])).set_index("run").loc[VOTE_SYNTH]
    assert vote["segments"] == "n/a" and vote["training"] == "n/a" and vote["size"].endswith("MB")
    headers = " ".join(texts(at.markdown))
    assert "·" in headers and "run" in headers
    flagged = next(df for df in _frames(at) if "what it means" in df.columns)
    status = dict(zip(flagged["run"], flagged["status"]))
    assert status == {FAILED_RUN: "failed", CRASHED_RUN: "crashed"}
    assert any("out of memory" in str(e) for e in flagged["error"])
    assert any("cannot be used" in w for w in texts(at.warning))


def test_home_models_folder_setting(empty_env, app_models, monkeypatch):
    at = new_app(HOME)
    at.run()
    assert metric_value(at, "Trained runs ready") == "0"
    models_input = next(t for t in at.text_input if t.label.startswith("Models folder"))
    models_input.set_value(str(app_models))
    next(b for b in at.button if b.label == "Apply").click()
    at.run()
    assert not at.exception
    assert metric_value(at, "Trained runs ready") == str(len(COMPLETE_RUNS))
    assert next(t for t in at.text_input if t.label.startswith("Models folder")).label.endswith("(set on this page)")
    # a data folder that does not exist is refused with an error, not a traceback
    data_input = next(t for t in at.text_input if t.label.startswith("Data folder"))
    data_input.set_value(str(app_models / "no-such-folder"))
    next(b for b in at.button if b.label == "Apply").click()
    at.run()
    assert not at.exception
    assert any("does not exist" in e for e in texts(at.error))
    # reset: back to the folder the environment names (empty)
    next(b for b in at.button if b.label == "Reset to defaults").click()
    at.run()
    assert not at.exception
    assert metric_value(at, "Trained runs ready") == "0"
    assert next(t for t in at.text_input if t.label.startswith("Models folder")).label.endswith("($GENRE_MODELS_DIR)")


def test_leaderboard_and_flag_tables_are_pure(app_env):
    from genre_core.runs import list_runs
    from genre_core.discovery import discover_datasets
    from genre_core.leaderboard import flagged_runs_frame, leaderboard_frame

    runs = list_runs()
    board = leaderboard_frame(runs)
    assert list(board["run"]) and set(board["run"]) == set(COMPLETE_RUNS)
    # sorted by data, then accuracy (best first) within each data set
    for _, grp in board.groupby("data"):
        acc = list(grp["track acc."])
        assert acc == sorted(acc, reverse=True)
    assert (board["95% CI low"] <= board["track acc."]).all() and (board["track acc."] <= board["95% CI high"]).all()
    assert set(flagged_runs_frame(runs)["status"]) == {"failed", "crashed"}
    kinds = {d["kind"] for d in discover_datasets()}
    assert {"feature table", "synthetic"} <= kinds


def test_headline_tolerates_odd_records(app_env):
    from genre_core.runs import Run
    from genre_core.leaderboard import headline, leaderboard_frame

    odd = Run(path=app_env / "user" / "odd", name="odd", location="user",
              info={"dataset": "synthetic", "split": "track", "metrics": "garbage", "backend": "mlp"},
              status="failed")
    h = headline(odd)
    assert h["dataset"] == "synthetic" and h["split"] == "track" and h["track_accuracy"] is None
    assert leaderboard_frame([odd]).empty


def test_home_with_the_repo_shipped_runs(monkeypatch):
    """A fresh clone: Home lists every complete shipped run of the repository (skipped until they exist)."""
    monkeypatch.delenv("GENRE_MODELS_DIR", raising=False)
    from genre_core.runs import list_runs

    shipped = [r.id for r in list_runs(locations=("shipped",)) if r.status == "complete"]
    if not shipped:
        pytest.skip(f"no shipped runs committed yet in {REPO_ROOT / 'models' / 'shipped'}")
    at = new_app(HOME)
    at.run()
    assert not at.exception
    listed = set().union(*(set(df["run"]) for df in _frames(at) if "track acc." in df.columns))
    assert set(shipped) <= listed


def test_manage_runs_rename_and_delete_with_confirmation(app_models, tmp_path, monkeypatch, tmp_path_factory):
    import shutil

    from app_fixtures import allow_test_folders

    root = tmp_path / "models"
    shutil.copytree(app_models, root, symlinks=True)
    monkeypatch.setenv("GENRE_MODELS_DIR", str(root))
    allow_test_folders(monkeypatch, tmp_path_factory)
    (root / "user" / "broken-failed" / "my-notes.txt").write_text("keep me")
    at = new_app(HOME)
    at.run()
    at.selectbox(key="manage_run").set_value(FAILED_RUN).run()
    delete = at.button(key="manage_delete")
    assert delete.disabled  # nothing happens without the confirmation
    at.checkbox(key="manage_confirm").check().run()
    at.button(key="manage_delete").click().run()
    assert not at.exception
    # the failed run's files are gone; the user's note stays and is reported
    assert (root / "user" / "broken-failed" / "my-notes.txt").read_text() == "keep me"
    assert not (root / "user" / "broken-failed" / "run.json").exists()
    assert any("did not write" in e for e in texts(at.error))
    # rename a complete user run
    at = new_app(HOME)
    at.run()
    at.selectbox(key="manage_run").set_value("user/xgb-synth").run()
    at.text_input(key="manage_new_name").set_value("xgb-renamed").run()
    at.button(key="manage_rename").click().run()
    assert not at.exception
    assert (root / "user" / "xgb-renamed" / "run.json").is_file()
    assert any("Renamed" in s for s in texts(at.success))
    listed = set().union(*(set(df["run"]) for df in _frames(at) if "track acc." in df.columns))
    assert "user/xgb-renamed" in listed


def test_strongest_runs_rule(app_env):
    from genre_core.leaderboard import headline, strongest_runs
    from genre_core.runs import list_runs

    runs = [r for r in list_runs() if r.status == "complete"]
    picked = strongest_runs(runs, within=0.10, max_runs=4)
    accs = {r.id: headline(r)["track_accuracy"] for r in runs}
    best = max(a for a in accs.values() if a is not None)
    assert picked and accs[picked[0].id] == best
    assert all(accs[r.id] >= best - 0.10 for r in picked)
    left_out = [rid for rid, a in accs.items() if a is not None and a < best - 0.10]
    assert not set(left_out) & {r.id for r in picked}
