"""CLI data commands: scan, features, spectrograms (output and exit codes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from genre_core import config
from genre_core.cli import main

SR = 22050
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def audio_dir(tmp_path) -> Path:
    root = tmp_path / "ds"
    rng = np.random.default_rng(0)
    for g, f0 in (("low", 150.0), ("high", 900.0)):
        (root / g).mkdir(parents=True)
        for i in range(2):
            t = np.arange(int((2.0 + 0.5 * i) * SR)) / SR
            y = 0.3 * np.sin(2 * np.pi * f0 * (1 + 0.1 * i) * t) + 0.01 * rng.standard_normal(t.size)
            sf.write(root / g / f"{g}.{i:05d}.wav", y.astype(np.float32), SR, subtype="PCM_16")
    (root / "low" / "notes.txt").write_text("ignored")
    return root


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENRE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def run(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_scan_table_output(audio_dir, capsys):
    (audio_dir / "high" / "broken.wav").write_bytes(b"")
    rc, out, err = run(["scan", audio_dir], capsys)
    assert rc == 0
    assert out.splitlines()[0].startswith("ds: audio, 4 tracks, 2 genres")
    assert "unreadable files: 1" in out and "broken.wav" in out and "empty" in out
    assert "exact duplicates: 0 group(s)" in out
    assert "ignored non-audio files: 1" in out
    rc, _, _ = run(["scan", audio_dir, "--strict"], capsys)
    assert rc == 1


def test_scan_json_and_duplicates(audio_dir, capsys):
    (audio_dir / "high" / "copy.wav").write_bytes((audio_dir / "low" / "low.00000.wav").read_bytes())
    rc, out, _ = run(["scan", audio_dir, "--json"], capsys)
    assert rc == 0
    report = json.loads(out)
    assert report["counts"] == {"high": 3, "low": 2}
    assert report["duplicates"] == [["high/copy", "low/low.00000"]]
    assert report["summary"]["low"]["max_s"] == pytest.approx(2.5, abs=0.01)
    assert report["unreadable"] == []


def test_scan_feature_table(capsys):
    rc, out, _ = run(["scan", config.default_feature_table(), "--json"], capsys)
    assert rc == 0 and json.loads(out)["n_tracks"] == 1000


@pytest.mark.parametrize("argv, message", [
    (["scan", "/no/such/folder"], "does not exist"),
    (["features", "/no/such/folder", "--out", "x.csv"], "does not exist"),
    (["features", "DATA", "--out", "x.csv", "--hop", "1"], "--hop needs --segment"),
    (["features", "DATA", "--out", "x.csv", "--set", "nope"], "Unknown feature set 'nope'"),
    (["features", "DATA", "--out", "x.csv", "--segment", "-2"], "--segment must be a positive"),
    (["features", "DATA", "--out", "x.csv", "--param", "oops"], "KEY=VALUE"),
    (["features", str(config.default_feature_table()), "--out", "x.csv"], "is a feature table"),
    (["spectrograms", "DATA", "--out", "OUTFILE"], "not a folder"),
])
def test_bad_input_exits_2_with_one_line(audio_dir, tmp_path, capsys, argv, message):
    (tmp_path / "afile").write_text("x")
    argv = [str(audio_dir) if a == "DATA" else str(tmp_path / "afile") if a == "OUTFILE" else a for a in argv]
    rc, out, err = run(argv, capsys)
    assert rc == 2
    assert err.startswith("error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_features_whole_track_rows(audio_dir, tmp_path, capsys, own_cache):
    out_csv = tmp_path / "out" / "feat.csv"
    rc, out, _ = run(["features", audio_dir, "--set", "mfcc_stats", "--param", "n_mfcc=4", "--out", out_csv,
                      "--jobs", "1"], capsys)
    assert rc == 0 and "wrote 4 rows" in out
    df = pd.read_csv(out_csv)
    assert list(df.columns) == ["filename", "label", "start", "end"] + [
        f"mfcc{i}_{s}" for i in range(1, 5) for s in ("mean", "var")]
    assert df["filename"].tolist() == ["high.00000.wav", "high.00001.wav", "low.00000.wav", "low.00001.wav"]
    assert df["start"].tolist() == [0.0] * 4
    assert df["end"].tolist() == pytest.approx([2.0, 2.5, 2.0, 2.5])
    assert len(list(own_cache.rglob("*.npz"))) == 4


def test_features_segmented_and_no_cache(audio_dir, tmp_path, capsys, own_cache):
    out_csv = tmp_path / "seg.csv"
    rc, _, _ = run(["features", audio_dir, "--set", "mfcc_stats", "--param", "n_mfcc=3", "--out", out_csv,
                    "--segment", "1", "--hop", "0.5", "--no-cache", "-j", "1"], capsys)
    assert rc == 0
    df = pd.read_csv(out_csv)
    first = df[df.filename == "low.00000.wav"]
    assert first["start"].tolist() == [0.0, 0.5, 1.0, 1.5]  # the last is a half-full tail window
    assert first["end"].tolist() == [1.0, 1.5, 2.0, 2.0]
    assert len(df[df.filename == "low.00001.wav"]) == 5
    assert not own_cache.exists() or not list(own_cache.rglob("*.npz"))


def test_spectrograms_npz_and_index(audio_dir, tmp_path, capsys):
    out_dir = tmp_path / "mels"
    rc, out, _ = run(["spectrograms", audio_dir, "--out", out_dir, "--segment", "1", "--n-mels", "16",
                      "-j", "1"], capsys)
    assert rc == 0 and "wrote 4 tracks" in out
    index = pd.read_csv(out_dir / "index.csv")
    assert index["track_id"].tolist() == ["high/high.00000", "high/high.00001", "low/low.00000", "low/low.00001"]
    assert index["n_segments"].tolist() == [2, 3, 2, 3]  # 2.5 s: two windows plus a half-full tail
    with np.load(out_dir / index["npz"][1], allow_pickle=False) as npz:
        assert npz["X"].shape == (3, 16, 1 + SR // 512) and npz["X"].dtype == np.float32
        assert npz["starts"].tolist() == [0.0, 1.0, 2.0]
        assert str(npz["track_id"]) == "high/high.00001"
    spec = json.loads((out_dir / "spec.json").read_text())
    assert spec["input"]["kind"] == "logmel" and spec["input"]["params"]["n_mels"] == 16


def test_help_on_every_command_and_module_entry_point():
    for cmd in ("scan", "features", "spectrograms"):
        proc = subprocess.run([sys.executable, "-m", "genre_core", cmd, "--help"], cwd=REPO,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0 and "--no-cache" in proc.stdout and "DATASET" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "genre_core", "scan", "/no/such/dir"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: Dataset folder /no/such/dir does not exist."
