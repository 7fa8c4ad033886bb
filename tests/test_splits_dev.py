"""The development variant of GTZAN's filtered split (no test tracks present)."""

from __future__ import annotations

from test_splits import label_counts, make_ds, write_lists

from genre_core.splits import gtzan_dev_split


def test_dev_split_moves_valid_to_test_and_holds_out_validation_from_train(tmp_path):
    ds = make_ds({"a": 14, "b": 14})
    train = [f"{g}/{g}.{i:05d}" for g in "ab" for i in range(10)]
    valid = [f"{g}/{g}.{i:05d}" for g in "ab" for i in range(10, 14)]
    write_lists(tmp_path / "splits", train=train, valid=valid, test=["c/c.00000"])
    s = gtzan_dev_split(ds, valid_size=0.2, seed=3, splits_dir=tmp_path / "splits")
    assert s.protocol == "gtzan_filtered_dev" and s.seed == 3
    assert s.test == sorted(valid)  # the evaluated tracks steer nothing
    assert len(s.valid) == 4 and label_counts(s.valid) == {"a": 2, "b": 2}
    assert sorted(s.train + s.valid) == sorted(train)
    assert "filtered valid tracks are the test side" in s.details["note"]
    again = gtzan_dev_split(ds, valid_size=0.2, seed=3, splits_dir=tmp_path / "splits")
    assert again.valid == s.valid


def test_dev_split_is_the_plain_filtered_split_when_test_tracks_exist(tmp_path):
    ds = make_ds({"a": 6, "b": 6})
    write_lists(tmp_path / "splits", train=["a/a.00000", "a/a.00001", "b/b.00000", "b/b.00001"],
                valid=["a/a.00002", "b/b.00002"], test=["a/a.00003", "b/b.00003"])
    s = gtzan_dev_split(ds, splits_dir=tmp_path / "splits")
    assert s.protocol == "gtzan_filtered" and s.test == ["a/a.00003", "b/b.00003"]
