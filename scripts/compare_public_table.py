#!/usr/bin/env python
"""Compare genre-lab's ``gtzan57`` features with the public GTZAN feature table.

For every track under ``<gtzan_dir>/audio/<genre>/`` (the development copy:
lossy .ogg re-encodes of GTZAN) this computes ``gtzan57`` over the whole clip
and compares it with the row of ``data/features_30_sec.csv`` that has the same
track id (table ``blues.00000.wav`` <-> audio ``blues/blues.00000.ogg``).

Printed per column: the median and 90th-percentile relative difference
``|ours - table| / |table|``, the share of tracks within 5%, and the median
difference in units of the column's spread across the table (``|ours -
table| / std(table column)``), which is the fair scale for columns whose values
sit near zero (``harmony_mean``, ``perceptr_mean``, high MFCC means) and for
which a relative difference means little. Columns whose median relative
difference exceeds ``--flag`` (3%) are listed with the likely cause.

Usage::

    .venv/bin/python scripts/compare_public_table.py                 # all tracks
    .venv/bin/python scripts/compare_public_table.py --limit 40 --out /tmp/ours.csv
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

#: Why a column can disagree with the table although the recipe is the same.
LIKELY_CAUSE = {
    "harmony_mean": "mean of a ~zero-mean waveform (|mean| ~1e-5 of a 0.1-std signal): any change to the "
                    "audio (re-encode, decoder) moves it by more than its own size; compare on the std scale",
    "perceptr_mean": "same as harmony_mean",
    "tempo": "arg-max over tempogram lags: small changes in the onset envelope can pick a neighbouring lag "
             "or the double/half tempo (differences are whole lag steps)",
    "zero_crossing_rate_mean": "lossy re-encode: the codec's low-pass and quantisation noise change sign changes",
    "zero_crossing_rate_var": "lossy re-encode (see zero_crossing_rate_mean)",
    "rolloff_var": "lossy re-encode removes/adds high-frequency energy near the 85% roll-off point",
    "spectral_bandwidth_var": "lossy re-encode (high-frequency content)",
    "spectral_centroid_var": "lossy re-encode (high-frequency content)",
}


def _table_id(filename: str) -> str:
    stem = filename.rsplit(".", 1)[0]          # blues.00000
    return f"{stem.split('.', 1)[0]}/{stem}"


def main() -> None:
    from genre_core.audio import load_audio
    from genre_core.config import default_feature_table, gtzan_dir
    from genre_core.features import get_feature_set

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--audio", type=Path, default=gtzan_dir() / "audio")
    p.add_argument("--table", type=Path, default=default_feature_table())
    p.add_argument("--limit", type=int, default=None, help="only the first N tracks (sorted)")
    p.add_argument("--flag", type=float, default=0.03, help="flag columns above this median relative difference")
    p.add_argument("--out", type=Path, default=None, help="write our features (one row per track) to this CSV")
    args = p.parse_args()

    table = pd.read_csv(args.table)
    table.index = [_table_id(f) for f in table["filename"]]
    fs = get_feature_set("gtzan57")
    cols = fs.columns

    files = sorted(f for f in args.audio.glob("*/*") if f.is_file())
    if args.limit:
        files = files[: args.limit]
    ours, ids, lengths, missing = [], [], [], []
    t0 = time.perf_counter()
    for f in files:
        tid = f"{f.parent.name}/{f.stem}"
        if tid not in table.index:
            missing.append(tid)
            continue
        a = load_audio(f, sr=22050, max_duration=None)
        ours.append(fs.compute(a.y, a.sr))
        ids.append(tid)
        lengths.append(len(a.y))
    elapsed = time.perf_counter() - t0
    if not ids:
        raise SystemExit(f"No track of {args.audio} is in {args.table}.")
    ours = pd.DataFrame(np.asarray(ours, dtype=np.float64), index=ids, columns=cols)
    ref = table.loc[ids, cols].astype(np.float64)
    if args.out:
        ours.assign(length=lengths).to_csv(args.out, index_label="track_id")

    n = len(ids)
    print(f"{n} tracks compared ({len(missing)} not in the table) in {elapsed:.0f} s "
          f"({elapsed / n:.2f} s per 30 s track incl. decoding)")
    len_diff = np.asarray(lengths) - table.loc[ids, "length"].to_numpy()
    print(f"decoded length - table length (samples): median {np.median(len_diff):.0f}, "
          f"min {len_diff.min()}, max {len_diff.max()}")

    rel = (ours - ref).abs() / ref.abs().clip(lower=1e-30)
    spread = (ours - ref).abs() / table[cols].astype(np.float64).std()
    summary = pd.DataFrame({
        "median_rel": rel.median(),
        "p90_rel": rel.quantile(0.9),
        "within_5pct": (rel <= 0.05).mean(),
        "median_diff_in_std": spread.median(),
    })
    pd.set_option("display.width", 140)
    print("\nper column (ours vs public table):")
    print(summary.to_string(float_format=lambda v: f"{v:.4f}"))
    # tempo is 60 * sr / hop / lag for an integer tempogram lag: compare lags
    lag_ours = np.rint(60 * 22050 / 512 / ours["tempo"].to_numpy())
    lag_table = np.rint(60 * 22050 / 512 / ref["tempo"].to_numpy())
    ratio = (ours["tempo"] / ref["tempo"]).to_numpy()
    octave = float(np.mean(np.isclose(ratio, 2, rtol=0.03) | np.isclose(ratio, 0.5, rtol=0.03)))
    print(f"\ntempo: same tempogram lag on {np.mean(lag_ours == lag_table):.1%} of tracks, "
          f"within one lag on {np.mean(np.abs(lag_ours - lag_table) <= 1):.1%}; double/half tempo on {octave:.1%}")
    flagged = summary.index[summary["median_rel"] > args.flag].tolist()
    print(f"\ncolumns with median relative difference > {args.flag:.0%}:")
    for c in flagged or []:
        print(f"  {c}: {summary.loc[c, 'median_rel']:.1%} - "
              f"{LIKELY_CAUSE.get(c, 'value near zero (relative difference ill-conditioned) or lossy re-encode')}")
    if not flagged:
        print("  none")


if __name__ == "__main__":
    main()
