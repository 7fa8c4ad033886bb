"""What every genre-lab page shares: setup, the error boundary, locations, runs.

A page reads like a storyboard::

    from pages.components.common import run_page, setup_page

    def main():
        setup_page("Predict")
        ...

    run_page(main)

* :func:`setup_page` -- page config, the data/models locations chosen on Home
  (applied to this process), a sidebar note of where things live.
* :func:`run_page` -- the error boundary: a
  :class:`~genre_core.errors.GenreLabError` becomes ``st.error`` with what to
  do; any other exception becomes ``st.error("Unexpected error: ...")`` (class
  and message); the traceback is shown only when ``GENRE_DEBUG=1``.
* :func:`load_run_cached` -- loaded runs (models in memory) kept with
  ``st.cache_resource``, keyed by the run folder and its ``run.json`` mtime, so
  a retrained run of the same name is reloaded.
* Locations: ``GENRE_DATA_DIR`` / ``GENRE_MODELS_DIR`` (see
  :mod:`genre_core.config`) for the whole server, or the setting on Home for
  one browser session (kept in ``st.session_state`` and handed to genre_core
  by :func:`session_locations`, a registered location provider). Typed paths go
  through :func:`genre_core.config.check_allowed_path`.
* What to list (runs, datasets) is computed in genre_core
  (:mod:`genre_core.leaderboard`, :mod:`genre_core.discovery`); this module
  only formats and caches.
"""

from __future__ import annotations

import os
import threading
import traceback
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import streamlit as st

REPO_ROOT = Path(__file__).resolve().parents[2]

from genre_core import config
from genre_core.allocator import reuse_freed_memory
from genre_core.errors import (
    AudioError,
    DatasetError,
    GenreLabError,
    RunError,
    TrainingCancelled,
)
from genre_core.leaderboard import headline

APP_NAME = "genre-lab"
#: Environment variable per configurable location.
LOCATION_ENV = config.LOCATION_ENV
_STATE_KEY = "genre_lab_locations"          # {"data": str | None, "models": str | None}

#: The pages of the app, in menu order: (file relative to the repo root, label, icon).
PAGES: tuple[tuple[str, str, str], ...] = (
    ("Home.py", "Home", ":material/home:"),
    ("pages/1_Predict.py", "Predict: classify a song", ":material/graphic_eq:"),
    ("pages/2_Train.py", "Train a model", ":material/model_training:"),
    ("pages/3_Compare.py", "Compare runs", ":material/leaderboard:"),
    ("pages/4_Explore.py", "Explore a dataset", ":material/query_stats:"),
)


def debug_mode() -> bool:
    """``GENRE_DEBUG=1`` shows tracebacks of unexpected errors (never in normal use)."""
    return os.environ.get("GENRE_DEBUG", "").strip() not in ("", "0", "false", "no")


# --------------------------------------------------------------------------- page setup


def setup_page(title: str, icon: str = ":material/graphic_eq:", *, layout: str = "wide") -> None:
    """Configure the page and apply the session's location settings.

    Call first in every page's ``main()``. The first page run of the server
    also starts :func:`preload_default_runs` in the background.
    """
    st.set_page_config(page_title=f"{title} · {APP_NAME}", page_icon=icon, layout=layout)
    reuse_freed_memory()  # once per server process: each upload reuses the last one's freed memory
    preload_default_runs()
    with st.sidebar:
        st.caption(
            f"Models: `{_short(config.models_dir())}`  \nData: `{_short(config.data_dir())}`  \n"
            "Change these on the Home page."
        )


def _short(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT)) + "/"
    except ValueError:
        return str(path)


def page_links(*, exclude: Iterable[str] = (), columns: bool = False) -> None:
    """``st.page_link`` to every page that exists in this checkout (side by side with ``columns``)."""
    skip = set(exclude)
    present = [(rel, label, icon) for rel, label, icon in PAGES
               if rel not in skip and (REPO_ROOT / rel).is_file()]
    slots = st.columns(len(present)) if columns and present else [st.container() for _ in present]
    for slot, (rel, label, icon) in zip(slots, present):
        slot.page_link(rel, label=label, icon=icon)


# --------------------------------------------------------------------------- errors

