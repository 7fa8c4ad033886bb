"""Train: set up a training run, launch it in the background, watch it learn.

Storyboard: jobs in progress (live: stage, progress bar, ETA, loss/accuracy
curves, Cancel) and finished ones (headline metrics, link to Compare) ->
choose a dataset (bundled feature table, an audio folder, the synthetic demo)
-> a backend that can use it -> its hyperparameters -> the split (checked
now: a genre with too few tracks is reported before anything runs) ->
augmentation (audio only) -> seed and run name -> Start.

Training never runs inside this script: :func:`genre_core.jobs.submit_job`
queues it for a detached worker process running
:func:`genre_core.training.train` (the CLI's entry point). Job state lives on
disk, so reloading the page or opening a second tab finds the jobs again;
two jobs can be queued and run one after the other.
"""

from __future__ import annotations



import streamlit as st

from genre_core import config, jobs, plan
from genre_core.backends import get_backend
from genre_core.dataset import listing_stamp, open_dataset
from genre_core.errors import GenreLabError, RunExistsError
from genre_core.plan import DEFAULTS
from genre_core.runs import check_run_name, check_target
from pages.components import train_ui
from pages.components.common import dataset_picker_ui, fmt_seconds, run_page, setup_page, show_error

#: How often the job monitor refreshes while a job is queued or running (seconds).
REFRESH_S = 1.5


# --------------------------------------------------------------------------- cached computations


@st.cache_data(show_spinner=False, max_entries=16)
def dataset_cached(spec: str, stamp: float):  # noqa: ARG001 - stamp invalidates the cache
    """The dataset as the job will see it (audio folders only listed here: files are decoded by the job)."""
    return open_dataset(spec, check_audio=False)


@st.cache_data(show_spinner=False, max_entries=16)
def backend_options_cached(spec: str, stamp: float) -> list[dict]:
    return plan.backend_options(dataset_cached(spec, stamp))


@st.cache_data(show_spinner=False, max_entries=16)
def split_options_cached(spec: str, stamp: float) -> list[dict]:
    return plan.split_options(dataset_cached(spec, stamp))


@st.cache_data(show_spinner=False, max_entries=64)
def split_preview_cached(spec: str, stamp: float, protocol: str, seed: int, test_size: float,
                         valid_size: float, k: int, group: str = "track"):
    return plan.split_preview(dataset_cached(spec, stamp), protocol, seed=seed, test_size=test_size, group=group,
                              valid_size=valid_size, k=k)


# --------------------------------------------------------------------------- jobs


def intro_ui() -> None:
    st.title("Train a model")
    st.caption(
        "Training runs in a background process, so you can leave this page, reload it or open it in another "
        "tab: the jobs are found again. Jobs run one at a time; a second one waits in the queue. Every run is "
        "split by track before anything is cut into segments, evaluated on tracks it never saw, and saved "
        "with its settings in the runs registry."
    )


def monitor_body() -> None:
    """Active jobs (live) and the finished ones."""
    jobs.resume_queue()  # starts a queued job if its predecessor's process died
    listing = jobs.list_jobs()
    active = [j for j in listing if j["state"] in jobs.ACTIVE_STATES]
    active.sort(key=lambda j: (j["state"] == "queued", j.get("submitted_ts") or 0))
    finished = [j for j in listing if j["state"] in jobs.FINAL_STATES]
    known = st.session_state.get("train_active")
    now_active = sorted(j["job_id"] for j in active)
    st.session_state["train_active"] = now_active
    if known is not None and known != now_active and not set(known) <= set(now_active) and \
            st.session_state.get("train_live"):
        st.rerun()  # a job ended: redraw the whole page (static again, result shown)
    if not listing:
        st.caption("No training jobs yet: set one up below.")
        return
    if active:
        st.subheader(f"In progress ({len(active)})")
        for status in active:
            train_ui.active_job_panel(status)
    if finished:
        st.subheader("Finished")
        watched = st.session_state.get("train_watch") or []
        shown = [j for j in finished if j["job_id"] in watched][:2] or finished[:1]
        for status in shown:
            train_ui.finished_job_panel(status)
        if len(finished) > len(shown):
            with st.expander(f"All finished jobs ({len(finished)})"):
                st.dataframe(train_ui.jobs_table(finished), hide_index=True, width="stretch")
                pick = st.selectbox("Show a job", [j["job_id"] for j in finished], index=None,
                                    placeholder="choose a job", key="train_show_job")
                if pick:
                    train_ui.finished_job_panel(next(j for j in finished if j["job_id"] == pick))
                if st.button("Clear finished jobs", help="Removes the job records; the runs stay in the registry."):
                    for j in finished:
                        try:
                            jobs.delete_job(j["job_id"])
                        except GenreLabError:
                            pass
                    st.session_state["train_watch"] = []
                    st.rerun()


