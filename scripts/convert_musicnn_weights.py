"""Convert musicnn 0.1.0's TF1 checkpoints into the ``.npz`` files genre-lab ships.

The trained musicnn models (Pons & Serra, 2019; ISC licence) are published on
PyPI inside the ``musicnn==0.1.0`` wheel as TensorFlow 1 checkpoints:
``MSD_musicnn``, ``MTT_musicnn`` (architecture ``musicnn``) and ``MSD_vgg``,
``MTT_vgg`` (architecture ``vgg``). This script reads every trained tensor of
the chosen models with TensorFlow's checkpoint reader (eager mode; nothing else
from musicnn is imported), drops the Adam optimiser slots, checks that the set
of names and shapes is exactly what :mod:`genre_core.features.musicnn` maps
onto its forward pass (``expected_tensors``), and writes ``<out>/<model>.npz``
(float32, ``allow_pickle=False``; deterministic bytes: sorted members, fixed
timestamps, so a re-conversion reproduces the checksum) plus ``manifest.json``
with the SHA-256 of every source and output file. Models not converted in a
run keep their manifest entries.

Usage (one time, by a maintainer; the converted files are committed)::

    .venv/bin/pip download --no-deps musicnn==0.1.0 -d /tmp/musicnn_whl
    .venv/bin/python scripts/convert_musicnn_weights.py /tmp/musicnn_whl/musicnn-0.1.0-py3-none-any.whl \
        --models MSD_vgg MTT_vgg

``SOURCE`` may be the wheel or an unpacked ``musicnn`` package folder. The
musicnn models' files were written (before this script wrote deterministic
files) with ``np.savez_compressed``, whose zip timestamps differ per run:
re-converting them gives the same tensors under a new checksum.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from genre_core.store import file_sha256

REPO_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_MODELS = ("MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg")
CHECKPOINT_FILES = (".data-00000-of-00001", ".index")


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


def check_tensors(model: str, tensors: dict[str, np.ndarray]) -> None:
    """Exit with a message unless ``tensors`` are exactly the forward pass's, finite float32, right shapes."""
    from genre_core.features.musicnn import expected_tensors

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


def write_npz(target: Path, tensors: dict[str, np.ndarray]) -> None:
    """Deterministic compressed ``.npz`` (sorted members, fixed timestamps), written atomically.

    Same layout as ``np.savez_compressed`` (``<name>.npy`` members), readable
    with ``np.load(allow_pickle=False)``; same tensors give the same bytes.
    """
    tmp = target.with_name(f".{target.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(tensors):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.ascontiguousarray(tensors[name], dtype=np.float32), allow_pickle=False)
    os.replace(tmp, target)


def _read_manifest(out_dir: Path) -> dict:
    path = out_dir / "manifest.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def convert(source: Path, out_dir: Path, models=DEFAULT_MODELS) -> dict:
    from genre_core.features.musicnn import architecture

    out_dir.mkdir(parents=True, exist_ok=True)
    previous = _read_manifest(out_dir)
    source_sha = file_sha256(source) if source.is_file() else None
    if previous.get("source_sha256") not in (None, source_sha):
        raise SystemExit(f"{source}: not the wheel the other models in {out_dir} were converted from "
                         f"(SHA-256 {source_sha}, manifest {previous['source_sha256']}).")
    manifest = {
        "source": "musicnn 0.1.0 (PyPI wheel), https://github.com/jordipons/musicnn, ISC licence",
        "source_file": source.name,
        "source_sha256": source_sha,
        "converted_by": "scripts/convert_musicnn_weights.py",
        "models": dict(previous.get("models", {})),
    }
    with tempfile.TemporaryDirectory() as tmp:
        pkg = _package_dir(source, Path(tmp))
        for model in models:
            ckpt_dir = pkg / model
            if not (ckpt_dir / ".index").is_file():
                raise SystemExit(f"{ckpt_dir}: no TF checkpoint ('.index') found; is this the musicnn 0.1.0 wheel?")
            # The checkpoints have an empty basename: the prefix is the folder + "/".
            tensors = read_checkpoint(str(ckpt_dir) + "/")
            check_tensors(model, tensors)
            target = out_dir / f"{model}.npz"
            write_npz(target, tensors)
            manifest["models"][model] = {
                "file": target.name,
                "sha256": file_sha256(target),
                "n_tensors": len(tensors),
                "n_parameters": int(sum(v.size for v in tensors.values())),
                "checkpoint_sha256": {f: file_sha256(ckpt_dir / f) for f in CHECKPOINT_FILES},
                "config": json.loads((ckpt_dir / "config.json").read_text()),
            }
            print(f"{model}: {len(tensors)} tensors, {manifest['models'][model]['n_parameters']} parameters, "
                  f"{target.stat().st_size / 1e6:.2f} MB -> {target}")
    for model, entry in manifest["models"].items():
        entry["architecture"] = architecture(model)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="musicnn-0.1.0-py3-none-any.whl or an unpacked musicnn package")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "genre_core" / "weights" / "musicnn")
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), choices=DEFAULT_MODELS)
    args = parser.parse_args(argv)
    convert(args.source, args.out, tuple(args.models))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