_AUDIO_ADVICE = {
    "empty": "The file has no content. Choose it again; if it is still empty, export or download it again.",
    "not_audio": "Upload an audio file: WAV, MP3, OGG/Vorbis, Opus, FLAC or AU.",
    "unsupported": "Convert it to WAV, FLAC or MP3 (for example `ffmpeg -i song.m4a song.wav`) and upload that.",
    "corrupt": "The file is damaged. Export or download it again, or try another copy.",
    "truncated": "The file is cut short (an interrupted download or copy). Get the complete file and upload it again.",
    "silent": "Upload a recording with audible sound; check that the right file and channel were exported.",
    "too_short": f"Upload at least {config.MIN_DURATION:g} s of audio (ideally 30 s or more).",
    "too_long": f"Only the first {config.MAX_DURATION / 60:g} minutes can be analysed; trim the file.",
    "missing": "Check the path and that the file still exists.",
}


def advice_for(err: BaseException) -> str:
    """What the person can do about ``err`` (one sentence)."""
    if isinstance(err, AudioError):
        return _AUDIO_ADVICE.get(err.reason, "Try another file.")
    if isinstance(err, TrainingCancelled):
        return "Start training again when you are ready."
    if isinstance(err, RunError):
        return "Pick another run, or retrain this one on the Train page (or delete its folder)."
    if isinstance(err, DatasetError):
        return "Check the dataset: one sub-folder per genre with audio files, a feature-table CSV, or 'synthetic'."
    if isinstance(err, GenreLabError):
        return "Check the input and try again."
    return "This is a bug in genre-lab; please report it with the steps that led here."


def show_error(err: BaseException, *, context: str | None = None) -> None:
    """Show ``err`` with ``st.error`` and what to do; never a traceback (unless ``GENRE_DEBUG=1``)."""
    lead = f"{context}: " if context else ""
    if isinstance(err, GenreLabError):
        text = str(err)
        if isinstance(err, AudioError):  # the detail names the file already; add it only when it does not
            text = err.detail if err.source in err.detail else f"**{err.source}**: {err.detail}"
        st.error(f"{lead}{text}\n\n**What to do:** {advice_for(err)}", icon=":material/error:")
    else:
        st.error(
            f"{lead}Unexpected error: {type(err).__name__}: {err}\n\n**What to do:** {advice_for(err)}",
            icon=":material/bug_report:",
        )
    if debug_mode():
        with st.expander("Details (GENRE_DEBUG)"):
            st.code("".join(traceback.format_exception(type(err), err, err.__traceback__)))


def run_page(main: Callable[[], Any]) -> None:
    """Run a page's ``main()`` behind the error boundary (Streamlit's own rerun/stop pass through)."""
    try:
        main()
    except Exception as err:  # noqa: BLE001 - the boundary: nothing reaches the user as a traceback
        show_error(err)


# --------------------------------------------------------------------------- locations


def session_locations() -> dict[str, str]:
    """This session's data / models folders chosen on Home (``{}`` when it uses the server's).

    Registered with :func:`genre_core.config.register_location_provider`, so
    genre_core reads the calling session's choice (``{}`` outside a session,
    e.g. in a background thread).
    """
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if get_script_run_ctx(suppress_warning=True) is None:
        return {}
    chosen = st.session_state.get(_STATE_KEY) or {}
    return {k: v for k, v in chosen.items() if k in LOCATION_ENV and v}


config.register_location_provider(session_locations)


def set_location(kind: str, path: str | os.PathLike | None) -> Path | None:
    """Point ``kind`` (``"data"`` or ``"models"``) at ``path`` for this browser session only.

    ``None`` (or an empty text) goes back to the server's folder. The choice
    lives in ``st.session_state``; genre_core sees it through
    :func:`genre_core.config.using_locations` during this session's page runs,
    so other sessions on the same server are not affected.

    Raises
    ------
    GenreLabError
        The folder is outside the allowed roots, does not exist (data) or cannot
        be created (models).
    """
    chosen = dict(st.session_state.get(_STATE_KEY) or {})
    if path is None or not str(path).strip():
        chosen.pop(kind, None)
        st.session_state[_STATE_KEY] = chosen
        return None
    p = config.check_allowed_path(path, f"{kind} folder")
    if kind == "data" and not p.is_dir():
        raise DatasetError(f"The data folder {p} does not exist; give an existing folder.")
    if kind == "models":
        if p.exists() and not p.is_dir():
            raise RunError(f"The models location {p} is a file, not a folder.")
        if not p.exists() and not p.parent.is_dir():
            raise RunError(f"The models folder {p} cannot be created: {p.parent} does not exist.")
    chosen[kind] = str(p)
    st.session_state[_STATE_KEY] = chosen
    return p


