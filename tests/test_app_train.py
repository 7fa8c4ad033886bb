"""AppTest of the Train page: controls from the registry, errors before running, a real background job.

The launched job runs in a detached subprocess (genre_core.jobs) that inherits the
temporary GENRE_MODELS_DIR / GENRE_CACHE_DIR; the test polls ``jobs.job_status``
until it completes, then checks that the run is complete in Compare.
"""

from __future__ import annotations

import time

import pandas as pd
import pytest
from helpers import kill_leftover_jobs

from app_fixtures import empty_env, new_app, texts  # noqa: F401
from genre_core import jobs
from test_jobs import write_feature_table

PAGE = "pages/2_Train.py"


@pytest.fixture
def no_leftover_jobs():
    yield
    kill_leftover_jobs()


def _backends(at) -> list[str]:
    """Backend names offered (options read "mlp · multi-layer perceptron · gtzan57 features, ...")."""
    return [o.split(" · ")[0] for o in at.selectbox(key="train_backend").options]


def test_train_page_builds_controls_from_the_registry(empty_env):
    at = new_app(PAGE)
    at.run()
    assert not at.exception
    assert not at.error, texts(at.error)
    backends = _backends(at)
    # the bundled table has no audio: only feature backends whose columns it holds
    assert "mlp" in backends and "cnn" not in backends
    # hyperparameters come from param_specs(), defaults pre-filled and named in the help
    epochs = at.number_input(key="param:mlp:epochs")
    assert epochs.value == 100 and "Default: 100" in epochs.help
    assert at.text_input(key="param:mlp:hidden").value == "512,256,128"
    assert any("cannot use this dataset" in e.label for e in at.expander)
    # no augmentation for a table; the split preview counts tracks per side
    assert any("feature table has none" in c for c in texts(at.caption))
    assert any(c.startswith("train 700 · valid 100 · test 200") for c in texts(at.caption))
    assert at.button(key="train_start").disabled is False

    at.radio(key="train_kind").set_value("synthetic").run()
    assert not at.exception
    assert "cnn" in _backends(at)  # audio: spectrogram models too
    assert at.toggle(key="aug:on").value is False
    at.toggle(key="aug:on").set_value(True).run()
    assert not at.exception
    assert at.slider(key="aug:n").value == 1
    assert at.slider(key="aug:ts").value == (0.9, 1.1)


def test_train_page_reports_unusable_data_before_running(empty_env, tmp_path):
    at = new_app(PAGE)
    at.run()
    at.radio(key="train_kind").set_value("audio").run()
    # a genre folder tree without audio
    empty = tmp_path / "no_audio"
    (empty / "rock").mkdir(parents=True)
    (empty / "rock" / "notes.txt").write_text("not audio")
    at.text_input(key="train_folder").input(str(empty)).run()
    assert not at.exception
    assert any("cannot be used" in e for e in texts(at.error))
    assert "train_start" not in [b.key for b in at.button]

    # a genre with too few tracks for a train/valid/test split: reported before anything runs
    table = write_feature_table(tmp_path / "small.csv", n_per_genre=12)
    df = pd.read_csv(table)
    df = pd.concat([df[df["label"] != "drone"], df[df["label"] == "drone"].head(2)])
    df.to_csv(table, index=False)
    at.text_input(key="train_folder").input(str(table)).run()
    assert not at.exception
    errors = " ".join(texts(at.error))
    assert "split is not possible" in errors and "'drone' has only 2 track(s)" in errors
    assert at.button(key="train_start").disabled is True

    # a bad hyperparameter is refused before launch
    at.text_input(key="train_folder").input(str(write_feature_table(tmp_path / "ok.csv"))).run()
    at.text_input(key="param:mlp:hidden").input("64,zero").run()
    assert any("Hyperparameter 'hidden'" in e for e in texts(at.error))
    assert at.button(key="train_start").disabled is True


