"""Predict: point trained runs at a song and see what each hears, segment by segment.

Storyboard: pick audio (upload or an example) -> pick runs -> analyse (progress;
each run's verdict is listed the moment it is ready, fast runs first) -> verdicts side by side -> per-run charts -> listen (whole track or one
segment) with the waveform / mel spectrogram -> downloads.

Decoding and predictions are cached with ``st.cache_data`` on (the file's
SHA-256, the run folder + its run.json mtime, the analysis limit), so a rerun
(choosing a segment to play, switching the chart) recomputes nothing. Every
file follows genre_core's prediction policy: each run analyses at most
``predict.MAX_WINDOWS`` windows, none overlapping, spread over the whole track
(said on the page).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from genre_core import config, predict
from genre_core.audio import SUPPORTED_EXTENSIONS, load_audio
from genre_core.errors import GenreLabError
from pages.components import predict_charts as charts
from pages.components.common import (
    complete_runs,
    default_run_ids,
    fmt_clock,
    fmt_seconds,
    list_runs_safe,
    load_run_cached,
    run_key,
    run_label,
    run_page,
    setup_page,
    show_error,
)
from pages.components.examples import list_examples, mime_for

#: Largest upload accepted (MB); also ``server.maxUploadSize`` in .streamlit/config.toml.
MAX_UPLOAD_MB = 200
#: Formats the browser plays as they are; others are played from the decoded signal.
_BROWSER_PLAYABLE = {"wav", "mp3", "ogg", "oga", "opus", "flac"}
UPLOAD_TYPES = sorted({e.lstrip(".") for e in SUPPORTED_EXTENSIONS})
#: How the formats are named to people.
FORMATS_TEXT = "WAV, MP3, OGG/Vorbis, Opus, FLAC, AU or AIFF"


@dataclass
class AudioSource:
    """The audio to analyse: its bytes, name and where it came from."""

    name: str
    data: bytes
    mime: str
    digest: str
    synthetic: bool = False


@dataclass
class Analysis:
    """What the analysis produced: the decoded audio (22.05 kHz, for display) and one prediction per run."""

    audio: object
    preds: list = field(default_factory=list)
    failures: list = field(default_factory=list)  # (run id, GenreLabError)
    seconds: float = 0.0


# --------------------------------------------------------------------------- cached computations


@st.cache_data(show_spinner=False, max_entries=8)
def decode_cached(digest: str, name: str, sr: int, max_duration: float, _data: bytes):
    """The validated, decoded audio (raises AudioError for a bad file; errors are not cached)."""
    return load_audio(_data, sr=sr, name=name, max_duration=max_duration)


@st.cache_data(show_spinner=False, max_entries=64)
def predict_cached(digest: str, name: str, run_path: str, run_mtime: int, max_duration: float, _data: bytes,
                   max_windows: int | None = None):
    """One run's TrackPrediction for one file (keyed by file hash, run version and limits).

    A voting run is combined from its members' own cached predictions, so
    choosing an ensemble together with its members computes each member once.
    """
    from genre_core import predict
    from genre_core.voting import combine_predictions

    run = load_run_cached(run_path)
    if run.is_voting:
        members = {}
        for member, _ in run.members:
            path, mtime = run_key(member)
            members[member.id] = predict_cached(digest, name, path, mtime, max_duration, _data, max_windows)
        return combine_predictions(run, members)
    audios = {sr: decode_cached(digest, name, sr, max_duration, _data) for sr in predict.sample_rates([run])}
    return predict.predict_audio([run], audios, max_windows=max_windows)[0]


@st.cache_data(show_spinner=False, max_entries=16)
def example_cached(key: str) -> tuple[bytes, str, str]:
    for clip in list_examples():
        if clip.key == key:
            return clip.make()
    raise GenreLabError(f"The example {key!r} is not available on this machine.")


@st.cache_data(show_spinner=False, max_entries=8)
def waveform_cached(digest: str, duration: float, _y: np.ndarray, sr: int, boundaries: tuple[float, ...]):
    return charts.waveform_figure(_y, sr, boundaries=boundaries, duration=duration)


@st.cache_data(show_spinner=False, max_entries=8)
def melspectrogram_cached(digest: str, _y: np.ndarray, sr: int, boundaries: tuple[float, ...]):
    return charts.melspectrogram_figure(_y, sr, boundaries=boundaries)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- UI pieces


def intro_ui() -> None:
    st.title("Predict: what genre is this?")
    st.markdown(
        f"Upload a track or pick an example, choose one or more trained runs, and see each run's verdict, its "
        f"confidence, and how its belief changes along the track. Files up to **{MAX_UPLOAD_MB} MB** "
        f"({FORMATS_TEXT}); the first **{config.MAX_DURATION / 60:g} minutes** of a file are analysed."
    )


def no_runs_ui() -> None:
    st.info(
        "**No trained run is ready**, so there is nothing to predict with. The shipped runs are missing from "
        f"`{config.shipped_runs_dir()}` and none of your own has finished. Train one on the **Train** page, or "
        "run `python -m genre_core train data/features_30_sec.csv --model mlp` in a terminal, then come back.",
        icon=":material/info:",
    )


def source_ui() -> AudioSource | None:
    """An upload or an example clip, or None while there is neither."""
    mode = st.radio("Audio", ["Upload a file", "Example clip"], horizontal=True, key="source_mode",
                    label_visibility="collapsed")
    if mode == "Upload a file":
        up = st.file_uploader(
            f"Audio file ({FORMATS_TEXT}; up to {MAX_UPLOAD_MB} MB)", type=UPLOAD_TYPES,
            key="upload", max_upload_size=MAX_UPLOAD_MB,
        )
        if up is None:
            return None
        data = up.getvalue()
        memo = st.session_state.get("_upload_digest")
        file_id = getattr(up, "file_id", None) or up.name
        if memo and memo[0] == file_id and memo[1] == len(data):
            digest = memo[2]
        else:
            digest = _digest(data)
            st.session_state["_upload_digest"] = (file_id, len(data), digest)
        return AudioSource(up.name, data, mime_for(up.name), digest)
    clips = list_examples()
    clip = st.selectbox("Example clip", clips, format_func=lambda c: c.label, key="example")
    if clip is None:
        return None
    data, name, mime = example_cached(clip.key)
    if clip.synthetic:
        st.info(
            "**Synthetic audio made by genre-lab, not music.** It shows how the page works; "
            "models trained on real music (GTZAN) give arbitrary answers on it, while a model trained on the "
            "synthetic dataset should recognise each part.", icon=":material/science:"
        )
    return AudioSource(name, data, mime, _digest(data), synthetic=clip.synthetic)


def runs_ui(choices: list) -> list[str]:
    """The runs to use (default: every shipped run; without any, the newest complete runs)."""
    labels = {r.id: run_label(r) for r in choices}
    default = default_run_ids(choices)
    picked = st.multiselect("Runs to use", list(labels), default=default, format_func=lambda i: labels[i],
                            key="runs", placeholder="Choose one or more trained runs")
    if not any(r.location == "shipped" for r in choices):
        st.caption("No shipped run is available; the newest runs of your own are chosen by default.")
    return picked


def analyse_ui(source: AudioSource, run_ids: list[str]) -> Analysis | None:
    """Decode and predict, with progress; a bad file becomes an error message (returns None)."""
    t0 = time.perf_counter()
    limit = float(config.MAX_DURATION)
    error = None
    analysis = None
    with st.status(f"Analysing {source.name} …", expanded=True) as status:
        bar = st.progress(0.0, text="Decoding the audio")
        try:
            audio = decode_cached(source.digest, source.name, config.SAMPLE_RATE, limit, source.data)
        except GenreLabError as err:
            error = err
        else:
            analysis = Analysis(audio=audio)
            got: dict = {}
            n = len(run_ids)
            for i, rid in enumerate(_fast_first(run_ids)):
                bar.progress(i / n, text=f"Run {i + 1} of {n}: {rid}")
                try:
                    run = load_run_cached(rid)  # models load one by one, in this order
                    path, mtime = run_key(run)
                    p = predict_cached(source.digest, source.name, path, mtime, limit, source.data,
                                       predict.MAX_WINDOWS)
                except GenreLabError as err:
                    analysis.failures.append((rid, err))
                    st.markdown(f":material/error: **{rid}**: could not predict")
                else:
                    got[rid] = p
                    st.markdown(f":material/check: **{rid}**: {p.label} ({p.confidence:.0%}) · "
                                f"ready after {fmt_seconds(time.perf_counter() - t0)}")
            analysis.preds = [got[rid] for rid in run_ids if rid in got]  # the order chosen
            bar.progress(1.0, text="Done")
            analysis.seconds = time.perf_counter() - t0
        if error is not None:
            status.update(label=f"Could not read {source.name}", state="error", expanded=False)
        elif not analysis.preds:
            status.update(label="No run could analyse this file", state="error", expanded=False)
        else:
            status.update(label=f"Analysed {source.name} with {len(analysis.preds)} run(s) in "
                                f"{fmt_seconds(analysis.seconds)}", state="complete", expanded=False)
    if error is not None:
        show_error(error)
        return None
    for rid, err in analysis.failures:
        show_error(err, context=f"Run {rid}")
    return analysis if analysis.preds else None


def _fast_first(run_ids: list[str]) -> list[str]:
    """The run ids, cheapest first (a vote after its members; runs whose backend imports TensorFlow
    or torch later), judged from run.json alone so that nothing is loaded before the first verdict."""
    from genre_core.runs import load_run

    def cost(rid: str) -> float:
        try:
            return predict.run_cost(load_run(rid, verify=False, load_model=False))
        except GenreLabError:
            return -1.0  # reported first, by the loop

    return sorted(run_ids, key=cost)


def limits_ui(audio, preds=()) -> None:
    cut = [p for p in preds if p.n_windows_total > p.n_segments]
    if cut:
        st.caption(
            f"Each run analyses at most {predict.MAX_WINDOWS} windows and none that overlap, spread evenly over "
            "the whole track (" + ", ".join(f"{p.run_id}: {p.n_segments} of {p.n_windows_total}" for p in cut) + ")."
        )
    if getattr(audio, "clipped_to_max", False):
        st.info(
            f"This file is {fmt_seconds(audio.source_duration)} long; only the first "
            f"{fmt_seconds(audio.duration)} were analysed (the limit is {config.MAX_DURATION / 60:g} minutes).",
            icon=":material/content_cut:",
        )


def verdicts_ui(preds: list) -> None:
    st.subheader("Verdicts")
    table, summary = charts.agreement_frame(preds)
    st.markdown(summary)
    st.dataframe(
        table.assign(confidence=100.0 * table["confidence"]), hide_index=True, width="stretch",
        # what a reader needs first stays visible on narrow screens; details scroll
        column_order=[c for c in ("run", "verdict", "agrees", "confidence", "top 3", "window", "segments", "backend")
                      if c in table.columns],
        column_config={
            "confidence": st.column_config.ProgressColumn("confidence", format="%.0f%%", min_value=0.0,
                                                          max_value=100.0),
            "agrees": st.column_config.CheckboxColumn("agrees", width="small",
                                                      help="Agrees with the majority of the selected runs."),
            "segments": st.column_config.NumberColumn("segments", format="%d"),
        },
    )


def timeline_ui(preds: list, duration: float, colors: dict) -> None:
    if len(preds) > 1:
        st.markdown("**All runs on one time axis** (colour: top genre of each segment; thinner bar = less sure)")
        st.plotly_chart(charts.timeline_figure(preds, duration=duration, colors=colors), key="timeline", theme=None)


def run_details_ui(preds: list, duration: float, colors: dict) -> None:
    st.subheader("Per run, segment by segment")
    c1, c2 = st.columns([2, 1])
    ids = [p.run_id for p in preds]
    # one run drawn at a time (on demand): drawing every run's chart cost seconds of page time
    rid = c1.selectbox("Run", ids, key="detail_run") if len(ids) > 1 else ids[0]
    style = c2.radio("Chart", ["Probability bands", "Heatmap"], horizontal=True, key="chart_style")
    for i, p in enumerate(preds):
        if p.run_id != rid:
            continue
        with st.container():
            c1, c2, c3 = st.columns([1, 1, 2])
            c1.metric("Verdict", p.label)
            c2.metric("Confidence", f"{p.confidence:.0%}")
            c3.markdown("**Top 3**  \n" + "  \n".join(f"{j + 1}. {lab}: {prob:.1%}"
                                                       for j, (lab, prob) in enumerate(p.top3)))
            st.caption(
                f"{p.backend} · window {charts.window_text(p)} · {p.n_segments} segment(s) over "
                f"{fmt_seconds(p.duration)} · features {fmt_seconds(p.timings.get('features_s'))}, "
                f"inference {fmt_seconds(p.timings.get('inference_s'))}"
            )
            if p.members and not p.n_segments:  # a vote of members with different windows: show the vote itself
                members_ui(p)
                for note in p.notes:
                    st.caption(note)
                continue
            for note in p.notes:
                st.warning(note, icon=":material/warning:")
            if p.members:
                st.caption("Soft vote of: " + ", ".join(f"{m.run_id} ({m.label} {m.confidence:.0%}, weight {w:.2f})"
                                                       for m, w in zip(p.members, p.weights)))
            if style == "Heatmap":
                fig = charts.segment_heatmap_figure(p, duration=duration)
            else:
                fig = charts.segment_bands_figure(p, duration=duration, colors=colors)
            st.plotly_chart(fig, key=f"segments_{i}", theme=None)


def members_ui(p) -> None:
    """How a voting run reached its verdict: each member's weight and its probability of the top genres."""
    top = [lab for lab, _ in p.top3]
    rows = [{"run": m.run_id, "weight": w, "verdict": m.label,
             **{f"p({lab})": float(dict(zip(m.labels, m.proba)).get(lab, 0.0)) for lab in top}}
            for m, w in zip(p.members, p.weights)]
    rows.append({"run": f"= {p.run_id}", "weight": 1.0, "verdict": p.label,
                 **{f"p({lab})": float(prob) for lab, prob in p.top3}})
    cfg = {f"p({lab})": st.column_config.ProgressColumn(f"p({lab})", format="%.2f", min_value=0.0, max_value=1.0)
           for lab in top}
    cfg["weight"] = st.column_config.NumberColumn("weight", format="%.2f")
    st.markdown("**The vote**: each member's probability of the ensemble's top genres, weighted")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", column_config=cfg)


