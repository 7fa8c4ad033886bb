"""Splits by track (or artist) before segmenting; the leak check."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from genre_core import config
from genre_core.dataset import Dataset, Track, load_feature_table
from genre_core.errors import DatasetError, SplitLeakError
from genre_core.splits import (
    Split,
    check_no_leak,
    gtzan_filtered_split,
    kfold_splits,
    track_split,
)


def make_ds(counts: dict[str, int], *, artists: dict[str, str] | None = None,
            duplicates: list[list[str]] | None = None) -> Dataset:
    tracks = [Track(f"{g}/{g}.{i:05d}", g, None, artist=(artists or {}).get(f"{g}/{g}.{i:05d}"))
              for g, n in counts.items() for i in range(n)]
    return Dataset("test", "table", [], sorted(tracks, key=lambda t: t.track_id), sorted(counts),
                   duplicates=duplicates or [], fingerprint="fp")


def label_counts(ids):
    return Counter(i.split("/")[0] for i in ids)


def test_track_split_sizes_stratified_disjoint():
    ds = make_ds({"a": 20, "b": 20, "c": 10})
    s = track_split(ds, test_size=0.2, valid_size=0.1, seed=0)
    assert (len(s.train), len(s.valid), len(s.test)) == (35, 5, 10)
    assert sorted(s.train + s.valid + s.test) == sorted(t.track_id for t in ds.tracks)
    assert not (set(s.train) & set(s.test)) and not (set(s.train) & set(s.valid))
    assert label_counts(s.test) == {"a": 4, "b": 4, "c": 2}  # proportions kept
    assert s.protocol == "track" and s.seed == 0
    assert s.details["dataset_fingerprint"] == "fp"
    check_no_leak(s)


def test_track_split_reproducible_and_seeded():
    ds = make_ds({"a": 15, "b": 15})
    assert track_split(ds, seed=3) == track_split(ds, seed=3)
    assert track_split(ds, seed=3).test != track_split(ds, seed=4).test


def test_split_json_round_trip():
    s = track_split(make_ds({"a": 10, "b": 10}), seed=1)
    again = Split.from_dict(json.loads(json.dumps(s.to_dict())))
    assert again == s
    assert again.test == s.test and again.train == s.train
    with pytest.raises(DatasetError, match="no 'train'"):
        Split.from_dict({"protocol": "track"})


def test_zero_sized_sides():
    ds = make_ds({"a": 6, "b": 6})
    s = track_split(ds, test_size=0.25, valid_size=0.0)
    assert s.valid == [] and len(s.test) == 3 and len(s.train) == 9
    s = track_split(ds, test_size=0.0, valid_size=0.0)
    assert len(s.train) == 12 and s.test == []


def test_too_few_tracks_names_the_genre():
    ds = make_ds({"blues": 10, "rock": 2})
    with pytest.raises(DatasetError, match=r"Genre 'rock' has only 2 track\(s\).*blues=10, rock=2"):
        track_split(ds, test_size=0.2, valid_size=0.1)
    with pytest.raises(DatasetError, match="at least one track per genre"):
        track_split(make_ds({"a": 10, "b": 10, "c": 10}), test_size=0.05, valid_size=0.0)
    with pytest.raises(DatasetError, match="leaves no tracks for training"):
        track_split(ds, test_size=0.5, valid_size=0.5)
    with pytest.raises(DatasetError, match="between 0 and 1"):
        track_split(ds, test_size=1.5)


def test_artist_split_keeps_artists_on_one_side():
    counts = {"a": 24, "b": 24}
    artists = {f"{g}/{g}.{i:05d}": f"{g}-artist{i // 3}" for g in counts for i in range(24)}
    ds = make_ds(counts, artists=artists)
    s = track_split(ds, test_size=0.25, valid_size=0.125, seed=0, group="artist")
    assert s.protocol == "artist"
    side_of_artist: dict[str, set] = {}
    for side in ("train", "valid", "test"):
        for tid in getattr(s, side):
            side_of_artist.setdefault(artists[tid], set()).add(side)
    assert all(len(v) == 1 for v in side_of_artist.values())
    assert s.test and s.valid
    assert s.details["groups"]["a/a.00000"] == "artist:a-artist0"
    check_no_leak(s)


def test_exact_duplicates_stay_together():
    dups = [["a/a.00000", "a/a.00001"], ["b/b.00003", "b/b.00004", "b/b.00005"]]
    ds = make_ds({"a": 12, "b": 12}, duplicates=dups)
    for seed in range(5):
        s = track_split(ds, test_size=0.25, valid_size=0.0, seed=seed)
        for grp in dups:
            sides = {side for side in ("train", "valid", "test") for t in grp if t in getattr(s, side)}
            assert len(sides) == 1


def test_kfold_partitions_tracks():
    ds = make_ds({"a": 10, "b": 10, "c": 10})
    folds = kfold_splits(ds, k=5, seed=0, valid_size=0.1)
    assert len(folds) == 5
    all_test = sum((f.test for f in folds), [])
    assert sorted(all_test) == sorted(t.track_id for t in ds.tracks)
    for i, f in enumerate(folds):
        assert f.details["fold"] == i and f.details["k"] == 5 and f.protocol == "kfold"
        assert label_counts(f.test) == {"a": 2, "b": 2, "c": 2}
        assert len(f.valid) == 3 and len(f.train) == 21
        check_no_leak(f)
    assert kfold_splits(ds, k=5, seed=0) == folds
    assert kfold_splits(ds, k=5, seed=1)[0].test != folds[0].test


def test_kfold_too_few():
    with pytest.raises(DatasetError, match="Genre 'b' has only 3"):
        kfold_splits(make_ds({"a": 10, "b": 3}), k=5, valid_size=0.0)
    with pytest.raises(DatasetError, match="k >= 2"):
        kfold_splits(make_ds({"a": 10}), k=1)


def write_lists(folder, train, valid, test=None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train_filtered.txt").write_text("".join(f"{i}.wav\n" for i in train))
    (folder / "valid_filtered.txt").write_text("".join(f"{i}.wav\n" for i in valid))
    if test is not None:
        (folder / "test_filtered.txt").write_text("".join(f"{i}.wav\n" for i in test))


def test_gtzan_filtered_split_from_list_files(tmp_path):
    ds = make_ds({"a": 5, "b": 5})
    write_lists(tmp_path / "splits",
                train=["a/a.00000", "a/a.00001", "b/b.00000", "b/b.00001", "b/b.00099"],
                valid=["a/a.00002", "b/b.00002", "a/a.00098"],
                test=["c/c.00000", "c/c.00001"])
    s = gtzan_filtered_split(ds, tmp_path / "splits")
    assert s.protocol == "gtzan_filtered" and s.seed is None
    assert s.train == ["a/a.00000", "a/a.00001", "b/b.00000", "b/b.00001"]
    assert s.valid == ["a/a.00002", "b/b.00002"]
    assert s.test == []  # every test track is absent: allowed
    assert s.details["missing"] == {"train": 1, "valid": 1, "test": 2}
    assert s.details["listed"] == {"train": 5, "valid": 3, "test": 2}
    assert s.details["unlisted"] == 4  # a/a.00003-4, b/b.00003-4
    json.dumps(s.to_dict())


def test_gtzan_filtered_split_errors(tmp_path):
    ds = make_ds({"a": 3})
    with pytest.raises(DatasetError, match="does not exist"):
        gtzan_filtered_split(ds, tmp_path / "nope")
    write_lists(tmp_path / "s1", train=["x/x.00000"], valid=[])
    with pytest.raises(DatasetError, match="None of the 1 training tracks"):
        gtzan_filtered_split(ds, tmp_path / "s1")
    write_lists(tmp_path / "s2", train=["a/a.00000", "a/a.00001"], valid=["a/a.00001"])
    with pytest.raises(SplitLeakError, match="a/a.00001"):
        gtzan_filtered_split(ds, tmp_path / "s2")


def test_check_no_leak_refuses_leaks():
    with pytest.raises(SplitLeakError, match="'a/1' is on both the train and test"):
        check_no_leak(Split(["a/1", "a/2"], [], ["a/1"], protocol="track"))
    with pytest.raises(SplitLeakError, match="'a/1' is on both the train and valid"):
        check_no_leak(Split(["a/1"], ["a/1#aug1"], [], protocol="track"))
    with pytest.raises(SplitLeakError, match="Artist 'X' spans"):
        check_no_leak(Split(["a/1"], [], ["a/2"], protocol="artist",
                            details={"groups": {"a/1": "artist:X", "a/2": "artist:X"}}))
    ok = Split(["a/1", "a/2"], ["b/1"], ["b/2"], protocol="track")
    check_no_leak(ok, segment_track_ids={"train": ["a/1", "a/1", "a/2#aug1"], "valid": ["b/1"],
                                         "test": ["b/2", "b/2"]})
    with pytest.raises(SplitLeakError, match="test data contains segments of track 'a/1'"):
        check_no_leak(ok, segment_track_ids={"train": ["a/2"], "test": ["b/2", "a/1"]})
    with pytest.raises(SplitLeakError, match="augmentation is for training tracks only"):
        check_no_leak(ok, segment_track_ids={"valid": ["b/1#aug1"]})
    with pytest.raises(SplitLeakError, match="not part of this split"):
        check_no_leak(ok, segment_track_ids={"train": ["c/9"]})


@pytest.mark.gtzan
def test_gtzan_filtered_split_on_the_public_table(gtzan):
    ds = load_feature_table(config.default_feature_table())
    s = gtzan_filtered_split(ds)
    assert s.counts() == {"train": 443, "valid": 197, "test": 290}
    assert s.details["missing"] == {"train": 0, "valid": 0, "test": 0}
    assert s.details["unlisted"] == 1000 - 930
