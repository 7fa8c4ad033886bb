"""Where things live and the defaults shared by every module.

All locations can be moved with environment variables, so the app, the CLI
and the tests agree on them without passing paths around:

========================  ==============================================
``GENRE_CACHE_DIR``       feature / spectrogram cache (default ``.cache/`` in the repo)
``GENRE_MODELS_DIR``      runs registry root (default ``models/`` in the repo)
``GENRE_DATA_DIR``        datasets root (default ``data/`` in the repo)
``GENRE_GTZAN_DIR``       GTZAN audio for benchmarks (default ``../shared/data/gtzan``)
``GENRE_DATA_ROOTS``      folders a path typed in the app may point into (``os.pathsep`` list)
========================  ==============================================

An app serving several people sets the data and models folders *per session*
with :func:`using_locations` (a context variable, so one session never sees
another's choice and no process-wide state changes); the environment gives the
server-wide defaults. Paths typed in the app are checked with
:func:`check_allowed_path` against :func:`allowed_roots`.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from pathlib import Path
from typing import Callable, Iterator, Mapping

from .errors import GenreLabError

#: Sample rate every pipeline works at unless told otherwise (GTZAN's own rate).
SAMPLE_RATE = 22050
#: Default analysis window and hop, in seconds.
WINDOW_SECONDS = 3.0
#: Audio longer than this is analysed only up to this point (seconds).
MAX_DURATION = 600.0
#: Audio shorter than this is refused (seconds).
MIN_DURATION = 1.0

REPO_ROOT = Path(__file__).resolve().parent.parent


#: Per-session overrides of the data / models folders (see :func:`using_locations`).
_SESSION_LOCATIONS: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "genre_lab_locations", default={})
#: Environment variable behind each location a session may override.
LOCATION_ENV = {"data": "GENRE_DATA_DIR", "models": "GENRE_MODELS_DIR"}


class PathNotAllowedError(GenreLabError):
    """A path typed in the app points outside the folders the app may read or write."""


_location_provider: Callable[[], Mapping[str, str]] | None = None


def register_location_provider(provider: Callable[[], Mapping[str, str]] | None) -> None:
    """Let an app supply the current session's ``{"data": ..., "models": ...}`` choices.

    The app (Streamlit) registers a function that reads the *calling* session's
    state, so each session sees its own folders. :func:`using_locations` takes
    precedence over it.
    """
    global _location_provider
    _location_provider = provider


def session_overrides() -> Mapping[str, str]:
    """The data / models folders chosen for the current session (``{}``: none)."""
    chosen = _SESSION_LOCATIONS.get()
    if chosen or _location_provider is None:
        return chosen
    try:
        return _location_provider() or {}
    except Exception:  # noqa: BLE001 - a provider outside its session answers "none"
        return {}


def _env_path(var: str, default: Path) -> Path:
    for kind, v in LOCATION_ENV.items():
        if v == var:
            chosen = session_overrides().get(kind)
            if chosen:
                return Path(chosen)
    value = os.environ.get(var)
    return Path(value).expanduser() if value else default


@contextlib.contextmanager
def using_locations(data: str | os.PathLike | None = None,
                    models: str | os.PathLike | None = None) -> Iterator[None]:
    """Within the block (this thread / task only), use these data and models folders.

    ``None`` keeps the server-wide value (environment or default). Nothing
    process-wide changes, so concurrent app sessions each see their own.

    Examples
    --------
    >>> with using_locations(models="/tmp/my-models"):
    ...     str(models_dir())
    '/tmp/my-models'
    """
    chosen = {k: str(v) for k, v in (("data", data), ("models", models)) if v}
    token = _SESSION_LOCATIONS.set(chosen)
    try:
        yield
    finally:
        _SESSION_LOCATIONS.reset(token)


def allowed_roots() -> list[Path]:
    """Folders (real paths) that a path typed in the app may resolve into.

    ``GENRE_DATA_ROOTS`` (an ``os.pathsep``-separated list) replaces the
    default, which is: the repo's ``data/`` and ``models/``, the configured
    ``GENRE_DATA_DIR`` / ``GENRE_MODELS_DIR`` / ``GENRE_GTZAN_DIR`` and the
    user's home folder.
    """
    listed = os.environ.get("GENRE_DATA_ROOTS", "")
    if listed.strip():
        roots = [Path(p).expanduser() for p in listed.split(os.pathsep) if p.strip()]
    else:
        roots = [REPO_ROOT / "data", REPO_ROOT / "models", Path.home()]
        for var in ("GENRE_DATA_DIR", "GENRE_MODELS_DIR", "GENRE_GTZAN_DIR"):
            if os.environ.get(var):
                roots.append(Path(os.environ[var]).expanduser())
        roots.append(REPO_ROOT.parent / "shared" / "data" / "gtzan")
    out: list[Path] = []
    for r in roots:
        real = Path(os.path.realpath(r))
        if real not in out:
            out.append(real)
    return out


def check_allowed_path(path: str | os.PathLike, what: str = "path") -> Path:
    """The real path of ``path`` (symlinks followed) if it lies inside :func:`allowed_roots`.

    A relative path is taken relative to the repo root.

    Raises
    ------
    PathNotAllowedError
        It resolves outside every allowed root; nothing was read.

    Examples
    --------
    >>> check_allowed_path("/proc/self")
    Traceback (most recent call last):
    ...
    genre_core.config.PathNotAllowedError: The path /proc/self is outside the folders this app may use ...
    """
    text = str(path).strip()
    if not text or "\x00" in text:
        raise PathNotAllowedError(f"No usable {what} given.")
    p = Path(text).expanduser()
    if not p.is_absolute():
        p = REPO_ROOT / p
    real = Path(os.path.realpath(p))
    roots = allowed_roots()
    if any(real == r or r in real.parents for r in roots):
        return real
    shown = ", ".join(str(r) for r in roots)
    raise PathNotAllowedError(
        f"The {what} {text} is outside the folders this app may use ({shown}); nothing was read. "
        f"A server's administrator sets them with GENRE_DATA_ROOTS.")


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
