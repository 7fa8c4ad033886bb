"""The fast, shared, streamed prediction path equals the plain per-run computation for every shipped run.

"Plain" is what each run would do on its own, as the original projects did:
``compute_track_input`` with the run's own input spec on the decoded audio,
``model.predict_proba``, the mean over windows; a voting run's soft vote of
its members' plain probabilities. The fast path (``predict_audio`` /
``iter_predictions``: one decode, each distinct input once, a worker thread,
results streamed) must give the same probabilities within ``TOL`` (float32
reductions may run in another order on another thread; in practice they are
equal to ~1e-7). The long-file policy picks windows, never changes them: with
a cap, every analysed window's probabilities equal the full computation's row
for the same window.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import count_calls

from genre_core import config
from genre_core.audio import Audio
from genre_core.synthetic import synth_genre_clip

#: Documented tolerance (absolute, on probabilities) of the fast path against the plain one.
TOL = 1e-5


def _shipped_refs() -> list[str]:
    root = config.shipped_runs_dir()
    refs = sorted(f"shipped/{p.name}" for p in root.iterdir() if (p / "run.json").is_file()) if root.is_dir() else []
    if not refs:
        pytest.skip("no shipped runs in models/shipped")
    return refs


@pytest.fixture(scope="module")
def shipped():
    from genre_core.runs import load_runs

    return load_runs(_shipped_refs())


def _audio(seconds: float, seed: int = 3) -> Audio:
    sr = config.SAMPLE_RATE
    parts = [synth_genre_clip(g, duration=seconds / 3, sr=sr, seed=seed + i)
             for i, g in enumerate(("pulse", "chords", "drone"))]
    y = np.concatenate(parts).astype(np.float32)
    return Audio(y=y, sr=sr, name="synth.wav", duration=len(y) / sr, source_duration=len(y) / sr, source_sr=sr,
                 channels=1, clipped_to_max=False)


def _plain(run, audio: Audio, memo: dict) -> tuple[np.ndarray, np.ndarray]:
    """(track proba, segment proba) of one run computed on its own, no sharing, no window cap."""
    from genre_core.voting import SoftVoter
    from genre_core.inputs import compute_track_input

    if run.is_voting:
        members = [_plain(m, audio, memo) for m, _ in run.members]
        voter = SoftVoter([m.id for m, _ in run.members], [m.labels for m, _ in run.members],
                          [w for _, w in run.members])
        return voter.combine([p[None, :] for p, _ in members])[0], np.zeros((0, len(voter.classes_)))
    if run.id not in memo:
        model = run.load_model()
        ti = compute_track_input(audio.y, audio.sr, model.input_spec)
        seg = np.asarray(model.predict_proba(ti.X), dtype=np.float64)
        memo[run.id] = (seg.mean(axis=0), seg)
    return memo[run.id]


def test_fast_path_equals_plain_per_run_computation(shipped):
    from genre_core.predict import iter_predictions, predict_audio

    audio = _audio(12.0)
    memo: dict = {}
    fast = predict_audio(shipped, {audio.sr: audio}, max_windows=None)
    assert [p.run_id for p in fast] == [r.id for r in shipped]
    for run, p in zip(shipped, fast):
        proba, seg = _plain(run, audio, memo)
        assert p.labels == list(run.labels) or run.is_voting
        np.testing.assert_allclose(p.proba, proba, atol=TOL, rtol=0, err_msg=run.id)
        if not run.is_voting:
            np.testing.assert_allclose(p.segment_proba, seg, atol=TOL, rtol=0, err_msg=run.id)
            assert p.n_windows_total == p.n_segments == len(seg)
        else:  # its own time only: the combination, not its members' sum
            assert p.timings["features_s"] == 0.0 and p.timings["combine_s"] < 0.5
    # the same, one input after another in this thread, streamed: every run once, a vote after its members
    order = [p.run_id for p in iter_predictions(shipped, {audio.sr: audio}, parallel=False)]
    assert sorted(order) == sorted(r.id for r in shipped)
    for run in shipped:
        if run.is_voting:
            assert all(order.index(m.id) < order.index(run.id) for m, _ in run.members if m.id in order)


def test_input_specs_are_known_without_loading_models(shipped):
    """Lazy loading plans the shared inputs from run.json: it must agree with the loaded model."""
    for run in shipped:
        if not run.is_voting:
            assert run.info.get("input_spec"), run.id
            from genre_core.inputs import InputSpec

            assert InputSpec.from_dict(run.info["input_spec"]).key() == run.load_model().input_spec.key()


def test_long_file_policy_picks_windows_and_keeps_their_values(shipped):
    from genre_core.inputs import spread_windows
    from genre_core.predict import predict_audio

    audio = _audio(24.0, seed=11)
    cap = 5
    memo: dict = {}
    leaves = [r for r in shipped if not r.is_voting]
    capped = predict_audio(leaves, {audio.sr: audio}, max_windows=cap)
    for run, p in zip(leaves, capped):
        _, seg = _plain(run, audio, memo)
        n = len(seg)
        assert p.n_windows_total == n
        if n <= cap:
            assert p.n_segments == n and not any("Long file" in s for s in p.notes)
            continue
        idx = spread_windows(n, cap)
        assert p.n_segments == cap and idx[0] == 0 and idx[-1] == n - 1
        np.testing.assert_allclose(p.segment_proba, seg[idx], atol=TOL, rtol=0, err_msg=run.id)
        assert any(f"{cap} of its {n} windows" in s for s in p.notes)
        assert p.to_dict(segments=False)["n_windows_total"] == n


def test_prediction_policy_skips_overlapping_windows(shipped):
    """By default a 30 s clip in 3 s windows every 1.5 s is analysed through its 10 non-overlapping
    windows (every other one, first and last included), each equal to the full computation's row."""
    from genre_core.inputs import InputSpec, analysed_windows
    from genre_core.predict import MAX_WINDOWS, predict_audio

    spec = InputSpec("features", "gtzan57", {}, 3.0, 1.5)
    assert analysed_windows(19, spec, MAX_WINDOWS).tolist() == list(range(0, 19, 2))
    assert analysed_windows(19, spec, None).tolist() == list(range(19))
    assert len(analysed_windows(200, spec, MAX_WINDOWS)) == MAX_WINDOWS
    no_overlap = InputSpec("features", "gtzan57", {}, 3.0, 3.0)
    assert analysed_windows(10, no_overlap, MAX_WINDOWS).tolist() == list(range(10))

    audio = _audio(30.0, seed=5)
    memo: dict = {}
    leaves = [r for r in shipped if not r.is_voting]
    checked = 0
    for run, p in zip(leaves, predict_audio(leaves, {audio.sr: audio})):
        _, seg = _plain(run, audio, memo)
        spec = run.load_model().input_spec
        idx = analysed_windows(len(seg), spec, MAX_WINDOWS)
        assert p.n_windows_total == len(seg) and p.n_segments == len(idx), run.id
        np.testing.assert_allclose(p.segment_proba, seg[idx], atol=TOL, rtol=0, err_msg=run.id)
        if spec.hop is not None and spec.hop < spec.window:
            assert p.n_segments < len(seg) and not any("windows" in s for s in p.notes)  # not a long file
            checked += 1
    assert checked, "no shipped run has overlapping windows"


