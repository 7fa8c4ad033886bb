"""Metrics on hand-made inputs with exact expected values (and cross-checks with scikit-learn)."""

import json
import math

import numpy as np
import pytest
from sklearn import metrics as skm

from genre_core.errors import DatasetError
from genre_core.metrics import (
    aggregate_tracks,
    evaluate_predictions,
    evaluate_track_probabilities,
    log_loss,
    majority_vote,
    mcnemar_test,
    mcnemar_tracks,
    top_k_accuracy,
    wilson_interval,
)

LABELS = ["a", "b", "c"]


def _example():
    # 3 tracks: t1 (a) 3 segments, t2 (b) 2 segments, t3 (c) 1 segment
    proba = np.array(
        [
            [0.6, 0.3, 0.1],  # t1 -> a
            [0.2, 0.7, 0.1],  # t1 -> b
            [0.5, 0.1, 0.4],  # t1 -> a      mean t1 = [.433, .367, .2] -> a ; vote a (2 of 3)
            [0.1, 0.2, 0.7],  # t2 -> c
            [0.1, 0.5, 0.4],  # t2 -> b      mean t2 = [.1, .35, .55] -> c ; vote tie b/c -> c (higher mean)
            [0.3, 0.3, 0.4],  # t3 -> c      mean t3 -> c
        ]
    )
    tracks = ["a/t1", "a/t1", "a/t1", "b/t2", "b/t2", "c/t3"]
    truth = {"a/t1": "a", "b/t2": "b", "c/t3": "c"}
    return proba, tracks, truth


def test_segment_and_track_metrics_exact():
    proba, tracks, truth = _example()
    m = evaluate_predictions(proba, tracks, truth, LABELS)
    assert m["labels"] == LABELS
    assert m["n_segments"] == 6 and m["n_tracks"] == 3
    # segments: correct are rows 0, 2, 4, 5 -> 4/6
    assert m["segment_accuracy"] == pytest.approx(4 / 6)
    assert m["segment_confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    # tracks: t1 -> a (right), t2 -> c (wrong), t3 -> c (right)
    assert m["track_accuracy"] == pytest.approx(2 / 3)
    assert m["n_tracks_correct"] == 2
    assert m["confusion_matrix"] == [[1, 0, 0], [0, 0, 1], [0, 0, 1]]
    assert m["track_vote_accuracy"] == pytest.approx(2 / 3)
    # balanced accuracy: recalls a=1, b=0, c=1
    assert m["balanced_accuracy"] == pytest.approx(2 / 3)
    # per class: a P=1 R=1 ; b P=0 R=0 ; c P=.5 R=1 F1=2/3
    assert m["per_class"]["c"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1, "predicted": 2}
    assert m["per_class"]["b"]["f1"] == 0.0
    assert m["macro_f1"] == pytest.approx((1 + 0 + 2 / 3) / 3)
    # top-2 on track probabilities: t2's truth b is 2nd -> all hit
    assert m["top2_accuracy"] == 1.0
    # log loss on track means
    expected = -np.mean(np.log([(0.6 + 0.2 + 0.5) / 3, 0.35, 0.4]))
    assert m["log_loss"] == pytest.approx(expected)
    lo, hi = m["track_accuracy_ci"]
    assert (lo, hi) == pytest.approx(wilson_interval(2, 3))
    json.dumps(m)  # plain JSON


def test_matches_sklearn_on_random_inputs():
    rng = np.random.default_rng(0)
    n_tracks, n_classes = 40, 4
    labels = [f"g{i}" for i in range(n_classes)]
    seg_tracks, seg_truth, rows = [], [], []
    for t in range(n_tracks):
        y = int(rng.integers(n_classes))
        for _ in range(int(rng.integers(1, 6))):
            logits = rng.normal(size=n_classes)
            logits[y] += 1.0
            p = np.exp(logits) / np.exp(logits).sum()
            rows.append(p)
            seg_tracks.append(f"t{t}")
            seg_truth.append(labels[y])
    proba = np.array(rows)
    m = evaluate_predictions(proba, seg_tracks, seg_truth, labels)
    yseg = np.array([labels.index(v) for v in seg_truth])
    assert m["segment_accuracy"] == pytest.approx(skm.accuracy_score(yseg, proba.argmax(1)))
    assert m["segment_log_loss"] == pytest.approx(skm.log_loss(yseg, proba, labels=range(n_classes)))
    assert m["segment_top2_accuracy"] == pytest.approx(skm.top_k_accuracy_score(yseg, proba, k=2))
    ids, mean, _, _ = aggregate_tracks(proba, seg_tracks)
    ytr = np.array([yseg[seg_tracks.index(t)] for t in ids])
    pred = mean.argmax(1)
    assert m["track_accuracy"] == pytest.approx(skm.accuracy_score(ytr, pred))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(ytr, pred))
    assert m["macro_f1"] == pytest.approx(skm.f1_score(ytr, pred, average="macro"))
    assert m["confusion_matrix"] == skm.confusion_matrix(ytr, pred, labels=range(n_classes)).tolist()
    assert m["log_loss"] == pytest.approx(skm.log_loss(ytr, mean, labels=range(n_classes)))
    p, r, f, s = skm.precision_recall_fscore_support(ytr, pred, labels=range(n_classes), zero_division=0)
    for i, lab in enumerate(labels):
        assert m["per_class"][lab]["precision"] == pytest.approx(p[i])
        assert m["per_class"][lab]["recall"] == pytest.approx(r[i])
        assert m["per_class"][lab]["f1"] == pytest.approx(f[i])
        assert m["per_class"][lab]["support"] == s[i]


