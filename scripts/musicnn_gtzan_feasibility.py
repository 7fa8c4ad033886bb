"""Feasibility check: how far does a linear head on musicnn embeddings get on GTZAN?

Not a shipped model (training heads is the backends' job): a quick, honest
number to choose the default musicnn variant. Steps:

1. every track of the shared GTZAN audio (30 s) and excerpts is decoded at
   22050 Hz with :func:`genre_core.audio.load_audio`, cut into 3 s windows with
   :func:`genre_core.segment.segment` (the pipeline's defaults), and each window
   goes through both musicnn models once, keeping all four outputs
   (cached in ``--work`` as ``.npz``);
2. for each model and output, a ``StandardScaler`` + ``LogisticRegression``
   (C fixed at 1.0 unless ``--C`` is given: nothing is tuned on the validation
   tracks) is fitted on the windows of the tracks in ``train_filtered.txt``;
3. on the tracks of ``valid_filtered.txt`` (artist-disjoint from train) the
   window probabilities are averaged per track; track accuracy and balanced
   accuracy are printed.

Usage::

    .venv/bin/python scripts/musicnn_gtzan_feasibility.py [--work /tmp/musicnn_gtzan] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent

from genre_core.config import gtzan_dir  # noqa: E402
from genre_core.features import musicnn as m  # noqa: E402

OUTPUTS = ("penultimate", "taggram", "mean_pool", "max_pool")


def _track_files(root: Path) -> dict[str, Path]:
    files = {}
    for sub in ("audio", "excerpts"):
        for p in sorted((root / sub).glob("*/*")):
            if p.suffix.lower() in (".ogg", ".flac", ".wav"):
                files[f"{p.parent.name}/{p.stem}"] = p
    return files


def _split_ids(root: Path, side: str) -> set[str]:
    lines = (root / "splits" / f"{side}_filtered.txt").read_text().split()
    return {line.rsplit(".", 1)[0] for line in lines}


def extract(files: dict[str, Path], work: Path, models=m.MODELS) -> dict[str, dict[str, np.ndarray]]:
    """All outputs of every window of every track, per model (cached in ``work``)."""
    from genre_core.audio import load_audio
    from genre_core.segment import SegmentSpec, segment

    work.mkdir(parents=True, exist_ok=True)
    cache = {model: work / f"{model}.npz" for model in models}
    if all(p.exists() for p in cache.values()):
        out = {}
        for model, p in cache.items():
            with np.load(p, allow_pickle=False) as npz:
                out[model] = {k: npz[k] for k in npz.files}
        if set(out[models[0]]["track_ids"]) == set(files):
            return out
    per = {model: {k: [] for k in OUTPUTS} for model in models}
    ids: list[str] = []
    t0 = time.time()
    cpu = 0.0
    for i, (tid, path) in enumerate(files.items()):
        audio = load_audio(path, sr=22050)
        segs = segment(audio.y, audio.sr, SegmentSpec())
        c0 = time.process_time()
        for model in models:
            res = m.musicnn_window_outputs(segs.audio, audio.sr, model=model, outputs=OUTPUTS)
            for k in OUTPUTS:
                per[model][k].append(res[k])
        cpu += time.process_time() - c0
        ids += [tid] * len(segs.audio)
        if (i + 1) % 50 == 0:
            print(f"  {i + 1}/{len(files)} tracks, {time.time() - t0:.0f} s", flush=True)
    print(f"extracted {len(files)} tracks / {len(ids)} windows x {len(models)} models in {time.time() - t0:.0f} s "
          f"wall ({cpu:.0f} s CPU in the network + preprocessing)")
    out = {}
    for model in models:
        arrays = {k: np.concatenate(v) for k, v in per[model].items()}
        arrays["track_ids"] = np.array(ids)
        np.savez(cache[model], **arrays)
        out[model] = arrays
    return out


def evaluate(X, track_ids, train, valid, C=1.0, seed=0) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels = np.array([t.split("/")[0] for t in track_ids])
    tr = np.isin(track_ids, sorted(train))
    va = np.isin(track_ids, sorted(valid))
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=3000, random_state=seed))
    clf.fit(X[tr], labels[tr])
    proba = clf.predict_proba(X[va])
    va_ids = track_ids[va]
    tracks = sorted(set(va_ids))
    track_proba = np.stack([proba[va_ids == t].mean(axis=0) for t in tracks])
    y_true = np.array([t.split("/")[0] for t in tracks])
    y_pred = clf.classes_[track_proba.argmax(axis=1)]
    seg_pred = clf.classes_[proba.argmax(axis=1)]
    return {
        "train_tracks": int(len(set(track_ids[tr]))), "valid_tracks": len(tracks),
        "track_accuracy": float(np.mean(y_true == y_pred)),
        "track_balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "segment_accuracy": float(np.mean(seg_pred == labels[va])),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/musicnn_gtzan"))
    parser.add_argument("--C", type=float, nargs="+", default=[1.0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is kindest on a shared machine)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    root = gtzan_dir()
    if not (root / "audio").is_dir():
        raise SystemExit(f"{root}: GTZAN audio not found (GENRE_GTZAN_DIR).")
    files = _track_files(root)
    train, valid = _split_ids(root, "train") & set(files), _split_ids(root, "valid") & set(files)
    print(f"{len(files)} tracks with audio; {len(train)} in train_filtered, {len(valid)} in valid_filtered")
    feats = extract(files, args.work)
    results = {}
    for model, arrays in feats.items():
        tids = arrays["track_ids"]
        variants = {
            "penultimate (musicnn)": arrays["penultimate"],
            "taggram (musicnn_taggram)": arrays["taggram"],
            "mean_pool (musicnn_pool mean)": arrays["mean_pool"],
            "max_pool (musicnn_pool max)": arrays["max_pool"],
            "max+mean pool (musicnn_pool both)": np.concatenate([arrays["max_pool"], arrays["mean_pool"]], 1),
        }
        for name, X in variants.items():
            for C in args.C:
                r = evaluate(X, tids, train, valid, C=C)
                results[f"{model} | {name} | C={C:g}"] = r
                print(f"{model:12s} {name:34s} C={C:<6g} track acc {r['track_accuracy']:.3f}  "
                      f"balanced {r['track_balanced_accuracy']:.3f}  segment acc {r['segment_accuracy']:.3f}  "
                      f"({r['train_tracks']} train / {r['valid_tracks']} valid tracks)", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
