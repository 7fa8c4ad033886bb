"""genre-lab: the Home page (``streamlit run Home.py``).

What this is, where things stand (datasets, runs, a leaderboard), links to the
other pages, and where data and models live.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from genre_core import config  # noqa: E402
from pages.components.common import (  # noqa: E402
    discover_datasets,
    flagged_runs_frame,
    fmt_seconds,
    leaderboard_frame,
    list_runs_safe,
    location_settings_ui,
    page_links,
    run_page,
    setup_page,
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


def leaderboard_ui(runs: list) -> None:
    st.subheader("Leaderboard")
    board = leaderboard_frame(runs)
    if board.empty:
        no_runs_ui(runs)
        return
    board = board.copy()
    board["95% CI"] = [
        "" if pd.isna(lo) or pd.isna(hi) else f"{lo:.0%} – {hi:.0%}"
        for lo, hi in zip(board["95% CI low"], board["95% CI high"])
    ]
    board["training"] = [fmt_seconds(s) if pd.notna(s) else "" for s in board["training time (s)"]]
    board["split"] = [
        f"{s}" + (f" (on {e})" if isinstance(e, str) and e not in ("test",) else "")
        for s, e in zip(board["split"], board["evaluated on"])
    ]
    for col in ("track acc.", "balanced acc.", "segment acc."):
        board[col] = 100.0 * board[col]
    st.dataframe(
        board,
        hide_index=True,
        column_order=["run", "backend", "data", "split", "tracks", "track acc.", "95% CI", "balanced acc.",
                      "segment acc.", "training", "size (MB)"],
        column_config={
            "run": st.column_config.TextColumn("run", help="shipped/… came with genre-lab; user/… you trained."),
            "backend": st.column_config.TextColumn("backend", width="small"),
            "data": st.column_config.TextColumn("data", help="What the run was trained and tested on."),
            "split": st.column_config.TextColumn(
                "split", width="medium", help="track: random split by track; artist: artists kept on one side; ff: GTZAN "
                                       "fault-filtered lists; kfold: k-fold by track (pooled out-of-fold)."),
            "tracks": st.column_config.NumberColumn("tracks", format="%d", width="small",
                                                    help="Held-out tracks the figures are computed on."),
            "track acc.": st.column_config.ProgressColumn(
                "track accuracy", help="Share of held-out tracks classified right (mean of segment probabilities).",
                format="%.1f%%", min_value=0.0, max_value=100.0),
            "95% CI": st.column_config.TextColumn("95% CI", width="small",
                                                  help="Wilson interval of the track accuracy."),
            "balanced acc.": st.column_config.NumberColumn("balanced", format="%.1f%%", width="small",
                                                           help="Balanced accuracy: mean per-genre recall."),
            "segment acc.": st.column_config.NumberColumn("segments", format="%.1f%%", width="small",
                                                          help="Segment accuracy: share of held-out segments "
                                                               "classified right."),
            "training": st.column_config.TextColumn("training", width="small", help="Training time."),
            "size (MB)": st.column_config.NumberColumn("size", format="%.1f MB", width="small"),
        },
    )
    st.caption(
        "Figures are on each run's own held-out tracks: compare runs only on the same data and split. "
        "A wide confidence interval means few test tracks. Drill into any run on the Compare page."
    )


def flagged_ui(runs: list) -> None:
    flagged = flagged_runs_frame(runs)
    if flagged.empty:
        return
    st.subheader("Runs needing attention")
    st.warning(
        f"{len(flagged)} run folder(s) cannot be used for predictions: they are listed here with the reason. "
        "Delete them on the Train page, or train again.",
        icon=":material/warning:",
    )
    st.dataframe(flagged, hide_index=True,
                 column_config={"error": st.column_config.TextColumn("error", width="large")})


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
    leaderboard_ui(runs)
    flagged_ui(runs)
    datasets_ui(datasets)
    with st.expander("Where data and models live", icon=":material/folder:"):
        location_settings_ui()


run_page(main)
