"""Shared pytest setup for genre-lab.

* Every test session gets its own feature cache: ``GENRE_CACHE_DIR`` is pointed
  at a fresh temporary folder at import time unless the caller already set it
  (``scripts/test.sh`` does). ``GENRE_MODELS_DIR`` is deliberately left alone:
  tests that write runs point it somewhere temporary themselves (monkeypatch).
* ``tests/`` is on ``sys.path`` (pytest's rootdir-relative import) so tests can ``import audio_fixtures``.
* Fixtures: ``sr``, ``tone``, ``synthetic_dataset_dir`` (session, 3 genres x 6
  clips x 4 s), ``audio_files`` (session, format name -> synthesised file),
  ``gtzan`` (the real GTZAN folder, or skip).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest


# the app's background preloading of the default runs (pages/components/common.py) is for real servers
os.environ.setdefault("GENRE_PRELOAD", "0")
if not os.environ.get("GENRE_CACHE_DIR"):
    _cache = tempfile.mkdtemp(prefix="genre-cache-")
    os.environ["GENRE_CACHE_DIR"] = _cache
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)

from audio_fixtures import FORMATS, write_format  # noqa: E402

#: Genres and sizes of the shared synthetic dataset fixture.
SYNTH_GENRES = ("drone", "pulse", "chords")
SYNTH_N_PER_GENRE = 6
SYNTH_DURATION = 4.0


@pytest.fixture(scope="session")
def sr() -> int:
    """The pipeline's sample rate (22050)."""
    from genre_core.config import SAMPLE_RATE

    return SAMPLE_RATE


@pytest.fixture
def tone(sr) -> np.ndarray:
    """A 2 s harmonic tone (220 Hz + harmonics, a little noise), float32 at ``sr``."""
    t = np.arange(int(2.0 * sr)) / sr
    y = sum(np.sin(2 * np.pi * 220.0 * k * t) / k for k in (1, 2, 3)) * 0.2
    y = y + 0.003 * np.random.default_rng(0).standard_normal(t.shape[0])
    return y.astype(np.float32)


@pytest.fixture(scope="session")
def synthetic_dataset_dir(tmp_path_factory) -> Path:
    """A GTZAN-like folder ``<root>/<genre>/<genre>.NNNNN.wav``: 3 genres x 6 clips x 4 s, 22050 Hz."""
    from genre_core.synthetic import write_synthetic_dataset

    root = tmp_path_factory.mktemp("synthetic_dataset")
    return write_synthetic_dataset(root, genres=SYNTH_GENRES, n_per_genre=SYNTH_N_PER_GENRE,
                                   duration=SYNTH_DURATION, seed=0)


@pytest.fixture(scope="session")
def audio_files(tmp_path_factory) -> dict[str, Path]:
    """Format name -> a 2 s stereo file in that format (see ``audio_fixtures.FORMATS``).

    Keys: ``wav``, ``wav_float``, ``flac``, ``ogg``, ``opus``, ``mp3`` (ID3-tagged,
    44.1 kHz), ``mp3_vbr`` (ID3-tagged VBR, 48 kHz), ``au``.
    """
    folder = tmp_path_factory.mktemp("audio_files")
    return {fmt: write_format(folder, fmt, duration=2.0) for fmt in FORMATS}


@pytest.fixture(scope="session")
def gtzan() -> Path:
    """The real GTZAN folder (``genre_core.config.gtzan_dir()``); skips the test when absent."""
    from genre_core.config import gtzan_dir

    root = gtzan_dir()
    if not root.is_dir():
        pytest.skip(f"real GTZAN audio not found at {root}")
    return root


@pytest.fixture(autouse=True)
def _fresh_input_memo():
    """Each test computes its prediction inputs afresh (genre_core.predict remembers the last few)."""
    from genre_core.store import clear_memos

    clear_memos()
    yield


@pytest.fixture(scope="session")
def probe():
    """musicnn's 3 s probe signal at 22050 Hz (the musicnn tests' common input)."""
    from genre_core.features import musicnn

    y, sr = musicnn._probe_signal()
    assert sr == 22050 and y.shape == (3 * 22050,)
    return y