def location_source(kind: str) -> str:
    """Where the current folder comes from: this session, an environment variable, or the default."""
    if session_locations().get(kind):
        return "set on this page"
    var = LOCATION_ENV[kind]
    return f"${var}" if os.environ.get(var) else "default"


def location_settings_ui() -> None:
    """Two text fields (data folder, models folder) with Apply / Reset, shown on Home."""
    current = {"data": config.data_dir(), "models": config.models_dir()}
    with st.form("locations"):
        st.caption(
            "genre-lab reads datasets from the data folder and keeps runs under the models folder "
            "(`shipped/` committed with the repo, `user/` for your own). The environment variables "
            "`GENRE_DATA_DIR` and `GENRE_MODELS_DIR` set them for the whole server at launch; a value here "
            "applies to this browser session only, and must lie inside the folders the server allows "
            "(`GENRE_DATA_ROOTS`)."
        )
        data = st.text_input(f"Data folder ({location_source('data')})", value=str(current["data"]))
        models = st.text_input(f"Models folder ({location_source('models')})", value=str(current["models"]))
        c1, c2 = st.columns(2)
        apply = c1.form_submit_button("Apply", type="primary")
        reset = c2.form_submit_button("Reset to defaults")
    if apply:
        try:
            for kind, value in (("data", data), ("models", models)):
                if Path(value).expanduser() != current[kind]:
                    set_location(kind, value)
        except GenreLabError as err:
            show_error(err, context="This folder cannot be used")
            return
        st.rerun()
    if reset:
        set_location("data", None)
        set_location("models", None)
        st.rerun()


# --------------------------------------------------------------------------- runs


def list_runs_safe() -> list:
    """Every run in the registry (``genre_core.runs.list_runs``), newest first."""
    from genre_core import runs

    return runs.list_runs()


def complete_runs(all_runs: Iterable | None = None) -> list:
    """The complete runs: shipped ones by name, then user runs newest first."""
    items = list(all_runs) if all_runs is not None else list_runs_safe()
    done = [r for r in items if r.status == "complete"]
    shipped = sorted((r for r in done if r.location == "shipped"), key=lambda r: r.name)
    return shipped + [r for r in done if r.location != "shipped"]


def default_run_ids(runs: Iterable) -> list[str]:
    """The strongest complete runs by their recorded accuracy (:func:`genre_core.leaderboard.strongest_runs`)."""
    from genre_core.leaderboard import strongest_runs

    return [r.id for r in strongest_runs(complete_runs(runs))]


def run_key(run_or_ref) -> tuple[str, int]:
    """``(absolute folder, run.json mtime_ns)``: identifies one version of a run."""
    from genre_core import runs

    path = Path(run_or_ref.path) if hasattr(run_or_ref, "path") else runs.resolve_run(run_or_ref)
    path = path.resolve()
    try:
        mtime = (path / runs.RUN_FILE).stat().st_mtime_ns
    except OSError:
        mtime = 0
    return str(path), int(mtime)


@st.cache_resource(show_spinner=False, max_entries=32)
def _load_run_resource(path: str, mtime_ns: int):  # noqa: ARG001 - mtime is part of the cache key
    from genre_core import runs

    return runs.load_run(path)


@st.cache_resource(show_spinner=False)
def preload_default_runs() -> threading.Thread | None:
    """Once per server: load the runs Predict preselects (and their libraries) in a background thread.

    The first upload then finds torch / xgboost imported (cnn runs predict in PyTorch) and the
    models in :func:`load_run_cached`'s cache instead of paying for them.
    ``GENRE_PRELOAD=0`` turns it off (the tests do).
    """
    if os.environ.get("GENRE_PRELOAD", "1").strip() in ("0", "false", "no"):
        return None
    try:
        from streamlit.runtime.scriptrunner import (
            add_script_run_ctx,
            get_script_run_ctx,
        )

        ctx = get_script_run_ctx(suppress_warning=True)
    except ImportError:  # pragma: no cover - older Streamlit
        add_script_run_ctx, ctx = None, None
    ids = default_run_ids(list_runs_safe())

    def work() -> None:
        specs = {}
        for rid in ids:
            try:
                run = load_run_cached(rid)
                leaves = [m for m, _ in run.members] if run.is_voting else [run]
                for leaf in leaves:
                    model = leaf.load_model()
                    specs[model.input_spec.key()] = model.input_spec
            except Exception:  # noqa: BLE001 - a run that cannot load says so when it is used
                continue
        # one short window per input: imports torch, loads musicnn's weights, compiles numba's kernels
        import numpy as np

        from genre_core.inputs import compute_track_input

        for spec in specs.values():
            try:
                t = np.arange(int(spec.sr * max(3.5, (spec.window or 3.0) + 0.5))) / spec.sr
                compute_track_input((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), spec.sr, spec)
            except Exception:  # noqa: BLE001 - warming up only
                continue

    thread = threading.Thread(target=work, name="genre-lab-preload", daemon=True)
    if add_script_run_ctx is not None and ctx is not None:
        add_script_run_ctx(thread, ctx)
    thread.start()
    return thread