@st.fragment(run_every=REFRESH_S)
def live_monitor_ui() -> None:
    monitor_body()


@st.fragment
def static_monitor_ui() -> None:
    monitor_body()


def jobs_ui() -> None:
    active = [j for j in jobs.list_jobs() if j["state"] in jobs.ACTIVE_STATES]
    st.session_state["train_live"] = bool(active)
    if active:
        live_monitor_ui()
    else:
        static_monitor_ui()


# --------------------------------------------------------------------------- the form


def dataset_ui() -> tuple[str, str, object | None]:
    """Returns ``(kind, spec, dataset or None)``."""
    st.subheader("1 · Dataset")
    kind, spec = dataset_picker_ui(
        "train", folder_label="Folder with one sub-folder per genre (or a feature-table .csv)",
        folder_help="e.g. <folder>/blues/*.wav, <folder>/rock/*.mp3 ... (WAV, FLAC, OGG, Opus, MP3, AU), "
                    "or a CSV with a 'label' column and feature columns such as features_3_sec.csv.",
        captions={"table": "GTZAN's public table: 57 features of each whole 30 s track (no audio). Models trained "
                           "on it analyse 30 s windows when they predict.",
                  "audio": "Files are only listed here; the job decodes every one, lists the unreadable ones and "
                           "skips them (the Explore page can check a folder beforehand).",
                  "synthetic": "Synthetic 'genres' the code makes itself (drone, pulse, chords, sweep): not music, "
                               "but learnable in seconds, to try the workflow."},
        min_clips=6)
    if kind == "audio" and not spec.strip():
        st.info("Enter the path of a genre folder or a feature table.", icon=":material/folder_open:")
        return kind, spec, None
    if kind == "audio":
        try:
            spec = str(config.check_allowed_path(spec, "dataset path"))
        except GenreLabError as err:
            show_error(err, context="This dataset cannot be used")
            return kind, spec, None
    stamp = listing_stamp(spec) if kind == "audio" else 0.0
    try:
        with st.spinner("Reading the dataset..."):
            ds = dataset_cached(spec, stamp)
    except GenreLabError as err:
        show_error(err, context="This dataset cannot be used")
        return kind, spec, None
    counts = ds.counts()
    c1, c2, c3 = st.columns([1, 1, 4])
    c1.metric("Tracks", len(ds.tracks))
    c2.metric("Genres", len(ds.labels))
    c3.caption("Tracks per genre: " + ", ".join(f"{g} {n}" for g, n in counts.items()))
    small = [g for g, n in counts.items() if n < 5]
    if small:
        st.warning(f"Few tracks in {', '.join(small)}: a held-out split needs several tracks per genre.",
                   icon=":material/warning:")
    if ds.unreadable:
        st.warning(f"{len(ds.unreadable)} file(s) are unreadable and will be skipped.", icon=":material/warning:")
    return kind, spec, ds


def backend_ui(spec: str, stamp: float, ds) -> tuple[str | None, str | None]:
    """``(backend, feature set or None for the backend's default input)``."""
    st.subheader("2 · Model")
    options = backend_options_cached(spec, stamp)
    usable = [o for o in options if o["ok"]]
    if not usable:
        st.error("No registered backend can train on this dataset.")
        return None, None
    names = [o["name"] for o in usable]
    by_name = {o["name"]: o for o in usable}
    name = st.selectbox("Backend", names, key="train_backend",
                        format_func=lambda n: " · ".join(filter(None, (n, by_name[n]["label"], by_name[n]["input"]))))
    chosen = by_name[name]
    st.caption(chosen["description"])
    feature_set = None
    choices = plan.feature_choices(name, ds)
    if choices:
        feature_set = st.selectbox("Input features", choices, key=f"train_features_{name}",
                                   format_func=lambda f: f + (" (default)" if f == choices[0] else ""),
                                   help="What the model sees of each window: pretrained musicnn / VGG embeddings "
                                        "(musicnn_concat = both), or classic hand-made features (gtzan57: the "
                                        "57 GTZAN-table features; mfcc_stats; edm).")
    left_out = [o for o in options if not o["ok"]]
    if left_out:
        with st.expander(f"Backends that cannot use this dataset ({len(left_out)})"):
            for o in left_out:
                st.markdown(f"- **{o['name']}**: {o['reason']}")
    return name, (feature_set if feature_set != (choices[0] if choices else None) else None)


