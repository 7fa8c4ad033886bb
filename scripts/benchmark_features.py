#!/usr/bin/env python
"""Benchmark genre-lab's feature sets and log-mel spectrograms against plain librosa.

Runs the plain-librosa reference (``tests/reference_features.py``, the suite's oracle) and the
fast feature set on the same files in the same process, pinned to one core
(BLAS/OpenMP/numba threads = ``--threads``), and prints

* per-clip times of both (CPU time of the process, which is what one core
  costs on a shared machine, and wall time) and their ratio;
* the maximum relative difference per column over all clips (the documented
  exceptions ``harmony_mean`` / ``perceptr_mean`` are also shown relative to
  their waveform's standard deviation);
* log-mel spectrogram throughput in x real time: 3 s windows of every clip via
  :func:`genre_core.spectrogram.log_melspectrogram_batch` versus a loop of plain
  ``librosa.feature.melspectrogram`` + ``power_to_db``.

Decoding is not timed. Both code paths are warmed up first (numba compilation
and caches), and the cost of a cold start (import + first call in a fresh
process) is reported separately with ``--cold``.

Usage::

    .venv/bin/python scripts/benchmark_features.py --n 10 --set gtzan57 --threads 1
    .venv/bin/python scripts/benchmark_features.py --set all --n 4 --cold
    .venv/bin/python scripts/benchmark_features.py --files a.wav b.ogg
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _pin_threads(n: int) -> None:
    """Must run before numpy/numba are imported."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(n)


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=10, help="number of GTZAN clips (spread over genres)")
    p.add_argument("--set", default="gtzan57", help="gtzan57, mfcc_stats, edm or all")
    p.add_argument("--threads", type=int, default=1, help="threads for BLAS/numba (1 = one core)")
    p.add_argument("--files", nargs="*", type=Path, help="explicit audio files instead of GTZAN")
    p.add_argument("--duration", type=float, default=None, help="seconds per clip (default: whole clip)")
    p.add_argument("--no-mel", action="store_true", help="skip the spectrogram throughput part")
    p.add_argument("--cold", action="store_true", help="also time import + first call in a fresh process")
    return p.parse_args()


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None:
    _pin_threads(ARGS.threads)

import time  # noqa: E402

import numpy as np  # noqa: E402


def pick_files(n: int) -> list[Path]:
    """``n`` GTZAN clips, round-robin over genre folders (deterministic)."""
    from genre_core.config import gtzan_dir

    root = gtzan_dir() / "audio"
    if not root.is_dir():
        raise SystemExit(f"No GTZAN audio at {root} (set GENRE_GTZAN_DIR or pass --files).")
    per_genre = [sorted(p for p in d.iterdir() if p.is_file()) for d in sorted(root.iterdir()) if d.is_dir()]
    out: list[Path] = []
    i = 0
    while len(out) < n and any(i < len(g) for g in per_genre):
        out += [g[i] for g in per_genre if i < len(g)]
        i += 1
    return out[:n]


def load(path: Path, duration: float | None) -> np.ndarray:
    from genre_core.audio import load_audio

    a = load_audio(path, sr=22050, max_duration=duration)
    return a.y


def timed(fn, *args, **kwargs):
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.process_time() - c0, time.perf_counter() - w0


