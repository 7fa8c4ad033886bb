"""Cross-validation grouped by track or artist, refit on all tracks, and honest evaluation reports (issue 11)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from genre_core.backends import get_backend
from genre_core.cli import main
from genre_core.dataset import open_dataset
from genre_core.errors import GenreLabError
from genre_core.training import fold_spread, refit_overrides, train

FAST_MLP = {"epochs": 20, "hidden": 16}


@pytest.fixture()
def models(tmp_path, monkeypatch):
    monkeypatch.setenv("GENRE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("GENRE_THREADS", "1")
    return tmp_path / "models"


@pytest.fixture()
def artist_dataset(synthetic_dataset_dir, tmp_path):
    """The synthetic folder with an artists.csv: the first two tracks of each genre share an artist."""
    root = tmp_path / "with-artists"
    shutil.copytree(synthetic_dataset_dir, root)
    ds = open_dataset(str(root))
    rows = [{"track_id": t.track_id, "artist": f"{t.label}-artist{max(i - 1, 0)}"}
            for label in ds.labels
            for i, t in enumerate(sorted((t for t in ds.tracks if t.label == label), key=lambda t: t.track_id))]
    pd.DataFrame(rows).to_csv(root / "artists.csv", index=False)
    return root


def test_kfold_refit_keeps_every_out_of_fold_prediction_and_refits_on_all(models, synthetic_dataset_dir):
    run = train(str(synthetic_dataset_dir), "mlp", FAST_MLP, split="kfold", k=3, valid_size=0.3, refit=True, out="cv-refit",
                n_jobs=1)
    m = run.metrics
    ds = open_dataset(str(synthetic_dataset_dir))
    # every development track has its out-of-fold prediction (Compare's drill-down covers them all)
    tracks = run.track_predictions()
    assert sorted(tracks["track_id"]) == sorted(t.track_id for t in ds.tracks)
    assert set(tracks["fold"]) == {1, 2, 3}
    # mean ± std over folds for every headline figure, beside the pooled figures
    for key in ("track_accuracy", "balanced_accuracy", "macro_f1", "segment_accuracy"):
        assert 0 <= m[f"fold_{key}_mean"] <= 1 and m[f"fold_{key}_std"] >= 0
    assert m["cv"] == {"k": 3, "group": "track", "refit": True}
    # the refit trained on every track, as long as the folds' models (median best epoch)
    refit = run.info["refit"]
    assert refit["n_tracks"] == len(ds.tracks)
    best = sorted(f["best_epoch"] for f in m["folds"])
    assert refit["overrides"] == {"epochs": best[1], "patience": 0}
    assert len(run.model.history) == best[1]
    assert all(h["val_loss"] is None for h in run.model.history)  # nothing held out: no test fold was looked at
    assert run.info["split"]["refit"] is True
    assert any("refit on all" in n for n in run.info["notes"])


def test_with_refit_each_fold_refits_on_its_training_and_validation_tracks(models, synthetic_dataset_dir,
                                                                         monkeypatch):
    """Each fold chooses on its validation tracks, then predicts its test tracks with a model refit on
    training + validation tracks with that choice: the procedure of the saved model, inside the fold."""
    import genre_core.training as training_mod

    fits = []
    real_fit = training_mod._fit

    def recording(model_cls, spec, params, train_data, valid_data, *args, **kwargs):
        fits.append({"items": set(train_data["groups"]), "valid": valid_data is not None,
                     "epochs": params.get("epochs"), "patience": params.get("patience")})
        return real_fit(model_cls, spec, params, train_data, valid_data, *args, **kwargs)

    monkeypatch.setattr(training_mod, "_fit", recording)
    run = train(str(synthetic_dataset_dir), "mlp", FAST_MLP, split="kfold", k=3, valid_size=0.3, refit=True,
                out="cv-fold-refit", n_jobs=1)
    folds = run.info["split"]["folds"]
    assert len(fits) == 2 * len(folds) + 1  # per fold: choose, refit; then the refit on all tracks
    for i, (fold, fold_metrics) in enumerate(zip(folds, run.metrics["folds"])):
        choose, refit = fits[2 * i], fits[2 * i + 1]
        assert choose["valid"] and choose["items"] == set(fold["train"])
        assert not refit["valid"] and refit["items"] == set(fold["train"]) | set(fold["valid"])
        assert not refit["items"] & set(fold["test"])  # the test fold is never trained on
        assert refit["epochs"] == fold_metrics["best_epoch"] and refit["patience"] == 0
        assert fold_metrics["refit_on_train_and_valid"] is True
    # without refit, the folds' models are those that chose (one fit per fold)
    fits.clear()
    run = train(str(synthetic_dataset_dir), "mlp", FAST_MLP, split="kfold", k=3, valid_size=0.3, refit=False,
                out="cv-no-refit", n_jobs=1)
    assert len(fits) == 3 and all(f["valid"] for f in fits)
    assert not any(f["refit_on_train_and_valid"] for f in run.metrics["folds"])


def test_refit_overrides_per_backend():
    assert refit_overrides(get_backend("xgb"), [10, 30, 20]) == {"n_estimators": 20, "early_stopping": 0}
    assert refit_overrides(get_backend("cnn"), [4, 6]) == {"epochs": 5, "patience": 0}
    assert refit_overrides(get_backend("linear"), [1, 1]) == {}
    assert refit_overrides(get_backend("mlp"), [None, 0]) == {}
    spread = fold_spread([{"track_accuracy": 0.5, "macro_f1": None}, {"track_accuracy": 0.7, "macro_f1": 0.4}])
    assert spread["fold_track_accuracy_mean"] == pytest.approx(0.6)
    assert spread["fold_track_accuracy_std"] == pytest.approx(np.std([0.5, 0.7], ddof=1), abs=1e-6)
    assert spread["fold_macro_f1_std"] == 0.0


def test_artist_grouped_folds_never_split_an_artist(models, artist_dataset):
    run = train(str(artist_dataset), "xgb", {"n_estimators": 20}, split="kfold", k=2, valid_size=0.3, group="artist",
                refit=True, out="cv-artist", n_jobs=1)
    artists = pd.read_csv(artist_dataset / "artists.csv").set_index("track_id")["artist"]
    folds = run.info["split"]["folds"]
    for f in folds:
        test_artists = {artists[t] for t in f["test"]}
        train_artists = {artists[t] for t in (*f["train"], *f["valid"])}
        assert not test_artists & train_artists
    assert run.info["split"]["group"] == "artist"
    assert set(run.info["refit"]["overrides"]) == {"n_estimators", "early_stopping"}


def test_refit_needs_kfold(models, synthetic_dataset_dir, capsys):
    with pytest.raises(GenreLabError, match="refit needs"):
        train(str(synthetic_dataset_dir), "mlp", FAST_MLP, split="track", refit=True, out="nope", n_jobs=1)
    rc = main(["train", str(synthetic_dataset_dir), "--model", "mlp", "--refit", "-q", "--out", "nope2"])
    assert rc != 0 and "refit needs" in capsys.readouterr().err


def test_cli_kfold_group_refit_and_an_overlapping_evaluation_is_flagged(models, synthetic_dataset_dir, capsys):
    assert main(["train", str(synthetic_dataset_dir), "--model", "mlp", "--split", "kfold", "--k", "3",
                 "--group", "track", "--refit", "--valid-size", "0.3", "--epochs", "10", "--hidden", "8", "--out", "cli-cv", "-q",
                 "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "folds" in out and "±" in out and "refit on all" in out
    # evaluating on the tracks it was trained on: loud warning, and the figure on unseen tracks (none here)
    assert main(["evaluate", "user/cli-cv", str(synthetic_dataset_dir), "-q", "--jobs", "1"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("WARNING") and "optimistic" in text and "No track of this dataset is new" in text


def test_linear_chooses_c_on_validation_and_the_refit_takes_the_folds_median(models, synthetic_dataset_dir):
    run = train(str(synthetic_dataset_dir), "linear", {"C_grid": "0.001,0.1,10"}, split="kfold", k=3,
                valid_size=0.3, refit=True, out="cv-linear", n_jobs=1,
                input_spec={"kind": "features", "feature_set": "mfcc_stats", "window": 3.0})
    chosen = [f["chosen"]["C"] for f in run.metrics["folds"]]
    assert all(c in (0.001, 0.1, 10.0) for c in chosen)
    expected = float(f"{np.exp(np.median(np.log(chosen))):.6g}")
    assert run.info["refit"]["overrides"] == {"C": expected, "C_grid": ""}
    assert run.model.params["C"] == expected


def test_voting_weights_fitted_on_out_of_fold_predictions_nested(models, synthetic_dataset_dir, capsys):
    from genre_core.voting import fit_vote_weights
    from genre_core.training import train_voting

    common = dict(split="kfold", k=3, valid_size=0.3, refit=True, n_jobs=1)
    good = train(str(synthetic_dataset_dir), "xgb", {"n_estimators": 30}, out="v-good", **common)
    weak = train(str(synthetic_dataset_dir), "mlp", {"epochs": 1, "hidden": 2, "lr": 1e-5}, out="v-weak", **common)
    assert main(["train", "--model", "ensemble", "--members", "user/v-good", "user/v-weak", "--weights", "fit",
                 "--out", "v-fit", "-q"]) == 0
    capsys.readouterr()
    from genre_core.runs import load_run

    vote = load_run("user/v-fit")
    w = dict((m.id, wt) for m, wt in vote.members)
    assert w["user/v-good"] > w["user/v-weak"]
    assert len(vote.metrics["fold_weights"]) == 3  # nested: one weight vector per held-out fold
    assert any("nested" in n for n in vote.info["notes"])
    # fitting weights on the same folds the figures come from would be optimistic: the nested figure
    # never beats what the weights fitted on everything reach on those tracks
    tables = [good.track_predictions().set_index("track_id"), weak.track_predictions().set_index("track_id")]
    ids = sorted(set(tables[0].index) & set(tables[1].index))
    labels = good.labels
    y = [labels.index(t) for t in tables[0].loc[ids, "true"]]
    mats = [t.loc[ids, [f"p_{lab}" for lab in labels]].to_numpy() for t in tables]
    full = fit_vote_weights(mats, y)
    assert np.allclose(sorted(full), sorted(w.values()), atol=1e-6)
    rc = main(["train", "--model", "ensemble", "--members", "user/v-good", "user/v-weak", "--weights", "fit", "1",
               "--out", "v-bad", "-q"])
    assert rc != 0 and "stands alone" in capsys.readouterr().err
    with pytest.raises(GenreLabError, match="numbers or 'fit'"):
        train_voting(["user/v-good", "user/v-weak"], "best", out="v-bad2")


def test_artist_folds_allow_a_genre_with_fewer_artists_than_folds(artist_dataset):
    """GTZAN's development blues has 4 artists: 5 artist folds still test every track exactly once."""
    from genre_core.splits import kfold_splits

    ds = open_dataset(str(artist_dataset))
    rows = []
    for g in ds.labels:  # three artists per genre: fewer artists than folds
        ids = sorted(t.track_id for t in ds.tracks if t.label == g)
        rows += [{"track_id": t, "artist": f"{g}-a{min(i, 2)}"} for i, t in enumerate(ids)]
    pd.DataFrame(rows).to_csv(artist_dataset / "artists.csv", index=False)
    ds = open_dataset(str(artist_dataset))
    artists = {g: len({t.artist for t in ds.tracks if t.label == g}) for g in ds.labels}
    k = max(artists.values()) + 1
    folds = kfold_splits(ds, k=k, seed=0, valid_size=0.0, group="artist")
    tested = sorted(t for f in folds for t in f.test)
    assert tested == sorted(t.track_id for t in ds.tracks)
    assert folds[0].details["genres_in_fewer_test_folds"] == sorted(ds.labels)
    for f in folds:  # every genre is on every training side
        assert {t.split("/")[0] for t in f.train} == set(ds.labels)