def test_runs_asked_one_at_a_time_share_their_input(monkeypatch):
    """The Predict page asks each run on its own: a shared input is still computed once."""
    import genre_core.inputs as inputs_mod
    from genre_core.audio import Audio
    from genre_core.inputs import InputSpec

    calls = count_calls(monkeypatch, inputs_mod, "compute_track_input")
    inputs_mod.clear_input_memo()
    t = np.arange(22050 * 4) / 22050
    y = (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    audio = Audio(y=y, sr=22050, name="a.wav", duration=4.0, source_duration=4.0, source_sr=22050, channels=1,
                  clipped_to_max=False, format="WAV")
    spec = InputSpec("features", "mfcc_stats", window=3.0)
    first, n1 = inputs_mod.track_input(audio, spec)
    second, n2 = inputs_mod.track_input(audio, spec)
    assert len(calls) == 1 and second is first and n1 == n2
    other = Audio(**{**audio.__dict__, "y": (y * 0.5).astype(np.float32)})
    inputs_mod.track_input(other, spec)
    assert len(calls) == 2  # different audio: computed


def test_a_model_asked_from_two_threads_at_once_loads_once(monkeypatch):
    """predict_many loads models in the background while decoding; the prediction asks for them too."""
    import threading
    import time

    import genre_core.runs.loading as loading
    from genre_core.runs import load_run

    real = loading._load_model
    calls = []

    def slow_load(run):
        calls.append(threading.current_thread().name)
        time.sleep(0.2)  # long enough for the second thread to arrive while the first loads
        return real(run)

    monkeypatch.setattr(loading, "_load_model", slow_load)
    _shipped_refs()  # skips without shipped runs
    run = load_run("shipped/xgb-mfcc", load_model=False)
    got = []
    threads = [threading.Thread(target=lambda: got.append(run.load_model())) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(calls) == 1
    assert len(got) == 3 and all(m is got[0] for m in got) and got[0] is not None


def test_predict_many_loads_models_while_decoding_and_reports_a_bad_model_itself(tmp_path, monkeypatch):
    """The background load is one load per model; a model that fails there fails the prediction cleanly."""
    import soundfile as sf

    import genre_core.runs.loading as loading
    from genre_core.errors import RunError
    from genre_core.predict import predict_many
    from genre_core.runs import load_run

    _shipped_refs()  # skips without shipped runs
    path = tmp_path / "clip.wav"
    sf.write(path, _audio(6.0).y, config.SAMPLE_RATE)
    calls = count_calls(monkeypatch, loading, "_load_model")
    run = load_run("shipped/xgb-mfcc", load_model=False)
    (p,) = predict_many([run], str(path))
    assert len(calls) == 1 and run.model is not None and p.run_id == "shipped/xgb-mfcc"

    def broken(run):
        raise RunError(f"Run {run.id}: its model file is damaged (test).")

    monkeypatch.setattr(loading, "_load_model", broken)
    fresh = load_run("shipped/xgb-mfcc", load_model=False)
    with pytest.raises(RunError, match="damaged"):
        predict_many([fresh], str(path))


def test_window_cap_study_applies_the_policy_to_out_of_fold_windows():
    """scripts/window_cap_study.py (the evidence behind MAX_WINDOWS) on one shipped run, few songs."""
    import importlib.util
    from pathlib import Path

    from genre_core.predict import MAX_WINDOWS

    _shipped_refs()
    path = Path(__file__).resolve().parents[1] / "scripts" / "window_cap_study.py"
    spec = importlib.util.spec_from_file_location("window_cap_study", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    r = mod.study("shipped/linear-musicnn", songs=30, tracks=6, caps=[MAX_WINDOWS, 1])
    assert r["windows"] == 6 * 20  # six 30 s tracks, a window every 1.5 s
    agree_cap, acc_cap = r["caps"][MAX_WINDOWS]
    agree_one, _ = r["caps"][1]
    assert 0.0 <= acc_cap <= 1.0 and r["acc_every"] > 0.5  # a useful run, far above chance (0.1)
    assert agree_cap >= agree_one  # one window agrees with every window's label less often than the policy