def test_majority_vote_tie_broken_by_mean_probability():
    votes = np.array([[2, 2, 0], [0, 1, 3]])
    mean = np.array([[0.3, 0.4, 0.3], [0.5, 0.3, 0.2]])
    assert majority_vote(votes, mean).tolist() == [1, 2]


def test_vote_differs_from_mean():
    # two confident-wrong-ish segments vs one very confident right one
    proba = np.array([[0.0, 1.0], [0.55, 0.45], [0.55, 0.45]])
    m = evaluate_predictions(proba, ["x"] * 3, ["b"] * 3, ["a", "b"])
    assert m["track_accuracy"] == 1.0  # mean = [.367, .633]
    assert m["track_vote_accuracy"] == 0.0  # vote a 2:1


def test_log_loss_is_clipped():
    ll = log_loss(np.array([[1.0, 0.0]]), [1])
    assert math.isfinite(ll) and ll == pytest.approx(-math.log(1e-7))


def test_top_k():
    proba = np.array([[0.5, 0.3, 0.2], [0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    assert top_k_accuracy(proba, [2, 1, 0], k=2) == pytest.approx(2 / 3)  # tie at 2nd place counts
    assert top_k_accuracy(proba, [2, 1, 0], k=1) == 0.0
    assert top_k_accuracy(proba[:, :1], [0, 0, 0], k=2) == 1.0


def test_wilson_interval_known_values():
    assert wilson_interval(8, 10) == pytest.approx((0.4901625, 0.9433178), abs=1e-6)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775328), abs=1e-6)
    assert wilson_interval(10, 10) == pytest.approx((0.7224672, 1.0), abs=1e-6)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(55, 100)
    assert lo < 0.55 < hi and hi - lo == pytest.approx(0.19, abs=0.01)
    with pytest.raises(ValueError):
        wilson_interval(5, 3)


def test_mcnemar_exact_and_chi2():
    # b = 4 (A only right), c = 0 -> exact p = 2 * 0.5**4 = 0.125
    r = mcnemar_test([1, 1, 1, 1, 1, 0], [0, 0, 0, 0, 1, 0])
    assert (r["a_only"], r["b_only"], r["both_correct"], r["both_wrong"]) == (4, 0, 1, 1)
    assert r["p_value"] == pytest.approx(0.125) and r["method"] == "exact binomial"
    # b = 1, c = 3: exact p = 2 * P(X<=1 | n=4) = 2 * 5/16
    a = [1, 0, 0, 0]
    b = [0, 1, 1, 1]
    assert mcnemar_test(a, b)["p_value"] == pytest.approx(10 / 16)
    # identical runs
    assert mcnemar_test([1, 0, 1], [1, 0, 1])["p_value"] == 1.0
    # large counts: b = 30, c = 10 -> chi2 = (20-1)^2/40 = 9.025
    a = [1] * 30 + [0] * 10
    b = [0] * 30 + [1] * 10
    r = mcnemar_test(a, b)
    assert r["method"].startswith("chi-square")
    assert r["statistic"] == pytest.approx(9.025)
    assert r["p_value"] == pytest.approx(0.0026631, abs=1e-6)


def test_mcnemar_tracks_aligns_and_warns():
    a = {"t1": True, "t2": False, "t3": True}
    b = {"t3": False, "t2": True, "t1": True}
    r = mcnemar_tracks(a, b)
    assert r["n"] == 3 and r["comparable"] and (r["a_only"], r["b_only"]) == (1, 1)
    r = mcnemar_tracks(a, {"t1": True, "t9": False})
    assert r["n"] == 1 and not r["comparable"] and "not directly comparable" in r["note"]
    r = mcnemar_tracks(a, {"x": True})
    assert r["n"] == 0 and "not directly comparable" in r["note"]


def test_label_mismatch_is_a_user_error():
    with pytest.raises(DatasetError, match="label-set mismatch"):
        evaluate_predictions(np.array([[0.5, 0.5]]), ["t"], ["zzz"], ["a", "b"])


def test_subset_of_labels_and_empty_input():
    # truth uses only some of the model's classes: balanced accuracy over present classes
    proba = np.array([[0.9, 0.1, 0.0], [0.2, 0.1, 0.7]])
    m = evaluate_track_probabilities(proba, ["a", "a"], LABELS)
    assert m["track_accuracy"] == 0.5 and m["balanced_accuracy"] == 0.5
    # macro F1 over classes seen in truth or predictions: a (P=1,R=.5 -> 2/3) and c (0)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0) / 2)
    empty = evaluate_predictions(np.zeros((0, 3)), [], [], LABELS)
    assert empty["n_tracks"] == 0 and empty["track_accuracy"] is None and empty["track_accuracy_ci"] == [0.0, 1.0]
    json.dumps(empty)


def test_inconsistent_track_labels_rejected():
    with pytest.raises(ValueError, match="different true labels"):
        evaluate_predictions(np.array([[0.5, 0.5], [0.5, 0.5]]), ["t", "t"], ["a", "b"], ["a", "b"])
