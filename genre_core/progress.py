"""Progress: the one shape of a progress message, and the adapters that consume it.

A progress message is a plain dict: ``stage`` (``"scanning"``, ``"extracting"``,
``"training"``, ``"evaluating"``, ``"saving"``, ``"done"`` ...), ``done`` and
``total`` (units of that stage), plus optional details (``epoch``, ``loss``,
``fold``, ``run_id``, ``cached``, ``failed``, ``eta_s``...). Library functions
take a ``progress`` callable (:data:`ProgressFn`) and a ``should_stop``
callable (:data:`StopFn`) and never print.

* :class:`Reporter` fans one training's messages out to the caller and to the
  run's ``status.json`` and answers cancellation checks.
* :class:`ProgressPrinter` prints them as readable, throttled lines (the CLI).

The job queue's worker turns the same messages into its ``status.json`` and
``history.jsonl`` (:mod:`genre_core.jobs`).

Examples
--------
>>> import io
>>> out = io.StringIO()
>>> p = ProgressPrinter(stream=out)
>>> p({"stage": "extracting", "done": 3, "total": 3, "cached": 1})
>>> print(out.getvalue(), end="")
[extracting] 3/3 (cached 1)
"""

from __future__ import annotations

import math
import sys
import time
from typing import Callable, Mapping

from .errors import TrainingCancelled

#: ``progress(message)``: receives progress dicts.
ProgressFn = Callable[[dict], None]
#: ``should_stop()``: True once the user asked to cancel.
StopFn = Callable[[], bool]

__all__ = ["ProgressFn", "StopFn", "Reporter", "ProgressPrinter"]


class Reporter:
    """Fans progress dicts out to the caller and to the run's status.json."""

    def __init__(self, progress: ProgressFn | None, should_stop: StopFn | None):
        self.progress = progress
        self.should_stop = should_stop
        self.writer = None  # a RunWriter once the run folder exists
        self.extra: dict = {}

    def __call__(self, msg: Mapping) -> None:
        d = {**dict(msg), **self.extra}
        d.setdefault("done", 0)
        d.setdefault("total", 0)
        if self.writer is not None:
            self.writer.update(d)
        if self.progress is not None:
            self.progress(d)

    def stage(self, stage: str, done: int = 0, total: int = 0, **kw) -> None:
        self({"stage": stage, "done": done, "total": total, **kw})

    def check(self, where: str) -> None:
        if self.should_stop is not None and self.should_stop():
            raise TrainingCancelled(f"Training was cancelled {where}.")


class ProgressPrinter:
    """Readable, throttled progress lines on stderr."""

    def __init__(self, quiet: bool = False, stream=None, *, tty_only: bool = False):
        self.stream = stream or sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.quiet = quiet or (tty_only and not (isatty and isatty()))
        self.last_stage = None
        self.last_t = 0.0

    def __call__(self, d: dict) -> None:
        if self.quiet:
            return
        stage = d.get("stage", "?")
        now = time.monotonic()
        done, total = d.get("done", 0), d.get("total", 0)
        new_stage = stage != self.last_stage
        finished = bool(total) and done >= total
        if stage == "training" and d.get("epoch"):
            line = self._epoch_line(d)
        elif not (new_stage or finished or now - self.last_t >= 2.0):
            return
        else:
            line = f"[{stage}]"
            if total:
                line += f" {done}/{total}"
            if stage == "extracting":
                extra = [f"{k} {d[k]}" for k in ("cached", "failed") if d.get(k)]
                if extra:
                    line += f" ({', '.join(extra)})"
            if d.get("fold"):
                line += f" fold {d['fold']}/{d.get('folds')}"
            if d.get("run_id"):
                line += f" {d['run_id']}"
        self.last_stage, self.last_t = stage, now
        if line == getattr(self, "last_line", None):
            return
        self.last_line = line
        print(line, file=self.stream, flush=True)

    @staticmethod
    def _epoch_line(d: dict) -> str:
        parts = [f"[training] epoch {d.get('epoch')}/{d.get('epochs') or d.get('total')}"]
        if d.get("fold"):
            parts.append(f"fold {d['fold']}/{d.get('folds')}")
        if d.get("member"):
            parts.append(f"member {d['member']}/{d.get('members')}")
        for key, short in (("loss", "loss"), ("accuracy", "acc"), ("val_loss", "val_loss"),
                           ("val_accuracy", "val_acc")):
            v = d.get(key)
            if isinstance(v, (int, float)) and math.isfinite(v):
                parts.append(f"{short} {v:.4f}")
        if d.get("eta_s") is not None:
            parts.append(f"eta {float(d['eta_s']):.0f}s")
        return " ".join(parts)
