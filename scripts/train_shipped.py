"""Train the runs shipped in ``models/shipped/`` on the real GTZAN audio (not a test).

Every run uses the same honest protocol, recorded in its run.json: GTZAN's
fault-filtered lists, development variant (:func:`genre_core.splits.gtzan_dev_split`):
the filtered *valid* tracks present in ``../shared/data/gtzan`` (full tracks
and 2-3 s excerpts) are the held-out test side; early stopping uses a
stratified 15 % of the filtered *train* tracks; nothing is tuned on the test side.

Usage::

    .venv/bin/python scripts/train_shipped.py                 # all runs
    .venv/bin/python scripts/train_shipped.py --only linear-musicnn mlp-gtzan57
    .venv/bin/python scripts/train_shipped.py --out-root user  # write to models/user instead

Prints one line per run with its validation figures and wall time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genre_core import config  # noqa: E402
from genre_core.augment import AugmentConfig  # noqa: E402
from genre_core.dataset import open_dataset  # noqa: E402
from genre_core.inputs import InputSpec  # noqa: E402
from genre_core.splits import gtzan_dev_split  # noqa: E402
from genre_core.training import train, train_voting  # noqa: E402

SEED = 0

#: name -> (backend, params, input spec or None for the default, augmented copies per training track)
RECIPES = {
    "linear-musicnn": ("linear", {"C": 0.1}, InputSpec("features", "musicnn", {}, 3.0, 1.5), 0),
    "mlp-gtzan57": ("mlp", {}, InputSpec("features", "gtzan57", {}, 3.0, 3.0), 0),
    "xgb-mfcc": ("xgb", {}, InputSpec("features", "mfcc_stats", {}, 3.0, 3.0), 0),
    "cnn-logmel": ("cnn", {"epochs": 12, "freq_mask": 12, "time_mask": 16}, InputSpec("logmel", None, {}, 3.0, 3.0), 0),
}
#: Soft-voting ensemble over the runs above. Weights fixed a priori (not tuned on any evaluated track): the
#: pretrained-embedding head counts as much as the three from-scratch models together.
ENSEMBLE = ("ensemble-vote", ["linear-musicnn", "mlp-gtzan57", "xgb-mfcc", "cnn-logmel"], [0.5, 1 / 6, 1 / 6, 1 / 6])


def _line(run, seconds: float) -> str:
    m = run.metrics
    ci = m.get("track_accuracy_ci") or [None, None]
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    return (f"{run.id:32s} {m.get('evaluated_on')}: track acc {fmt(m.get('track_accuracy'))} "
            f"[{fmt(ci[0])}, {fmt(ci[1])}]  balanced {fmt(m.get('balanced_accuracy'))}  "
            f"segment {fmt(m.get('segment_accuracy'))}  macro-F1 {fmt(m.get('macro_f1'))}  "
            f"n={m.get('n_tracks')}  ({seconds:.0f} s)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", help="train only these recipes (names above, or the ensemble name)")
    ap.add_argument("--out-root", default="shipped", choices=["shipped", "user"])
    ap.add_argument("--jobs", type=int, default=-1)
    args = ap.parse_args(argv)
    gtzan = config.gtzan_dir()
    if not (gtzan / "audio").is_dir():
        print(f"GTZAN audio not found at {gtzan}/audio; set GENRE_GTZAN_DIR.", file=sys.stderr)
        return 2
    ds = open_dataset([gtzan / "audio", gtzan / "excerpts"])
    split = gtzan_dev_split(ds, valid_size=0.15, seed=SEED)
    print(f"dataset {ds.name}: {len(ds.tracks)} tracks; split {split.protocol}: "
          f"{len(split.train)} train / {len(split.valid)} valid / {len(split.test)} test")
    wanted = set(args.only or [*RECIPES, ENSEMBLE[0]])
    info = {"trained_by": "scripts/train_shipped.py",
            "protocol_note": split.details.get("note")}
    for name, (backend, params, spec, n_aug) in RECIPES.items():
        if name not in wanted:
            continue
        t0 = time.perf_counter()
        run = train(ds, backend, params, input_spec=spec, split=split, seed=SEED,
                    augment=AugmentConfig() if n_aug else None, n_augment=n_aug,
                    out=f"{args.out_root}/{name}", overwrite=True, n_jobs=args.jobs, info=info)
        print(_line(run, time.perf_counter() - t0), flush=True)
    if ENSEMBLE[0] in wanted:
        t0 = time.perf_counter()
        run = train_voting([f"{args.out_root}/{m}" for m in ENSEMBLE[1]], ENSEMBLE[2],
                           out=f"{args.out_root}/{ENSEMBLE[0]}", overwrite=True, info=info)
        print(_line(run, time.perf_counter() - t0), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
