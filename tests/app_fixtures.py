"""Shared fixtures and helpers for the Streamlit app tests (every page's tests import this).

Usage in a test module::

    from app_fixtures import app_models, app_env, empty_env, new_app, wav_bytes  # noqa: F401

Fixtures
--------
``app_models`` (session)
    A models folder (``<tmp>/models``) with tiny runs trained once per test
    session on synthetic audio, plus runs in every non-usable state:

    ==========================  =====================================================
    ``shipped/mlp-synth``       mlp, gtzan57 features on 3 s windows, 3 synthetic genres
    ``shipped/mlp-table30``     mlp on a 200-row slice of the public 30 s feature table
                                (10 GTZAN genres, 30 s windows: the coarse-segment case)
    ``user/xgb-synth``          xgb, mfcc_stats on 3 s windows, synthetic genres
    ``user/vote-synth``         soft vote of mlp-synth and xgb-synth
    ``user/broken-failed``      status ``failed`` (training raised)
    ``user/.ghost.tmp-<pid>``   a crashed training (its process is gone)
    ==========================  =====================================================

    Training takes a few tens of seconds on a busy 2-core machine.
``app_env`` (function)
    Points ``GENRE_MODELS_DIR`` at ``app_models`` for one test; returns the path.
``empty_env`` (function)
    Points ``GENRE_MODELS_DIR`` at an empty folder: the state of a fresh clone
    without shipped runs.

Helpers
-------
``new_app(page)``: ``AppTest.from_file(<repo>/<page>, default_timeout=180)``.
``wav_bytes(genre_or_signal, ...)`` / ``mp3_bytes(...)``: encoded synthetic audio.
``run_ids``: the ids above, as constants.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

MLP_SYNTH = "shipped/mlp-synth"
MLP_TABLE = "shipped/mlp-table30"
XGB_SYNTH = "user/xgb-synth"
VOTE_SYNTH = "user/vote-synth"
FAILED_RUN = "user/broken-failed"
CRASHED_RUN = "user/ghost"
COMPLETE_RUNS = (MLP_SYNTH, MLP_TABLE, XGB_SYNTH, VOTE_SYNTH)
SHIPPED_RUNS = (MLP_SYNTH, MLP_TABLE)
SYNTH_GENRES = ("drone", "pulse", "chords")

#: A pid that cannot be alive (above Linux's pid_max ceiling of 2**22).
_DEAD_PID = 4_194_999


def new_app(page: str, *, timeout: float = 180):
    """An ``AppTest`` for ``page`` (``"Home.py"`` or ``"pages/1_Predict.py"``, relative to the repo root)."""
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(REPO_ROOT / page), default_timeout=timeout)


def _encode(y: np.ndarray, sr: int, fmt: str, subtype: str) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.asarray(y, dtype=np.float32), sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def synth_signal(genre: str = "pulse", *, duration: float = 8.0, sr: int = 22050, seed: int = 3) -> np.ndarray:
    from genre_core.synthetic import synth_genre_clip

    return synth_genre_clip(genre, duration=duration, sr=sr, seed=seed)


def wav_bytes(genre: str = "pulse", *, duration: float = 8.0, sr: int = 22050, seed: int = 3) -> bytes:
    """A synthetic clip as 16-bit WAV bytes."""
    return _encode(synth_signal(genre, duration=duration, sr=sr, seed=seed), sr, "WAV", "PCM_16")


def mp3_bytes(genre: str = "chords", *, duration: float = 8.0, sr: int = 44100, seed: int = 4) -> bytes:
    """A synthetic clip as MP3 bytes (44.1 kHz, as most real MP3s)."""
    return _encode(synth_signal(genre, duration=duration, sr=sr, seed=seed), sr, "MP3", "MPEG_LAYER_III")


def _table_slice(dest: Path, n_per_genre: int = 20) -> Path:
    import pandas as pd

    from genre_core.config import default_feature_table

    df = pd.read_csv(default_feature_table())
    part = df.groupby("label", group_keys=False).head(n_per_genre)
    out = dest / "features_30_sec_slice.csv"
    part.to_csv(out, index=False)
    return out


def build_app_models(root: Path, synthetic_dir: Path) -> Path:
    """Train the tiny runs described in the module docstring into ``root`` (the models folder)."""
    from genre_core.runs import RunWriter
    from genre_core.training import train, train_voting

    root = Path(root)
    old = os.environ.get("GENRE_MODELS_DIR")
    os.environ["GENRE_MODELS_DIR"] = str(root)
    try:
        common = {"seed": 0, "n_jobs": 1, "test_size": 0.34, "valid_size": 0.25}
        train(str(synthetic_dir), "mlp", {"epochs": 8, "hidden": (32,), "patience": 8}, out=MLP_SYNTH, **common)
        train(str(synthetic_dir), "xgb", {"n_estimators": 15, "max_depth": 3, "early_stopping": 5},
              out=XGB_SYNTH, **common)
        train_voting([MLP_SYNTH, XGB_SYNTH], out=VOTE_SYNTH)
        train(str(_table_slice(root.parent)), "mlp", {"epochs": 5, "hidden": (16,)}, out=MLP_TABLE, seed=0,
              n_jobs=1)
        # a failed run: the writer records the error, the folder has no manifest
        w = RunWriter(FAILED_RUN.split("/", 1)[1], root=root / "user",
                      meta={"backend": "cnn", "dataset": "synthetic"})
        w.fail(RuntimeError("out of memory while training (test fixture)"))
        # a crashed run: a tmp folder whose process is gone
        ghost = root / "user" / f".{CRASHED_RUN.split('/', 1)[1]}.tmp-{_DEAD_PID}"
        ghost.mkdir(parents=True)
        (ghost / "status.json").write_text(json.dumps({
            "name": "ghost", "pid": _DEAD_PID, "stage": "training", "done": 3, "total": 10, "backend": "mlp",
            "dataset": "synthetic", "started": "2024-01-01T00:00:00+00:00",
        }))
    finally:
        if old is None:
            os.environ.pop("GENRE_MODELS_DIR", None)
        else:
            os.environ["GENRE_MODELS_DIR"] = old
    return root


@pytest.fixture(scope="session")
def app_models(tmp_path_factory, synthetic_dataset_dir) -> Path:
    """The session's models folder with tiny trained runs (see the module docstring)."""
    base = tmp_path_factory.mktemp("app_models")
    return build_app_models(base / "models", synthetic_dataset_dir)


