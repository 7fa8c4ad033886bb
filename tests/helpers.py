"""Small helpers several test modules share (import as ``from helpers import ...``)."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import Iterator

import pytest


@contextlib.contextmanager
def models_folder(root: Path) -> Iterator[Path]:
    """Within the block, runs are written to and read from ``root`` and libraries use one thread."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENRE_MODELS_DIR", str(root))
        mp.setenv("GENRE_THREADS", "1")
        yield root


def kill_leftover_jobs() -> None:
    """Kill any training-job worker still starting or running (tests never leave one behind)."""
    from genre_core import jobs

    for st in jobs.list_jobs():
        if st["state"] in ("starting", "running") and st.get("pid"):
            with contextlib.suppress(OSError):
                os.kill(int(st["pid"]), signal.SIGKILL)


def count_calls(monkeypatch, module, name: str) -> list:
    """Replace ``module.name`` by a wrapper that records each call; returns the (growing) list of calls."""
    calls: list = []
    real = getattr(module, name)

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counting)
    return calls


def metric_value(at, label: str) -> str:
    """The value of the ``st.metric`` labelled ``label`` in an AppTest."""
    for m in at.metric:
        if m.label == label:
            return str(m.value)
    raise AssertionError(f"no metric {label!r} in {[m.label for m in at.metric]}")


def load_npz(path: Path) -> dict:
    """Every array of an ``.npz`` fixture (never unpickled)."""
    import numpy as np

    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def assert_weights_file_checked(model, folder: Path) -> None:
    """A saved torch model's ``weights.pt`` that is not a zip, or missing, is refused with a clear error."""
    import pytest

    from genre_core.backends import load_model
    from genre_core.errors import RunError

    model.save(folder)
    (folder / "weights.pt").write_bytes(b"not a zip file at all")
    with pytest.raises(RunError, match="weights.pt: the model weights are corrupt"):
        load_model(folder)
    (folder / "weights.pt").unlink()
    with pytest.raises(RunError, match="weights.pt: the model weights file .* is missing"):
        load_model(folder)
