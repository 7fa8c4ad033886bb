"""Sweeps: every (configuration, seed, fold) of a hyperparameter grid as a task, grouped and summarised.

A sweep trains one backend on one dataset for every configuration of a grid
(``--param lr=0.001,0.01 --param hidden=64;128,64``), every seed and, with
``split="kfold"``, every fold. Each (configuration, seed, fold) is one task on
the current :mod:`genre_core.engine` (the Dask workers, or this process one
after another) and writes one ordinary run through
:func:`genre_core.training.train` (named ``<sweep>-c<config>-s<seed>``, plus
``-f<fold>`` under k-fold; a fold's run is trained on that fold's split and
evaluated on its test tracks). The sweep itself is a JSON record,
``models/user/.sweeps/<sweep>.json`` (beside the runs, hidden from the runs
list), listing the configurations, the tasks with their runs and headline
metrics, and per configuration the mean ± sample standard deviation of each
metric across seeds and folds, with the best configuration marked.

With ``search="optuna"`` an Optuna TPE study proposes ``trials`` configurations
instead of the grid (lists are categorical choices, ``NAME=LOW:HIGH[:log]``
numeric ranges), asked in rounds as wide as the engine's workers and told each
configuration's mean metric; its journal is ``<sweep>.optuna.log`` beside the record.

Everything here is plain functions (no Streamlit): the Compare page renders
:func:`sweep_frame`.

Example
-------
>>> grid = parse_grid(["lr=0.001,0.01", "epochs=5"], "mlp")       # doctest: +SKIP
>>> record = run_sweep("synthetic", "mlp", grid, seeds=[0, 1])     # doctest: +SKIP
>>> sweep_frame(record)[["configuration", "track_accuracy", "best"]]  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import itertools
import json
import math
import os
import re
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from . import config
from .errors import GenreLabError, RunError, TrainingCancelled
from .plan import DEFAULTS
from .jsonio import to_jsonable, write_json

__all__ = [
    "SWEEP_FORMAT",
    "METRICS",
    "parse_grid",
    "Range",
    "grid_configs",
    "run_sweep",
    "summarize",
    "sweeps_dir",
    "list_sweeps",
    "load_sweep",
    "sweep_frame",
    "format_pm",
]

SWEEP_FORMAT = 1
#: Headline metrics summarised per configuration (the first decides "best" by default).
METRICS = ("track_accuracy", "balanced_accuracy", "macro_f1")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,80}$")


def sweeps_dir() -> Path:
    """Where sweep records live: ``<user runs>/.sweeps`` (beside the runs, not listed as runs)."""
    return config.user_runs_dir() / ".sweeps"


# --------------------------------------------------------------------------- grid


def parse_grid(items: Iterable[str], backend: str) -> dict[str, list]:
    """``{hyperparameter: [values]}`` from ``NAME=V1,V2`` strings, each value checked by the backend.

    Values are separated by ``,``; for a list-valued hyperparameter (``hidden``)
    separate the alternatives with ``;`` (``hidden=64;128,64``). A single value
    fixes the hyperparameter for every configuration. Names may use ``-`` or ``_``.
    ``NAME=LOW:HIGH`` (or ``LOW:HIGH:log``) is a numeric :class:`Range`, for
    Optuna searches only.

    Raises
    ------
    GenreLabError
        Malformed item, unknown hyperparameter, a value the backend refuses,
        or the same name twice.
    """
    from .backends import get_backend

    cls = get_backend(backend)
    specs = {p.name: p for p in cls.param_specs()}
    grid: dict[str, list] = {}
    for item in items:
        name, sep, values = str(item).partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name or not values.strip():
            raise GenreLabError(f"--param needs NAME=V1,V2,..., not {item!r}.")
        if name not in specs:
            raise GenreLabError(f"The {cls.name} model has no hyperparameter {name!r}; it has: {', '.join(specs)}.")
        if name in grid:
            raise GenreLabError(f"--param {name} is given twice; list all its values in one --param.")
        spec = specs[name]
        if ":" in values and spec.type in (int, float):
            grid[name] = _parse_range(spec, values)
            continue
        sep_char = ";" if (";" in values or spec.type is tuple) else ","
        raw = [v.strip() for v in values.split(sep_char) if v.strip()]
        coerced = []
        for v in raw:
            c = spec.coerce(v)
            if c not in coerced:
                coerced.append(c)
        grid[name] = coerced
    return grid


class Range(tuple):
    """A numeric search range for Optuna: ``Range((low, high, log))`` (``NAME=LOW:HIGH[:log]`` on the CLI)."""

    @property
    def low(self):
        return self[0]

    @property
    def high(self):
        return self[1]

    @property
    def log(self) -> bool:
        return bool(self[2])


def _parse_range(spec, values: str) -> Range:
    parts = [p.strip() for p in values.split(":")]
    log = len(parts) == 3 and parts[2].lower() == "log"
    if len(parts) not in (2, 3) or (len(parts) == 3 and not log) or spec.type not in (int, float):
        raise GenreLabError(f"--param {spec.name}={values}: a range is LOW:HIGH or LOW:HIGH:log, for a numeric "
                            "hyperparameter.")
    low, high = spec.coerce(parts[0]), spec.coerce(parts[1])
    if not low < high or (log and low <= 0):
        raise GenreLabError(f"--param {spec.name}={values}: need LOW < HIGH (and LOW > 0 for log).")
    return Range((low, high, log))


def grid_configs(grid: Mapping[str, Sequence]) -> list[dict]:
    """Every combination of the grid's values, in the grid's order (one empty config for an empty grid).

    >>> grid_configs({"a": [1, 2], "b": ["x"]})
    [{'a': 1, 'b': 'x'}, {'a': 2, 'b': 'x'}]
    """
    names = list(grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*(list(grid[n]) for n in names))]


def _label(params: Mapping[str, Any], varying: Sequence[str]) -> str:
    shown = [n for n in varying] or list(params)
    if not shown:
        return "defaults"
    parts = []
    for n in shown:
        v = params.get(n)
        text = ",".join(map(str, v)) if isinstance(v, (list, tuple)) else (f"{v:.4g}" if isinstance(v, float) else v)
        parts.append(f"{n}={text}")
    return ", ".join(parts)


# --------------------------------------------------------------------------- tasks


def _train_task(dataset, backend: str, params: dict, split, seed: int, out: str, input_spec, sizes: dict,
                info: dict, use_cache: bool = True, progress=None, should_stop=None, n_jobs: int = 1) -> dict:
    """One (configuration, seed, fold): train and save a run; a dict the sweep records.

    Runs where the engine puts it (a Dask worker, or this process). A user
    error (bad combination of hyperparameters, too few tracks...) is recorded
    as the task's error instead of stopping the other tasks.
    """
    from .training import train

    t0 = time.perf_counter()
    try:
        run = train(dataset, backend, params, input_spec=input_spec, split=split, seed=seed, out=out,
                    progress=progress, should_stop=should_stop, n_jobs=n_jobs, use_cache=use_cache, info=info,
                    **sizes)
    except TrainingCancelled:
        raise
    except GenreLabError as err:
        return {"status": "failed", "error": str(err), "seconds": round(time.perf_counter() - t0, 3)}
    m = run.metrics or {}
    return {"status": "complete", "run": run.id, "path": str(run.path), "error": None,
            "metrics": {k: to_jsonable(m.get(k)) for k in (*METRICS, "segment_accuracy", "n_tracks", "evaluated_on")},
            "seconds": round(time.perf_counter() - t0, 3)}


def _default_name(backend: str, dataset_label: str) -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^A-Za-z0-9._+-]+", "-", dataset_label).strip("-")[:30] or "data"
    return f"sweep-{backend}-{slug}-{stamp}"


def run_sweep(
    dataset,
    backend: str,
    grid: Mapping[str, Sequence] | None = None,
    *,
    seeds: Sequence[int] = (DEFAULTS.seed,),
    split: str = DEFAULTS.split,
    group: str = DEFAULTS.group,
    k: int = DEFAULTS.k,
    test_size: float = DEFAULTS.test_size,
    valid_size: float = DEFAULTS.valid_size,
    input_spec=DEFAULTS.input_spec,
    name: str | None = None,
    overwrite: bool = DEFAULTS.overwrite,
    metric: str = "track_accuracy",
    progress: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    engine=None,
    n_jobs: int = DEFAULTS.n_jobs,
    use_cache: bool = DEFAULTS.use_cache,
    search: str = "grid",
    trials: int = 10,
) -> dict:
    """Train every (configuration, seed[, fold]) and record the sweep; returns the sweep record.

    Parameters
    ----------
    dataset : anything :func:`~genre_core.dataset.open_dataset` accepts, or a Dataset
    backend : str
        A registered backend (``mlp``, ``xgb``, ``cnn``, ...).
    grid : dict, optional
        ``{hyperparameter: [values]}`` (see :func:`parse_grid`); empty = the defaults.
    seeds : sequence of int
        Each seeds the split (folds) and the model.
    split : {"track", "kfold", "ff"}
        ``"kfold"`` makes one task (and run) per fold.
    group : {"track", "artist"}
        What must stay on one side: tracks, or artists (needs ``artists.csv``).
    k, test_size, valid_size : split sizes.
    name : str, optional
        Sweep name (default ``sweep-<backend>-<dataset>-<time>``); its runs are
        ``<name>-c<i>-s<seed>[-f<j>]`` in the user runs.
    overwrite : bool
        Replace the runs of an earlier sweep of that name.
    metric : str
        Which metric's mean picks the best configuration.
    progress : callable, optional
        ``{"stage": "sweep", "done", "total", "run_id", "config", "seed", "fold"}``
        after each task (and, locally, the runs' own training progress).
    should_stop : callable, optional
        Polled between tasks (and inside local training); True cancels the
        outstanding tasks and raises :class:`~genre_core.errors.TrainingCancelled`
        (the sweep is recorded as ``cancelled`` with what finished).
    engine : Engine or address, optional
        Default :func:`genre_core.engine.current`. On Dask, workers must see the
        dataset and the models folder at the same paths (shared storage).
    n_jobs : int
        Local feature-extraction processes per task when running locally.
    use_cache : bool
        Read and write the feature cache (on Dask: the workers' ``GENRE_CACHE_DIR``).
    search : {"grid", "optuna"}
        Every grid configuration, or ``trials`` configurations proposed by an
        Optuna TPE study (lists are categorical choices, :class:`Range` values
        numeric ranges) maximising the mean ``metric`` over seeds and folds. The
        study is stored beside the record (``<sweep>.optuna.log``, Optuna's journal
        format); trials are asked in rounds as wide as the engine's workers.
    """
    from . import engine as _engine
    from .backends import get_backend
    from .dataset import open_dataset
    from .runs import check_run_name

    if metric not in METRICS:
        raise GenreLabError(f"Unknown metric {metric!r}; use one of {', '.join(METRICS)}.")
    if split not in ("track", "kfold", "ff", "artist"):
        raise GenreLabError(f"A sweep's split must be track, kfold or ff, not {split!r}.")
    if group not in ("track", "artist"):
        raise GenreLabError(f"--group must be track or artist, not {group!r}.")
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise GenreLabError("A sweep needs at least one seed, each given once.")
    eng = engine if isinstance(engine, _engine.Engine) else (
        _engine.get_engine(engine) if engine is not None else _engine.current())
    cls = get_backend(backend)
    if search not in ("grid", "optuna"):
        raise GenreLabError(f"Unknown search {search!r}; use grid or optuna.")
    grid = {n: (v if isinstance(v, Range) else list(v)) for n, v in (grid or {}).items()}
    ranges = [n for n, v in grid.items() if isinstance(v, Range)]
    if search == "grid":
        if ranges:
            raise GenreLabError(f"--param {ranges[0]} is a range; ranges need --search optuna (a grid needs values).")
        configs = grid_configs(grid)
        for params in configs:  # every configuration is valid before anything runs
            cls(None, **params)
        varying = [n for n, v in grid.items() if len(v) > 1]
    else:
        if int(trials) < 1:
            raise GenreLabError(f"--trials must be at least 1, not {trials}.")
        trials = int(trials)
        configs = []
        varying = [n for n, v in grid.items() if isinstance(v, Range) or len(v) > 1]
        if not varying:
            raise GenreLabError("An Optuna search needs at least one hyperparameter with a range or several values.")
        cls(None, **{n: (v.low if isinstance(v, Range) else v[0]) for n, v in grid.items()})

    ds = open_dataset(dataset) if not hasattr(dataset, "tracks") else dataset
    from .dataset import dataset_label

    name = check_run_name(name) if name else _default_name(cls.name, dataset_label(dataset))
    if not _NAME_RE.match(name):
        raise GenreLabError(f"{name!r} is not a valid sweep name (letters, digits, . _ + -, at most 81 characters).")
    record_path = sweeps_dir() / f"{name}.json"
    if record_path.exists() and not overwrite:
        raise RunError(f"A sweep named {name!r} exists ({record_path}); choose another --name or --overwrite.")

    # ---- tasks: (configuration, seed, fold)
    sizes = {"test_size": test_size, "valid_size": valid_size, "k": k, "overwrite": bool(overwrite)}
    folds_of: dict[int, list] = {}
    if split == "kfold":
        from .splits import kfold_splits

        for s in seeds:
            folds_of[s] = kfold_splits(ds, k=k, seed=s, valid_size=valid_size, group=group)
    split_name = "artist" if split == "artist" or (split == "track" and group == "artist") else split
    root = config.user_runs_dir()
    tasks: list[dict] = []

    def tasks_for(ci: int) -> list[dict]:
        out = []
        for s in seeds:
            for fj, fold in enumerate(folds_of.get(s) or [None]):
                run_name = f"{name}-c{ci}-s{s}" + (f"-f{fj + 1}" if fold is not None else "")
                check_run_name(run_name)
                out.append({"config": ci, "seed": s, "fold": None if fold is None else fj + 1,
                            "run_name": run_name, "split": fold if fold is not None else split_name})
        return out

    for ci in range(len(configs)):
        tasks.extend(tasks_for(ci))
    per_config = len(seeds) * max(1, k if split == "kfold" else 1)
    n_configs = len(configs) if search == "grid" else trials
    taken = sorted(p.name for p in root.glob(f"{name}-c*-s*") if re.fullmatch(
        rf"{re.escape(name)}-c\d+-s-?\d+(-f\d+)?", p.name)) if root.is_dir() else []
    if taken and not overwrite:
        raise RunError(f"{len(taken)} run(s) of sweep {name!r} already exist (e.g. {taken[0]}); "
                       "choose another name or overwrite.")

    record: dict[str, Any] = {
        "format": SWEEP_FORMAT,
        "name": name,
        "status": "running",
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "finished": None,
        "backend": cls.name,
        "dataset": {"name": ds.name, "kind": ds.kind, "fingerprint": ds.fingerprint, "n_tracks": len(ds.tracks),
                    "spec": [str(d) for d in dataset] if isinstance(dataset, (list, tuple))
                    else (str(dataset) if isinstance(dataset, (str, Path)) else None)},
        "split": {"protocol": split, "group": group, "k": k if split == "kfold" else None,
                  "test_size": test_size, "valid_size": valid_size},
        "seeds": seeds,
        "grid": {n: ({"low": v.low, "high": v.high, "log": v.log} if isinstance(v, Range) else v)
                 for n, v in grid.items()},
        "search": {"strategy": search, "trials": trials if search == "optuna" else None,
                   "study": f"{name}.optuna.log" if search == "optuna" else None},
        "metric": metric,
        "engine": eng.describe(),
        "configs": [{"index": i, "label": _label(p, varying), "params": p} for i, p in enumerate(configs)],
        "tasks": [{k_: v for k_, v in t.items() if k_ != "split"} | {"status": "pending"} for t in tasks],
        "summary": [],
        "best": None,
    }
    write_json(record_path, record)

    total = n_configs * per_config
    done = 0
    t_start = time.perf_counter()
    info = {"sweep": name}

    def report(task: dict, result: dict) -> None:
        if progress is not None:
            progress({"stage": "sweep", "done": done, "total": total, "run_id": result.get("run"),
                      "config": task["config"], "seed": task["seed"], "fold": task["fold"],
                      "folds": k if split == "kfold" else None})

    def store(i: int, result: dict) -> None:
        nonlocal done
        done += 1
        record["tasks"][i].update(result)
        record["summary"], record["best"] = summarize(record)
        write_json(record_path, record)
        report(record["tasks"][i], result)

    def args_of(t: dict) -> tuple:
        out = str((root / t["run_name"]).resolve())
        kw = dict(info, sweep_config=t["config"], sweep_seed=t["seed"], sweep_fold=t["fold"])
        return (ds, cls.name, dict(configs[t["config"]]), t["split"], t["seed"], out, input_spec, sizes, kw,
                use_cache)

    try:
        if use_cache and ds.has_audio:
            # every task needs (nearly) every track's inputs: compute them once, spread over the engine, into
            # the cache the tasks read, instead of letting each worker's first task extract the whole dataset
            from .extraction import compute_dataset_inputs
            from .training import resolve_input_spec

            t0 = time.perf_counter()
            with _engine.use(eng):
                compute_dataset_inputs(ds.tracks, resolve_input_spec(cls, input_spec, ds), n_jobs=n_jobs,
                                       progress=progress, should_stop=should_stop)
            record["extraction_s"] = round(time.perf_counter() - t0, 3)
        if progress is not None:
            progress({"stage": "sweep", "done": 0, "total": total})

        def execute(indices: list[int]) -> None:
            if eng.is_dask:
                # completion order: each result says which task it was
                results = eng.map(_indexed_task, [(i, *args_of(tasks[i])) for i in indices],
                                  should_stop=should_stop, what="sweep task",
                                  stop_message=lambda: f"The sweep was stopped after {done} of {total} runs.")
                for i, result in results:
                    store(i, result)
                return
            for i in indices:  # one after another in this process (training uses the cores itself)
                if should_stop is not None and should_stop():
                    raise TrainingCancelled(f"The sweep was stopped after {done} of {total} runs.")
                prog = None if progress is None else (lambda d: progress({**d, "sweep_task": done + 1,
                                                                          "sweep_total": total}))
                store(i, _train_task(*args_of(tasks[i]), progress=prog, should_stop=should_stop,
                                     n_jobs=n_jobs))

        if search == "grid":
            execute(list(range(len(tasks))))
        else:
            _optuna_search(record, record_path, grid, varying, trials, per_config, eng, configs, tasks, tasks_for,
                           execute, seed=seeds[0], overwrite=overwrite, metric=metric, backend_cls=cls)
    except TrainingCancelled:
        record["status"] = "cancelled"
        raise
    except BaseException as err:
        record["status"] = "failed"
        record["error"] = f"{type(err).__name__}: {err}"
        raise
    else:
        n_ok = sum(1 for t in record["tasks"] if t.get("status") == "complete")
        record["status"] = "complete" if n_ok else "failed"
    finally:
        record["finished"] = _dt.datetime.now().isoformat(timespec="seconds")
        record["seconds"] = round(time.perf_counter() - t_start, 3)
        record["summary"], record["best"] = summarize(record)
        write_json(record_path, record)
    record["path"] = str(record_path)
    return record


def _optuna_search(record, record_path: Path, grid, varying, trials: int, per_config: int, eng, configs: list,
                   tasks: list, tasks_for, execute, *, seed: int, overwrite: bool, metric: str, backend_cls) -> None:
    """Ask ``trials`` configurations of an Optuna study in rounds, run each one's tasks, tell its mean metric."""
    try:
        import optuna
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend
    except ImportError as err:
        raise GenreLabError(f"--search optuna needs the 'optuna' package ({err}); install requirements.txt.") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    log_path = record_path.with_name(f"{record['name']}.optuna.log")
    if log_path.exists() and overwrite:
        log_path.unlink()
    storage = JournalStorage(JournalFileBackend(str(log_path)))
    study = optuna.create_study(study_name=record["name"], storage=storage, direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed), load_if_exists=False)
    width = max(1, eng.n_workers() // per_config) if eng.is_dask else 1
    asked = 0
    while asked < trials:
        batch = []
        for _ in range(min(width, trials - asked)):
            trial = study.ask()
            params = {}
            for n, v in grid.items():
                if isinstance(v, Range):
                    suggest = trial.suggest_int if isinstance(v.low, int) else trial.suggest_float
                    params[n] = suggest(n, v.low, v.high, log=v.log)
                elif len(v) > 1:
                    choice = trial.suggest_categorical(n, [json.dumps(to_jsonable(x)) for x in v])
                    params[n] = v[[json.dumps(to_jsonable(x)) for x in v].index(choice)]
                else:
                    params[n] = v[0]
            backend_cls(None, **params)
            ci = len(configs)
            configs.append(params)
            record["configs"].append({"index": ci, "label": _label(params, varying), "params": params,
                                      "trial": trial.number})
            new = tasks_for(ci)
            first = len(tasks)
            tasks.extend(new)
            record["tasks"].extend({k_: v_ for k_, v_ in t.items() if k_ != "split"} | {"status": "pending"}
                                   for t in new)
            batch.append((trial, ci, list(range(first, len(tasks)))))
            asked += 1
        write_json(record_path, record)
        execute([i for _, _, idx in batch for i in idx])
        for trial, ci, idx in batch:
            values = [(record["tasks"][i].get("metrics") or {}).get(metric) for i in idx
                      if record["tasks"][i].get("status") == "complete"]
            mean = _stats(values)["mean"]
            if mean is None:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, mean)


def _indexed_task(i: int, *args) -> tuple[int, dict]:
    """A Dask sweep task: ``(task index, result)`` (results arrive in completion order)."""
    return i, _train_task(*args)


# --------------------------------------------------------------------------- summaries


def _stats(values: list[float]) -> dict:
    vals = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(float(v))]
    n = len(vals)
    if not n:
        return {"mean": None, "std": None, "n": 0}
    mean = sum(vals) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else 0.0
    return {"mean": mean, "std": std, "n": n}


