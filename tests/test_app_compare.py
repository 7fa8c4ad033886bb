"""AppTest of the Compare page on the shared tiny runs (app_fixtures): tables, confusion matrices, drill-down, McNemar."""

from __future__ import annotations

import json

import numpy as np

from app_fixtures import (  # noqa: F401 - fixtures
    COMPLETE_RUNS,
    MLP_SYNTH,
    MLP_TABLE,
    SYNTH_GENRES,
    XGB_SYNTH,
    app_env,
    app_models,
    empty_env,
    new_app,
    texts,
)

PAGE = "pages/3_Compare.py"


def _figs(at) -> dict:
    """Plotly figures by element key."""
    out = {}
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        out[el.proto.id] = spec
    return list(out.values())


def _confusion(at) -> dict:
    figs = [f for f in _figs(at) if any(t.get("type") == "heatmap" for t in f["data"])
            and any(t.get("name") == "cells" for t in f["data"])]
    assert len(figs) == 1, len(figs)
    return figs[0]


def test_compare_without_runs_points_to_train(empty_env):
    at = new_app(PAGE)
    at.run()
    assert not at.exception and not at.error
    assert "no complete run" in " ".join(texts(at.info))


def test_compare_tables_and_flags(app_env):
    at = new_app(PAGE)
    at.run()
    assert not at.exception, at.exception
    assert not at.error, texts(at.error)
    # default: every complete run; failed and crashed runs are not offered
    assert sorted(at.multiselect(key="compare_runs").value) == sorted(COMPLETE_RUNS)
    metrics = next(d.value for d in at.dataframe if "track acc." in getattr(d.value, "columns", []))
    assert sorted(metrics["run"]) == sorted(COMPLETE_RUNS)
    for col in ("track acc.", "track acc. (vote)", "balanced acc.", "segment acc.", "macro F1", "log loss",
                "train time (s)", "inference per track (ms)", "size (MB)", "track acc. 95% CI"):
        assert col in metrics.columns
    assert metrics["track acc. 95% CI"].str.contains("–").all()
    # the synthetic runs share a test set, the table run does not: flagged
    groups = dict(zip(metrics["run"], metrics["test set"]))
    assert groups[MLP_SYNTH] == groups[XGB_SYNTH] != groups[MLP_TABLE]
    assert any("not directly comparable" in w or "directly comparable" in w for w in texts(at.warning))
    # settings: only what differs among comparable runs (same backend), with a "show all" switch (issue 13)
    assert at.toggle(key="compare_show_all").value is False
    assert any("settings differ between comparable runs" in c for c in texts(at.caption))


def test_confusion_matrices_for_two_runs_and_cell_drill_down(app_env):
    at = new_app(PAGE)
    at.run()
    at.selectbox(key="cm_run").set_value(MLP_SYNTH).run()
    assert not at.exception
    fig = _confusion(at)
    heat = next(t for t in fig["data"] if t["type"] == "heatmap")
    cells = next(t for t in fig["data"] if t.get("name") == "cells")
    assert heat["x"] == sorted(SYNTH_GENRES) and heat["y"] == sorted(SYNTH_GENRES)
    assert len(cells["x"]) == len(SYNTH_GENRES) ** 2  # one click target per cell
    z = np.array(heat["z"], dtype=float)
    assert np.allclose(z.sum(axis=1)[z.sum(axis=1) > 0], 1.0)  # row-normalised by default

    # counts at segment level
    at.toggle(key="cm_norm").set_value(False).run()
    at.radio(key="cm_level").set_value("segment").run()
    assert not at.exception
    seg = np.array(next(t for t in _confusion(at)["data"] if t["type"] == "heatmap")["z"], dtype=float)
    assert seg.sum() > z.shape[0]  # segments, not tracks

    # the keyboard/AppTest way to pick a cell (the browser check clicks one)
    at.radio(key="cm_level").set_value("track").run()
    pick = at.selectbox(key=f"cm_cell::{MLP_SYNTH}::track")
    assert pick.options[0] == "—" and len(pick.options) > 1
    pick.set_value(pick.options[1]).run()
    assert not at.exception, at.exception
    assert any("test track(s) of genre" in m for m in texts(at.markdown))
    table = next(d.value for d in at.dataframe if "p(predicted)" in getattr(d.value, "columns", []))
    assert len(table) >= 1
    # per-segment probabilities of the first track, and its audio (the synthetic folder is on this machine)
    assert any(t.get("type") == "bar" for f in _figs(at) for t in f["data"])
    assert len(at.get("audio")) == 1

    # a second run: the 10-genre table run, whose tracks have no audio here (feature table)
    at.selectbox(key="cm_run").set_value(MLP_TABLE).run()
    assert not at.exception
    heat = next(t for t in _confusion(at)["data"] if t["type"] == "heatmap")
    assert len(heat["x"]) == 10
    pick = at.selectbox(key=f"cm_cell::{MLP_TABLE}::track")
    pick.set_value(pick.options[1]).run()
    assert not at.exception
    assert any("No audio for" in c or "Audio:" in c for c in texts(at.caption))


def test_pairwise_mcnemar_and_difference(app_env):
    at = new_app(PAGE)
    at.run()
    at.selectbox(key="pair_a").set_value(MLP_SYNTH).run()
    at.selectbox(key="pair_b").set_value(XGB_SYNTH).run()
    assert not at.exception
    verdict = " ".join(texts(at.success) + texts(at.info))
    assert "test tracks both runs were evaluated on" in verdict
    assert "McNemar" in " ".join(texts(at.markdown))
    diff = [f for f in _figs(at) if f["layout"].get("title", {}).get("text", "").startswith("B − A")]
    assert len(diff) == 1
    # different test sets: flagged, not directly comparable
    at.selectbox(key="pair_b").set_value(MLP_TABLE).run()
    assert not at.exception
    assert any("not directly comparable" in w for w in texts(at.warning))
    # training curves overlaid
    assert at.multiselect(key="curves_runs").value
