"""genre-lab: the Home page (``streamlit run Home.py``).

What this is, where things stand (datasets, runs, a leaderboard), links to the
other pages, and where data and models live.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from genre_core import config
from genre_core.errors import GenreLabError
from genre_core.discovery import discover_datasets
from genre_core.leaderboard import flagged_runs_frame, leaderboard_frame, leaderboard_groups
from genre_core.runs import delete_run, rename_run
from pages.components.common import (
    fmt_seconds,
    list_runs_safe,
    location_settings_ui,
    page_links,
    run_page,
    setup_page,
    show_error,
)

TRAIN_COMMAND = "python -m genre_core train data/features_30_sec.csv --model mlp"


def intro_ui() -> None:
    st.title("genre-lab")
    st.markdown(
        "A workbench for music-genre classification: train models on GTZAN or your own folder of labelled "
        "tracks, and compare them with honest numbers (splits by track, 95% confidence intervals, "
        "per-segment views). Point any trained model at a song to see what it hears, segment by segment."
    )


def overview_ui(datasets: list[dict], runs: list) -> None:
    """Three numbers: datasets found, usable runs (shipped / user), runs needing attention."""
    complete = [r for r in runs if r.status == "complete"]
    shipped = sum(r.location == "shipped" for r in complete)
    flagged = [r for r in runs if r.status != "complete"]
    c1, c2, c3 = st.columns(3)
    c1.metric("Datasets found", len(datasets), border=True,
              help="The bundled feature table, datasets in the data folder, GTZAN audio if present, synthetic demo.")
    c2.metric("Trained runs ready", len(complete), border=True,
              help=f"{shipped} shipped with genre-lab, {len(complete) - shipped} trained here.")
    c3.metric("Runs needing attention", len(flagged), border=True,
              help="Failed, cancelled, crashed, unreadable, or still training.")


def navigation_ui() -> None:
    st.subheader("Go to")
    page_links(exclude=("Home.py",), columns=True)


def no_runs_ui(runs: list) -> None:
    shipped_dir = config.shipped_runs_dir()
    st.info(
        f"**No trained model is ready yet.** The shipped runs are missing from `{shipped_dir}` "
        "(a fresh clone normally has them; check that the folder was committed and that the models folder "
        "setting below points at the right place), and no run of your own has finished.\n\n"
        f"Train one on the **Train** page, or from a terminal (about a minute on a laptop CPU):\n\n"
        f"```\n{TRAIN_COMMAND}\n```",
        icon=":material/info:",
    )


def _na(value, fmt) -> str:
    return "n/a" if value is None or pd.isna(value) else fmt(value)


def filter_ui() -> str:
    """A text filter over run names, backends and data (returns the lower-cased text)."""
    return st.text_input("Filter runs", placeholder="part of a name, backend or dataset", key="home_filter",
                         label_visibility="collapsed").strip().lower()


def _matches(row: pd.Series, text: str) -> bool:
    return not text or any(text in str(row.get(c, "")).lower() for c in ("run", "backend", "data", "split"))


def leaderboard_ui(runs: list) -> None:
    st.subheader("Leaderboard")
    board = leaderboard_frame(runs)
    if board.empty:
        no_runs_ui(runs)
        return
    text = filter_ui()
    board = board[[_matches(row, text) for _, row in board.iterrows()]]
    if board.empty:
        st.caption("No run matches the filter.")
        return
    st.caption(
        "Runs are grouped by the data and protocol they were evaluated on: compare figures only within a group. "
        "Within a group the best run comes first. A wide confidence interval means few test tracks; drill into "
        "any run on the Compare page."
    )
    for label, rows in leaderboard_groups(board):
        st.markdown(f"**{label}**")
        table = pd.DataFrame({
            "run": rows["run"],
            "backend": rows["backend"],
            "track acc.": 100.0 * rows["track acc."],
            "95% CI": [_na(lo, lambda _: f"{lo:.0%}–{hi:.0%}") if pd.notna(hi) else "n/a"
                       for lo, hi in zip(rows["95% CI low"], rows["95% CI high"])],
            "balanced": [_na(v, lambda x: f"{100 * x:.1f}%") for v in rows["balanced acc."]],
            "segments": [_na(v, lambda x: f"{100 * x:.1f}%") for v in rows["segment acc."]],
            "training": [_na(v, fmt_seconds) for v in rows["training time (s)"]],
            "size": [_na(v, lambda x: f"{x:.1f} MB") for v in rows["size (MB)"]],
        })
        st.dataframe(
            table,
            hide_index=True,
            width="stretch",
            column_config={
                "run": st.column_config.TextColumn("run", help="shipped/… came with genre-lab; user/… you trained."),
                "backend": st.column_config.TextColumn("backend", width="small"),
                "track acc.": st.column_config.ProgressColumn(
                    "track accuracy", help="Share of held-out tracks classified right.",
                    format="%.1f%%", min_value=0.0, max_value=100.0, width="small"),
                "95% CI": st.column_config.TextColumn("95% CI", width="small",
                                                      help="Wilson interval of the track accuracy."),
                "balanced": st.column_config.TextColumn("balanced", width="small",
                                                        help="Balanced accuracy: mean per-genre recall."),
                "segments": st.column_config.TextColumn("segments", width="small",
                                                        help="Segment accuracy (n/a for a voting run, which "
                                                             "combines its members' track verdicts)."),
                "training": st.column_config.TextColumn("training", width="small",
                                                        help="Training time (n/a for a voting run)."),
                "size": st.column_config.TextColumn("size", width="small",
                                                    help="On disk; a voting run counts its members."),
            },
        )


def flagged_ui(runs: list) -> None:
    flagged = flagged_runs_frame(runs)
    if flagged.empty:
        return
    st.subheader("Runs needing attention")
    st.warning(
        f"{len(flagged)} run folder(s) cannot be used for predictions: they are listed here with the reason. "
        "Remove them under **Manage runs** below, or train again.",
        icon=":material/warning:",
    )
    st.dataframe(flagged, hide_index=True,
                 column_config={"error": st.column_config.TextColumn("error", width="large")})


def manage_runs_ui(runs: list) -> None:
    """Delete (with confirmation) or rename one of the user's own runs."""
    mine = [r for r in runs if r.location == "user" and r.status != "running"]
    with st.expander(f"Manage runs ({len(mine)} of your own)", icon=":material/folder_managed:"):
        if not mine:
            st.caption("Runs you train appear here; shipped runs cannot be changed from the app.")
            return
        labels = {r.id: f"{r.id} · {r.status}" + (f" · {r.backend}" if r.backend else "") for r in mine}
        rid = st.selectbox("Run", list(labels), format_func=labels.get, key="manage_run")
        run = next(r for r in mine if r.id == rid)
        c1, c2 = st.columns(2)
        with c1:
            new = st.text_input("New name", value=run.name, key="manage_new_name")
            if st.button("Rename", icon=":material/edit:", key="manage_rename",
                         disabled=run.status not in ("complete", "failed", "cancelled") or new.strip() == run.name):
                _act(lambda: rename_run(run, new), f"Renamed {run.id} to user/{new.strip()}.")
        with c2:
            sure = st.checkbox(f"Yes, delete {run.id}", key="manage_confirm",
                               help="Removes the files genre-lab wrote in this run's folder; anything else "
                                    "found there is left in place and reported.")
            if st.button("Delete", icon=":material/delete:", type="primary", disabled=not sure, key="manage_delete"):
                _act(lambda: delete_run(run), f"Deleted {run.id}.")