def summarize(record: Mapping) -> tuple[list[dict], int | None]:
    """Per configuration: mean ± sample std (ddof 1) of each metric across its finished (seed, fold) runs,
    per-seed means, and the index of the best configuration (highest mean of ``record["metric"]``).

    >>> rec = {"metric": "track_accuracy", "configs": [{"index": 0, "label": "a", "params": {}},
    ...        {"index": 1, "label": "b", "params": {}}],
    ...        "tasks": [{"config": 0, "seed": 0, "status": "complete", "metrics": {"track_accuracy": 0.5}},
    ...                  {"config": 0, "seed": 1, "status": "complete", "metrics": {"track_accuracy": 0.7}},
    ...                  {"config": 1, "seed": 0, "status": "complete", "metrics": {"track_accuracy": 0.9}}]}
    >>> rows, best = summarize(rec)
    >>> round(rows[0]["track_accuracy"]["mean"], 3), round(rows[0]["track_accuracy"]["std"], 4), best
    (0.6, 0.1414, 1)
    """
    metric = record.get("metric") or METRICS[0]
    rows = []
    for cfg in record.get("configs") or []:
        ci = cfg["index"]
        mine = [t for t in record.get("tasks") or [] if t.get("config") == ci]
        ok = [t for t in mine if t.get("status") == "complete"]
        row: dict[str, Any] = {"config": ci, "label": cfg.get("label"), "params": cfg.get("params"),
                               "n_tasks": len(mine), "n_complete": len(ok),
                               "n_failed": sum(1 for t in mine if t.get("status") == "failed"),
                               "runs": [t.get("run") for t in ok]}
        for m in METRICS:
            row[m] = _stats([(t.get("metrics") or {}).get(m) for t in ok])
        per_seed: dict[str, list] = {}
        for t in ok:
            per_seed.setdefault(str(t.get("seed")), []).append((t.get("metrics") or {}).get(metric))
        row["per_seed"] = {s: _stats(v)["mean"] for s, v in per_seed.items()}
        rows.append(row)
    scored = [r for r in rows if r[metric]["mean"] is not None]
    best = max(scored, key=lambda r: (r[metric]["mean"], -r[metric]["std"], -r["config"]))["config"] if scored else None
    for r in rows:
        r["best"] = r["config"] == best
    return rows, best