def _boundaries(pred) -> tuple[float, ...]:
    left, right = charts.segment_spans(pred.starts, pred.ends)
    if not len(left):
        return ()
    return tuple(float(x) for x in list(left[1:]) + [float(right[-1])])


def listen_ui(source: AudioSource, analysis: Analysis) -> None:
    st.subheader("Listen")
    audio = analysis.audio
    ext = source.name.rsplit(".", 1)[-1].lower() if "." in source.name else ""
    playable = ext in _BROWSER_PLAYABLE

    def player(start: float = 0.0, end: float | None = None) -> None:
        if playable:
            st.audio(source.data, format=source.mime, start_time=start, end_time=end)
        else:  # e.g. .au: the browser cannot play it, play the decoded signal instead
            st.audio(audio.y, sample_rate=audio.sr, start_time=start, end_time=end)

    player()
    with_segments = [p for p in analysis.preds if p.n_segments]
    pick, seg = None, None
    if with_segments:
        c1, c2 = st.columns([1, 2])
        by_id = {p.run_id: p for p in with_segments}
        rid = c1.selectbox("Segments of", list(by_id), key="segments_of") if len(by_id) > 1 else list(by_id)[0]
        pick = by_id[rid]
        proba = np.asarray(pick.segment_proba).reshape(pick.n_segments, len(pick.labels))

        def seg_label(i: int) -> str:
            j = int(proba[i].argmax())
            return (f"Segment {i + 1}: {fmt_clock(pick.starts[i])}–{fmt_clock(pick.ends[i])} · "
                    f"{pick.labels[j]} {proba[i, j]:.0%}")

        seg = c2.selectbox("Play one segment", range(pick.n_segments), format_func=seg_label, key="segment")
        if seg is not None:
            a, b = float(pick.starts[seg]), float(pick.ends[seg])
            # only that part, so the player's own clock shows the segment's length, not the song's
            st.audio(audio.y[int(a * audio.sr):int(b * audio.sr)], sample_rate=audio.sr)
            st.caption(f"This player plays segment {seg + 1} only: {fmt_clock(a)}–{fmt_clock(b)} of the song "
                       f"({b - a:.1f} s), the window {pick.run_id} saw.")
    view = st.radio("Show", ["Waveform", "Mel spectrogram"], horizontal=True, key="audio_view")
    bounds = _boundaries(pick) if pick is not None else ()
    if view == "Waveform":
        fig = waveform_cached(source.digest, float(audio.duration), audio.y, int(audio.sr), bounds)
    else:
        fig = melspectrogram_cached(source.digest, audio.y, int(audio.sr), bounds)
    fig = go.Figure(fig)
    if pick is not None and seg is not None:
        fig.add_vrect(x0=float(pick.starts[seg]), x1=float(pick.ends[seg]), fillcolor="orange", opacity=0.25,
                      line_width=0, layer="above" if view == "Mel spectrogram" else "below")
    st.plotly_chart(fig, key="audio_figure", theme=None)
    if pick is not None:
        st.caption(f"Dotted lines: the segment boundaries of {pick.run_id} ({charts.window_text(pick)} windows); "
                   "orange: the segment chosen above.")


