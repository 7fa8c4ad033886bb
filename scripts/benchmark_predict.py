"""Benchmark (not a test): classifying one song with every shipped run, the naive way vs genre-lab's.

Usage::

    .venv/bin/python scripts/benchmark_predict.py [--gtzan DIR] [--repeat 3] [--precision float32|bfloat16]

Audio: a 30 s clip (the first 30 s of one GTZAN track) and a 3-minute song (GTZAN
tracks of several genres, concatenated), both synthesised from the real GTZAN audio
(``$GENRE_GTZAN_DIR/audio`` or ``/work/shared/data/gtzan/audio``) as 44.1 kHz stereo MP3s
in a temporary folder that is deleted afterwards (never committed).

For each file, each path is measured in its own fresh process (``sys.executable``),
with an empty ``GENRE_CACHE_DIR``:

* **naive**: what the original projects did. Each shipped run is loaded on its own
  and computes its own inputs: its own decoding, every window, nothing shared; the
  voting run loads and computes its members again.
* **ours**: ``python -m genre_core predict RUN... FILE`` (cold) and
  :func:`genre_core.predict.predict_many` (warm): one decoding, each distinct input
  once, a worker thread, lazy model loading, at most ``predict.MAX_WINDOWS`` windows
  per run, the vote from its members' probabilities; the process set up as the CLI
  and the app server set theirs up (:func:`genre_core.allocator.reuse_freed_memory`).

*cold*: a fresh process from interpreter start to exit (imports and model loading
included; numba's compiled kernels are already in their on-disk cache, as after
the first use on a machine). *warm*: in one process with the runs loaded, after
one untimed call; the median of ``--repeat`` calls. Each figure comes with wall
time, CPU time (user + system) and peak RSS, and the 1-minute load average before
and after, because the 2 cores of this machine are shared with other work: a
figure taken under load is slower than the code is.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RUNS = ["shipped/linear-musicnn", "shipped/mlp-gtzan57", "shipped/xgb-mfcc", "shipped/cnn-logmel",
        "shipped/ensemble-vote"]


# --------------------------------------------------------------------------- the audio


def make_audio(gtzan: Path, folder: Path) -> dict[str, Path]:
    """``{"30 s clip": path, "3-minute song": path}``: MP3s made from real GTZAN tracks."""
    import numpy as np
    import soundfile as sf

    from genre_core.audio import load_audio

    files = sorted(glob.glob(str(gtzan / "*" / "*.*")))
    files = [f for f in files if f.rsplit(".", 1)[-1].lower() in ("ogg", "wav", "flac", "mp3", "au")]
    if len(files) < 8:
        raise SystemExit(f"benchmark_predict: need GTZAN audio under {gtzan} (genre folders of tracks)")
    sr = 44100
    out = {}
    clip = load_audio(files[len(files) // 2], sr=sr).y[: 30 * sr]
    song, total = [], 0
    for f in files[:: max(1, len(files) // 12)]:
        y = load_audio(f, sr=sr).y
        if len(y) < 10 * sr:
            continue
        song.append(y)
        total += len(y)
        if total >= 180 * sr:
            break
    song = np.concatenate(song)[: 180 * sr]
    for label, y in (("30 s clip", clip), ("3-minute song", song)):
        path = folder / ("clip30.mp3" if label.startswith("30") else "song3min.mp3")
        sf.write(path, np.stack([y, y], axis=1), sr, format="MP3")
        out[label] = path
    return out


# --------------------------------------------------------------------------- inside the measured processes


def _naive_predict(run, path):
    """One run on its own: decode, every window, its own inputs; a vote recomputes its members."""
    import numpy as np

    from genre_core.audio import load_audio
    from genre_core.inputs import compute_track_input
    from genre_core.store import clear_memos
    from genre_core.voting import SoftVoter

    if run.is_voting:
        probs = [_naive_predict(m, path) for m, _ in run.members]
        voter = SoftVoter([m.id for m, _ in run.members], [m.labels for m, _ in run.members],
                          [w for _, w in run.members])
        return voter.combine([p[None, :] for p in probs])[0]
    spec = run.model.input_spec
    clear_memos()  # nothing shared between runs
    audio = load_audio(str(path), sr=spec.sr)
    ti = compute_track_input(audio.y, audio.sr, spec)
    return np.asarray(run.model.predict_proba(ti.X), dtype=np.float64).mean(axis=0)


def _child(mode: str, path: str, repeat: int) -> None:
    t0 = time.perf_counter()
    from genre_core.runs import load_run, load_runs

    result: dict = {}
    if mode == "naive-cold":
        probs = {ref: _naive_predict(load_run(ref), path).tolist() for ref in RUNS}  # each run loads its own
        result["probs"] = probs
    elif mode in ("naive-warm", "ours-warm"):
        from genre_core.predict import predict_many

        runs = load_runs(RUNS)
        if mode == "naive-warm":
            def call():
                return {r.id: _naive_predict(r, path).tolist() for r in runs}
        else:
            from genre_core.allocator import reuse_freed_memory
            from genre_core.store import clear_memos

            reuse_freed_memory()  # as the CLI and the app server set their processes up

            def call():
                clear_memos()  # every timed call computes its inputs afresh (as for new audio)
                return {p.run_id: p.proba.tolist() for p in predict_many(runs, path)}
        call()
        times, cpus = [], []
        for _ in range(repeat):
            c0, w0 = time.process_time(), time.perf_counter()
            result["probs"] = call()
            times.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
        result["wall_s"] = statistics.median(times)
        result["cpu_s"] = statistics.median(cpus)
        result["all_wall_s"] = [round(t, 3) for t in times]
    else:
        raise SystemExit(f"unknown mode {mode}")
    result["inside_s"] = time.perf_counter() - t0
    result["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("BENCH " + json.dumps(result))


# --------------------------------------------------------------------------- the parent


def _measure(cmd: list[str], env: dict) -> dict:
    """Run ``cmd`` in a fresh process (through a one-child wrapper, so its peak RSS is its own)."""
    wrapper = [sys.executable, str(Path(__file__).resolve()), "--_wrap", "--", *cmd]
    load_before = os.getloadavg()[0]
    proc = subprocess.run(wrapper, env=env, capture_output=True, text=True)
    load_after = os.getloadavg()[0]
    if proc.returncode != 0:
        raise SystemExit(f"benchmark_predict: {' '.join(cmd[:6])} ... failed:\n{proc.stderr[-3000:]}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("WRAP ")]
    out = json.loads(lines[-1][5:])
    out["load"] = (round(load_before, 2), round(load_after, 2))
    return out


def _wrap(cmd: list[str]) -> None:
    w0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - w0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(proc.returncode)
    inner = {}
    for ln in proc.stdout.splitlines():
        if ln.startswith("BENCH "):
            inner = json.loads(ln[6:])
    if not inner and proc.stdout.lstrip().startswith("{"):  # the CLI's --json
        doc = json.loads(proc.stdout)
        inner = {"probs": {p["run"]: list(p["probabilities"].values()) for p in doc["predictions"]},
                 "first_ready_s": min(p["timings"].get("ready_s", 1e9) for p in doc["predictions"])}
    print("WRAP " + json.dumps({"process_wall_s": wall, "process_cpu_s": ru.ru_utime + ru.ru_stime,
                                "process_maxrss_mb": ru.ru_maxrss / 1024, **inner}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gtzan", type=Path, default=None, help="GTZAN audio folder (genre sub-folders)")
    ap.add_argument("--repeat", type=int, default=3, help="timed warm calls (median reported)")
    ap.add_argument("--precision", default="float32", choices=["float32", "bfloat16"],
                    help="musicnn forward pass of *our* path (GENRE_MUSICNN_PRECISION); naive is always float32")
    ap.add_argument("--only", choices=["clip", "song"], help="one file only")
    args = ap.parse_args()
    from genre_core import config

    gtzan = args.gtzan or Path(os.environ.get("GENRE_GTZAN_DIR", "/work/shared/data/gtzan")) / "audio"
    if not gtzan.is_dir():
        gtzan = config.gtzan_dir() / "audio"
    tmp = Path(tempfile.mkdtemp(prefix="genre-bench-"))
    try:
        files = make_audio(gtzan, tmp)
        if args.only:
            files = {k: v for k, v in files.items() if k.startswith("30" if args.only == "clip" else "3")}
        py = sys.executable
        me = str(Path(__file__).resolve())
        rows = []
        for label, path in files.items():
            res = {}
            for key, cmd, precision in (
                ("naive-cold", [py, me, "--_child", "naive-cold", str(path)], "float32"),
                ("ours-cold", [py, "-m", "genre_core", "predict", *RUNS, str(path), "--json", "--no-segments", "-q"],
                 args.precision),
                ("naive-warm", [py, me, "--_child", "naive-warm", str(path), str(args.repeat)], "float32"),
                ("ours-warm", [py, me, "--_child", "ours-warm", str(path), str(args.repeat)], args.precision),
            ):
                cache = tmp / f"cache-{key}-{path.stem}"
                env = {**os.environ, "GENRE_CACHE_DIR": str(cache), "GENRE_MUSICNN_PRECISION": precision,
                       "PYTHONPATH": str(ROOT)}
                res[key] = _measure(cmd, env)
                shutil.rmtree(cache, ignore_errors=True)
                r = res[key]
                if key.endswith("cold"):
                    print(f"{label:14s} {key:10s} wall {r['process_wall_s']:6.2f} s  cpu {r['process_cpu_s']:6.2f} s  "
                          f"peak RSS {r['process_maxrss_mb']:6.0f} MB  load {r['load'][0]}->{r['load'][1]}"
                          + (f"  first verdict {r['first_ready_s']:.2f} s after predict started"
                             if "first_ready_s" in r else ""), flush=True)
                else:
                    print(f"{label:14s} {key:10s} wall {r['wall_s']:6.2f} s  cpu {r['cpu_s']:6.2f} s  "
                          f"peak RSS {r['maxrss_mb']:6.0f} MB  load {r['load'][0]}->{r['load'][1]}  "
                          f"(calls {r['all_wall_s']})", flush=True)
            diffs = []
            for ref in RUNS:
                a, b = res["naive-warm"]["probs"].get(ref), res["ours-warm"]["probs"].get(ref)
                if a and b and len(a) == len(b):
                    diffs.append(max(abs(x - y) for x, y in zip(a, b)))
            rows.append((label, res, max(diffs) if diffs else float("nan")))
        print()
        print(f"musicnn precision (ours): {args.precision}; machine: {os.cpu_count()} CPUs; "
              f"warm = median of {args.repeat} calls")
        print("| file | measure | naive | ours | naive / ours |")
        print("| --- | --- | --- | --- | --- |")
        for label, res, diff in rows:
            nc, oc, nw, ow = res["naive-cold"], res["ours-cold"], res["naive-warm"], res["ours-warm"]
            for what, a, b, unit in (
                ("cold wall", nc["process_wall_s"], oc["process_wall_s"], "s"),
                ("cold CPU", nc["process_cpu_s"], oc["process_cpu_s"], "s"),
                ("cold peak RSS", nc["process_maxrss_mb"], oc["process_maxrss_mb"], "MB"),
                ("warm wall", nw["wall_s"], ow["wall_s"], "s"),
                ("warm CPU", nw["cpu_s"], ow["cpu_s"], "s"),
            ):
                fmt = "{:.0f}" if unit == "MB" else "{:.2f}"
                print(f"| {label} | {what} | {fmt.format(a)} {unit} | {fmt.format(b)} {unit} | {a / b:.2f}x |")
            print(f"| {label} | largest track-probability difference naive vs ours | {diff:.2g} | | |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--_child":
        _child(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 3)
    elif len(sys.argv) > 1 and sys.argv[1] == "--_wrap":
        _wrap(sys.argv[3:])
    else:
        main()