# --------------------------------------------------------------------------- reading


def list_sweeps() -> list[dict]:
    """Every sweep record (newest first); unreadable records are skipped."""
    folder = sweeps_dir()
    if not folder.is_dir():
        return []
    out = []
    for p in folder.glob("*.json"):
        if p.name.startswith("."):
            continue
        try:
            rec = load_sweep(p)
        except GenreLabError:
            continue
        out.append(rec)
    out.sort(key=lambda r: (str(r.get("created") or ""), r.get("name", "")), reverse=True)
    return out


def load_sweep(ref: str | os.PathLike) -> dict:
    """A sweep record by name or path (``summary``/``best`` recomputed from its tasks).

    Raises
    ------
    RunError
        No such sweep, or not a sweep record.
    """
    p = Path(ref)
    if not p.suffix == ".json":
        if not _NAME_RE.match(str(ref)):
            raise RunError(f"{str(ref)!r} is not a sweep name.")
        p = sweeps_dir() / f"{ref}.json"
    try:
        rec = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"No sweep {str(ref)!r} ({p}).") from None
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise RunError(f"Sweep record {p} cannot be read ({err}).") from None
    if not isinstance(rec, dict) or rec.get("format") != SWEEP_FORMAT or not isinstance(rec.get("configs"), list) \
            or not isinstance(rec.get("tasks"), list):
        raise RunError(f"{p} is not a genre-lab sweep record.")
    try:
        rec["summary"], rec["best"] = summarize(rec)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise RunError(f"Sweep record {p} is damaged ({err}).") from None
    rec["path"] = str(p)
    return rec


