"""genre_core.comparison: settings diff, CIs, confusion drill-down, McNemar verdicts, audio lookup (no models)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genre_core import comparison as cmp
from genre_core.errors import RunError
from genre_core.metrics import evaluate_predictions, prediction_tables
from genre_core.runs import Run

LABELS = ["a", "b", "c"]


def make_run(run_id: str, truth: list[str], seg_pred: list[list[str]], *, params=None, dataset="fp1",
             history=None) -> Run:
    """A run (record and tables, no folder) built the way training builds it: segment probabilities ->
    evaluation + tables."""
    proba, groups = [], []
    for i, preds in enumerate(seg_pred):
        for p in preds:
            row = np.full(len(LABELS), 0.1)
            row[LABELS.index(p)] = 0.8
            proba.append(row / row.sum())
            groups.append(f"{truth[i]}/t{i:02d}")
    proba = np.array(proba)
    label_of = {f"{t}/t{i:02d}": t for i, t in enumerate(truth)}
    metrics = evaluate_predictions(proba, groups, label_of, LABELS)
    metrics["evaluated_on"] = "test"
    tracks, segments = prediction_tables(proba, groups, label_of, LABELS,
                                         starts=np.zeros(len(groups)), ends=np.full(len(groups), 3.0))
    info = {"backend": "mlp", "labels": LABELS, "metrics": metrics, "params": params or {"lr": 0.001},
            "dataset": {"name": "toy", "fingerprint": dataset, "roots": []}, "seed": 0,
            "split": {"protocol": "track", "train": [], "valid": [], "test": sorted(label_of)},
            "timings": {"training_s": 1.0, "inference_s_per_track": 0.002}, "size_bytes": 2_000_000}
    location, name = run_id.split("/", 1)
    return Run(path=Path("/nowhere") / name, name=name, location=location, info=info,
               tables={"tracks": tracks, "segments": segments, "history": history or []})


TRUTH = ["a"] * 10 + ["b"] * 10 + ["c"] * 10


def test_bootstrap_cis_are_reproducible_and_bracket_the_estimate():
    preds = [[t] * 3 if i % 4 else [t, "b" if t != "b" else "c", "b" if t != "b" else "c"]
             for i, t in enumerate(TRUTH)]
    run = make_run("user/x", TRUTH, preds)
    cis = cmp.bootstrap_cis(run, n_boot=500, seed=1)
    assert cis == cmp.bootstrap_cis(run, n_boot=500, seed=1)
    m = run.metrics
    # track accuracy: the Wilson interval stored in run.json
    assert cis["track_accuracy"] == tuple(m["track_accuracy_ci"])
    for key in ("balanced_accuracy", "macro_f1", "segment_accuracy", "track_vote_accuracy", "log_loss"):
        lo, hi = cis[key]
        assert lo <= m[key] <= hi, key
        assert lo < hi, key


def test_config_frame_marks_what_differs():
    a = make_run("user/a", TRUTH, [[t] for t in TRUTH], params={"lr": 0.001, "epochs": 10})
    b = make_run("user/b", TRUTH, [[t] for t in TRUTH], params={"lr": 0.01, "epochs": 10})
    frame = cmp.config_frame([a, b])
    assert list(frame.columns) == ["user/a", "user/b"]
    differs = cmp.differing_rows(frame)
    assert differs["param: lr"] and not differs["param: epochs"] and not differs["backend"]
    assert frame.loc["param: lr", "user/b"] == "0.01"
    assert not cmp.differing_rows(frame[["user/a"]]).any()


def test_metrics_frame_and_test_set_groups():
    a = make_run("user/a", TRUTH, [[t] for t in TRUTH])
    b = make_run("user/b", TRUTH, [[t] for t in TRUTH])
    c = make_run("user/c", TRUTH[:20], [[t] for t in TRUTH[:20]])
    frame = cmp.metrics_frame([a, b, c], {r.id: cmp.bootstrap_cis(r, n_boot=100) for r in (a, b, c)})
    assert list(frame["test set"]) == ["A", "A", "B"]
    assert frame.loc[0, "track acc."] == 1.0
    assert frame.loc[0, "inference per track (ms)"] == pytest.approx(2.0)
    assert frame.loc[0, "size (MB)"] == pytest.approx(2.0)
    assert "%" in frame.loc[0, "track acc. 95% CI"]


def test_confusion_cells_and_drill_down():
    # a/t00 and a/t01 predicted b; c/t20 has one segment predicted a
    preds = [[t, t] for t in TRUTH]
    preds[0] = ["b", "b"]
    preds[1] = ["b", "a", "b"]
    preds[20] = ["c", "a", "c"]
    run = make_run("user/x", TRUTH, preds)
    labels, cm = cmp.confusion_counts(run, "track")
    assert labels == LABELS and cm[0, 1] == 2 and cm.sum() == 30
    cells = cmp.nonzero_cells(labels, cm)
    assert cells[0] == ("a", "b", 2)  # errors first, largest first
    assert cells[-1][0] == cells[-1][1]
    tracks = cmp.cell_tracks(run, "a", "b")
    assert sorted(tracks["track_id"]) == ["a/t00", "a/t01"]
    assert (tracks["p(predicted)"] > tracks["p(true)"]).all()
    seg = cmp.cell_tracks(run, "c", "a", level="segment")
    assert list(seg["track_id"]) == ["c/t20"] and seg["segments in cell"].iloc[0] == 1
    segs = cmp.track_segments(run, "a/t01")
    assert len(segs) == 3 and list(segs["predicted"]) == ["b", "a", "b"]
    norm = cmp.normalise_rows(cm)
    assert np.allclose(norm.sum(axis=1), 1.0)
    _, seg_cm = cmp.confusion_counts(run, "segment")
    assert seg_cm.sum() == sum(len(p) for p in preds)
    voting = Run(path=Path("/v"), name="v", location="user", info={"labels": LABELS, "metrics": {}},
                 tables={"tracks": run.tracks, "segments": None})
    with pytest.raises(RunError, match="no segment-level predictions"):
        cmp.confusion_counts(voting, "segment")


def test_difference_matrix_sign_and_flags():
    good = make_run("user/good", TRUTH, [[t] for t in TRUTH])
    preds = [[t] for t in TRUTH]
    preds[:5] = [["b"]] * 5
    worse = make_run("user/worse", TRUTH, preds)
    labels, diff, notes = cmp.difference_matrix(good, worse, level="track", normalised=True)
    assert diff[0, 0] == pytest.approx(-0.5) and diff[0, 1] == pytest.approx(0.5)
    assert notes == []
    # different test sets: the difference is taken on the shared tracks only (issue 13), or not at all
    other = make_run("user/other", TRUTH[:20], [[t] for t in TRUTH[:20]])
    labels, diff, notes = cmp.difference_matrix(worse, other, normalised=False)
    assert any("20 test tracks both runs share" in n for n in notes)
    shared_worse = cmp._cm_from_tables(worse, "track", other.test_ids())
    assert np.array_equal(diff, cmp._cm_from_tables(other, "track") - shared_worse)
    disjoint = make_run("user/disjoint", TRUTH[:10], [[t] for t in TRUTH[:10]])
    disjoint.tracks["track_id"] = [f"x/{i}" for i in range(len(disjoint.tracks))]
    _, diff, notes = cmp.difference_matrix(good, disjoint)
    assert not diff.any() and any("share no test track" in n for n in notes)


def test_compare_pair_verdicts():
    a = make_run("user/a", TRUTH, [[t] for t in TRUTH])
    preds = [[t] for t in TRUTH]
    for i in range(0, 30, 2):  # B wrong on 15 tracks A gets right
        preds[i] = [{"a": "b", "b": "c", "c": "a"}[TRUTH[i]]]
    b = make_run("user/b", TRUTH, preds)
    res = cmp.compare_pair(a, b)
    assert res["comparable"] and res["a_only"] == 15 and res["b_only"] == 0
    assert res["p_value"] < 0.05 and "user/a is more accurate" in res["verdict"]
    same = cmp.compare_pair(a, make_run("user/c", TRUTH, [[t] for t in TRUTH]))
    assert "never disagree" in same["verdict"]
    preds2 = [[t] for t in TRUTH]
    preds2[0], preds2[1] = ["b"], ["b"]
    close = cmp.compare_pair(a, make_run("user/d", TRUTH, preds2))
    assert close["p_value"] > 0.05 and "consistent with chance" in close["verdict"] and "little power" in close["verdict"]
    other_data = make_run("user/e", TRUTH, [[t] for t in TRUTH], dataset="fp2")
    res = cmp.compare_pair(a, other_data)
    assert not res["comparable"] and any("different datasets" in w for w in res["warnings"])
    disjoint = cmp.compare_pair(a, make_run("user/f", ["a"], [["a"]]))
    assert not disjoint["comparable"]


def test_per_class_frame_leaves_undefined_figures_blank():
    truth = ["a"] * 5 + ["b"] * 5  # no test track of genre c
    preds = [[t] for t in truth]
    preds[0] = ["c"]  # ... but one a-track predicted c
    run = make_run("user/x", truth, preds)
    f1 = cmp.per_class_frame([run], "f1").loc["user/x"]
    assert f1["a"] == pytest.approx(2 * 1.0 * 0.8 / 1.8) and f1["b"] == 1.0 and np.isnan(f1["c"])
    prec = cmp.per_class_frame([run], "precision").loc["user/x"]
    assert prec["c"] == 0.0  # predicted once, wrongly
    none_predicted = make_run("user/y", truth, [[t] for t in truth])
    assert np.isnan(cmp.per_class_frame([none_predicted], "precision").loc["user/y", "c"])


def test_history_frame_and_find_track_audio(tmp_path):
    hist = [{"epoch": 1, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.2, "val_accuracy": 0.4},
            {"epoch": 2, "loss": 0.8, "accuracy": 0.6, "val_loss": None, "val_accuracy": None}]
    frame = cmp.history_frame([make_run("user/h", TRUTH, [[t] for t in TRUTH], history=hist)])
    assert len(frame) == 6 and set(frame["side"]) == {"train", "valid"}
    (tmp_path / "rock").mkdir()
    f = tmp_path / "rock" / "rock.00003.ogg"
    f.write_bytes(b"x")
    assert cmp.find_track_audio("rock/rock.00003", [str(tmp_path)], extra_roots=[]) == f
    assert cmp.find_track_audio("rock/rock.00004", [str(tmp_path)], extra_roots=[]) is None
    assert cmp.find_track_audio("rock/rock.00003", [str(tmp_path / "table.csv")], extra_roots=[tmp_path]) == f


def test_differing_rows_among_comparable_runs():
    frame = pd.DataFrame({"user/m1": ["mlp", "64", "a"], "user/m2": ["mlp", "128", "a"], "user/x": ["xgb", "—", "b"]},
                         index=["backend", "hidden", "data"])
    plain = cmp.differing_rows(frame)
    assert plain.tolist() == [True, True, True]
    grouped = cmp.differing_rows(frame, groups={"user/m1": "mlp", "user/m2": "mlp", "user/x": "xgb"})
    assert grouped.tolist() == [False, True, False]
    # no group with two runs: fall back to comparing all
    alone = cmp.differing_rows(frame[["user/m1", "user/x"]], groups={"user/m1": "mlp", "user/x": "xgb"})
    assert alone.all()