def test_launch_watch_and_find_the_run_in_compare(empty_env, tmp_path, no_leftover_jobs):
    table = write_feature_table(tmp_path / "tiny_table.csv")
    at = new_app(PAGE)
    at.run()
    at.radio(key="train_kind").set_value("audio").run()
    at.text_input(key="train_folder").input(str(table)).run()
    at.number_input(key="param:mlp:epochs").set_value(4).run()
    at.text_input(key="param:mlp:hidden").input("16").run()
    at.slider(key="train_test").set_value(0.25).run()
    at.slider(key="train_valid").set_value(0.25).run()
    at.text_input(key="train_name").input("apptest-mlp").run()
    assert not at.exception and not at.error, texts(at.error)
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception

    listing = jobs.list_jobs()
    assert len(listing) == 1
    job_id = listing[0]["job_id"]
    assert listing[0]["config"]["params"] == {"epochs": 4, "hidden": [16]}
    assert listing[0]["config"]["name"] == "apptest-mlp"
    # while it runs, the page shows it with a Cancel button (a reload finds it again: state is on disk)
    t_end = time.monotonic() + 300
    reloaded = new_app(PAGE)
    reloaded.run()
    assert not reloaded.exception
    st = jobs.job_status(job_id)
    if st["state"] in jobs.ACTIVE_STATES:
        assert f"cancel:{job_id}" in [b.key for b in reloaded.button]
    while jobs.job_status(job_id)["state"] not in jobs.FINAL_STATES:
        assert time.monotonic() < t_end, jobs.job_status(job_id)
        time.sleep(0.5)
    st = jobs.job_status(job_id)
    assert st["state"] == "complete", (st, jobs.job_log(job_id))
    assert st["run_id"] == "user/apptest-mlp"

    at.run()
    assert not at.exception
    assert any(m.label == "Track accuracy" for m in at.metric)
    # a link to Compare with the new run selected (a Markdown link when the page runs alone, as here)
    assert any("/Compare?run=user%2Fapptest-mlp" in m for m in texts(at.markdown)) or at.get("page_link")

    compare = new_app("pages/3_Compare.py")
    compare.query_params["run"] = "user/apptest-mlp"
    compare.run()
    assert not compare.exception
    assert not compare.error, texts(compare.error)
    assert "user/apptest-mlp" in compare.multiselect(key="compare_runs").value
    assert compare.selectbox(key="cm_run").value == "user/apptest-mlp"
    assert len(compare.get("plotly_chart")) >= 2


def test_train_page_shows_the_cost_before_launch(empty_env, synthetic_dataset_dir, tmp_path, monkeypatch):
    """Before launching: how many tracks must be analysed given the cache, and an estimate (issue 13)."""
    from genre_core.dataset import open_dataset
    from genre_core.inputs import InputSpec
    from genre_core.extraction import compute_dataset_inputs, extraction_plan

    monkeypatch.setenv("GENRE_CACHE_DIR", str(tmp_path / "cache"))
    ds = open_dataset(str(synthetic_dataset_dir))
    spec = InputSpec("features", "mfcc_stats", window=3.0)
    plan = extraction_plan(ds, spec)
    assert plan["to_extract"] == plan["tracks"] == len(ds.tracks) and plan["estimate_s"] > 0
    compute_dataset_inputs(ds.tracks[:2], spec, n_jobs=1)
    plan = extraction_plan(ds, spec)
    assert plan["cached"] == 2 and plan["to_extract"] == len(ds.tracks) - 2

    at = new_app(PAGE)
    at.run()
    at.radio(key="train_kind").set_value("audio").run()
    at.text_input(key="train_folder").set_value(str(synthetic_dataset_dir)).run()
    assert not at.exception
    assert any("must be analysed" in s and "tracks" in s for s in texts(at.info))


def test_a_feature_model_offers_its_input_features(empty_env):
    """On audio, a feature backend offers the pretrained embeddings and the classic feature sets; the choice
    goes into the job's input spec."""
    from genre_core import plan
    from genre_core.backends import get_backend
    from genre_core.dataset import open_dataset

    ds = open_dataset("synthetic:n=4,duration=3")
    assert plan.feature_choices("mlp", ds)[:2] == ["gtzan57", "musicnn"]
    assert "musicnn_concat" in plan.feature_choices("linear", ds)
    assert plan.feature_choices("cnn", ds) == []
    spec = plan.with_feature_set(get_backend("mlp").default_input(), "mfcc_stats")
    assert (spec.feature_set, spec.params, spec.window) == ("mfcc_stats", {}, 3.0)

    at = new_app(PAGE)
    at.run()
    at.radio(key="train_kind").set_value("synthetic").run()
    box = at.selectbox(key="train_features_mlp")
    assert box.value == "gtzan57" and "musicnn_concat" in box.options
    box.set_value("mfcc_stats").run()
    assert not at.exception
