"""The runs registry: trained models with everything needed to trust them.

A *run* is one folder holding a trained model and its record::

    <name>/
        run.json                  what, how, on what, how well (see below)
        model/                    written by GenreModel.save (absent for voting runs)
        predictions_tracks.csv    test predictions per track (drill-down)
        predictions_segments.csv  test predictions per segment
        history.json              per-epoch history (loss / accuracy, train and valid)

Runs live in two places: **user runs** in :func:`~genre_core.config.user_runs_dir`
(``models/user/``, git-ignored, what ``train`` writes) and **shipped runs** in
:func:`~genre_core.config.shipped_runs_dir` (``models/shipped/``, committed).
A run is named by its folder name and can be referred to as ``NAME`` (when the
name exists in only one place), ``user/NAME``, ``shipped/NAME`` or a path to
the folder. Its *id* is ``user/NAME`` or ``shipped/NAME`` (the absolute path
for a folder outside the registry).

``run.json`` records: ``name``, ``backend``, ``params``, ``input_spec``,
``labels``, ``dataset`` (name, roots as given, kind, fingerprint), ``split``
(protocol, seed, track ids per side), ``seed``, ``versions`` (numpy, torch,
tensorflow, keras, xgboost, librosa, sklearn, genre_core), ``metrics`` (see
:func:`genre_core.metrics.evaluate_predictions`), ``timings``
(``extraction_s``, ``training_s``, ``inference_s_per_track``), ``size_bytes``
and ``model_size_bytes``, ``status``, ``error``, ``created`` / ``finished``
(ISO 8601, UTC) and ``files``: the SHA-256 of every other file in the folder.
Voting-ensemble runs (``backend == "voting"``) have no ``model/`` but
``members``: ``[{"id", "weight", "run_json_sha256"}]``.

Atomic writing
--------------
:class:`RunWriter` writes into a hidden sibling folder ``.<name>.tmp-<pid>``
and only renames it to ``<name>`` once everything, ``run.json`` last, is on
disk. While it works, ``status.json`` in that folder holds the current stage
and progress (``{"stage", "done", "total", "pid", "host", "updated", ...}``) so
a UI can follow a run trained by another process. Outcomes:

* success: ``run.json`` with ``status: "complete"`` and the checksums, then
  ``rename(tmp, <name>)``;
* an exception or cancellation (:class:`~genre_core.errors.TrainingCancelled`,
  ``KeyboardInterrupt``): the folder is still renamed to ``<name>`` (so the
  user can see what happened), but its ``run.json`` says ``status: "failed"``
  or ``"cancelled"`` with the error message, and has no ``files`` manifest:
  :func:`load_run` refuses it. A later run with the same name replaces it. If
  ``<name>`` is taken by a complete run in the meantime, the failed folder is
  named ``<name>-failed-<n>`` instead;
* a hard crash (power cut, ``kill -9``): the hidden tmp folder stays behind;
  :func:`list_runs` reports it as ``"crashed"`` once its process is gone (as
  ``"running"`` while it lives) and :func:`delete_run` removes it.

No state of the folder ever *looks* complete without being complete: a
``<name>`` folder either has a complete ``run.json`` whose checksums match, or
it is refused by :func:`load_run` with a sentence saying why.

Loading
-------
:func:`load_run` checks, in this order: the folder exists and has a
well-formed ``run.json``; its status is ``complete``; every file in the
manifest exists and its SHA-256 matches; no unlisted file sits in the folder;
the JSON artifacts parse. Then the model is loaded through the backend
registry (formats that cannot execute code; see :mod:`genre_core.backends`).
For a voting run, its members are resolved and loaded the same way and must
still be the runs the ensemble was built from (``run_json_sha256``).

Example
-------
>>> from genre_core.runs import list_runs, load_run
>>> for r in list_runs():                        # doctest: +SKIP
...     print(r.id, r.status, r.headline())
>>> run = load_run("shipped/mlp-gtzan")          # doctest: +SKIP
>>> run.model.predict_proba(X)                   # doctest: +SKIP
"""

from __future__ import annotations

from ..store import file_sha256, library_versions
from .listing import delete_run, list_runs, rename_run
from .loading import load_run, load_runs
from .names import check_run_name, new_run_name, resolve_out, resolve_run
from .ownership import check_target, run_record_of
from .record import (
    HISTORY_FILE,
    LAYOUT_FILES,
    MODEL_DIR,
    RUN_FILE,
    RUN_FORMAT,
    SEGMENTS_FILE,
    STATUS_FILE,
    STATUSES,
    TRACKS_FILE,
    VOTING_BACKEND,
    Run,
)
from .writer import RunWriter

__all__ = [
    "HISTORY_FILE",
    "LAYOUT_FILES",
    "MODEL_DIR",
    "RUN_FILE",
    "SEGMENTS_FILE",
    "STATUS_FILE",
    "TRACKS_FILE",
    "RUN_FORMAT",
    "Run",
    "RunWriter",
    "STATUSES",
    "VOTING_BACKEND",
    "check_run_name",
    "check_target",
    "delete_run",
    "file_sha256",
    "library_versions",
    "list_runs",
    "load_run",
    "load_runs",
    "new_run_name",
    "rename_run",
    "resolve_out",
    "resolve_run",
    "run_record_of",
]
