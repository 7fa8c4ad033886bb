"""Datasets: scanning genre folders, feature tables, synthetic audio, merging."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from genre_core import config
from genre_core.dataset import (
    Dataset,
    load_feature_table,
    open_dataset,
    scan_folder,
    synthetic_dataset,
    track_id_for,
)
from genre_core.errors import DatasetError

SR = 22050


def write_tone(path: Path, seconds: float = 1.5, freq: float = 440.0, sr: int = SR, seed: int = 0,
               fmt: str | None = None) -> Path:
    """A short tone plus a little noise (distinct per seed)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y.astype(np.float32), sr, format=fmt, subtype="PCM_16")
    return path


@pytest.fixture
def small_dataset(tmp_path) -> Path:
    """root/{rock,jazz}: 3 rock (1.5 s, 2.0 s, 2.5 s) + 2 jazz tracks, plus clutter."""
    root = tmp_path / "ds"
    for i, secs in enumerate((1.5, 2.0, 2.5)):
        write_tone(root / "rock" / f"rock.{i:05d}.wav", secs, seed=i)
    for i in range(2):
        write_tone(root / "jazz" / f"jazz.{i:05d}.wav", 2.0, freq=220.0, seed=10 + i)
    (root / "rock" / "README.txt").write_text("not audio")
    (root / "jazz" / ".DS_Store").write_bytes(b"\x00\x01junk")
    (root / ".hidden").mkdir()
    write_tone(root / ".hidden" / "x.wav", 1.5, seed=99)
    return root


def test_scan_counts_durations_and_ignores_non_audio(small_dataset):
    ds = scan_folder(small_dataset, n_jobs=1)
    assert ds.kind == "audio"
    assert ds.labels == ["jazz", "rock"]
    assert ds.counts() == {"jazz": 2, "rock": 3}
    assert [t.track_id for t in ds.tracks] == [
        "jazz/jazz.00000", "jazz/jazz.00001", "rock/rock.00000", "rock/rock.00001", "rock/rock.00002"]
    durations = {t.track_id: t.duration for t in ds.tracks}
    assert durations["rock/rock.00002"] == pytest.approx(2.5, abs=1e-3)
    assert ds.unreadable == [] and ds.duplicates == []
    assert ds.details["n_ignored"] == 2  # README.txt and .DS_Store; hidden folder skipped entirely
    summary = ds.summary()
    assert summary.loc["rock", "tracks"] == 3
    assert summary.loc["rock", "min_s"] == pytest.approx(1.5, abs=0.01)
    assert summary.loc["rock", "max_s"] == pytest.approx(2.5, abs=0.01)
    assert summary.loc["jazz", "minutes"] == pytest.approx(4.0 / 60, abs=0.01)
    assert all(t.artist is None for t in ds.tracks)
    assert all(t.sha1 and len(t.sha1) == 40 for t in ds.tracks)