def _act(action, done: str) -> None:
    try:
        action()
    except GenreLabError as err:
        show_error(err, context="Not done")
        return
    st.session_state["home_notice"] = done
    st.rerun()


def datasets_ui(datasets: list[dict]) -> None:
    st.subheader("Data")
    df = pd.DataFrame(datasets, columns=["name", "kind", "tracks", "genres", "note", "path"])
    df["tracks"] = ["any" if kind == "synthetic" else ("?" if pd.isna(n) else f"{int(n)}")
                    for kind, n in zip(df["kind"], df["tracks"])]
    st.dataframe(df, hide_index=True,
                 column_config={"tracks": st.column_config.TextColumn("tracks", width="small"),
                                "genres": st.column_config.NumberColumn("genres", format="%d", width="small")})
    if not config.gtzan_dir().joinpath("audio").is_dir():
        st.caption(
            "Audio datasets are folders with one sub-folder per genre (`rock/song1.mp3`, …). Put them in the "
            "data folder, or point the data folder at them below."
        )


@st.cache_data(ttl=30, show_spinner=False)
def _datasets(data_dir: str, models_dir: str) -> list[dict]:  # noqa: ARG001 - the folders key the cache
    return discover_datasets()


def main() -> None:
    setup_page("Home", ":material/home:")
    intro_ui()
    runs = list_runs_safe()
    datasets = _datasets(str(config.data_dir()), str(config.models_dir()))
    overview_ui(datasets, runs)
    navigation_ui()
    notice = st.session_state.pop("home_notice", None)
    if notice:
        st.success(notice, icon=":material/check_circle:")
    leaderboard_ui(runs)
    flagged_ui(runs)
    manage_runs_ui(runs)
    datasets_ui(datasets)
    with st.expander("Where data and models live", icon=":material/folder:"):
        location_settings_ui()


run_page(main)
