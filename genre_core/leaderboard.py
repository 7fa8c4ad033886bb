"""The runs at a glance: leaderboard rows grouped by comparable protocol, and runs needing attention.

Pure functions over :class:`~genre_core.runs.Run` records (no model is
loaded): the Home page and ``python -m genre_core runs`` show them.

Examples
--------
>>> from genre_core.runs import list_runs
>>> board = leaderboard_frame(list_runs())                   # doctest: +SKIP
>>> for label, rows in leaderboard_groups(board):            # doctest: +SKIP
...     print(label, len(rows))
"""

from __future__ import annotations

import dataclasses
from typing import Iterable

import pandas as pd

__all__ = ["flagged_runs_frame", "headline", "leaderboard_frame", "leaderboard_groups", "strongest_runs"]


_HEADLINE_KEYS = ("id", "name", "location", "status", "backend", "dataset", "split", "evaluated_on", "n_tracks",
                  "track_accuracy", "track_accuracy_ci", "balanced_accuracy", "macro_f1", "segment_accuracy",
                  "size_bytes", "created", "error", "stage")


def headline(run) -> dict:
    """``run.headline()``, tolerant of odd ``run.json`` contents (a listing must never crash).

    A failed run whose record holds the dataset as a plain string (as written
    when training fails early) and hand-edited records are shown with what can
    be read.
    """
    info = run.info if isinstance(run.info, dict) else {}
    fixed = dict(info)
    for key in ("dataset", "split"):
        if key in fixed and not isinstance(fixed[key], dict):
            fixed[key] = {"name" if key == "dataset" else "protocol": str(fixed[key])}
    if not isinstance(fixed.get("metrics"), (dict, type(None))):
        fixed["metrics"] = {}
    try:
        return run.headline() if fixed == info else dataclasses.replace(run, info=fixed).headline()
    except Exception as err:  # noqa: BLE001 - show what we can
        h = dict.fromkeys(_HEADLINE_KEYS)
        h.update({"id": run.id, "name": run.name, "location": run.location, "status": run.status,
                  "error": f"unreadable run record ({type(err).__name__}: {err})"})
        return h


def leaderboard_frame(runs: Iterable) -> pd.DataFrame:
    """One row per complete run: the figures from ``Run.headline()`` and ``run.json``.

    Columns: ``run, where, backend, data, split, evaluated on, tracks, track acc.,
    95% CI low, 95% CI high, balanced acc., segment acc., training time (s), size (MB), created``.
    Sorted by data, then track accuracy (best first). Accuracies are fractions.
    A voting run's size is its own plus its members'; it has no training time
    or segment accuracy of its own (``None``: shown as "n/a").
    """
    runs = list(runs)
    sizes = {r.id: r.info.get("size_bytes") for r in runs if r.status == "complete"}
    rows = []
    for r in runs:
        if r.status != "complete":
            continue
        h = headline(r)
        ci = h.get("track_accuracy_ci") or [None, None]
        timings = r.info.get("timings") or {}
        size = h.get("size_bytes")
        if r.is_voting:  # its cost is its members': their size, no training of its own
            member_sizes = [sizes.get(m.get("id")) for m in r.info.get("members") or [] if isinstance(m, dict)]
            size = (size or 0) + sum(member_sizes) if member_sizes and None not in member_sizes else None
            timings = {"training_s": None}
        rows.append({
            "run": r.id,
            "where": r.location,
            "backend": h.get("backend"),
            "data": h.get("dataset"),
            "split": h.get("split"),
            "evaluated on": h.get("evaluated_on"),
            "tracks": h.get("n_tracks"),
            "track acc.": h.get("track_accuracy"),
            "95% CI low": ci[0] if len(ci) > 0 else None,
            "95% CI high": ci[1] if len(ci) > 1 else None,
            "balanced acc.": h.get("balanced_accuracy"),
            "segment acc.": h.get("segment_accuracy"),
            "training time (s)": timings.get("training_s"),
            "size (MB)": None if size is None else size / 1e6,
            "created": h.get("created"),
        })
    cols = ["run", "where", "backend", "data", "split", "evaluated on", "tracks", "track acc.", "95% CI low",
            "95% CI high", "balanced acc.", "segment acc.", "training time (s)", "size (MB)", "created"]
    df = pd.DataFrame(rows, columns=cols)
    if len(df):
        df = df.sort_values(["data", "track acc."], ascending=[True, False], na_position="last", kind="stable")
    return df.reset_index(drop=True)


