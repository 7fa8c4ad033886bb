"""Streamlit pieces of the Train page: hyperparameter and augmentation controls, job panels.

* :func:`param_input` / :func:`params_ui` -- one control per backend hyperparameter,
  built from ``param_specs()`` (type, range, choices, help; the default is shown in
  the help text and pre-filled). Advanced parameters go in an expander.
* :func:`augment_ui` -- toggles and ranges of :class:`~genre_core.augment.AugmentConfig`.
* :func:`job_panel` -- one background job: state, stage, progress bar, ETA, live
  loss/accuracy curves, unreadable files, Cancel; and, once it ends, the headline
  metrics with a link to Compare (or the error).

Nothing here trains or computes metrics: it reads :mod:`genre_core.jobs`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitAPIException

from genre_core import jobs
from genre_core.augment import AugmentConfig
from genre_core.backends import progress_unit
from genre_core.errors import GenreLabError
from pages.components import compare_charts
from pages.components.common import fmt_seconds, show_error

#: The stages a job goes through, in order, with the words shown.
STAGES = (
    ("scanning", "scanning the dataset"),
    ("splitting", "splitting tracks"),
    ("extracting", "extracting inputs"),
    ("training", "training"),
    ("evaluating", "evaluating on test tracks"),
    ("saving", "saving the run"),
)
_STAGE_WORDS = dict(STAGES)
_STATE_ICON = {"queued": ":material/schedule:", "starting": ":material/hourglass_top:",
               "running": ":material/sync:", "complete": ":material/check_circle:",
               "failed": ":material/error:", "cancelled": ":material/cancel:", "crashed": ":material/dangerous:"}


# --------------------------------------------------------------------------- links


def link_to_page(page: str, label: str, *, icon: str | None = None, query_params: dict | None = None) -> None:
    """``st.page_link`` to ``page`` (relative to the repo root), with query parameters.

    When the page cannot be resolved (a page run on its own, as in AppTest, has no
    multipage navigation), a plain Markdown link to the page's URL is shown instead.
    """
    try:
        st.page_link(page, label=label, icon=icon, query_params=query_params)
    except StreamlitAPIException:
        from urllib.parse import urlencode

        stem = Path(page).stem
        url_path = stem.split("_", 1)[1] if "_" in stem and stem.split("_", 1)[0].isdigit() else stem
        query = f"?{urlencode(query_params)}" if query_params else ""
        st.markdown(f"[{label}](/{url_path}{query})")


# --------------------------------------------------------------------------- hyperparameters


def _step(default: float) -> float:
    if default and math.isfinite(default) and default > 0:
        return float(10 ** math.floor(math.log10(abs(default))))
    return 0.01


def param_input(p, key: str) -> Any:
    """One control for a backend :class:`~genre_core.backends.Param`; returns the raw value."""
    default_text = p.format(p.default)
    help_text = f"{p.help} Default: {default_text}."
    if p.low is not None or p.high is not None:
        help_text += f" Range: {p.low if p.low is not None else '−∞'} to {p.high if p.high is not None else '∞'}."
    label = p.name
    if p.choices:
        opts = list(p.choices)
        return st.selectbox(label, opts, index=opts.index(p.default) if p.default in opts else 0, key=key,
                            help=help_text)
    if p.type is bool:
        return st.checkbox(label, value=bool(p.default), key=key, help=help_text)
    if p.type is int:
        return st.number_input(label, value=int(p.default), step=1,
                               min_value=None if p.low is None else int(p.low),
                               max_value=None if p.high is None else int(p.high), key=key, help=help_text)
    if p.type is float:
        return st.number_input(label, value=float(p.default), step=_step(float(p.default)), format="%g",
                               min_value=None if p.low is None else float(p.low),
                               max_value=None if p.high is None else float(p.high), key=key, help=help_text)
    return st.text_input(label, value=default_text, key=key, help=help_text)


def params_ui(backend_cls, *, key_prefix: str = "param", skip: tuple[str, ...] = ("seed",)) -> tuple[dict, list[str]]:
    """Controls for every hyperparameter of ``backend_cls``.

    Returns ``(params, problems)``: the values that differ from the defaults (coerced
    through ``Param.coerce``) and the error sentences of values that cannot be used.
    """
    specs = [p for p in backend_cls.param_specs() if p.name not in skip]
    basic = [p for p in specs if not getattr(p, "advanced", False)]
    advanced = [p for p in specs if getattr(p, "advanced", False)]
    raw: dict[str, Any] = {}
    cols = st.columns(3)
    for i, p in enumerate(basic):
        with cols[i % 3]:
            raw[p.name] = param_input(p, f"{key_prefix}:{backend_cls.name}:{p.name}")
    if advanced:
        with st.expander(f"Advanced hyperparameters ({len(advanced)})"):
            acols = st.columns(3)
            for i, p in enumerate(advanced):
                with acols[i % 3]:
                    raw[p.name] = param_input(p, f"{key_prefix}:{backend_cls.name}:{p.name}")
    params, problems = {}, []
    by_name = {p.name: p for p in specs}
    for name, value in raw.items():
        try:
            v = by_name[name].coerce(value)
        except GenreLabError as err:
            problems.append(str(err))
            continue
        if v != by_name[name].default:
            params[name] = list(v) if isinstance(v, tuple) else v
    return params, problems


# --------------------------------------------------------------------------- augmentation


def augment_ui(*, key: str = "aug") -> tuple[dict | None, int, list[str]]:
    """Augmentation toggle, copies and the four augmentations' probabilities and ranges.

    Returns ``(augment config dict or None, n_augment, problems)``.
    """
    d = AugmentConfig()
    on = st.toggle("Augment the training tracks", value=False, key=f"{key}:on",
                   help="Adds randomly transformed copies of every TRAINING track (never validation or test "
                        "tracks), reproducibly from the seed. Extraction takes (1 + copies) times longer.")
    if not on:
        return None, 0, []
    n = st.slider("Augmented copies per training track", 1, 5, 1, key=f"{key}:n")
    c1, c2 = st.columns(2)
    with c1:
        st.markdown("**Time stretch** (tempo, same pitch)")
        ts_p = st.slider("probability", 0.0, 1.0, d.time_stretch_p, 0.05, key=f"{key}:ts_p")
        ts = st.slider("rate range", 0.5, 2.0, (d.time_stretch_min, d.time_stretch_max), 0.01, key=f"{key}:ts")
        st.markdown("**Pitch shift** (same tempo)")
        ps_p = st.slider("probability ", 0.0, 1.0, d.pitch_shift_p, 0.05, key=f"{key}:ps_p")
        ps = st.slider("± semitones", 0.0, 12.0, d.pitch_semitones, 0.5, key=f"{key}:ps")
    with c2:
        st.markdown("**Gaussian noise**")
        n_p = st.slider("probability  ", 0.0, 1.0, d.noise_p, 0.05, key=f"{key}:n_p")
        n_lo = st.number_input("min amplitude (full scale 1)", 0.0001, 0.5, d.noise_min_amplitude, 0.001,
                               format="%g", key=f"{key}:n_lo")
        n_hi = st.number_input("max amplitude", 0.0001, 0.5, d.noise_max_amplitude, 0.001, format="%g",
                               key=f"{key}:n_hi")
        st.markdown("**Gain**")
        g_p = st.slider("probability   ", 0.0, 1.0, d.gain_p, 0.05, key=f"{key}:g_p")
        g = st.slider("gain range (dB)", -24.0, 24.0, (d.gain_min_db, d.gain_max_db), 0.5, key=f"{key}:g")
    try:
        cfg = AugmentConfig(time_stretch_p=ts_p, time_stretch_min=ts[0], time_stretch_max=ts[1],
                            pitch_shift_p=ps_p, pitch_semitones=ps, noise_p=n_p, noise_min_amplitude=n_lo,
                            noise_max_amplitude=n_hi, gain_p=g_p, gain_min_db=g[0], gain_max_db=g[1])
    except GenreLabError as err:
        return None, n, [str(err)]
    return cfg.to_dict(), int(n), []


# --------------------------------------------------------------------------- job panels


def _fmt_pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.1%}"


def stage_line(status: dict) -> str:
    """``training: epoch 12 of 100 · elapsed 34 s · ETA ≤ 1 min 05 s``."""
    state = status.get("state")
    stage = status.get("stage") or ""
    if state == "queued":
        pos = status.get("queue_position")
        return f"queued{f' (position {pos})' if pos else ''}: starts when the job before it ends"
    words = _STAGE_WORDS.get(stage, stage)
    done, total = status.get("done") or 0, status.get("total") or 0
    bits = [words]
    if stage == "training" and status.get("epochs"):
        fold = f", fold {status['fold']} of {status['folds']}" if status.get("folds") else ""
        if status.get("refit"):
            fold = ", refit on all tracks"
        elif status.get("refit_fold"):
            fold += ", refit on its training + validation tracks"
        member = f", member {status['member']} of {status['members']}" if status.get("members") else ""
        unit = progress_unit((status.get("config") or {}).get("backend"))
        bits = [f"training: {unit} {status.get('epoch') or 0} of {status['epochs']}{fold}{member}"]
    elif total:
        bits = [f"{words}: {done} of {total}"]
    if status.get("elapsed_s") is not None:
        bits.append(f"elapsed {fmt_seconds(status['elapsed_s'])}")
    eta = status.get("eta_s")
    if eta is not None and state == "running":
        bits.append(f"ETA {'≤ ' if stage == 'training' else ''}{fmt_seconds(eta)}")
    return " · ".join(bits)


def _progress_fraction(status: dict) -> float | None:
    done, total = status.get("done") or 0, status.get("total") or 0
    if total and status.get("stage") in ("scanning", "extracting", "training"):
        return max(0.0, min(1.0, done / total))
    return None


def job_title(status: dict) -> str:
    cfg = status.get("config") or {}
    name = status.get("run_id") or (f"user/{status['run_name']}" if status.get("run_name") else None) \
        or (f"user/{cfg['name']}" if cfg.get("name") else "a new run")
    ds = status.get("dataset_name") or cfg.get("dataset")
    return f"{cfg.get('backend', '?')} on {ds} → {name}"


def stepper(status: dict) -> str:
    """The stages as one line, done ones ticked and the current one in bold."""
    current = status.get("stage")
    names = [s for s, _ in STAGES]
    idx = names.index(current) if current in names else (len(names) if status.get("state") == "complete" else -1)
    parts = []
    for i, (s, words) in enumerate(STAGES):
        if i < idx:
            parts.append(f"✓ {s}")
        elif i == idx:
            parts.append(f"**▶ {s}**")
        else:
            parts.append(s)
    return " → ".join(parts)


def unreadable_ui(status: dict) -> None:
    bad = status.get("unreadable") or []
    failures = status.get("failures") or []
    if bad:
        st.warning(f"{len(bad)} file(s) could not be read and are skipped (not fatal).", icon=":material/warning:")
        with st.expander(f"Unreadable files ({len(bad)})"):
            st.dataframe(pd.DataFrame(bad, columns=["file", "reason"]), hide_index=True, width="stretch")
    if failures:
        st.warning(f"{len(failures)} track(s) could not be analysed and were left out.", icon=":material/warning:")
        with st.expander(f"Tracks left out ({len(failures)})"):
            st.dataframe(pd.DataFrame(failures, columns=["track", "reason"]), hide_index=True, width="stretch")


def active_job_panel(status: dict) -> None:
    """A queued or running job: what it does now, progress, ETA, curves, Cancel."""
    job_id = status["job_id"]
    with st.container(border=True):
        c1, c2 = st.columns([5, 1])
        c1.markdown(f"{_STATE_ICON.get(status['state'], '')} **{status['state'].capitalize()}** · "
                    f"{job_title(status)}")
        if status.get("cancel_requested") and status["state"] != "queued":
            c2.button("Stopping…", key=f"cancel:{job_id}", disabled=True, width="stretch")
        elif c2.button("Cancel", key=f"cancel:{job_id}", icon=":material/stop_circle:", width="stretch",
                       help="Stops at the trainer's next check; the run is kept and marked cancelled."):
            try:
                jobs.cancel_job(job_id)
                st.toast(f"Cancelling {job_id}…")
            except GenreLabError as err:
                show_error(err)
        if status["state"] != "queued":
            st.caption(stepper(status))
        frac = _progress_fraction(status)
        if frac is not None:
            st.progress(frac, text=stage_line(status))
        else:
            st.caption(stage_line(status))
        unreadable_ui(status)
        history = jobs.job_history(job_id)
        if history or status.get("stage") == "training":
            st.plotly_chart(compare_charts.history_figure(
                history, run_col=None, height=300,
                x_label=progress_unit((status.get("config") or {}).get("backend"))), key=f"live:{job_id}")
        st.caption(f"Job `{job_id}` · submitted {status.get('submitted') or '?'}"
                   + (f" · process {status['pid']}" if status.get("pid") else ""))


def finished_job_panel(status: dict) -> None:
    """A finished job: headline metrics and a link to Compare, or what went wrong."""
    job_id = status["job_id"]
    state = status["state"]
    run_id = status.get("run_id")
    with st.container(border=True):
        st.markdown(f"{_STATE_ICON.get(state, '')} **{state.capitalize()}** · {job_title(status)}")
        if state == "complete":
            h = status.get("headline") or {}
            ci = h.get("track_accuracy_ci") or [None, None]
            cols = st.columns(5)
            cols[0].metric("Track accuracy", _fmt_pct(h.get("track_accuracy")),
                           help="Mean of each track's segment probabilities, on the held-out tracks.")
            cols[0].caption(f"95% CI {_fmt_pct(ci[0])} – {_fmt_pct(ci[1])}")
            cols[1].metric("Balanced accuracy", _fmt_pct(h.get("balanced_accuracy")))
            cols[2].metric("Macro F1", _fmt_pct(h.get("macro_f1")))
            cols[3].metric("Segment accuracy", _fmt_pct(h.get("segment_accuracy")))
            cols[4].metric("Test tracks", h.get("n_tracks") if h.get("n_tracks") is not None else "—")
            if h.get("evaluated_on") and h.get("evaluated_on") != "test":
                cols[4].caption(f"evaluated on: {h['evaluated_on']}")
            for note in status.get("notes") or []:
                st.info(note, icon=":material/info:")
            unreadable_ui(status)
            if run_id:
                link_to_page("pages/3_Compare.py", f"Open {run_id} in Compare", icon=":material/leaderboard:",
                             query_params={"run": run_id})
        elif state == "cancelled":
            where = f" The run {run_id} is kept and marked **cancelled** (not complete)." if run_id else ""
            st.warning(f"{status.get('error') or 'Cancelled.'}{where}", icon=":material/cancel:")
        elif state == "failed":
            st.error(f"{status.get('error') or 'Training failed.'}", icon=":material/error:")
            unreadable_ui(status)
        elif state == "crashed":
            st.error(f"{status.get('error') or 'The training process died.'} The run folder, if any, is listed "
                     "as crashed on Home; delete it there or train again.", icon=":material/dangerous:")
            log = jobs.job_log(job_id, max_chars=4000)
            if log:
                with st.expander("Last lines of the job's log"):
                    st.code(log)
        history = jobs.job_history(job_id)
        if history:
            with st.expander("Training curves", expanded=state == "complete"):
                st.plotly_chart(compare_charts.history_figure(
                    history, run_col=None, height=300,
                    x_label=progress_unit((status.get("config") or {}).get("backend"))), key=f"final:{job_id}")
        st.caption(f"Job `{job_id}` · finished {status.get('finished') or '?'}")


def jobs_table(listing: list[dict]) -> pd.DataFrame:
    """One row per job: ``job, state, backend, dataset, run, submitted, finished, error``."""
    rows = []
    for s in listing:
        cfg = s.get("config") or {}
        rows.append({"job": s["job_id"], "state": s["state"], "backend": cfg.get("backend"),
                     "dataset": s.get("dataset_name") or cfg.get("dataset"), "run": s.get("run_id"),
                     "submitted": s.get("submitted"), "finished": s.get("finished"), "error": s.get("error")})
    return pd.DataFrame(rows, columns=["job", "state", "backend", "dataset", "run", "submitted", "finished", "error"])