@pytest.fixture
def app_env(app_models, monkeypatch, tmp_path_factory) -> Path:
    """``GENRE_MODELS_DIR`` -> the session's trained models, for one test."""
    monkeypatch.setenv("GENRE_MODELS_DIR", str(app_models))
    allow_test_folders(monkeypatch, tmp_path_factory)
    return app_models


def allow_test_folders(monkeypatch, tmp_path_factory) -> None:
    """Let the app read the tests' temporary folders (as a server's ``GENRE_DATA_ROOTS`` would)."""
    monkeypatch.setenv("GENRE_DATA_ROOTS", os.pathsep.join([str(tmp_path_factory.getbasetemp()),
                                                            str(REPO_ROOT)]))


@pytest.fixture
def empty_env(tmp_path, monkeypatch, tmp_path_factory) -> Path:
    """``GENRE_MODELS_DIR`` -> an empty folder (no shipped or user runs)."""
    root = tmp_path / "models"
    root.mkdir()
    monkeypatch.setenv("GENRE_MODELS_DIR", str(root))
    allow_test_folders(monkeypatch, tmp_path_factory)
    return root


def texts(elements) -> list[str]:
    """The ``.value`` of AppTest elements as strings (errors, infos, markdown...)."""
    return [str(e.value) for e in elements]


__all__ = [
    "allow_test_folders", "COMPLETE_RUNS", "CRASHED_RUN", "FAILED_RUN", "MLP_SYNTH", "MLP_TABLE", "REPO_ROOT", "SHIPPED_RUNS",
    "SYNTH_GENRES", "VOTE_SYNTH", "XGB_SYNTH", "app_env", "app_models", "build_app_models", "empty_env", "mp3_bytes", "new_app",
    "synth_signal", "texts", "wav_bytes",
]
