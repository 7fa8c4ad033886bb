"""Compare: trained runs side by side, down to the single misclassified track.

Storyboard: pick runs (default: every complete run) -> what differs in their
settings -> metrics with 95 % CIs (sortable) -> per-genre precision/recall/F1
-> a clickable confusion matrix (click a cell, or pick it from the list) ->
the tracks behind that cell, their per-segment probabilities, and the audio
when it is on this machine -> run A vs run B: difference matrix and McNemar's
test -> training curves overlaid.

Everything comes from the run folders (``run.json`` and the prediction
tables, checksums verified); nothing is re-predicted. Per-run data and the
bootstrap intervals are cached on (run folder, run.json mtime).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from genre_core import comparison as cmp
from genre_core.backends import progress_unit
from genre_core.errors import GenreLabError
from genre_core.runs import Run
from pages.components import compare_charts as charts
from pages.components.common import (
    complete_runs,
    list_runs_safe,
    run_key,
    run_page,
    setup_page,
    show_error,
)
from pages.components.examples import mime_for
from pages.components.train_ui import link_to_page

#: Query parameter (and session key) naming a run to focus on, e.g. ``?run=user/mlp-...`` from the Train page.
FOCUS_PARAM = "run"
_NONE = "—"


# --------------------------------------------------------------------------- cached computations


@st.cache_data(show_spinner=False, max_entries=64)
def run_data_cached(path: str, mtime_ns: int) -> Run:  # noqa: ARG001 - mtime is part of the key
    """A run's record and prediction tables (verified)."""
    return cmp.load_run_data(path)


@st.cache_data(show_spinner=False, max_entries=64)
def cis_cached(path: str, mtime_ns: int) -> dict:
    """Bootstrap / Wilson 95 % intervals of a run's metrics."""
    return cmp.bootstrap_cis(run_data_cached(path, mtime_ns))


# --------------------------------------------------------------------------- UI pieces


def sweeps_ui() -> None:
    """Sweeps: each configuration's mean ± std across seeds and folds, the best marked (only when there are any)."""
    from genre_core import sweep as sw

    sweeps = sw.list_sweeps()
    if not sweeps:
        return
    with st.expander(f"Sweeps ({len(sweeps)})", icon=":material/grid_view:"):
        names = [s["name"] for s in sweeps]
        rec = sweeps[names.index(st.selectbox("Sweep", names, key="cmp_sweep"))]
        split = rec.get("split") or {}
        st.caption(f"{rec.get('backend')} on {(rec.get('dataset') or {}).get('name')}, split {split.get('protocol')} "
                   f"({split.get('group')} groups), seeds {rec.get('seeds')}, {len(rec['tasks'])} runs "
                   f"({rec.get('status')}) on {rec.get('engine')}. Mean ± sample std across seeds and folds; "
                   f"best = highest mean {rec.get('metric')}.")
        st.dataframe(sw.sweep_frame(rec).drop(columns=["mean", "std"]), hide_index=True, width="stretch")


def intro_ui() -> None:
    st.title("Compare runs")
    st.caption(
        "Every figure is computed on each run's held-out test tracks (never on tracks it trained on). "
        "Track accuracy averages a track's segment probabilities; *vote* takes the majority of segment "
        "labels. Intervals are 95 %: Wilson for track accuracy, a bootstrap over test tracks for the rest. "
        "Runs are only directly comparable when they were tested on the same tracks (same *test set* letter)."
    )


def no_runs_ui() -> None:
    st.info("There is no complete run to compare yet. Train one first.", icon=":material/info:")
    link_to_page("pages/2_Train.py", "Train a model", icon=":material/model_training:")


def focus_run() -> str | None:
    """The run the Train page asked to focus on (query parameter), remembered for this session."""
    value = st.query_params.get(FOCUS_PARAM)
    if value:
        st.session_state["compare_focus"] = value
    return st.session_state.get("compare_focus")


def runs_ui(choices: list, focus: str | None) -> list[str]:
    ids = [r.id for r in choices]
    key = "compare_runs"
    if key not in st.session_state:
        st.session_state[key] = ids  # default: every complete run
    else:
        st.session_state[key] = [i for i in st.session_state[key] if i in ids]
    if focus in ids and focus not in st.session_state[key] and st.session_state.get("compare_focus_added") != focus:
        st.session_state[key] = [*st.session_state[key], focus]
        st.session_state["compare_focus_added"] = focus
    return st.multiselect("Runs to compare", ids, key=key,
                          help="Every complete run in the registry (shipped and yours). Failed, cancelled and "
                               "crashed runs are listed on the Home page.")


