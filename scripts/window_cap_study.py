"""Study (not a test): how the prediction policy's window cap changes the verdicts on long songs.

Usage::

    .venv/bin/python scripts/window_cap_study.py [--songs 400] [--tracks 6] [--caps 40 32 30 24 20]

GTZAN gives 30 s tracks only, so a long song is simulated from the shipped runs'
**out-of-fold** window predictions (``predictions_segments.csv``: every window
predicted by a fold model that never saw the track's artist): the windows of
``--tracks`` full tracks of one genre, end to end (six 30 s tracks: a 3-minute
song of 120 windows every 1.5 s). A window's prediction depends on that window
only, so a cap is applied exactly as :func:`genre_core.predict.predict_many`
does: the rows :func:`genre_core.inputs.analysed_windows` picks, averaged.
Printed per run: the song accuracy with every window, and for each cap the
share of songs whose label equals every window's label and the song accuracy.
Songs drawn with a fixed seed; the same songs for every cap.
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from genre_core import config
from genre_core.inputs import analysed_windows
from genre_core.runs import load_run


def _track_windows(path: Path) -> dict[str, tuple[str, np.ndarray]]:
    """track id -> (genre, window probabilities in time order) from a run's predictions_segments.csv."""
    rows: dict[str, list] = defaultdict(list)
    genre: dict[str, str] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        pcols = [c for c in reader.fieldnames or [] if c.startswith("p_")]
        for r in reader:
            rows[r["track_id"]].append((float(r["start"]), [float(r[c]) for c in pcols]))
            genre[r["track_id"]] = r["true"]
    labels = [c[2:] for c in pcols]
    out = {t: (genre[t], np.asarray([p for _, p in sorted(w)])) for t, w in rows.items()}
    return {"__labels__": labels, **out}


def study(run_ref: str, *, songs: int, tracks: int, caps: list[int], seed: int = 0) -> dict:
    run = load_run(run_ref, load_model=False)
    folder = Path(run.path)
    data = _track_windows(folder / "predictions_segments.csv")
    labels = data.pop("__labels__")
    spec = run.input_spec
    full_len = max(len(p) for _, p in data.values())
    by_genre: dict[str, list[str]] = defaultdict(list)
    for t, (g, p) in data.items():
        if len(p) == full_len:  # full 30 s tracks only (the excerpts are 2-3 s)
            by_genre[g].append(t)
    rng = np.random.default_rng(seed)
    hits_all, agree, hits = [], {c: [] for c in caps}, {c: [] for c in caps}
    genres = sorted(by_genre)
    for _ in range(songs):
        g = genres[rng.integers(len(genres))]
        pick = rng.choice(by_genre[g], size=tracks, replace=len(by_genre[g]) < tracks)
        P = np.concatenate([data[t][1] for t in pick])
        every = int(P.mean(axis=0).argmax())
        hits_all.append(labels[every] == g)
        for c in caps:
            lab = int(P[analysed_windows(len(P), spec, c)].mean(axis=0).argmax())
            agree[c].append(lab == every)
            hits[c].append(labels[lab] == g)
    return {"run": run.id, "windows": len(P), "acc_every": float(np.mean(hits_all)),
            "caps": {c: (float(np.mean(agree[c])), float(np.mean(hits[c]))) for c in caps}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--songs", type=int, default=400)
    ap.add_argument("--tracks", type=int, default=6, help="30 s tracks per simulated song")
    ap.add_argument("--caps", type=int, nargs="+", default=[40, 32, 30, 24, 20])
    args = ap.parse_args()
    root = config.shipped_runs_dir()
    refs = sorted(f"shipped/{p.name}" for p in root.iterdir() if (p / "predictions_segments.csv").is_file())
    print(f"{args.songs} simulated songs of {args.tracks} out-of-fold GTZAN tracks each, per run; "
          "per cap: label same as every window's / song accuracy")
    print("| run | windows | accuracy, every window | " + " | ".join(f"{c} windows" for c in args.caps) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in args.caps) + " |")
    for ref in refs:
        r = study(ref, songs=args.songs, tracks=args.tracks, caps=args.caps)
        cells = " | ".join(f"{a:.3f} / {h:.3f}" for a, h in r["caps"].values())
        print(f"| `{r['run']}` | {r['windows']} | {r['acc_every']:.3f} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