def load_run_cached(run_or_ref):
    """A verified, loaded run, kept in memory across reruns and sessions.

    Keyed by the run folder and its ``run.json`` mtime, so retraining a run of
    the same name loads the new one. Raises :class:`~genre_core.errors.RunError`
    (never cached) when the run cannot be used.
    """
    path, mtime = run_key(run_or_ref)
    return _load_run_resource(path, mtime)


def run_label(run) -> str:
    """``shipped/mlp-gtzan · mlp on features_30_sec.csv · 71% track acc.``"""
    h = headline(run)
    acc = h.get("track_accuracy")
    bits = [run.id, f"{h.get('backend') or '?'} on {h.get('dataset') or '?'}"]
    if acc is not None:
        proto = "CV" if h.get("evaluated_on") == "kfold" else (h.get("evaluated_on") or "held out")
        bits.append(f"{acc:.0%} track acc. ({proto})")
    return " · ".join(bits)


# --------------------------------------------------------------------------- tables


def fmt_seconds(s: float | None) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``."""
    if s is None:
        return ""
    s = float(s)
    if s < 60:
        return f"{s:.1f} s" if s < 10 else f"{s:.0f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(round(s % 60)):02d} s"
    return f"{int(s // 3600)} h {int(round((s % 3600) / 60)):02d} min"


def fmt_clock(s: float) -> str:
    """``m:ss.s`` for positions in a track."""
    s = max(0.0, float(s))
    return f"{int(s // 60)}:{s % 60:04.1f}"





# --------------------------------------------------------------------------- choosing a dataset


#: The kinds of dataset the Train and Explore pages offer.
DATASET_KINDS = {"table": "Bundled feature table", "audio": "Audio folder or table", "synthetic": "Synthetic demo"}


def dataset_picker_ui(key: str, *, folder_label: str = "Folder with one sub-folder per genre",
                      folder_help: str | None = None, captions: Mapping[str, str] | None = None,
                      min_clips: int = 4) -> tuple[str, str]:
    """A dataset kind and its spec (a table path, a typed folder, or ``synthetic:n=..,duration=..``).

    Widget keys are ``{key}_kind``, ``{key}_folder``, ``{key}_syn_n`` and
    ``{key}_syn_dur``; ``captions`` (by kind) explain each choice.
    """
    captions = dict(captions or {})
    kind = st.radio("Dataset", list(DATASET_KINDS), format_func=DATASET_KINDS.get, horizontal=True,
                    key=f"{key}_kind", label_visibility="collapsed")
    if kind == "table":
        spec = str(config.default_feature_table())
    elif kind == "audio":
        gtzan = config.gtzan_dir() / "audio"
        spec = st.text_input(folder_label, value=str(gtzan if gtzan.is_dir() else config.data_dir()),
                             key=f"{key}_folder", help=folder_help)
    else:
        c1, c2 = st.columns(2)
        n = c1.slider("Clips per genre", min_clips, 40, 12, key=f"{key}_syn_n")
        dur = c2.slider("Seconds per clip", 3, 30, 6, key=f"{key}_syn_dur")
        spec = f"synthetic:n={n},duration={dur}"
    if captions.get(kind):
        st.caption(captions[kind])
    return kind, spec

__all__ = [
    "DATASET_KINDS", "dataset_picker_ui", "APP_NAME", "LOCATION_ENV", "PAGES", "REPO_ROOT", "advice_for", "complete_runs",
    "debug_mode", "default_run_ids", "fmt_clock",
    "fmt_seconds", "list_runs_safe", "load_run_cached", "location_settings_ui",
    "location_source", "page_links", "run_key", "run_label", "run_page", "session_locations", "set_location",
    "setup_page", "show_error",
]