def test_scan_lists_unreadable_files_with_reasons(small_dataset):
    rock = small_dataset / "rock"
    (rock / "empty.wav").write_bytes(b"")
    (rock / "fake.wav").write_text("this is text, not a wav file\n" * 20)
    write_tone(rock / "blip.wav", 0.3)
    good = (rock / "rock.00000.wav").read_bytes()
    (rock / "cut.wav").write_bytes(good[: len(good) // 2])
    ds = scan_folder(small_dataset, n_jobs=2)
    reasons = {Path(p).name: r.split(":", 1)[0] for p, r in ds.unreadable}
    assert reasons == {"empty.wav": "empty", "fake.wav": "not_audio", "blip.wav": "too_short",
                       "cut.wav": "truncated"}
    # Each entry is a sentence naming the file.
    for path, reason in ds.unreadable:
        assert Path(path).name in reason
    assert ds.counts()["rock"] == 3  # unreadable files are not tracks, and not fatal
    assert ds.summary().loc["rock", "unreadable"] == 4
    assert ds.details["unreadable_by_genre"] == {"rock": 4}


def test_scan_finds_exact_duplicates_across_containers(small_dataset):
    rock = small_dataset / "rock"
    shutil.copy(rock / "rock.00001.wav", small_dataset / "jazz" / "jazz.00009.wav")   # same bytes
    y, sr = sf.read(rock / "rock.00002.wav", dtype="int16")
    sf.write(rock / "rock.00007.flac", y, sr, subtype="PCM_16")                      # same samples, FLAC
    ds = scan_folder(small_dataset, n_jobs=1)
    assert ds.duplicates == [["jazz/jazz.00009", "rock/rock.00001"], ["rock/rock.00002", "rock/rock.00007"]]
    assert ds.summary()["duplicated"].sum() == 2


def test_different_audio_is_not_a_duplicate(small_dataset):
    # Same length and header, same first seconds, different ending: not a duplicate.
    a = write_tone(small_dataset / "rock" / "a.wav", 3.0, seed=5)
    y, sr = sf.read(a, dtype="int16")
    y = y.copy()
    y[-100:] = 0
    sf.write(small_dataset / "rock" / "b.wav", y, sr, subtype="PCM_16")
    ds = scan_folder(small_dataset, n_jobs=1)
    assert ds.duplicates == []


@pytest.mark.parametrize("setup, message", [
    (lambda root: None, "does not exist"),
    (lambda root: root.mkdir(), "no genre sub-folders"),
    (lambda root: (root / "rock").mkdir(parents=True), "No audio files found"),
])
def test_scan_errors(tmp_path, setup, message):
    root = tmp_path / "data"
    setup(root)
    with pytest.raises(DatasetError, match=message):
        scan_folder(root)


def test_scan_error_hints_loose_files_and_nested_dataset(tmp_path):
    loose = tmp_path / "loose"
    write_tone(loose / "song.wav")
    with pytest.raises(DatasetError, match="holds 1 audio file"):
        scan_folder(loose)
    nested = tmp_path / "gtzan"
    write_tone(nested / "audio" / "rock" / "rock.00000.wav")
    with pytest.raises(DatasetError, match="did you mean .*gtzan.audio\?"):
        scan_folder(nested)


def test_two_files_with_one_track_id_keep_the_first(small_dataset):
    write_tone(small_dataset / "rock" / "rock.00000.flac", fmt="FLAC")
    ds = scan_folder(small_dataset, n_jobs=1)
    assert ds.by_id()["rock/rock.00000"].path.name == "rock.00000.flac"  # sorted: .flac before .wav
    [(path, reason)] = ds.unreadable
    assert path.endswith("rock.00000.wav") and reason.startswith("duplicate_id: ")
    assert "rock/rock.00000" in reason


def test_scan_agrees_with_load_audio_on_bad_files(tmp_path):
    from audio_fixtures import BAD_CASES, make_bad_bytes

    from genre_core.audio import SUPPORTED_EXTENSIONS

    expected = {}
    for i, case in enumerate(BAD_CASES):
        data, fname, reason = make_bad_bytes(case)
        if Path(fname).suffix.lower() not in SUPPORTED_EXTENSIONS or reason == "silent":
            continue  # silence needs a full decode: caught at feature extraction instead
        folder = tmp_path / "bad" / f"g{i}"
        folder.mkdir(parents=True)
        (folder / fname).write_bytes(data)
        expected[f"g{i}/{fname}"] = reason
    write_tone(tmp_path / "bad" / "good" / "ok.wav")
    ds = scan_folder(tmp_path / "bad", n_jobs=1)
    got = {Path(p).relative_to(tmp_path / "bad").as_posix(): r.split(":", 1)[0] for p, r in ds.unreadable}
    assert got.keys() == expected.keys()
    agree = sum(got[k] == expected[k] for k in expected)
    # The scan only decodes the start and end of each file: damage in the middle of a
    # compressed stream may be classed "truncated" instead of "corrupt".
    assert agree >= len(expected) - 1, {k: (got[k], expected[k]) for k in expected if got[k] != expected[k]}
    assert [t.track_id for t in ds.tracks] == ["good/ok"]


def test_all_files_unreadable_is_an_error(tmp_path):
    (tmp_path / "d" / "rock").mkdir(parents=True)
    (tmp_path / "d" / "rock" / "x.wav").write_bytes(b"")
    with pytest.raises(DatasetError, match="None of the 1 audio file"):
        scan_folder(tmp_path / "d")


def test_artists_csv_and_deeper_folders_ignored(tmp_path):
    root = tmp_path / "lib"
    write_tone(root / "rock" / "r1.wav", seed=1)
    write_tone(root / "rock" / "r2.wav", seed=2)
    write_tone(root / "rock" / "album" / "deep.wav", seed=4)
    write_tone(root / "pop" / "p.wav", seed=3)
    pd.DataFrame({"filename": ["r1.wav", "r2.wav"], "artist": ["A", "B"]}).to_csv(
        root / "artists.csv", index=False)
    ds = scan_folder(root, n_jobs=1)
    assert [t.track_id for t in ds.tracks] == ["pop/p", "rock/r1", "rock/r2"]
    assert {t.track_id: t.artist for t in ds.tracks} == {"pop/p": None, "rock/r1": "A", "rock/r2": "B"}
    assert ds.details["skipped_subfolders"] == [str(root / "rock" / "album")]
    assert track_id_for("blues", "blues.00000.wav") == "blues/blues.00000"
    (root / "artists.csv").write_text("name,who\nx,y\n")
    with pytest.raises(DatasetError, match="artist"):
        scan_folder(root)


def test_merge_folders_and_colliding_ids(tmp_path, small_dataset):
    other = tmp_path / "excerpts"
    write_tone(other / "rock" / "rock.00010.wav", seed=20)
    write_tone(other / "metal" / "metal.00000.wav", seed=21)
    ds = open_dataset([small_dataset, other], n_jobs=1)
    assert ds.name == "ds + excerpts"
    assert ds.labels == ["jazz", "metal", "rock"]
    assert ds.counts() == {"jazz": 2, "metal": 1, "rock": 4}
    assert ds.roots == [small_dataset, other]
    write_tone(other / "rock" / "rock.00000.wav", seed=22)
    merged = open_dataset([small_dataset, other], n_jobs=1)
    assert merged.by_id()["rock/rock.00000"].path == small_dataset / "rock" / "rock.00000.wav"
    assert merged.unreadable[0][0] == str(other / "rock" / "rock.00000.wav")
    assert merged.unreadable[0][1].startswith("duplicate_id: ")
    with pytest.raises(DatasetError, match="Only audio folders can be merged"):
        open_dataset([small_dataset, "synthetic"])


def test_fingerprint_tracks_content_and_subset(small_dataset):
    ds1 = scan_folder(small_dataset, n_jobs=1)
    ds2 = scan_folder(small_dataset, n_jobs=1)
    assert ds1.fingerprint == ds2.fingerprint
    write_tone(small_dataset / "rock" / "rock.00000.wav", 1.5, seed=123)  # edit content
    assert scan_folder(small_dataset, n_jobs=1).fingerprint != ds1.fingerprint
    sub = ds1.subset(["rock/rock.00001", "jazz/jazz.00000"])
    assert [t.track_id for t in sub.tracks] == ["jazz/jazz.00000", "rock/rock.00001"]
    assert sub.labels == ds1.labels
    assert sub.fingerprint != ds1.fingerprint
    with pytest.raises(DatasetError, match="not in dataset"):
        ds1.subset(["rock/nope"])


def test_progress_callback(small_dataset):
    seen = []
    scan_folder(small_dataset, n_jobs=1, progress=seen.append)
    assert seen[0] == {"stage": "scanning", "done": 0, "total": 5}
    assert seen[-1]["done"] == seen[-1]["total"] == 5
    assert all(d["stage"] == "scanning" for d in seen)


def test_check_audio_false_only_lists(small_dataset):
    (small_dataset / "rock" / "empty.wav").write_bytes(b"")
    ds = scan_folder(small_dataset, check_audio=False)
    assert len(ds.tracks) == 6 and ds.unreadable == []
    assert all(t.duration is None for t in ds.tracks)


# --------------------------------------------------------------------- tables


def test_default_feature_table():
    ds = load_feature_table(config.default_feature_table())
    assert ds.kind == "table" and ds.name == "features_30_sec.csv"
    assert len(ds.tracks) == 1000 and len(ds.labels) == 10
    assert ds.tracks[0].track_id == "blues/blues.00000"
    assert ds.tracks[0].path is None
    assert ds.tracks[0].duration == pytest.approx(661794 / 22050)
    assert isinstance(ds.table, pd.DataFrame) and len(ds.table) == 1000
    assert {"track_id", "label", "mfcc20_var"} <= set(ds.table.columns)
    assert set(ds.counts().values()) == {100}
    assert open_dataset(str(config.default_feature_table())).fingerprint == ds.fingerprint


def test_segmented_table_groups_rows_by_track(tmp_path):
    rows = [{"filename": f"{g}.0000{i}.{k}.wav", "length": 66149, "f1": float(k), "label": g}
            for g in ("rock", "jazz") for i in range(2) for k in range(3)]
    path = tmp_path / "features_3_sec.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    ds = load_feature_table(path)
    assert [t.track_id for t in ds.tracks] == ["jazz/jazz.00000", "jazz/jazz.00001",
                                                "rock/rock.00000", "rock/rock.00001"]
    assert ds.details["segmented"] is True
    assert ds.table["segment"].tolist()[:3] == [0, 1, 2]
    assert ds.tracks[0].duration == pytest.approx(3 * 66149 / 22050)


@pytest.mark.parametrize("content, message", [
    ("filename,f1\na.wav,1.0\n", "no 'label' column"),
    ("filename,label\n", "has no rows"),
    ("filename,f1,label\na.wav,1,rock\na.wav,2,rock\n", "appears on 2 rows"),
    ("filename,f1,label\na.wav,1,\n", "empty label"),
])
def test_table_errors(tmp_path, content, message):
    path = tmp_path / "t.csv"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        load_feature_table(path)


def test_table_missing_file():
    with pytest.raises(DatasetError, match="does not exist"):
        open_dataset("/no/such/table.csv")


def test_open_dataset_errors(tmp_path):
    f = tmp_path / "song.wav"
    write_tone(f)
    with pytest.raises(DatasetError, match="is a file"):
        open_dataset(f)
    with pytest.raises(DatasetError, match="empty path"):
        open_dataset("  ")
    with pytest.raises(DatasetError, match="Bad synthetic dataset option"):
        open_dataset("synthetic:bogus=1")
    ds = Dataset("x", "audio", [], [], [])
    assert open_dataset(ds) is ds


# --------------------------------------------------------------------- synthetic


def test_synthetic_dataset_generated_once_in_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENRE_CACHE_DIR", str(tmp_path / "cache"))
    ds = open_dataset("synthetic:n=2,duration=1.5,seed=3")
    assert ds.kind == "synthetic"
    assert "synthetic" in ds.name and "not music" in ds.name
    assert ds.roots[0].is_relative_to(tmp_path / "cache" / "synthetic")
    assert all(c == 2 for c in ds.counts().values()) and len(ds.labels) >= 3
    assert all(t.duration == pytest.approx(1.5, abs=0.01) for t in ds.tracks)
    mtimes = {p: p.stat().st_mtime_ns for p in ds.roots[0].rglob("*.wav")}
    again = synthetic_dataset(n_per_genre=2, duration=1.5, seed=3)
    assert again.fingerprint == ds.fingerprint
    assert {p: p.stat().st_mtime_ns for p in ds.roots[0].rglob("*.wav")} == mtimes  # not rewritten
    assert synthetic_dataset(n_per_genre=2, duration=1.5, seed=4).fingerprint != ds.fingerprint


# --------------------------------------------------------------------- real GTZAN


@pytest.mark.gtzan
def test_scan_real_gtzan(gtzan):
    ds = scan_folder(gtzan / "audio")
    assert len(ds.tracks) == 217 and len(ds.labels) == 10
    assert ds.unreadable == []
    assert ds.counts()["blues"] == 36
    assert all(29.0 < t.duration < 31.0 for t in ds.tracks)
