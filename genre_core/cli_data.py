"""Data commands of ``python -m genre_core``: ``scan``, ``features``, ``spectrograms``.

::

    python -m genre_core scan DATASET... [--json] [--strict]
    python -m genre_core features DATASET... --set gtzan57 --out FILE.csv [--segment S] [--hop S]
    python -m genre_core spectrograms DATASET... --out DIR [--segment 3] [--n-mels 128]

``DATASET`` is a folder with one sub-folder per genre (several are merged), a
feature-table ``.csv`` (``scan`` only), or ``synthetic``. Every command takes
``--no-cache`` (recompute, store nothing) and ``--jobs N``. Bad input prints one
line (``error: ...``) and exits with status 2 (see :mod:`genre_core.cli`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from .errors import DatasetError, GenreLabError
from .jsonio import write_text_atomic
from .progress import ProgressPrinter

__all__ = ["add_commands"]


def _common_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--no-cache", action="store_true",
                        help="do not read or write the feature cache (recompute everything)")
    common.add_argument("--jobs", "-j", type=int, default=-1, metavar="N",
                        help="parallel workers (default: all cores; 1 = no parallelism)")
    common.add_argument("--quiet", "-q", action="store_true", help="no progress output on stderr")
    return common


def add_commands(subparsers) -> None:
    """Register ``scan``, ``features`` and ``spectrograms`` on ``subparsers``."""
    from . import engine

    common = _common_parser()
    ds_help = ("dataset: a folder with one sub-folder per genre (give several to merge them), "
               "a feature-table .csv, or 'synthetic'")

    p = subparsers.add_parser(
        "scan", parents=[common], help="count tracks per genre, durations, unreadable files, duplicates",
        description="Scan a dataset: tracks and minutes per genre, unreadable files (with the reason) "
                    "and exact-duplicate audio. Nothing is modified.")
    p.add_argument("dataset", nargs="+", metavar="DATASET", help=ds_help)
    p.add_argument("--json", action="store_true", help="print a JSON report instead of a table")
    p.add_argument("--strict", action="store_true",
                   help="exit with status 1 when unreadable files or duplicates are found")
    p.add_argument("--no-check", action="store_true",
                   help="only list files (no header reads, decode checks or duplicate search)")
    p.set_defaults(func=cmd_scan)

    p = subparsers.add_parser(
        "features", parents=[common], help="extract a feature table (CSV) from audio",
        description="Compute a named feature set for every track of an audio dataset and write a CSV "
                    "with columns filename, label, start, end, then the features. By default one row "
                    "per track, computed over the whole clip (like the public GTZAN table); "
                    "--segment 3 gives one row per 3-second window.")
    p.add_argument("dataset", nargs="+", metavar="DATASET", help=ds_help)
    p.add_argument("--set", dest="feature_set", default="gtzan57", metavar="NAME",
                   help="feature set (default gtzan57; others: mfcc_stats, edm, ...)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="feature-set parameter, e.g. --param n_mfcc=13 (repeatable)")
    p.add_argument("--out", required=True, metavar="FILE.csv", help="CSV file to write")
    p.add_argument("--segment", type=float, default=None, metavar="SECONDS",
                   help="window length; one row per window (default: one row per whole track)")
    p.add_argument("--hop", type=float, default=None, metavar="SECONDS",
                   help="seconds between windows (default: the window length); needs --segment")
    engine.add_cli_option(p)
    p.set_defaults(func=cmd_features)

    p = subparsers.add_parser(
        "spectrograms", parents=[common], help="write log-mel spectrogram windows (.npz per track)",
        description="Compute normalised log-mel spectrograms of fixed windows for every track and write "
                    "DIR/<genre>/<name>.npz (arrays X (windows, n_mels, frames), starts, ends) plus "
                    "DIR/index.csv and DIR/spec.json.")
    p.add_argument("dataset", nargs="+", metavar="DATASET", help=ds_help)
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    p.add_argument("--segment", type=float, default=3.0, metavar="SECONDS", help="window length (default 3)")
    p.add_argument("--hop", type=float, default=None, metavar="SECONDS",
                   help="seconds between windows (default: the window length)")
    p.add_argument("--n-mels", type=int, default=128, help="mel bands (default 128)")
    p.add_argument("--n-fft", type=int, default=2048, help="FFT size (default 2048)")
    p.add_argument("--hop-length", type=int, default=512, help="STFT hop in samples (default 512)")
    engine.add_cli_option(p)
    p.set_defaults(func=cmd_spectrograms)


# --------------------------------------------------------------------- helpers


def _open(args, **kw):
    from .dataset import open_dataset

    return open_dataset(args.dataset if len(args.dataset) > 1 else args.dataset[0],
                        n_jobs=args.jobs, progress=ProgressPrinter(args.quiet, tty_only=True), **kw)


def _audio_dataset(args):
    ds = _open(args)
    if not ds.has_audio:
        raise DatasetError(f"{ds.name} is a feature table: it has no audio to compute from.")
    return ds


def _parse_params(items: list[str]) -> dict:
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise GenreLabError(f"--param needs KEY=VALUE, not {item!r}.")
        try:
            params[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            params[key.strip()] = value
    return params


def _check_seconds(value: float | None, flag: str) -> None:
    if value is not None and not (value > 0):
        raise GenreLabError(f"{flag} must be a positive number of seconds, not {value}.")


def _report_failures(failures: list[tuple[str, str]], quiet: bool) -> None:
    if failures and not quiet:
        print(f"skipped {len(failures)} track(s) that could not be used:", file=sys.stderr)
        for tid, reason in failures[:20]:
            print(f"  {tid}: {reason}", file=sys.stderr)
        if len(failures) > 20:
            print(f"  ... and {len(failures) - 20} more", file=sys.stderr)


# --------------------------------------------------------------------- commands


def cmd_scan(args) -> int:
    """``scan``: print what a dataset holds."""
    ds = _open(args, check_audio=not args.no_check)
    summary = ds.summary()
    if args.json:
        report = ds.to_dict()
        report["summary"] = {
            genre: {k: (None if v != v else v) for k, v in row.items()}  # NaN -> null
            for genre, row in summary.to_dict(orient="index").items()
        }
        report["unreadable"] = [{"path": p, "reason": r} for p, r in ds.unreadable]
        report["duplicates"] = ds.duplicates
        report["details"] = {k: v for k, v in ds.details.items() if k != "synthetic"}
        print(json.dumps(report, indent=2, default=str))
    else:
        import pandas as pd

        minutes = summary["minutes"].sum()
        hours = f", {minutes / 60:.1f} h" if minutes == minutes and minutes > 0 else ""
        print(f"{ds.name}: {ds.kind}, {len(ds.tracks)} tracks, {len(ds.labels)} genres{hours}")
        with pd.option_context("display.max_rows", 500, "display.width", 120):
            print(summary.to_string())
        if ds.has_audio:
            print(f"unreadable files: {len(ds.unreadable)}")
            for path, reason in ds.unreadable:
                print(f"  {path}: {reason}")
            print(f"exact duplicates: {len(ds.duplicates)} group(s)")
            for grp in ds.duplicates:
                print("  " + " = ".join(grp))
            if ds.details.get("n_ignored"):
                print(f"ignored non-audio files: {ds.details['n_ignored']}")
        print(f"fingerprint: {ds.fingerprint}")
    if args.strict and (ds.unreadable or ds.duplicates):
        return 1
    return 0


def cmd_features(args) -> int:
    """``features``: write a feature CSV computed from audio."""
    import numpy as np
    import pandas as pd

    from .features import get_feature_set
    from .inputs import InputSpec

    _check_seconds(args.segment, "--segment")
    _check_seconds(args.hop, "--hop")
    if args.hop is not None and args.segment is None:
        raise GenreLabError("--hop needs --segment (whole-track features have no windows).")
    out = Path(args.out)
    if out.exists() and out.is_dir():
        raise GenreLabError(f"--out {out} is a folder; give a .csv file name.")
    params = _parse_params(args.param)
    fs = get_feature_set(args.feature_set, **params)
    spec = InputSpec("features", args.feature_set, fs.params, window=args.segment, hop=args.hop)
    t0 = time.monotonic()
    ds, inputs, failures = _dataset_inputs(args, spec)
    frames = []
    for track, ti in inputs:
        n = len(ti)
        meta = pd.DataFrame({"filename": [track.path.name] * n, "label": [track.label] * n,
                             "start": np.round(ti.starts, 4), "end": np.round(ti.ends, 4)})
        frames.append(pd.concat([meta, pd.DataFrame(ti.X, columns=fs.columns)], axis=1))
    table = pd.concat(frames, ignore_index=True)
    write_text_atomic(out, table.to_csv(index=False))
    print(f"wrote {len(table)} rows x {len(fs.columns)} {fs.name} features ({len(inputs)} tracks, "
          f"{len(failures)} skipped) to {out} in {time.monotonic() - t0:.1f} s")
    return 0


def _dataset_inputs(args, spec):
    """``(dataset, [(track, its input)...], failures)`` of the command's audio dataset for ``spec``; failures
    reported."""
    from .extraction import compute_dataset_inputs

    ds = _audio_dataset(args)
    inputs, failures = compute_dataset_inputs(ds.tracks, spec, n_jobs=args.jobs, use_cache=not args.no_cache,
                                              progress=ProgressPrinter(args.quiet, tty_only=True))
    _report_failures(failures, args.quiet)
    if not inputs:
        raise DatasetError(f"No track of {ds.name} could be used; nothing written.")
    by_id = ds.by_id()
    return ds, [(by_id[tid], ti) for tid, ti in inputs.items()], failures


def cmd_spectrograms(args) -> int:
    """``spectrograms``: write log-mel windows per track plus an index."""
    import numpy as np
    import pandas as pd

    from .inputs import InputSpec

    _check_seconds(args.segment, "--segment")
    _check_seconds(args.hop, "--hop")
    for flag, value in (("--n-mels", args.n_mels), ("--n-fft", args.n_fft), ("--hop-length", args.hop_length)):
        if value < 1:
            raise GenreLabError(f"{flag} must be a positive integer, not {value}.")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise GenreLabError(f"--out {out} exists and is not a folder.")
    spec = InputSpec("logmel", None, {"n_mels": args.n_mels, "n_fft": args.n_fft, "hop_length": args.hop_length},
                     window=args.segment, hop=args.hop)
    t0 = time.monotonic()
    ds, inputs, failures = _dataset_inputs(args, spec)
    rows = []
    for track, ti in inputs:
        tid = track.track_id
        rel = Path(f"{tid}.npz")  # <genre>/<stem>.npz
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".npz.tmp", dir=dest.parent)
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, X=ti.X, starts=ti.starts, ends=ti.ends, track_id=np.array(tid),
                     label=np.array(track.label), sr=np.array(spec.sr))
        os.replace(tmp, dest)
        rows.append({"track_id": tid, "label": track.label, "filename": track.path.name,
                     "npz": rel.as_posix(), "n_segments": len(ti), "n_mels": int(ti.X.shape[1]),
                     "n_frames": int(ti.X.shape[2])})
    write_text_atomic(out / "index.csv", pd.DataFrame(rows).to_csv(index=False))
    write_text_atomic(out / "spec.json", json.dumps({"input": spec.to_dict(), "dataset": ds.to_dict(),
                                                      "skipped": [list(f) for f in failures]}, indent=2))
    n_windows = sum(r["n_segments"] for r in rows)
    print(f"wrote {len(rows)} tracks ({n_windows} windows of {rows[0]['n_mels']}x{rows[0]['n_frames']}, "
          f"{len(failures)} skipped) to {out} in {time.monotonic() - t0:.1f} s")
    return 0
