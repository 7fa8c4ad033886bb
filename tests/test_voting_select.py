"""Greedy ensemble selection on out-of-fold predictions, scored nested (issue 11).

The selection itself is tested on synthetic out-of-fold tables (fast); one
module fixture trains three tiny k-fold runs to check the saved run: members
never picked are left out, and the run still loads and predicts.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import models_folder

from genre_core.errors import RunError
from genre_core.metrics import log_loss
from genre_core.voting import (
    choose_vote_weights,
    nested_vote_mix,
    select_vote_counts,
)

N_CLASSES = 4


def _member(rng, y, skill: float, sharpness: float = 3.0) -> np.ndarray:
    """Synthetic out-of-fold probabilities: right with probability ``skill``, confidence from ``sharpness``."""
    n = len(y)
    guess = np.where(rng.random(n) < skill, y, rng.integers(0, N_CLASSES, n))
    logits = rng.normal(0.0, 1.0, (n, N_CLASSES))
    logits[np.arange(n), guess] += sharpness
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _table(seed: int, n: int = 120, skills=(0.7, 0.6, 0.5, 0.3)):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES, n)
    return [_member(rng, y, s, sharpness=rng.uniform(1.0, 5.0)) for s in skills], y


def _accuracy(p, y) -> float:
    return float(np.mean(np.asarray(p).argmax(axis=1) == y))


@pytest.mark.parametrize("seed", range(8))
def test_selection_never_scores_worse_than_the_best_member_on_its_own_data(seed):
    probas, y = _table(seed)
    counts = select_vote_counts(probas, y)
    mix = np.tensordot(counts / counts.sum(), np.stack(probas), axes=1)
    assert log_loss(mix, y) <= min(log_loss(p, y) for p in probas) + 1e-12
    counts = select_vote_counts(probas, y, objective="accuracy")
    mix = np.tensordot(counts / counts.sum(), np.stack(probas), axes=1)
    assert _accuracy(mix, y) >= max(_accuracy(p, y) for p in probas)


def test_selection_starts_from_the_best_member_counts_copies_and_is_deterministic():
    probas, y = _table(0)
    best = int(np.argmin([log_loss(p, y) for p in probas]))
    assert select_vote_counts(probas, y, rounds=1).tolist() == np.eye(len(probas), dtype=int)[best].tolist()
    counts = select_vote_counts(probas, y, rounds=10)
    assert counts.dtype.kind == "i" and 1 <= counts.sum() <= 10 and counts[best] >= 1
    assert all(np.array_equal(select_vote_counts(probas, y, rounds=10), counts) for _ in range(3))
    w, c = choose_vote_weights(probas, y, "select")
    np.testing.assert_allclose(w, c / c.sum())
    w_fit, c_fit = choose_vote_weights(probas, y, "fit")
    assert c_fit is None and w_fit.sum() == pytest.approx(1.0)


def test_a_member_identical_to_an_earlier_one_is_never_picked():
    probas, y = _table(1, skills=(0.7, 0.6))
    counts = select_vote_counts([probas[0], probas[1], probas[0].copy()], y)
    assert counts[2] == 0  # ties go to the earlier member


def test_bad_objective_or_method_is_refused():
    probas, y = _table(2)
    with pytest.raises(RunError, match="log_loss"):
        select_vote_counts(probas, y, objective="f1")
    with pytest.raises(RunError, match="'select'"):
        choose_vote_weights(probas, y, "best")
    with pytest.raises(RunError, match="two folds"):
        nested_vote_mix(probas, y, np.zeros(len(y), dtype=int))


def _fold_k_specialist(n_per_fold: int = 40, k: int = 3):
    """A steady member, and one that is perfect on fold 0 only (and a little worse than flat elsewhere)."""
    rng = np.random.default_rng(5)
    folds = np.repeat(np.arange(k), n_per_fold)
    y = rng.integers(0, N_CLASSES, len(folds))
    steady = _member(rng, y, 0.6, sharpness=1.5)
    special = np.full((len(y), N_CLASSES), 0.2 / (N_CLASSES - 1))
    special[np.arange(len(y)), np.where(folds == 0, y, (y + 1) % N_CLASSES)] = 0.8
    return [steady, special], y, folds


def test_nested_selection_for_a_fold_uses_only_the_other_folds():
    probas, y, folds = _fold_k_specialist()
    # on all tracks the specialist helps (so information from fold 0 would pick it) ...
    assert select_vote_counts(probas, y)[1] > 0
    # ... but fold 0 is scored with a selection made on folds 1 and 2, which never picks it
    mix, chosen = nested_vote_mix(probas, y, folds, "select")
    assert chosen["fold_selections"][0][1] == 0 and chosen["fold_weights"][0] == [1.0, 0.0]
    np.testing.assert_allclose(mix[folds == 0], probas[0][folds == 0])
    for f, counts in enumerate(chosen["fold_selections"]):
        out = folds != f
        assert counts == select_vote_counts([p[out] for p in probas], y[out]).tolist()
        w = np.asarray(counts) / sum(counts)
        np.testing.assert_allclose(mix[folds == f], np.tensordot(w, np.stack([p[folds == f] for p in probas]), 1))
    again, _ = nested_vote_mix(probas, y, folds, "select")
    np.testing.assert_array_equal(mix, again)


# --------------------------------------------------------------------------- a saved run

KFOLD = {"split": "kfold", "k": 3, "valid_size": 0.3, "refit": True, "n_jobs": 1, "seed": 0}


@pytest.fixture(scope="module")
def candidates(synthetic_dataset_dir, tmp_path_factory):
    """Three k-fold runs on the synthetic folder: xgb, an identical copy of it, and a weak mlp."""
    from genre_core.training import train

    root = tmp_path_factory.mktemp("select_models")
    with models_folder(root):
        train(str(synthetic_dataset_dir), "xgb", {"n_estimators": 10}, out="sel-xgb", **KFOLD)
        train(str(synthetic_dataset_dir), "xgb", {"n_estimators": 10}, out="sel-xgb-copy", **KFOLD)
        train(str(synthetic_dataset_dir), "mlp", {"epochs": 1, "hidden": 2, "lr": 1e-5}, out="sel-weak", **KFOLD)
    return root


def test_selected_run_keeps_only_picked_members_and_still_loads_and_predicts(candidates, tmp_path, monkeypatch,
                                                                             capsys):
    from genre_core.cli import main
    from genre_core.predict import predict_file
    from genre_core.runs import load_run
    from genre_core.synthetic import synth_genre_clip

    monkeypatch.setenv("GENRE_MODELS_DIR", str(candidates))
    monkeypatch.setenv("GENRE_THREADS", "1")
    refs = ["user/sel-xgb", "user/sel-xgb-copy", "user/sel-weak"]
    assert main(["train", "--model", "ensemble", "--members", *refs, "--weights", "select", "--out", "sel", "-q"]) == 0
    capsys.readouterr()
    vote = load_run("user/sel")
    sel = vote.metrics["selection"]
    assert sel["candidates"] == refs and "user/sel-xgb-copy" in sel["dropped"]
    picked = [r for r in refs if sel["counts"][r] > 0]
    assert [m.id for m, _ in vote.members] == picked
    assert [w for _, w in vote.members] == pytest.approx([sel["counts"][r] / sum(sel["counts"].values())
                                                          for r in picked])
    assert len(vote.metrics["fold_selections"]) == len(vote.metrics["fold_weights"]) == 3
    assert any("nested" in n for n in vote.info["notes"]) and any("Left out" in n for n in vote.info["notes"])

    import soundfile as sf

    clip = tmp_path / "select-clip.wav"
    sf.write(clip, synth_genre_clip("pulse", duration=4.0, seed=11), 22050)
    pred = predict_file(vote, clip)[0]
    assert [p.run_id for p in pred.members] == picked
    expected = sum(w * p.proba for (_, w), p in zip(vote.members, pred.members))
    np.testing.assert_allclose(pred.proba, expected / expected.sum(), atol=1e-9)

    # the same candidates give the same run (deterministic), and numbers / 'fit' still work
    assert main(["train", "--model", "ensemble", "--members", *refs, "--weights", "select", "--out", "sel2", "-q"]) == 0
    assert load_run("user/sel2").metrics["selection"] == sel
    assert main(["train", "--model", "ensemble", "--members", *refs, "--weights", "fit", "--out", "fit", "-q"]) == 0
    assert len(load_run("user/fit").members) == 3
    assert main(["train", "--model", "ensemble", "--members", *refs[:2], "--weights", "1", "0", "--out", "w10",
                 "-q"]) == 0  # a weight of 0 given by hand keeps its member: only 'select' leaves runs out
    assert [w for _, w in load_run("user/w10").members] == [1.0, 0.0]
    rc = main(["train", "--model", "ensemble", "--members", *refs, "--weights", "select", "1", "--out", "x", "-q"])
    assert rc != 0 and "stands alone" in capsys.readouterr().err
