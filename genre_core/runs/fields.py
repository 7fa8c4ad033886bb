"""The shape of a run's records: ``run.json`` and ``history.json`` checked field by field.

A run folder may be damaged or written by hand. Before any other module
reads a record, :func:`check_run_record` checks every field those modules
use (type, and range where a value drives allocation or display), so a bad
field ends as a :class:`~genre_core.errors.RunError` naming the file and the
field, never as a ``TypeError`` deep inside a page.

Examples
--------
>>> check_run_record({"format": 1, "name": "a", "status": "failed"}, "run.json")["name"]
'a'
>>> check_run_record({"format": 1, "name": "a", "status": "failed", "labels": 5}, "run.json")
Traceback (most recent call last):
...
genre_core.errors.RunError: run.json: field 'labels' must be a list of genre names, not 5.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

from ..errors import RunError

__all__ = ["check_history", "check_model_manifest", "check_run_record"]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_STATUSES = ("running", "complete", "failed", "cancelled", "crashed", "invalid")
#: Metrics that are fractions in [0, 1] when present.
_FRACTIONS = ("track_accuracy", "balanced_accuracy", "macro_f1", "segment_accuracy", "track_accuracy_std",
              "balanced_accuracy_std")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _bad(where: str, field: str, expected: str, value: Any) -> RunError:
    return RunError(f"{where}: field {field!r} must be {expected}, not {_short(value)}.")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


def _opt(info: Mapping, key: str, where: str, types: tuple, expected: str) -> Any:
    v = info.get(key)
    if v is not None and not isinstance(v, types):
        raise _bad(where, key, expected, v)
    return v


def check_run_record(info: Any, where: str, *, run_format: int = 1) -> dict:
    """Return ``info`` if it is a well-formed ``run.json`` record, else raise :class:`RunError`.

    Parameters
    ----------
    info : object
        The parsed JSON.
    where : str
        The file, for messages.
    run_format : int
        The newest format this genre-lab reads.
    """
    if not isinstance(info, dict):
        raise RunError(f"{where}: not a run record (expected a JSON object).")
    fmt = info.get("format")
    if isinstance(fmt, bool) or not isinstance(fmt, int) or not 1 <= fmt <= run_format:
        raise RunError(f"{where}: field 'format' must be a run format this genre-lab reads "
                       f"(1 to {run_format}), not {_short(fmt)}.")
    status = info.get("status")
    if status not in _STATUSES:
        raise _bad(where, "status", f"one of {', '.join(_STATUSES)}", status)
    _opt(info, "name", where, (str,), "a text")
    for key in ("error", "created", "finished", "stage"):
        _opt(info, key, where, (str,), "a text")
    backend = info.get("backend")
    if backend is not None and not isinstance(backend, str):
        raise _bad(where, "backend", "a backend name (text)", backend)
    labels = info.get("labels")
    if labels is not None:
        if not isinstance(labels, list) or not all(isinstance(x, (str, int)) and not isinstance(x, bool)
                                                   for x in labels):
            raise _bad(where, "labels", "a list of genre names", labels)
        if len({str(x) for x in labels}) != len(labels):
            raise RunError(f"{where}: field 'labels' lists a genre twice.")
    if status == "complete":
        if not isinstance(backend, str) or not backend:
            raise _bad(where, "backend", "a backend name (text)", backend)
        if not isinstance(labels, list) or len(labels) < 2:
            raise _bad(where, "labels", "a list of at least two genre names", labels)
        files = info.get("files")
        if not isinstance(files, dict) or not files:
            raise RunError(f"{where}: field 'files' (the checksum manifest) is missing; the folder cannot be "
                           "verified.")
    files = info.get("files")
    if files is not None:
        if not isinstance(files, dict):
            raise _bad(where, "files", "an object {file: sha256}", files)
        for rel, digest in files.items():
            if not isinstance(digest, str) or not _HEX64.match(digest):
                raise _bad(where, f"files.{rel}", "a SHA-256 (64 hex digits)", digest)
    for key in ("params", "versions", "timings"):
        _opt(info, key, where, (dict,), "an object")
    for key in ("dataset", "split"):
        _opt(info, key, where, (dict, str), "an object or a text")
    seed = info.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise _bad(where, "seed", "an integer", seed)
    if _opt(info, "input_spec", where, (dict,), "an object"):
        _check_input_spec(info["input_spec"], f"{where}: field 'input_spec'")
    for key in ("size_bytes", "model_size_bytes"):
        v = info.get(key)
        if v is not None and (not _is_number(v) or v < 0):
            raise _bad(where, key, "a size in bytes", v)
    for key, v in (info.get("timings") or {}).items():
        if v is not None and not _is_number(v):
            raise _bad(where, f"timings.{key}", "a number of seconds", v)
    _check_metrics(info.get("metrics"), where)
    _check_pairs(info.get("failures"), where, "failures")
    if isinstance(info.get("dataset"), dict):
        _check_pairs(info["dataset"].get("unreadable"), where, "dataset.unreadable")
    members = info.get("members")
    if members is not None or backend == "voting":
        if not isinstance(members, list) or (status == "complete" and not members):
            raise _bad(where, "members", "a list of member runs", members)
        for i, m in enumerate(members):
            if not isinstance(m, dict) or not isinstance(m.get("id"), str) or not m["id"]:
                raise _bad(where, f"members[{i}]", "an object with the member's 'id'", m)
            w = m.get("weight", 1.0)
            if not _is_number(w) or w < 0:
                raise _bad(where, f"members[{i}].weight", "a finite weight >= 0", w)
            d = m.get("run_json_sha256")
            if d is not None and (not isinstance(d, str) or not _HEX64.match(d)):
                raise _bad(where, f"members[{i}].run_json_sha256", "a SHA-256", d)
    return info


def _check_pairs(value: Any, where: str, field: str) -> None:
    """A list of ``[file or track, reason]`` pairs (or absent)."""
    if value is None:
        return
    if not isinstance(value, list) or not all(
            isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v) for v in value):
        raise _bad(where, field, "a list of [file, reason] pairs", value)


def _check_input_spec(d: dict, where: str) -> None:
    from ..errors import GenreLabError
    from ..inputs import InputSpec

    try:
        InputSpec.from_dict(d)
    except GenreLabError as err:
        raise RunError(f"{where}: {err}") from None


def _check_metrics(metrics: Any, where: str) -> None:
    if metrics is None:
        return
    if not isinstance(metrics, dict):
        raise _bad(where, "metrics", "an object", metrics)
    for key in _FRACTIONS:
        v = metrics.get(key)
        if v is not None and (not _is_number(v) or not 0 <= v <= 1):
            raise _bad(where, f"metrics.{key}", "a fraction from 0 to 1", v)
    for key in ("n_tracks", "n_segments"):
        v = metrics.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise _bad(where, f"metrics.{key}", "a count", v)
    for key, v in metrics.items():
        if key.endswith("_ci") and v is not None:
            if (not isinstance(v, list) or len(v) != 2 or not all(_is_number(x) for x in v)):
                raise _bad(where, f"metrics.{key}", "an interval [low, high]", v)
    _opt(metrics, "evaluated_on", where, (str,), "a text")


def check_history(history: Any, where: str) -> list[dict]:
    """Return a well-formed per-epoch history (a list of objects of numbers), else raise :class:`RunError`."""
    if not isinstance(history, list):
        raise _bad(where, "(top level)", "a list of epochs", history)
    for i, row in enumerate(history):
        if not isinstance(row, dict):
            raise _bad(where, f"[{i}]", "an object of numbers", row)
        for k, v in row.items():
            if v is not None and not isinstance(v, (int, float, str)):
                raise _bad(where, f"[{i}].{k}", "a number", v)
    return history


def check_model_manifest(m: Any, where: str) -> dict:
    """Return ``model.json`` if its fields have the types :meth:`GenreModel.load` relies on, else raise.

    ``format`` / ``backend`` are checked by the loader itself; here: ``params``,
    ``input_spec``, ``state`` (objects), ``classes`` (two or more distinct
    names), ``input_shape`` (one to four sizes from 1 to 1,000,000),
    ``history`` (see :func:`check_history`), ``best_epoch`` and ``fit_time_s``.
    """
    if not isinstance(m, dict):
        raise RunError(f"{where}: not a genre-lab model manifest (expected a JSON object).")
    for key in ("params", "input_spec"):
        if not isinstance(m.get(key), dict):
            raise _bad(where, key, "an object", m.get(key))
    _opt(m, "state", where, (dict,), "an object")
    classes = m.get("classes")
    if not isinstance(classes, list) or len(classes) < 2 or not all(
            isinstance(c, (str, int)) and not isinstance(c, bool) for c in classes):
        raise _bad(where, "classes", "a list of at least two genre names", classes)
    shape = m.get("input_shape")
    if not isinstance(shape, list) or not 1 <= len(shape) <= 4 or not all(
            isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= 1_000_000 for s in shape):
        raise _bad(where, "input_shape", "one to four sizes from 1 to 1000000", shape)
    if m.get("history") is not None:
        check_history(m["history"], f"{where} (field 'history')")
    best = m.get("best_epoch")
    if best is not None and (isinstance(best, bool) or not isinstance(best, int) or best < 0):
        raise _bad(where, "best_epoch", "an epoch number", best)
    t = m.get("fit_time_s")
    if t is not None and not _is_number(t):
        raise _bad(where, "fit_time_s", "a number of seconds", t)
    arts = m.get("artifacts")
    if arts is not None and (not isinstance(arts, list) or not all(isinstance(a, str) for a in arts)):
        raise _bad(where, "artifacts", "a list of file names", arts)
    return m