def downloads_ui(source: AudioSource, analysis: Analysis) -> None:
    st.subheader("Download")
    stem = source.name.rsplit(".", 1)[0] or "track"
    meta = {"name": source.name, "sha256": source.digest, "synthetic": source.synthetic,
            "duration_analysed_s": float(analysis.audio.duration),
            "source_duration_s": float(analysis.audio.source_duration),
            "clipped_to_max": bool(analysis.audio.clipped_to_max)}
    c1, c2 = st.columns(2)
    c1.download_button("Per-segment probabilities (CSV)", charts.segments_csv(analysis.preds),
                       file_name=f"{stem}-segments.csv", mime="text/csv", icon=":material/download:",
                       on_click="ignore")
    c2.download_button("All predictions (JSON)", charts.predictions_json(analysis.preds, source=meta),
                       file_name=f"{stem}-predictions.json", mime="application/json", icon=":material/download:",
                       on_click="ignore")


# --------------------------------------------------------------------------- the page


def main() -> None:
    setup_page("Predict", ":material/graphic_eq:")
    intro_ui()
    choices = complete_runs(list_runs_safe())
    if not choices:
        no_runs_ui()
        return
    source = source_ui()
    run_ids = runs_ui(choices)
    if source is None:
        st.info("Upload a track or pick an example clip to start.", icon=":material/upload:")
        return
    if not run_ids:
        st.warning("Choose at least one run above.", icon=":material/warning:")
        return
    analysis = analyse_ui(source, run_ids)
    if analysis is None:
        return
    limits_ui(analysis.audio, analysis.preds)
    duration = float(analysis.audio.duration)
    colors = charts.genre_colors(lab for p in analysis.preds for lab in p.labels)
    verdicts_ui(analysis.preds)
    timeline_ui(analysis.preds, duration, colors)
    run_details_ui(analysis.preds, duration, colors)
    listen_ui(source, analysis)
    downloads_ui(source, analysis)


run_page(main)
