"""Run the original musicnn extractor, and compare genre-lab's re-implementation with it.

Covers all four models of the wheel: the musicnn models (``MSD_musicnn``,
``MTT_musicnn``: ``taggram``, ``penultimate``, ``mean_pool``, ``max_pool``) and
the vgg models (``MSD_vgg``, ``MTT_vgg``: ``taggram`` and the pooled maps
``pool1`` .. ``pool5``, compared map for map and as their per-channel mean /
max over time and frequency, which is what the ``musicnn_vgg`` feature set
uses).

The original (``musicnn==0.1.0``) cannot live in the project venv: it needs
``tf-keras`` with ``TF_USE_LEGACY_KERAS=1`` and switches TensorFlow to graph
mode for the whole process, which breaks Keras 3. So it runs in its own venv,
in a subprocess, through this file's ``extract`` command; ``compare`` and
``fixture`` run in the project venv and call ``extract`` for the numbers.

Reference venv (outside the project; a few minutes, online)::

    python3 -m venv /tmp/musicnn-ref
    /tmp/musicnn-ref/bin/pip install tensorflow-cpu==2.21.0 librosa==0.11.0 soundfile==0.14.0
    /tmp/musicnn-ref/bin/pip install --no-deps musicnn==0.1.0 tf-keras==2.21.0

or, quicker and offline apart from two small wheels, reusing the project venv's
TensorFlow, librosa and NumPy underneath (same Python version)::

    python3.11 -m venv /tmp/musicnn-ref
    echo "$PWD/.venv/lib/python3.11/site-packages" > /tmp/musicnn-ref/lib/python3.11/site-packages/project.pth
    /tmp/musicnn-ref/bin/pip install --no-deps tf-keras==2.21.0 musicnn==0.1.0

Commands::

    # in the reference venv: per-patch outputs of musicnn.extractor.extractor -> .npz
    /tmp/musicnn-ref/bin/python scripts/musicnn_reference.py extract --model MSD_musicnn \
        --preprocess float32 --out /tmp/ref.npz a.ogg b.ogg
    # in the project venv: max differences on real GTZAN clips (runs `extract` itself)
    .venv/bin/python scripts/musicnn_reference.py compare --ref-python /tmp/musicnn-ref/bin/python
    # in the project venv: the same for the vgg models
    .venv/bin/python scripts/musicnn_reference.py compare --models MSD_vgg MTT_vgg --preprocess float32
    # in the project venv: regenerate tests/fixtures/musicnn_expected.npz and musicnn_vgg_expected.npz
    .venv/bin/python scripts/musicnn_reference.py fixture --ref-python /tmp/musicnn-ref/bin/python

``--preprocess`` picks the reference's log-mel arithmetic (the network is always the original's):

* ``stock``: as shipped. Under NumPy 2 ``10000 * mel.astype(float16)`` stays
  float16 and overflows to ``inf`` for mel values above 6.55, so most real
  music gets corrupted input (the script reports how many patches).
* ``legacy``: what it computed under the NumPy 1.x it was written for: mel
  rounded to float16, then float32 arithmetic (value-based casting).
* ``float32``: no float16 rounding at all; genre-lab's preprocessing.

genre-lab is compared with ``float32`` directly and with ``legacy`` by applying
the same float16 rounding to its own mel spectrogram, so both the network and
the preprocessing are checked against the original code.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
OUTPUT_KEYS = ("taggram", "penultimate", "mean_pool", "max_pool")
#: The vgg models' pooled maps (per patch, TF layout: frames, bands, channels) as musicnn.extractor returns them.
VGG_MAP_SHAPES = {"pool1": (92, 48, 128), "pool2": (46, 24, 128), "pool3": (23, 12, 128), "pool4": (11, 6, 128),
                  "pool5": (2, 1, 128)}
#: Maps compared for the first patch of each file only (the full maps would be hundreds of MB).
VGG_FIRST_PATCH_ONLY = ("pool1", "pool2")
VGG_STAT_KEYS = tuple(f"{layer}_{stat}" for layer in VGG_MAP_SHAPES for stat in ("mean", "max"))
FIXTURE = REPO_ROOT / "tests" / "fixtures" / "musicnn_expected.npz"
VGG_FIXTURE = REPO_ROOT / "tests" / "fixtures" / "musicnn_vgg_expected.npz"
SHIPPED_GOLDEN = REPO_ROOT / "tests" / "fixtures" / "musicnn_shipped_golden.npz"


# ------------------------------------------------------------------------------------------------
# extract: runs inside the reference venv only (imports musicnn, never genre_core)
def _extract(args) -> int:
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import warnings

    warnings.filterwarnings("ignore")
    import librosa
    import tensorflow as tf
    from musicnn import configuration as config
    from musicnn import extractor as ext

    restore_state: dict = {}
    original_restore = tf.compat.v1.train.Saver.restore

    def checked_restore(self, sess, save_path):
        # musicnn swallows restore failures with a bare except; record success explicitly.
        try:
            result = original_restore(self, sess, save_path)
        except Exception as exc:  # noqa: BLE001 - re-raised after recording
            restore_state["error"] = repr(exc)
            raise
        restore_state["ok"] = True
        return result

    tf.compat.v1.train.Saver.restore = checked_restore

    captured: dict = {}
    original_batch_data = ext.batch_data

    def batch_data(audio_file, n_frames, overlap):
        if args.preprocess == "stock":
            batch, rep = original_batch_data(audio_file, n_frames, overlap)
        else:  # musicnn.extractor.batch_data with the float16 step made explicit
            audio, sr = librosa.load(audio_file, sr=config.SR)
            rep = librosa.feature.melspectrogram(
                y=audio, sr=sr, hop_length=config.FFT_HOP, n_fft=config.FFT_SIZE, n_mels=config.N_MELS
            ).T
            if args.preprocess == "legacy":
                rep = rep.astype(np.float16).astype(np.float32)
            rep = np.log10(10000 * rep.astype(np.float32) + 1)
            last = rep.shape[0] - n_frames + 1
            batch = np.stack([rep[t : t + n_frames] for t in range(0, last, overlap)])
        captured["batch"] = np.asarray(batch, dtype=np.float32)
        return batch, rep

    ext.batch_data = batch_data
    # One session run per file. With the shipped BATCH_SIZE = 1 the extractor's loop stores the
    # first patch's penultimate/cnn1-3 for every later patch (it unpacks them under other names),
    # so only a single batch gives correct per-patch features.
    config.BATCH_SIZE = 1 << 20
    arrays: dict[str, np.ndarray] = {}
    for i, path in enumerate(args.files):
        restore_state.clear()
        taggram, _, features = ext.extractor(path, model=args.model, input_length=3, input_overlap=False, extract_features=True)
        if not restore_state.get("ok"):
            print(f"{path}: musicnn checkpoint restore failed: {restore_state.get('error', 'not attempted')}", file=sys.stderr)
            return 2
        arrays[f"{i}/taggram"] = np.asarray(taggram, np.float32)
        if "vgg" in args.model:
            arrays.update(_vgg_reference_arrays(i, len(taggram), features))
        else:
            for key in ("penultimate", "mean_pool", "max_pool"):
                arrays[f"{i}/{key}"] = np.asarray(features[key], np.float32).reshape(len(taggram), -1)
        arrays[f"{i}/batch"] = captured["batch"]
    arrays["files"] = np.array([str(f) for f in args.files])
    np.savez(args.out, **arrays)
    return 0


def _vgg_reference_arrays(i: int, n: int, features: dict) -> dict[str, np.ndarray]:
    """The extractor's ``pool1`` .. ``pool5`` (squeezed by it) back to ``(n, frames, bands, 128)``, plus
    each map's per-channel mean / max over time and frequency (float64 sums, stored float32)."""
    out = {}
    for layer, shape in VGG_MAP_SHAPES.items():
        maps = np.asarray(features[layer], np.float32).reshape(n, *shape)
        out[f"{i}/{layer}_mean"] = maps.astype(np.float64).mean(axis=(1, 2)).astype(np.float32)
        out[f"{i}/{layer}_max"] = maps.max(axis=(1, 2))
        out[f"{i}/{layer}" if layer not in VGG_FIRST_PATCH_ONLY else f"{i}/{layer}_p0"] = (
            maps if layer not in VGG_FIRST_PATCH_ONLY else maps[:1])
    return out