def load_ui(run_ids: list[str], choices: list) -> list[Run]:
    by_id = {r.id: r for r in choices}
    datas = []
    for rid in run_ids:
        try:
            path, mtime = run_key(by_id[rid])
            datas.append(run_data_cached(path, mtime))
        except GenreLabError as err:
            show_error(err, context=f"Run {rid} is left out")
    return datas


def settings_ui(datas: list[Run]) -> None:
    st.subheader("Settings")
    frame = cmp.config_frame(datas)
    differs = cmp.differing_rows(frame, groups={d.id: d.info.get("backend") for d in datas})
    only = not st.toggle("Show all settings", value=False, key="compare_show_all",
                         help="Off: only the settings that differ between runs of the same backend (runs of "
                              "different backends differ in almost everything).")
    shown = frame[differs] if only else frame
    if shown.empty:
        st.caption("No setting differs between runs of the same backend; switch on *Show all settings* to see "
                   "every one.")
        return
    marks = differs.reindex(shown.index)

    def highlight(row: pd.Series) -> list[str]:
        return ["background-color: #FFF3CD" if marks.get(row.name, False) else ""] * len(row)

    st.dataframe(shown.style.apply(highlight, axis=1), width="stretch",
                 height=min(600, 38 + 35 * len(shown)))
    st.caption(f"{int(differs.sum())} of {len(frame)} settings differ between comparable runs (same backend; "
               "highlighted).")


def left_out_ui(datas: list[Run]) -> None:
    """Which files the selected runs could not use, and why (only when there are any)."""
    frame = cmp.left_out_frame(datas)
    if frame.empty:
        return
    with st.expander(f"Files left out of training ({len(frame)})", icon=":material/warning:"):
        st.dataframe(frame, hide_index=True, width="stretch")


def metrics_ui(datas: list[Run], choices: list) -> pd.DataFrame:
    st.subheader("Metrics")
    by_id = {r.id: r for r in choices}
    cis = {}
    with st.spinner("Bootstrapping confidence intervals..."):
        for d in datas:
            cis[d.id] = cis_cached(*run_key(by_id[d.id]))
    frame = cmp.metrics_frame(datas, cis)
    cfg = {
        "run": st.column_config.TextColumn("run", pinned=True),
        "test tracks": st.column_config.NumberColumn("test tracks", format="%d"),
        "train time (s)": st.column_config.NumberColumn("train time (s)", format="%.1f"),
        "inference per track (ms)": st.column_config.NumberColumn("inference / track (ms)", format="%.2f"),
        "size (MB)": st.column_config.NumberColumn("size (MB)", format="%.2f"),
        "log loss": st.column_config.NumberColumn("log loss", format="%.3f"),
    }
    for col, _, kind in cmp.METRIC_COLUMNS:
        if kind == "fraction":
            cfg[col] = st.column_config.NumberColumn(col, format="percent")
    st.dataframe(frame, hide_index=True, width="stretch", column_config=cfg)
    groups = frame["test set"].nunique() if len(frame) else 0
    if groups > 1:
        st.warning(
            f"The selected runs were tested on {groups} different sets of tracks (column *test set*): "
            "only runs with the same letter are directly comparable; differences between the others mix "
            "model quality with test-set difficulty.", icon=":material/warning:")
    st.caption("Click a column header to sort. Train time and inference time were measured on the machine "
               "that trained the run; size is the whole run folder.")
    return frame


def per_class_ui(datas: list[Run]) -> None:
    st.subheader("Per genre")
    metric = st.radio("Figure", ["f1", "precision", "recall"], horizontal=True, key="compare_per_class",
                      format_func={"f1": "F1", "precision": "precision", "recall": "recall"}.get)
    frame = cmp.per_class_frame(datas, metric)
    st.plotly_chart(charts.per_class_heatmap(frame, metric), key="per_class_chart", theme=None)
    st.caption("Track level, on each run's test tracks. Blank cells are undefined: the genre has no test tracks "
               "in that run (recall, F1), the run never predicted it (precision), or the run does not know it.")


