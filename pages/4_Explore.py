"""Explore: what is in a dataset before training on it.

Storyboard: choose a dataset (bundled feature table, an audio folder, the
synthetic demo) -> tracks per genre, durations, unreadable and duplicate files
-> pick a track: waveform, mel spectrogram, chroma, and listen (audio only) ->
feature distributions by genre (any gtzan57 column) -> a 2-D map of the
tracks (PCA; t-SNE on demand) coloured by genre.

Works on the bundled feature table with no audio at all. For audio folders
the scan (decoding every file) and the per-track features (the cached
gtzan57 extraction) run on demand, with a progress bar, and are kept in
memory for the next visit.
"""

from __future__ import annotations

from pathlib import Path


import streamlit as st

from genre_core import config, exploration
from genre_core.audio import load_audio
from genre_core.dataset import listing_stamp, open_dataset
from genre_core.errors import GenreLabError
from genre_core.features import get_feature_set
from pages.components import explore_charts as charts
from pages.components import predict_charts
from pages.components.common import dataset_picker_ui, fmt_seconds, run_page, setup_page, show_error
from pages.components.examples import mime_for

#: Results kept in memory (scans, features): the last few datasets.
_KEEP = 6


# --------------------------------------------------------------------------- caches


@st.cache_resource(show_spinner=False)
def _store() -> dict:
    """Scans and feature tables computed with a progress bar (st.cache_data cannot show one)."""
    return {}


def _remember(key: tuple, value):
    store = _store()
    store[key] = value
    while len(store) > _KEEP * 2:
        store.pop(next(iter(store)))
    return value


@st.cache_data(show_spinner=False, max_entries=8)
def listing_cached(spec: str, stamp: float):  # noqa: ARG001
    """Quick look (tables and synthetic: complete; audio folders: files listed, not decoded)."""
    return open_dataset(spec, check_audio=False)


@st.cache_data(show_spinner=False, max_entries=8)
def table_features_cached(spec: str, stamp: float):
    return exploration.track_features(listing_cached(spec, stamp))


@st.cache_data(show_spinner=False, max_entries=16)
def projection_cached(key: tuple, method: str, _features):
    return exploration.projection(_features, method)


@st.cache_data(show_spinner=False, max_entries=8)
def audio_paths_cached(spec: str, stamp: float) -> dict:
    ds = _store().get(("scan", spec, stamp)) or listing_cached(spec, stamp)
    return {k: str(v) for k, v in exploration.audio_paths(ds).items()}


@st.cache_data(show_spinner=False, max_entries=4)
def track_views_cached(path: str, mtime: float):  # noqa: ARG001
    audio = load_audio(path, max_duration=120.0)
    C, times = exploration.chroma(audio.y, audio.sr)
    return audio, C, times


# --------------------------------------------------------------------------- UI pieces


def intro_ui() -> None:
    st.title("Explore a dataset")
    st.caption("Look before you train: how many tracks per genre, how long, which files are broken or "
               "duplicated, what the music looks and sounds like, and how separable the genres are in the "
               "57 GTZAN features.")


def dataset_ui() -> tuple[str, str]:
    return dataset_picker_ui("explore", captions={"table": "GTZAN's public table: 57 features of each 30 s track, "
                                                           "no audio."})


def scan_ui(kind: str, spec: str, stamp: float):
    """The dataset: a full scan (decoding every file) for audio folders, on demand."""
    quick = listing_cached(spec, stamp)
    if kind != "audio":
        return quick
    key = ("scan", spec, stamp)
    if key in _store():
        return _store()[key]
    st.info(f"{len(quick.tracks)} audio files in {len(quick.labels)} genre folders. Scanning decodes every file to "
            "find durations, unreadable files and exact duplicates.", icon=":material/search:")
    if not st.button("Scan the folder", type="primary", icon=":material/search:", key="explore_scan"):
        return quick
    bar = st.progress(0.0, text="Scanning...")

    def progress(d: dict) -> None:
        total = d.get("total") or 0
        if total:
            bar.progress(min(1.0, (d.get("done") or 0) / total), text=f"Scanning {d.get('done')} of {total}: "
                                                                      f"{d.get('file', '')}")

    ds = open_dataset(spec, check_audio=True, progress=progress)
    bar.empty()
    return _remember(key, ds)


