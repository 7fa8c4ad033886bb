"""Where things live and the defaults shared by every module.

All locations can be moved with environment variables, so the app, the CLI
and the tests agree on them without passing paths around:

========================  ==============================================
``GENRE_CACHE_DIR``       feature / spectrogram cache (default ``.cache/`` in the repo)
``GENRE_MODELS_DIR``      runs registry root (default ``models/`` in the repo)
``GENRE_DATA_DIR``        datasets root (default ``data/`` in the repo)
``GENRE_GTZAN_DIR``       GTZAN audio for benchmarks (default ``../shared/data/gtzan``)
========================  ==============================================
"""

from __future__ import annotations

import os
from pathlib import Path

#: Sample rate every pipeline works at unless told otherwise (GTZAN's own rate).
SAMPLE_RATE = 22050
#: Default analysis window and hop, in seconds.
WINDOW_SECONDS = 3.0
#: Audio longer than this is analysed only up to this point (seconds).
MAX_DURATION = 600.0
#: Audio shorter than this is refused (seconds).
MIN_DURATION = 1.0

REPO_ROOT = Path(__file__).resolve().parent.parent


def _env_path(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser() if value else default


def cache_dir() -> Path:
    """Folder of the on-disk feature cache (``GENRE_CACHE_DIR``)."""
    return _env_path("GENRE_CACHE_DIR", REPO_ROOT / ".cache")


def models_dir() -> Path:
    """Root of the runs registry (``GENRE_MODELS_DIR``)."""
    return _env_path("GENRE_MODELS_DIR", REPO_ROOT / "models")


def shipped_runs_dir() -> Path:
    """Runs committed with the repo (read-only for the app)."""
    return models_dir() / "shipped"


def user_runs_dir() -> Path:
    """Runs the user trains (git-ignored)."""
    return models_dir() / "user"


def data_dir() -> Path:
    """Datasets root (``GENRE_DATA_DIR``)."""
    return _env_path("GENRE_DATA_DIR", REPO_ROOT / "data")


def default_feature_table() -> Path:
    """The bundled public GTZAN feature table (1000 tracks x 57 features)."""
    return REPO_ROOT / "data" / "features_30_sec.csv"


def gtzan_dir() -> Path:
    """Real GTZAN audio used for development and benchmarks, when present."""
    return _env_path("GENRE_GTZAN_DIR", REPO_ROOT.parent / "shared" / "data" / "gtzan")