def confusion_ui(datas: list[Run], focus: str | None) -> None:
    st.subheader("Confusion matrix")
    ids = [d.id for d in datas]
    by_id = {d.id: d for d in datas}
    c1, c2, c3 = st.columns([3, 2, 2])
    best = max(range(len(datas)), key=lambda i: datas[i].metrics.get("track_accuracy") or -1.0)
    default = ids.index(focus) if focus in ids else best
    rid = c1.selectbox("Run", ids, index=default, key="cm_run",
                       help="Opens on the best selected run (track accuracy) unless you came here for one run.")
    data = by_id[rid]
    has_segments = data.segments is not None and len(data.segments) > 0
    level = c2.radio("Level", ["track", "segment"] if has_segments else ["track"], horizontal=True, key="cm_level",
                     help="Track: one prediction per test track (mean of its segments). Segment: every window "
                          "the model saw.")
    normalised = c3.toggle("Row-normalised", value=True, key="cm_norm",
                           help="Share of each true genre (recall on the diagonal) instead of counts.")
    labels, counts = cmp.confusion_counts(data, level)
    cells = cmp.nonzero_cells(labels, counts)
    options = [_NONE] + [f"{t} → {p} ({n})" for t, p, n in cells]
    cell_of = {f"{t} → {p} ({n})": (t, p) for t, p, n in cells}
    label_of = {v: k for k, v in cell_of.items()}

    chart_key = f"cm_chart::{rid}::{level}::{int(normalised)}"
    pick_key = f"cm_cell::{rid}::{level}"
    current = cell_of.get(st.session_state.get(pick_key, _NONE))
    event = st.plotly_chart(
        charts.confusion_figure(labels, counts, normalised=normalised, selected=current,
                                title=f"{rid} · {level} level"),
        key=chart_key, on_select="rerun", selection_mode="points", theme=None,
    )
    empty_rows = [lab for lab, row in zip(labels, counts) if not row.sum()]
    if empty_rows:
        st.caption(f"No test tracks of {', '.join(empty_rows)} in this run: those rows are empty.")
    clicked = charts.cell_from_selection(event)
    if clicked is not None and st.session_state.get(f"{chart_key}::last") != clicked:
        st.session_state[f"{chart_key}::last"] = clicked
        if clicked in label_of:
            st.session_state[pick_key] = label_of[clicked]
            st.rerun()  # redraw the matrix with the clicked cell outlined
    if st.session_state.get(pick_key) not in options:
        st.session_state[pick_key] = _NONE
    choice = st.selectbox("Cell (click one in the matrix, or pick it here)", options, key=pick_key,
                          help="Errors first, largest first; then the correctly classified cells.")
    if choice == _NONE:
        st.caption("Click a cell to list the test tracks behind it.")
        return
    true, predicted = cell_of[choice]
    cell_tracks_ui(data, true, predicted, level)


def cell_tracks_ui(data: Run, true: str, predicted: str, level: str) -> None:
    tracks = cmp.cell_tracks(data, true, predicted, level=level)
    what = "correctly classified" if true == predicted else f"predicted **{predicted}**"
    st.markdown(f"**{len(tracks)}** test track(s) of genre **{true}** {what}"
                + (" in at least one segment" if level == "segment" else "") + ".")
    if tracks.empty:
        return
    st.dataframe(tracks, hide_index=True, width="stretch", column_config={
        "confidence": st.column_config.ProgressColumn("confidence", format="percent", min_value=0, max_value=1),
        "p(true)": st.column_config.NumberColumn(f"p({true})", format="percent"),
        "p(predicted)": st.column_config.NumberColumn(f"p({predicted})", format="percent"),
    })
    track_id = st.selectbox("Track", tracks["track_id"].tolist(), key=f"cm_track::{data.id}::{true}::{predicted}")
    segs = cmp.track_segments(data, track_id)
    if not segs.empty:
        st.plotly_chart(charts.segment_probabilities_figure(segs, data.labels, true=true),
                        key=f"segprob::{data.id}::{track_id}")
        st.caption(f"{len(segs)} segment(s) of {track_id}: the model's probabilities per window "
                   f"(true genre outlined).")
    audio_ui(data, track_id)