def overview_ui(ds, scanned: bool) -> None:
    st.subheader("Overview")
    s = exploration.summary_counts(ds)
    cols = st.columns(5)
    cols[0].metric("Tracks", s["tracks"])
    cols[1].metric("Genres", s["genres"])
    cols[2].metric("Hours", f"{s['minutes'] / 60:.2f}" if s["minutes"] else "—")
    table = not ds.has_audio
    cols[3].metric("Unreadable files", "n/a" if table else (s["unreadable"] if scanned else "?"),
                   help="Only audio files can be unreadable." if table else "Found by decoding every file.")
    cols[4].metric("Duplicate groups", "n/a" if table else (s["duplicate_groups"] if scanned else "?"),
                   help="A table holds no audio to compare." if table else "Files with identical decoded audio.")
    c1, c2 = st.columns(2)
    with c1:
        st.markdown("**Tracks per genre**")
        st.plotly_chart(charts.genre_bar_figure(ds.counts()), key="explore_counts")
    with c2:
        st.markdown("**Durations**")
        durs = exploration.durations_frame(ds)
        if durs.empty:
            st.caption("Durations are read from the files when the folder is scanned.")
        elif float(durs["duration"].max() - durs["duration"].min()) < 1.0:  # one bar says nothing
            st.caption(f"All {len(durs)} tracks last {float(durs['duration'].median()):.1f} s "
                       f"(within {float(durs['duration'].max() - durs['duration'].min()):.2f} s of each other).")
        else:
            st.plotly_chart(charts.durations_figure(durs), key="explore_durations")
    if not scanned:
        return
    bad = exploration.unreadable_frame(ds)
    if len(bad):
        st.warning(f"{len(bad)} file(s) cannot be used; training skips them.", icon=":material/warning:")
        st.dataframe(bad, hide_index=True, width="stretch")
    elif ds.has_audio:
        st.caption("Every file decodes.")
    dups = exploration.duplicates_frame(ds)
    if len(dups):
        st.warning(f"{dups['group'].nunique()} group(s) of tracks with identical audio: the splits keep each "
                   "group on one side, so duplicates cannot leak between training and test.", icon=":material/content_copy:")
        st.dataframe(dups, hide_index=True, width="stretch")
    elif ds.has_audio:
        st.caption("No exact duplicates.")


def track_ui(ds, spec: str, stamp: float) -> None:
    st.subheader("Listen and look")
    paths = audio_paths_cached(spec, stamp)
    if not paths:
        if not ds.has_audio:
            st.info("A feature table holds numbers, not audio, so there is no waveform or spectrogram to show here. "
                    "Point the page at an audio folder to see and hear tracks.", icon=":material/info:")
        else:
            st.info("No readable audio file in this dataset.", icon=":material/info:")
        return
    if not ds.has_audio:
        st.caption(f"The table has no audio, but {len(paths)} of its {len(ds.tracks)} tracks were found in the "
                   f"GTZAN audio folder ({config.gtzan_dir() / 'audio'}).")
    genres = sorted({tid.split("/", 1)[0] for tid in paths})
    c1, c2 = st.columns([1, 2])
    genre = c1.selectbox("Genre", genres, key="explore_genre")
    ids = sorted(t for t in paths if t.startswith(genre + "/"))
    track_id = c2.selectbox("Track", ids, index=None, placeholder="choose a track to see and hear it",
                            key="explore_track")
    if track_id is None:
        return
    path = Path(paths[track_id])
    try:
        audio, C, times = track_views_cached(str(path), path.stat().st_mtime)
    except (GenreLabError, OSError) as err:
        show_error(err, context=f"{track_id} cannot be shown")
        return
    st.audio(path.read_bytes(), format=mime_for(path.name))
    note = f" (first {fmt_seconds(audio.duration)} shown)" if audio.clipped_to_max else ""
    st.caption(f"`{path}` · {fmt_seconds(audio.source_duration)} · {audio.source_sr} Hz · "
               f"{audio.channels} channel(s){note}")
    st.markdown("**Waveform**")
    st.plotly_chart(predict_charts.waveform_figure(audio.y, audio.sr), key="explore_wave")
    st.markdown("**Mel spectrogram**")
    st.plotly_chart(predict_charts.melspectrogram_figure(audio.y, audio.sr), key="explore_mel", theme=None)
    st.markdown("**Chroma** (energy per pitch class)")
    st.plotly_chart(charts.chroma_figure(C, times), key="explore_chroma", theme=None)


