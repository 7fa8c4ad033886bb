"""``split="ff"`` on data without GTZAN's test tracks: the development variant."""

from __future__ import annotations

import pytest

from genre_core.synthetic import write_synthetic_dataset
from genre_core.training import train


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GENRE_MODELS_DIR", str(tmp_path / "models"))
    return tmp_path / "models"


def test_ff_without_test_tracks_evaluates_on_valid_list_and_validates_on_train_holdout(models_dir, tmp_path,
                                                                                    monkeypatch):
    root = write_synthetic_dataset(tmp_path / "data", genres=("drone", "pulse"), n_per_genre=12, duration=3.0)
    ids = sorted(f"{g}/{p.stem}" for g in ("drone", "pulse") for p in (root / g).iterdir())
    train_ids = [t for t in ids if int(t.rsplit(".", 1)[1]) < 9]
    valid_ids = [t for t in ids if int(t.rsplit(".", 1)[1]) >= 9]
    splits = tmp_path / "gtzan" / "splits"
    splits.mkdir(parents=True)
    (splits / "train_filtered.txt").write_text("".join(f"{t}.wav\n" for t in train_ids))
    (splits / "valid_filtered.txt").write_text("".join(f"{t}.wav\n" for t in valid_ids))
    (splits / "test_filtered.txt").write_text("blues/blues.00000.wav\n")  # absent from this dataset
    monkeypatch.setenv("GENRE_GTZAN_DIR", str(tmp_path / "gtzan"))
    run = train(root, "mlp", {"epochs": 3, "hidden": (16,)}, split="ff", out="ff-dev", n_jobs=1)
    sp = run.info["split"]
    assert sp["protocol"] == "gtzan_filtered_dev"
    assert sorted(sp["test"]) == valid_ids  # the evaluated tracks
    assert sp["valid"] and set(sp["valid"]) <= set(train_ids)  # early stopping uses train tracks only
    assert not set(sp["valid"]) & set(sp["train"])
    assert run.metrics["evaluated_on"] == "test" and run.metrics["n_tracks"] == len(valid_ids)