def split_ui(spec: str, stamp: float, ds, seed: int) -> tuple[dict, bool]:
    """Returns ``(split settings, ok)``; shows tracks per genre and side, or why the split is impossible."""
    st.subheader("4 · Split")
    options = split_options_cached(spec, stamp)
    usable = [o for o in options if o["ok"]]
    protos = [o["protocol"] for o in usable]
    proto = st.radio("Protocol", protos, format_func=plan.SPLIT_CHOICES.get, key="train_split", horizontal=True)
    for o in options:
        if not o["ok"]:
            st.caption(f"{plan.SPLIT_CHOICES[o['protocol']]} is not available: {o['reason'].rstrip('.')}.")
        elif o["protocol"] == proto and o["reason"]:
            st.caption(f"Note: {o['reason']}.")
    d = DEFAULTS
    settings = {"split": proto, "test_size": d.test_size, "valid_size": d.valid_size, "k": d.k, "group": d.group,
                "refit": d.refit}
    c1, c2, c3 = st.columns(3)
    if proto in ("track", "artist"):
        settings["test_size"] = c1.slider("Test fraction", 0.1, 0.5, d.test_size, 0.05, key="train_test")
        settings["valid_size"] = c2.slider("Validation fraction", 0.05, 0.4, d.valid_size, 0.05, key="train_valid",
                                           help="Held-out tracks for early stopping (never tested on).")
    elif proto == "kfold":
        settings["k"] = c1.number_input("Folds", 2, 20, d.k, key="train_k")
        settings["valid_size"] = c2.slider("Validation fraction of each training fold", 0.05, 0.4, d.valid_size, 0.05,
                                           key="train_valid_k")
        has_artists = any(o["protocol"] == "artist" and o["ok"] for o in options)
        settings["group"] = c3.radio("Keep together", ["track", "artist"] if has_artists else ["track"],
                                     horizontal=True, key="train_group",
                                     help="artist: every track of an artist in the same fold, so no fold is "
                                          "tested on an artist it trained on (needs artists.csv).")
        settings["refit"] = st.checkbox("Refit on all tracks after cross-validation", value=True, key="train_refit",
                                        help="The saved model is trained on every track, as long as the folds' "
                                             "models trained (chosen on their validation tracks); its figures "
                                             "are the cross-validated estimates.")
    try:
        table, notes = split_preview_cached(spec, stamp, proto, seed, settings["test_size"], settings["valid_size"],
                                            int(settings["k"]), settings["group"])
    except GenreLabError as err:
        show_error(err, context="This split is not possible")
        return settings, False
    with st.expander("Tracks per genre on each side", expanded=False):
        st.dataframe(table, width="stretch")
    totals = table.sum()
    st.caption(f"train {int(totals.get('train', 0))} · valid {int(totals.get('valid', 0))} · "
               f"test {int(totals.get('test', 0))} tracks. " + " ".join(notes))
    return settings, True


@st.cache_data(show_spinner=False, max_entries=32, ttl=60)
def extraction_plan_cached(spec: str, stamp: float, backend: str, n_augment: int,
                           feature_set: str | None = None) -> dict | None:
    """The cost of preparing this backend's inputs (None for a feature table: nothing to extract)."""
    from genre_core.extraction import extraction_plan
    from genre_core.training import resolve_input_spec

    ds = dataset_cached(spec, stamp)
    if not ds.has_audio:
        return None
    input_spec = plan.with_feature_set(resolve_input_spec(get_backend(backend), None, ds), feature_set)
    return extraction_plan(ds, input_spec, n_augment=n_augment)