def audio_ui(data: Run, track_id: str) -> None:
    roots = cmp.dataset_roots(data.info)
    path = cmp.find_track_audio(track_id, roots)
    if path is None:
        kind = (data.info.get("dataset") or {}).get("kind")
        why = ("the run was trained on a feature table, which holds no audio"
               if kind == "table" else "its dataset folder is not on this machine")
        st.caption(f"No audio for {track_id}: {why} (looked in {', '.join(roots) or 'nothing recorded'} "
                   "and the GTZAN folder).")
        return
    st.audio(path.read_bytes(), format=mime_for(path.name))
    st.caption(f"Audio: `{path}`")


def pair_ui(datas: list[Run], focus: str | None) -> None:
    st.subheader("Run A vs run B")
    if len(datas) < 2:
        st.caption("Select at least two runs to compare them pairwise.")
        return
    ids = [d.id for d in datas]
    by_id = {d.id: d for d in datas}
    c1, c2 = st.columns(2)
    b_default = ids.index(focus) if focus in ids else 1
    a_default = 0 if b_default != 0 else 1
    a = by_id[c1.selectbox("Run A", ids, index=a_default, key="pair_a")]
    b = by_id[c2.selectbox("Run B", ids, index=b_default, key="pair_b")]
    if a.id == b.id:
        st.info("Pick two different runs.", icon=":material/info:")
        return
    res = cmp.compare_pair(a, b)
    for w in res["warnings"]:
        st.warning(w + ("" if "not directly comparable" in w else " Not directly comparable."),
                   icon=":material/warning:")
    st.markdown("**McNemar's test** on track-level correctness")
    (st.success if res["comparable"] and res["p_value"] < 0.05 else st.info)(res["verdict"])
    if res["n"]:
        st.dataframe(pd.DataFrame({
            "shared test tracks": ["both right", "only A right", "only B right", "both wrong"],
            "tracks": [res["both_correct"], res["a_only"], res["b_only"], res["both_wrong"]],
        }), hide_index=True)

    levels = ["track"] + (["segment"] if all(d.segments is not None and len(d.segments) for d in (a, b)) else [])
    c3, c4 = st.columns(2)
    level = c3.radio("Level", levels, horizontal=True, key="pair_level")
    normalised = c4.toggle("Row-normalised", value=True, key="pair_norm")
    labels, diff, notes = cmp.difference_matrix(a, b, level=level, normalised=normalised)
    for n in notes:
        st.caption(n)
    st.plotly_chart(charts.difference_figure(labels, diff, normalised=normalised, name_a=a.id, name_b=b.id),
                    key="pair_diff", theme=None)
    st.caption("Blue on the diagonal: B gets that genre right more often; blue off the diagonal: B makes that "
               "mistake more often.")


def curves_ui(datas: list[Run]) -> None:
    st.subheader("Training curves")
    with_hist = [d for d in datas if d.history()]
    if not with_hist:
        st.caption("None of the selected runs has a per-epoch history (voting runs and some backends have none).")
        return
    ids = [d.id for d in with_hist]
    chosen = st.multiselect("Runs", ids, default=ids[:6], key="curves_runs")
    sel = [d for d in with_hist if d.id in chosen]
    cols = st.columns(2)
    for i, d in enumerate(sel):  # small multiples: each run on its own axis (12 epochs vs 380 boosting rounds)
        with cols[i % 2]:
            unit = progress_unit(d.info.get("backend"))
            st.plotly_chart(charts.history_figure(cmp.history_frame([d]), height=300, title=d.id, x_label=unit),
                            key=f"curves_chart_{i}")
    st.caption("One chart per run, each on its own scale. Dashed: training windows; solid: validation tracks. "
               "Early stopping keeps the best validation step, not the last one.")


# --------------------------------------------------------------------------- page


def main() -> None:
    setup_page("Compare", ":material/leaderboard:")
    intro_ui()
    sweeps_ui()
    choices = complete_runs(list_runs_safe())
    if not choices:
        no_runs_ui()
        return
    focus = focus_run()
    run_ids = runs_ui(choices, focus)
    if not run_ids:
        st.info("Select at least one run.", icon=":material/info:")
        return
    datas = load_ui(run_ids, choices)
    if not datas:
        return
    settings_ui(datas)
    left_out_ui(datas)
    metrics_ui(datas, choices)
    per_class_ui(datas)
    confusion_ui(datas, focus)
    pair_ui(datas, focus)
    curves_ui(datas)


run_page(main)