def flagged_runs_frame(runs: Iterable) -> pd.DataFrame:
    """Runs that cannot be used (failed, cancelled, crashed, invalid) or are still training."""
    rows = []
    for r in runs:
        if r.status == "complete":
            continue
        h = headline(r)
        what = {
            "running": "still training",
            "crashed": "the training process died; delete it or train again",
            "failed": "training failed",
            "cancelled": "training was stopped",
            "invalid": "the folder is not a readable run",
        }.get(r.status, r.status)
        rows.append({
            "run": r.id,
            "status": r.status,
            "what it means": what,
            "backend": h.get("backend"),
            "data": h.get("dataset"),
            "stage": h.get("stage") or "",
            "error": h.get("error") or "",
            "created": h.get("created"),
        })
    return pd.DataFrame(rows, columns=["run", "status", "what it means", "backend", "data", "stage", "error",
                                       "created"])


def leaderboard_groups(board: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Split a :func:`leaderboard_frame` into groups of comparable runs.

    Runs are comparable when they were evaluated on the same data with the
    same protocol (``data`` and ``split``). Within a group rows are sorted by
    track accuracy, best first; groups are ordered by their best run.
    A voting run joins the group of the protocol its members were evaluated
    with. Returns ``[(label, rows), ...]`` with labels like
    ``"gtzan · kfold (3 runs, 413 tracks)"``.
    """
    if board.empty:
        return []
    # a voting run is scored on its members' held-out predictions: it belongs with them
    protocol = [ev if sp == "voting" and isinstance(ev, str) else sp
                for sp, ev in zip(board["split"], board["evaluated on"])]
    key = board["data"].fillna("?").astype(str) + " · " + pd.Series(protocol, index=board.index).fillna("?").astype(str)
    groups = []
    for label, rows in board.groupby(key, sort=False):
        rows = rows.sort_values("track acc.", ascending=False, na_position="last", kind="stable")
        n = len(rows)
        tracks = sorted({int(t) for t in rows["tracks"] if pd.notna(t)})
        on = f", {tracks[0]} tracks" if len(tracks) == 1 else ""
        groups.append((f"{label} ({n} run{'s' if n != 1 else ''}{on})", rows.reset_index(drop=True)))
    groups.sort(key=lambda g: -(g[1]["track acc."].max() if g[1]["track acc."].notna().any() else -1.0))
    return groups


def strongest_runs(runs: Iterable, *, within: float = 0.10, max_runs: int = 4) -> list:
    """The complete runs worth asking by default: the best by track accuracy and those close to it.

    A run is picked when its recorded track accuracy (cross-validated when the
    run was trained with k-fold) is within ``within`` of the best run's and
    clearly above chance (1.5 x 1/genres); at most ``max_runs``, best first.
    Runs without figures are never picked by default (a user adds them on
    purpose); when no run has figures, the newest complete ones are.

    Examples
    --------
    >>> from genre_core.runs import list_runs
    >>> [r.id for r in strongest_runs(list_runs())]          # doctest: +SKIP
    ['shipped/linear-musicnn', 'shipped/ensemble-vote', 'shipped/mlp-musicnn']
    """
    done = [r for r in runs if r.status == "complete"]
    scored = []
    for r in done:
        acc = headline(r).get("track_accuracy")
        n = len(r.labels) or 2
        if isinstance(acc, (int, float)) and acc > 1.5 / n:
            scored.append((float(acc), r))
    if not scored:
        return done[:max_runs] if not any(headline(r).get("track_accuracy") is not None for r in done) else []
    scored.sort(key=lambda x: (-x[0], x[1].id))
    best = scored[0][0]
    return [r for acc, r in scored if acc >= best - within][:max_runs]