def bench_set(name: str, clips: list[tuple[str, np.ndarray]], sr: int = 22050) -> None:
    from genre_core.features import get_feature_set
    reference_features = _load_reference()

    fs = get_feature_set(name)
    warm = clips[0][1][: 3 * sr]
    fs.compute(warm, sr)
    reference_features(name, warm, sr)

    cols = fs.columns
    max_rel = np.zeros(len(cols))
    worst_clip = [""] * len(cols)
    scale_rel = {}
    rows = []
    print(f"\n=== {name} ({len(cols)} columns), {len(clips)} clips, threads={os.environ.get('OMP_NUM_THREADS')}")
    print(f"{'clip':<28}{'sec':>6}{'ref cpu':>10}{'fast cpu':>10}{'ratio':>8}{'ref wall':>10}{'fast wall':>10}")
    for label, y in clips:
        ref, rc, rw = timed(reference_features, name, y, sr)
        fast, fc, fw = timed(fs.compute, y, sr)
        fast = fast.astype(np.float64)
        rel = np.abs(fast - ref) / np.maximum(np.abs(ref), 1e-30)
        upd = rel > max_rel
        max_rel[upd] = rel[upd]
        for i in np.flatnonzero(upd):
            worst_clip[i] = label
        if name == "gtzan57":
            for col, var_col in (("harmony_mean", "harmony_var"), ("perceptr_mean", "perceptr_var")):
                i, j = cols.index(col), cols.index(var_col)
                s = abs(fast[i] - ref[i]) / np.sqrt(ref[j]) if ref[j] > 0 else 0.0
                scale_rel[col] = max(scale_rel.get(col, 0.0), s)
        rows.append((rc, fc, rw, fw, len(y) / sr))
        print(f"{label:<28}{len(y) / sr:>6.1f}{rc:>10.3f}{fc:>10.3f}{rc / fc:>8.1f}{rw:>10.3f}{fw:>10.3f}")
    r = np.array(rows)
    print(f"{'median':<28}{np.median(r[:, 4]):>6.1f}{np.median(r[:, 0]):>10.3f}{np.median(r[:, 1]):>10.3f}"
          f"{np.median(r[:, 0] / r[:, 1]):>8.1f}{np.median(r[:, 2]):>10.3f}{np.median(r[:, 3]):>10.3f}")
    print(f"total: reference {r[:, 0].sum():.2f} s cpu, fast {r[:, 1].sum():.2f} s cpu -> "
          f"{r[:, 0].sum() / r[:, 1].sum():.1f}x; fast = {r[:, 4].sum() / r[:, 1].sum():.0f}x real time")
    print("\nmax relative difference per column (fast vs plain librosa), worst clip:")
    order = np.argsort(max_rel)[::-1]
    for i in order:
        print(f"  {cols[i]:<26}{max_rel[i]:.2e}  {worst_clip[i]}")
    for col, s in scale_rel.items():
        print(f"  {col:<26}{s:.2e}  (|difference| / waveform std; documented tolerance 1e-6)")
    over = [cols[i] for i in range(len(cols)) if max_rel[i] > 1e-4 and cols[i] not in scale_rel]
    print("columns over 1e-4 relative (outside the documented exceptions):", over or "none")


def bench_mel(clips: list[tuple[str, np.ndarray]], sr: int = 22050) -> None:
    import librosa

    from genre_core.spectrogram import log_melspectrogram_batch

    win = 3 * sr
    windows = np.concatenate([y[: len(y) // win * win].reshape(-1, win) for _, y in clips if len(y) >= win])
    seconds = windows.shape[0] * 3.0
    log_melspectrogram_batch(windows[:2], sr)
    librosa.power_to_db(librosa.feature.melspectrogram(y=windows[0], sr=sr), top_db=None)

    def plain():
        return [librosa.power_to_db(librosa.feature.melspectrogram(y=w, sr=sr), top_db=None) for w in windows]

    _, pc, pw = timed(plain)
    _, fc, fw = timed(log_melspectrogram_batch, windows, sr)
    print(f"\n=== log-mel spectrograms: {windows.shape[0]} windows of 3 s ({seconds:.0f} s of audio), 128 x 130")
    print(f"  plain librosa loop : {pc:.3f} s cpu ({seconds / pc:.0f}x real time), wall {pw:.3f} s")
    print(f"  log_melspectrogram_batch: {fc:.3f} s cpu ({seconds / fc:.0f}x real time), wall {fw:.3f} s"
          f" -> {pc / fc:.1f}x faster")


def cold_start(name: str, threads: int) -> None:
    import subprocess

    code = ("import time;t=time.perf_counter();import numpy as np;"
            "from genre_core.features import get_feature_set;fs=get_feature_set(%r);"
            "t1=time.perf_counter();fs.compute(np.random.default_rng(0).standard_normal(66150)"
            ".astype(np.float32)*0.1,22050);t2=time.perf_counter();"
            "print(f'import {t1-t:.2f} s, first 3 s window {t2-t1:.2f} s')") % name
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    print(f"\ncold start ({name}, fresh process, numba cache warm on disk): {out.stdout.strip() or out.stderr[-500:]}")


def _load_reference():
    """The test suite's plain-librosa oracle (tests/reference_features.py), loaded by file path."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "tests" / "reference_features.py"
    spec = importlib.util.spec_from_file_location("reference_features", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.reference_features


def main(args: argparse.Namespace) -> None:
    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    files = args.files or pick_files(args.n)
    clips = []
    for f in files:
        y = load(Path(f), args.duration)
        label = f"{Path(f).parent.name}/{Path(f).stem}" if not args.files else Path(f).name
        clips.append((label[:27], y))
    names = ["gtzan57", "mfcc_stats", "edm"] if args.set == "all" else [args.set]
    with threadpool_limits(limits=args.threads):
        for name in names:
            bench_set(name, clips)
        if not args.no_mel:
            bench_mel(clips)
    if args.cold:
        for name in names:
            cold_start(name, args.threads)


if __name__ == "__main__":
    main(ARGS)