def compared_keys(model: str) -> tuple[str, ...]:
    """The outputs ``compare`` checks for a model (network outputs and, for vgg, the maps)."""
    if "vgg" not in model:
        return OUTPUT_KEYS
    maps = tuple(f"{k}_p0" if k in VGG_FIRST_PATCH_ONLY else k for k in VGG_MAP_SHAPES)
    return ("taggram", *VGG_STAT_KEYS, *maps)


def window_keys(model: str) -> tuple[str, ...]:
    """The outputs the feature-set path (``musicnn_window_outputs``) has, compared for the first window."""
    return OUTPUT_KEYS if "vgg" not in model else ("taggram", *VGG_STAT_KEYS)


# ------------------------------------------------------------------------------------------------
# helpers for the project-venv commands
def run_reference(ref_python: str, files: list[str], model: str, preprocess: str,
                  keep: Path | None = None) -> dict[str, np.ndarray]:
    """Run ``extract`` in the reference venv and return its arrays.

    With ``keep`` (a folder), the reference's output is stored there under a
    name derived from the arguments and reused on the next call.
    """
    import hashlib

    tag = hashlib.sha1(json.dumps([model, preprocess, files]).encode()).hexdigest()[:16]
    if keep is not None and (keep / f"ref-{tag}.npz").exists():
        with np.load(keep / f"ref-{tag}.npz", allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ref.npz"
        cmd = [ref_python, str(Path(__file__).resolve()), "extract", "--model", model, "--preprocess", preprocess, "--out", str(out), *files]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not out.exists():
            raise SystemExit(f"reference extractor failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        with np.load(out, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        np.savez(keep / f"ref-{tag}.npz", **arrays)
    return arrays


def ours(y: np.ndarray, sr: int, model: str, preprocess: str) -> dict[str, np.ndarray]:
    """genre-lab's whole-clip outputs, optionally with the reference's float16 rounding emulated."""
    from genre_core.features import musicnn as m

    mel = m.musicnn_melspectrogram(y, sr)
    if preprocess == "legacy":
        mel = mel.astype(np.float16).astype(np.float32)
    logmel = np.log10(np.float32(10000) * mel + np.float32(1)).astype(np.float32)
    n = (logmel.shape[0] - m.PATCH_FRAMES) // m.PATCH_FRAMES + 1
    batch = np.stack([logmel[i * m.PATCH_FRAMES : (i + 1) * m.PATCH_FRAMES] for i in range(n)])
    out = m._forward(batch, model, tuple(OUTPUT_KEYS)) if "vgg" not in model else _vgg_maps(batch, model)
    out["batch"] = batch
    return out


def _vgg_maps(batch: np.ndarray, model: str) -> dict[str, np.ndarray]:
    """genre-lab's vgg net on the patches with its maps (float32), keyed like the reference's arrays."""
    import torch

    from genre_core.features import musicnn as m

    net = m.musicnn_net(model)
    with torch.inference_mode():
        res = [net(torch.from_numpy(batch[j : j + 2]), maps=True) for j in range(0, len(batch), 2)]
    out = {k: np.concatenate([r[k].numpy() for r in res]) for k in res[0]}
    for layer in VGG_FIRST_PATCH_ONLY:
        out[f"{layer}_p0"] = out.pop(layer)[:1]
    return out


def _diff(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Max absolute difference and max difference relative to the reference's scale (max |b|)."""
    d = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
    return d, d / max(float(np.max(np.abs(b))), 1e-12)


def _default_files(per_genre: int) -> list[str]:
    from genre_core.config import gtzan_dir

    root = gtzan_dir() / "audio"
    if not root.is_dir():
        raise SystemExit(f"{root}: GTZAN audio not found; pass files explicitly.")
    files = []
    for genre in sorted(p for p in root.iterdir() if p.is_dir()):
        files += [str(p) for p in sorted(genre.glob("*.ogg"))[:per_genre]]
    return files


def _compare(args) -> int:
    import librosa

    files = args.files or _default_files(args.per_genre)
    report = {}
    for model in args.models:
        for preprocess in args.preprocess:
            t0 = time.time()
            ref = run_reference(args.ref_python, files, model, preprocess, args.keep)
            keys = compared_keys(model)
            worst = {k: [0.0, 0.0] for k in ("batch", *keys, *(f"window0_{k}" for k in window_keys(model)))}
            inf_patches = n_patches = 0
            for i, f in enumerate(files):
                y, sr = librosa.load(f, sr=None, mono=True)  # the reference decodes the same file the same way
                mine = ours(y, sr, model, "legacy" if preprocess == "stock" else preprocess)
                inf_patches += int(np.sum(~np.isfinite(ref[f"{i}/batch"]).all(axis=(1, 2))))
                n_patches += len(ref[f"{i}/batch"])
                if preprocess == "float32":
                    # the feature-set path: the clip's first 3 s window at 22050 Hz, resampled on its own
                    from genre_core.features import musicnn as m

                    y22 = librosa.resample(y, orig_sr=sr, target_sr=22050, res_type="soxr_hq") if sr != 22050 else y
                    win = m.musicnn_window_outputs(y22[: 3 * 22050][None], 22050, model=model)
                    for k in window_keys(model):
                        mine[f"window0_{k}"] = win[k]
                        ref[f"{i}/window0_{k}"] = ref[f"{i}/{k}"][:1]
                for k in worst:
                    if k.startswith("window0_") and preprocess != "float32":
                        continue
                    if mine[k].shape != ref[f"{i}/{k}"].shape:
                        raise SystemExit(f"{f}: {k} shape {mine[k].shape} != reference {ref[f'{i}/{k}'].shape}")
                    if preprocess == "stock" and k == "batch":
                        continue
                    a, r = _diff(mine[k], ref[f"{i}/{k}"])
                    worst[k] = [max(worst[k][0], a), max(worst[k][1], r)]
            worst = {k: v for k, v in worst.items() if preprocess == "float32" or not k.startswith("window0_")}
            report[f"{model}/{preprocess}"] = {
                "files": len(files), "patches": n_patches, "reference_patches_with_inf_input": inf_patches,
                **{f"{k}_max_abs": v[0] for k, v in worst.items()}, **{f"{k}_max_rel": v[1] for k, v in worst.items()},
            }
            print(f"{model} {preprocess:8s} ({len(files)} files, {n_patches} patches, {inf_patches} with inf input, "
                  f"{time.time() - t0:.0f} s)")
            for k, (a, r) in worst.items():
                if k.startswith("window0_") and preprocess != "float32":
                    continue
                print(f"    {k:20s} max abs {a:.3g}  max rel {r:.3g}")
    if args.json:
        Path(args.json).write_text(json.dumps({"files": files, "results": report}, indent=2) + "\n")
    return 0


def _fixture(args) -> int:
    """Reference outputs of the probe signal: ``musicnn_expected.npz`` (musicnn models, log-mel
    statistics) and ``musicnn_vgg_expected.npz`` (vgg models: ``<model>/taggram`` (50) and
    ``<model>/pooled`` (10, 128): the rows of ``VGG_STAT_KEYS``, pool1_mean, pool1_max, ..., pool5_max)."""
    import soundfile as sf
    from genre_core.features import musicnn as m

    y, sr = m._probe_signal()
    arrays: dict[str, np.ndarray] = {"probe_sr": np.array(sr)}
    vgg: dict[str, np.ndarray] = {"probe_sr": np.array(sr)}
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "probe.wav"
        sf.write(wav, y, sr, subtype="FLOAT")  # exact float32 round trip
        for model in args.models:
            ref = run_reference(args.ref_python, [str(wav)], model, "float32")
            if "vgg" in model:  # compact: the taggram and one (10, 128) array of pooled-map statistics
                vgg[f"{model}/taggram"] = ref["0/taggram"][0]
                vgg[f"{model}/pooled"] = np.stack([ref[f"0/{k}"][0] for k in VGG_STAT_KEYS])
                continue
            for k in OUTPUT_KEYS:
                arrays[f"{model}/{k}"] = ref[f"0/{k}"][0]
            batch = ref["0/batch"][0]
            arrays["logmel_frame_mean"] = batch.mean(axis=1)
            arrays["logmel_band_mean"] = batch.mean(axis=0)
    pairs = ((FIXTURE, arrays, ("MSD_musicnn", "MTT_musicnn")), (VGG_FIXTURE, vgg, ("MSD_vgg", "MTT_vgg")))
    for path, content, needed in pairs:
        if set(needed) <= set(args.models):
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(path, **content)
            print(f"wrote {path} ({path.stat().st_size / 1e3:.1f} kB)")
    return 0


def _shipped_golden(args) -> int:
    """Freeze what the shipped musicnn-based runs predict on the probe signal (regression golden).

    Regenerate only on purpose (a deliberate change of the shipped runs or of
    the musicnn feature sets' numbers, with a ``version`` bump): the test
    ``test_shipped_runs_predict_as_frozen`` exists to catch any other change.
    """
    from genre_core import config
    from genre_core.audio import Audio
    from genre_core.features import musicnn as m
    from genre_core.predict import predict_audio
    from genre_core.runs import load_runs

    y, sr = m._probe_signal(duration=6.0)
    audio = Audio(y=y, sr=sr, name="probe.wav", duration=len(y) / sr, source_duration=len(y) / sr, source_sr=sr,
                  channels=1, clipped_to_max=False)
    root = config.shipped_runs_dir()
    refs = []
    for run_json in sorted(root.glob("*/run.json")):
        text = run_json.read_text()
        if '"feature_set": "musicnn' in text or "musicnn" in run_json.parent.name or '"members"' in text:
            refs.append(f"shipped/{run_json.parent.name}")
    runs = [r for r in load_runs(refs) if r.is_voting or (r.input_spec and (r.input_spec.feature_set or "").startswith("musicnn"))]
    arrays: dict[str, np.ndarray] = {"runs": np.array([r.id for r in runs])}
    for run, pred in zip(runs, predict_audio(runs, {sr: audio}, max_windows=None)):
        arrays[f"{run.id}/proba"] = np.asarray(pred.proba, np.float64)
        arrays[f"{run.id}/segment_proba"] = np.asarray(pred.segment_proba, np.float64)
        if not run.is_voting:
            from genre_core.inputs import compute_track_input

            spec = run.load_model().input_spec
            arrays[f"{run.id}/feature_key"] = np.array(spec.key())
            arrays[f"features/{spec.key()}"] = compute_track_input(y, sr, spec).X
        print(f"{run.id}: {np.round(pred.proba, 3)}")
    np.savez_compressed(SHIPPED_GOLDEN, **arrays)
    print(f"wrote {SHIPPED_GOLDEN} ({SHIPPED_GOLDEN.stat().st_size / 1e3:.1f} kB)")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("extract", help="(reference venv) run musicnn.extractor on files")
    p.add_argument("--model", default="MSD_musicnn")
    p.add_argument("--preprocess", choices=("stock", "legacy", "float32"), default="float32")
    p.add_argument("--out", required=True)
    p.add_argument("files", nargs="+")
    p = sub.add_parser("compare", help="(project venv) max differences vs the reference")
    p.add_argument("--ref-python", default="/tmp/musicnn-ref/bin/python")
    p.add_argument("--models", nargs="+", default=["MSD_musicnn", "MTT_musicnn"])
    p.add_argument("--preprocess", nargs="+", default=["float32", "legacy"], choices=("stock", "legacy", "float32"))
    p.add_argument("--per-genre", type=int, default=1, help="GTZAN clips per genre when no files are given")
    p.add_argument("--json", help="write the figures here")
    p.add_argument("--keep", type=Path, help="folder to keep (and reuse) the reference's outputs in")
    p.add_argument("files", nargs="*")
    p = sub.add_parser("fixture", help="(project venv) regenerate tests/fixtures/musicnn_expected.npz / musicnn_vgg_expected.npz")
    p.add_argument("--ref-python", default="/tmp/musicnn-ref/bin/python")
    p.add_argument("--models", nargs="+", default=["MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg"],
                   help="each fixture is written only when both of its models are listed")
    sub.add_parser("shipped-golden", help="(project venv) regenerate tests/fixtures/musicnn_shipped_golden.npz")
    args = parser.parse_args(argv)
    commands = {"extract": _extract, "compare": _compare, "fixture": _fixture, "shipped-golden": _shipped_golden}
    return commands[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