def cost_ui(spec: str, stamp: float, backend: str, n_augment: int, feature_set: str | None = None) -> None:
    """Before launching: how many tracks must be analysed (given the cache) and about how long."""
    with st.spinner("Checking the feature cache..."):
        cost = extraction_plan_cached(spec, stamp, backend, int(n_augment), feature_set)
    if cost is None:
        st.caption("Cost: the feature table needs no audio analysis; training starts at once.")
        return
    est = cost["estimate_s"]
    when = f"about {fmt_seconds(est)} on {cost['workers']} core(s)" if est is not None else "time unknown"
    if not cost["to_extract"]:
        st.info(f"Cost: all {cost['tracks']} tracks are in the feature cache; only training remains.",
                icon=":material/bolt:")
    else:
        st.info(f"Cost: **{cost['to_extract']} of {cost['tracks']} tracks** must be analysed "
                f"({cost['cached']} cached, {cost['audio_minutes']:.0f} min of audio"
                f"{', augmented copies included' if n_augment else ''}): {when} before training starts "
                "(an estimate, good to about a factor of two).", icon=":material/schedule:")


def run_settings_ui(backend: str) -> tuple[int, str | None, bool, list[str]]:
    st.subheader("6 · Run")
    if st.session_state.pop("train_clear_name", False):
        st.session_state["train_name"] = ""  # the last name was just used by a submitted job
    c1, c2 = st.columns([1, 3])
    seed = int(c1.number_input("Seed", 0, 2**31 - 1, 0, key="train_seed",
                               help="Seeds the split, the augmentation and the model."))
    name = c2.text_input("Run name", value="", key="train_name",
                         placeholder=f"automatic: {backend}-<dataset>-<date>-<time>",
                         help="Letters, digits, '.', '_', '+' or '-'. The run is saved as user/<name>.").strip()
    problems: list[str] = []
    overwrite = False
    if name:
        try:
            check_run_name(name)
            try:
                check_target(config.user_runs_dir(), name)  # a folder genre-lab did not write: raises, never offered
            except RunExistsError:
                overwrite = st.checkbox(f"Replace the existing run user/{name}", value=False, key="train_overwrite")
                if not overwrite:
                    problems.append(f"A run named user/{name} exists: choose another name or tick Replace.")
        except GenreLabError as err:
            problems.append(str(err))
    return seed, name or None, overwrite, problems


def launch_ui(cfg: dict, problems: list[str]) -> None:
    for p in problems:
        st.error(p, icon=":material/error:")
    running = [j for j in jobs.list_jobs() if j["state"] in jobs.ACTIVE_STATES]
    st.caption(f"Engine: {__import__('genre_core.engine').engine.describe_configured()} (GENRE_DASK sets it).")
    label = "Start training" if not running else f"Queue training (after {len(running)} job(s))"
    if st.button(label, type="primary", icon=":material/play_arrow:", disabled=bool(problems), key="train_start"):
        try:
            job_id = jobs.submit_job(cfg)
        except GenreLabError as err:
            show_error(err, context="The job was not started")
            return
        st.session_state.setdefault("train_watch", [])
        st.session_state["train_watch"] = [job_id, *st.session_state["train_watch"]]
        st.session_state["train_clear_name"] = True
        st.toast(f"Job {job_id} submitted.", icon=":material/rocket_launch:")
        st.rerun()


# --------------------------------------------------------------------------- page


def main() -> None:
    setup_page("Train", ":material/model_training:")
    intro_ui()
    jobs_ui()
    st.divider()
    st.header("New training job")
    kind, spec, ds = dataset_ui()
    if ds is None:
        return
    stamp = listing_stamp(spec) if kind == "audio" else 0.0
    backend, feature_set = backend_ui(spec, stamp, ds)
    if backend is None:
        return
    st.subheader("3 · Hyperparameters")
    params, problems = train_ui.params_ui(get_backend(backend))
    seed = int(st.session_state.get("train_seed", 0))
    split, split_ok = split_ui(spec, stamp, ds, seed)
    if not split_ok:
        problems.append("Fix the split above before starting.")
    st.subheader("5 · Augmentation")
    augment, n_augment = None, 0
    if not ds.has_audio:
        st.caption("Augmentation transforms audio; the feature table has none, so it is off.")
    else:
        augment, n_augment, aug_problems = train_ui.augment_ui()
        problems.extend(aug_problems)
    seed, name, overwrite, run_problems = run_settings_ui(backend)
    problems.extend(run_problems)
    cost_ui(spec, stamp, backend, n_augment, feature_set)
    cfg = {"dataset": spec, "backend": backend, "params": params, "seed": seed, "name": name,
           "overwrite": overwrite, "augment": augment, "n_augment": n_augment, **split}
    if feature_set:
        cfg["input_spec"] = plan.with_feature_set(get_backend(backend).default_input(), feature_set).to_dict()
    launch_ui(cfg, problems)


run_page(main)