def format_pm(stats: Mapping | None, digits: int = 3) -> str:
    """``"0.712 ± 0.031 (n=6)"``; ``"-"`` when nothing finished.

    >>> format_pm({"mean": 0.5, "std": 0.1, "n": 4})
    '0.500 ± 0.100 (n=4)'
    """
    if not stats or stats.get("mean") is None:
        return "-"
    return f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f} (n={stats['n']})"


def sweep_frame(record: Mapping):
    """What Compare shows for a sweep: one row per configuration, mean ± std per metric, the best marked.

    Columns: ``configuration``, ``runs`` (finished/planned), ``track_accuracy``,
    ``balanced_accuracy``, ``macro_f1`` (``"mean ± std (n=...)"`` strings),
    ``mean`` and ``std`` of the sweep's metric (numbers, for sorting/charts),
    ``best`` (``"best"`` or ``""``).
    """
    import pandas as pd

    rows, _ = summarize(record)
    metric = record.get("metric") or METRICS[0]
    data = []
    for r in rows:
        data.append({
            "configuration": r["label"],
            "runs": f"{r['n_complete']}/{r['n_tasks']}" + (f" ({r['n_failed']} failed)" if r["n_failed"] else ""),
            **{m: format_pm(r[m]) for m in METRICS},
            "mean": r[metric]["mean"],
            "std": r[metric]["std"],
            "best": "best" if r["best"] else "",
        })
    return pd.DataFrame(data, columns=["configuration", "runs", *METRICS, "mean", "std", "best"])