def features_ui(ds, kind: str, spec: str, stamp: float):
    """The per-track gtzan57 features (computed on demand for audio); None until available."""
    st.subheader("Features by genre")
    if not ds.has_audio:
        feats, failures = table_features_cached(spec, stamp)
        return feats
    key = ("features", spec, stamp)
    if key in _store():
        feats, failures = _store()[key]
    else:
        window = exploration.feature_window(ds)
        what = "30 s windows averaged per track" if window else "each whole clip"
        offer = st.empty()  # the offer disappears once the work is done
        with offer.container():
            st.info(f"The 57 GTZAN features of {len(ds.tracks)} tracks ({what}) are computed once and cached "
                    "on disk; training a gtzan57 model reuses them.", icon=":material/calculate:")
            clicked = st.button("Compute features", type="primary", icon=":material/calculate:",
                                key="explore_features")
        if not clicked:
            return None
        offer.empty()
        bar = st.progress(0.0, text="Extracting features...")

        def progress(d: dict) -> None:
            total = d.get("total") or 0
            if total:
                bar.progress(min(1.0, (d.get("done") or 0) / total),
                             text=f"Extracting features: {d.get('done')} of {total} "
                                  f"({d.get('cached', 0)} from the cache)")

        feats, failures = exploration.track_features(ds, progress=progress)
        bar.empty()
        _remember(key, (feats, failures))
    if failures:
        st.warning(f"{len(failures)} track(s) could not be analysed and are left out.", icon=":material/warning:")
    return feats


def distribution_ui(feats) -> None:
    cols = get_feature_set(exploration.FEATURE_SET).columns
    c1, c2 = st.columns([3, 1])
    default = cols.index("spectral_centroid_mean") if "spectral_centroid_mean" in cols else 0
    column = c1.selectbox("Feature", cols, index=default, key="explore_feature")
    kind = c2.radio("Plot", ["box", "violin"], horizontal=True, key="explore_plot_kind")
    st.plotly_chart(charts.feature_distribution_figure(feats, column, kind=kind), key="explore_dist")
    with st.expander("Per-genre summary"):
        st.dataframe(exploration.genre_feature_summary(feats, column), width="stretch")


def projection_ui(feats, spec: str, stamp: float) -> None:
    st.subheader("Map of the tracks")
    key = (spec, stamp, len(feats))
    c1, c2 = st.columns([1, 3])
    method = c1.radio("Method", ["pca", "tsne"], format_func={"pca": "PCA", "tsne": "t-SNE"}.get, key="explore_proj",
                      help="PCA is linear and instant. t-SNE keeps neighbourhoods (similar tracks stay close) but "
                           "distances between clusters mean little; it takes a few seconds and is cached.")
    with st.spinner("Computing the projection..."):
        try:
            points, info = projection_cached(key, method, feats)
        except GenreLabError as err:
            show_error(err)
            return
    c2.caption(f"{info['n']} tracks, 57 standardised features"
               + (" (subsampled)" if info.get("subsampled") else "")
               + (f"; the two axes explain {sum(info['explained']):.0%} of the variance." if method == "pca" else
                  f"; perplexity {info.get('perplexity', 30):.0f}."))
    st.plotly_chart(charts.projection_figure(points, info), key="explore_map")


# --------------------------------------------------------------------------- page


def main() -> None:
    setup_page("Explore", ":material/query_stats:")
    intro_ui()
    kind, spec = dataset_ui()
    try:
        if kind == "audio":
            spec = str(config.check_allowed_path(spec, "dataset path"))
        stamp = listing_stamp(spec) if kind == "audio" else 0.0
        with st.spinner("Reading the dataset..."):
            ds = scan_ui(kind, spec, stamp)
    except GenreLabError as err:
        show_error(err, context="This dataset cannot be used")
        return
    scanned = kind != "audio" or ("scan", spec, stamp) in _store()
    overview_ui(ds, scanned)
    track_ui(ds, spec, stamp)
    feats = features_ui(ds, kind, spec, stamp)
    if feats is None or feats.empty:
        return
    distribution_ui(feats)
    projection_ui(feats, spec, stamp)


run_page(main)
