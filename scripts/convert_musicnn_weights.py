"""Convert musicnn 0.1.0's TF1 checkpoints into the ``.npz`` files genre-lab ships.

The trained musicnn models (Pons & Serra, 2019; ISC licence) are published on
PyPI inside the ``musicnn==0.1.0`` wheel as TensorFlow 1 checkpoints. This
script reads every trained tensor of the chosen models with TensorFlow's
checkpoint reader (eager mode; nothing else from musicnn is imported), drops
the Adam optimiser slots, checks that the set of names and shapes is exactly
what :mod:`genre_core.features.musicnn` maps onto its forward pass, and writes
``<out>/<model>.npz`` (float32, ``allow_pickle=False``) plus ``manifest.json``
with the SHA-256 of every source and output file.

Usage (one time, by a maintainer; the converted files are committed)::

    .venv/bin/pip download --no-deps musicnn==0.1.0 -d /tmp/musicnn_whl
    .venv/bin/python scripts/convert_musicnn_weights.py /tmp/musicnn_whl/musicnn-0.1.0-py3-none-any.whl

``SOURCE`` may be the wheel or an unpacked ``musicnn`` package folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_MODELS = ("MSD_musicnn", "MTT_musicnn")
CHECKPOINT_FILES = (".data-00000-of-00001", ".index")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _package_dir(source: Path, tmp: Path) -> Path:
    """The unpacked ``musicnn`` package folder for a wheel or a folder."""
    if source.is_file() and source.suffix == ".whl":
        with zipfile.ZipFile(source) as zf:
            zf.extractall(tmp)
        return tmp / "musicnn"
    if (source / "musicnn").is_dir():
        return source / "musicnn"
    return source


def read_checkpoint(prefix: str) -> dict[str, np.ndarray]:
    """Every trained tensor of a TF1 checkpoint (optimiser slots dropped)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from tensorflow.python.training import py_checkpoint_reader

    reader = py_checkpoint_reader.NewCheckpointReader(prefix)
    out = {}
    for name in sorted(reader.get_variable_to_shape_map()):
        if "/Adam" in name or name in ("beta1_power", "beta2_power", "global_step"):
            continue
        out[name] = np.asarray(reader.get_tensor(name))
    return out


def convert(source: Path, out_dir: Path, models=DEFAULT_MODELS) -> dict:
    from genre_core.features.musicnn import expected_tensors

    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = {
        "source": "musicnn 0.1.0 (PyPI wheel), https://github.com/jordipons/musicnn, ISC licence",
        "source_file": source.name,
        "source_sha256": _sha256(source) if source.is_file() else None,
        "converted_by": "scripts/convert_musicnn_weights.py",
        "models": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        pkg = _package_dir(source, Path(tmp))
        for model in models:
            ckpt_dir = pkg / model
            if not (ckpt_dir / ".index").is_file():
                raise SystemExit(f"{ckpt_dir}: no TF checkpoint ('.index') found; is this the musicnn 0.1.0 wheel?")
            # The checkpoints have an empty basename: the prefix is the folder + "/".
            tensors = read_checkpoint(str(ckpt_dir) + "/")
            expected = expected_tensors(model)
            missing = sorted(set(expected) - set(tensors))
            extra = sorted(set(tensors) - set(expected))
            if missing or extra:
                raise SystemExit(f"{model}: checkpoint does not match the forward pass; missing {missing}, unused {extra}")
            for name, shape in expected.items():
                if tuple(tensors[name].shape) != tuple(shape):
                    raise SystemExit(f"{model}: {name} has shape {tensors[name].shape}, expected {shape}")
                if tensors[name].dtype != np.float32 or not np.all(np.isfinite(tensors[name])):
                    raise SystemExit(f"{model}: {name} is not finite float32")
            target = out_dir / f"{model}.npz"
            np.savez_compressed(target, **{k: v.astype(np.float32) for k, v in tensors.items()})
            manifest["models"][model] = {
                "file": target.name,
                "sha256": _sha256(target),
                "n_tensors": len(tensors),
                "n_parameters": int(sum(v.size for v in tensors.values())),
                "checkpoint_sha256": {f: _sha256(ckpt_dir / f) for f in CHECKPOINT_FILES},
                "config": json.loads((ckpt_dir / "config.json").read_text()),
            }
            print(f"{model}: {len(tensors)} tensors, {manifest['models'][model]['n_parameters']} parameters, "
                  f"{target.stat().st_size / 1e6:.2f} MB -> {target}")
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="musicnn-0.1.0-py3-none-any.whl or an unpacked musicnn package")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "genre_core" / "weights" / "musicnn")
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    args = parser.parse_args(argv)
    convert(args.source, args.out, tuple(args.models))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
