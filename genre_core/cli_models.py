"""Model commands of ``python -m genre_core``: ``train``, ``evaluate``, ``predict``, ``runs``.

::

    python -m genre_core train DATASET... --model {mlp,cnn,xgb,cnn_bag,ensemble} [--split {track,artist,ff,kfold}]
                               [--seed N] [--out NAME] [--augment N] [--epochs N] [--<hyperparameter> VALUE ...]
    python -m genre_core train --model ensemble --members RUN RUN... [--weights {W W...,fit,select}] [--out NAME]
    python -m genre_core evaluate RUN DATASET... [--json]
    python -m genre_core predict RUN... FILE [--json]
    python -m genre_core runs [--json]

Every hyperparameter of every backend is an option (``--hidden 256,128``,
``--freq-aware true``), generated from the backends' ``param_specs()``;
``--set key=value`` works too. ``--model ensemble`` with ``--members`` builds a
soft-voting run over existing runs (``--weights select``: members chosen by
greedy ensemble selection on their out-of-fold predictions, scored nested);
without ``--members`` it is the bagged-CNN backend (``cnn_bag``). Progress
goes to stderr, results to stdout. Bad input
(missing run, corrupt audio, label-set mismatch ...) prints one line
(``error: ...``) and exits with status 2 (see :mod:`genre_core.cli`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from .errors import GenreLabError
from .plan import DEFAULTS, TrainConfig, with_feature_set
from .progress import ProgressPrinter

__all__ = ["add_commands"]

#: Train-command options that backend hyperparameters must not shadow.
_RESERVED = {"seed", "model", "split", "out", "members", "weights", "augment", "set", "json", "jobs", "window",
             "hop", "feature_set", "k", "test_size", "valid_size", "overwrite", "no_cache", "quiet", "help"}
#: ``--model`` values that mean "soft voting over runs" when ``--members`` is given.
_VOTING_NAMES = ("ensemble", "voting")


# --------------------------------------------------------------------------- progress


# --------------------------------------------------------------------------- parser


def _hyperparameters() -> dict[str, list]:
    """``{param name: [(backend, Param), ...]}`` over every registered backend."""
    from .backends import get_backend, list_backends

    out: dict[str, list] = {}
    for b in list_backends():
        for p in get_backend(b).param_specs():
            out.setdefault(p.name, []).append((b, p))
    return out


def _fmt_default(p) -> str:
    return p.format(p.default) if hasattr(p, "format") else str(p.default)


def _add_split_options(p: argparse.ArgumentParser, protocols: list[str]) -> None:
    """``--split``, ``--k``, ``--group``, ``--test-size`` and ``--valid-size``, defaults from :data:`DEFAULTS`."""
    d = DEFAULTS
    p.add_argument("--split", default=d.split, choices=protocols, help=f"evaluation protocol (default {d.split})")
    p.add_argument("--k", type=int, default=d.k, help=f"folds for --split kfold (default {d.k})")
    p.add_argument("--group", default=d.group, choices=["track", "artist"],
                   help=f"keep each track or each artist's tracks on one side (artist needs artists.csv; "
                        f"default {d.group})")
    p.add_argument("--test-size", type=float, default=d.test_size, metavar="F",
                   help=f"fraction of tracks for test (track/artist splits; default {d.test_size})")
    p.add_argument("--valid-size", type=float, default=d.valid_size, metavar="F",
                   help=f"fraction of tracks for validation (default {d.valid_size})")


def add_commands(subparsers) -> None:
    """Register ``train``, ``evaluate``, ``predict`` and ``runs`` on ``subparsers``."""
    from . import engine
    from .backends import list_backends

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--no-cache", action="store_true", help="do not read or write the feature cache")
    common.add_argument("--jobs", "-j", type=int, default=DEFAULTS.n_jobs, metavar="N",
                        help="parallel workers for feature extraction (default: all cores)")
    common.add_argument("--quiet", "-q", action="store_true", help="no progress output on stderr")
    ds_help = ("dataset: a folder with one sub-folder per genre (several are merged), "
               "a feature-table .csv, or 'synthetic'")
    backends = list_backends()

    # ---- train
    p = subparsers.add_parser(
        "train", parents=[common], help="train a model and save it as a run",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Train a model on a dataset with an honest protocol: the split is by track (never by segment),\n"
            "augmentation touches training tracks only, early stopping watches validation tracks, and the\n"
            "run is evaluated on held-out test tracks (track accuracy = mean of segment probabilities).\n"
            "The run is saved atomically under models/user/NAME (see `runs`).\n\n"
            f"Models: {', '.join(backends)}; 'ensemble' = soft voting over --members runs "
            "(without --members: cnn_bag).\n"
            "Splits: track (stratified random), artist (artist-disjoint; needs artists.csv), ff (GTZAN's\n"
            "fault-filtered lists; evaluated on valid when no test track is present), kfold (k models,\n"
            "pooled out-of-fold metrics; the last fold's model is saved)."
        ),
    )
    p.add_argument("dataset", nargs="*", metavar="DATASET", help=ds_help)
    p.add_argument("--model", "-m", default=DEFAULTS.backend, choices=backends + ["ensemble", "voting"],
                   help=f"model backend (default {DEFAULTS.backend})")
    _add_split_options(p, ["track", "artist", "ff", "kfold"])
    p.add_argument("--refit", action="store_true",
                   help="with --split kfold: save a model refit on every track, trained as long as the folds' "
                        "models (its figures are the cross-validated estimates)")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed,
                   help=f"seed of the split and the model (default {DEFAULTS.seed})")
    p.add_argument("--out", "-o", default=None, metavar="NAME",
                   help="run name (models/user/NAME), shipped/NAME, or a folder path (default: generated)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run of that name")
    p.add_argument("--augment", type=int, default=DEFAULTS.n_augment, metavar="N",
                   help="augmented copies (time-stretch, pitch, noise, gain) per training track (default 0)")
    p.add_argument("--window", type=float, default=None, metavar="S",
                   help="analysis window in seconds (default: the backend's, usually 3)")
    p.add_argument("--hop", type=float, default=None, metavar="S",
                   help="seconds between windows (overlap when < window; default: the backend's)")
    p.add_argument("--feature-set", default=None, metavar="NAME",
                   help="feature set for feature models (gtzan57, mfcc_stats, edm, ...)")
    p.add_argument("--members", nargs="+", default=None, metavar="RUN",
                   help="member runs of a soft-voting ensemble (--model ensemble)")
    p.add_argument("--weights", nargs="+", type=_weight, default=None, metavar="W",
                   help="member weights for the soft-voting ensemble (default equal); or chosen on the members' "
                        "out-of-fold predictions: 'fit' (continuous weights, log loss) or 'select' (greedy "
                        "ensemble selection: members never picked are left out). Both score the ensemble "
                        "nested, so its figures stay honest")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any hyperparameter, e.g. --set dropout=0.4 (repeatable)")
    p.add_argument("--json", action="store_true", help="print the run's record (JSON) on stdout")
    hp = p.add_argument_group("hyperparameters (each applies to the backends named; see the backend docs)")
    for name, owners in _hyperparameters().items():
        if name in _RESERVED:
            continue
        first = owners[0][1]
        defaults = ", ".join(f"{b}: {_fmt_default(par)}" for b, par in owners)
        choices = f" {{{','.join(map(str, first.choices))}}}" if first.choices else ""
        hp.add_argument(f"--{name.replace('_', '-')}", dest=f"hp_{name}", default=None, metavar="V",
                        help=f"{first.help}{choices} [{defaults}]")
    engine.add_cli_option(p)
    p.set_defaults(func=cmd_train)

    # ---- evaluate
    p = subparsers.add_parser(
        "evaluate", parents=[common], help="evaluate a saved run on a labelled dataset",
        description="Evaluate a saved run on another labelled dataset: every track in it is test data. "
                    "Prints track/segment accuracy (95%% CI), balanced accuracy, macro F1, per-class "
                    "figures and the confusion matrix; --json adds per-track predictions.")
    p.add_argument("run", metavar="RUN", help="run name, user/NAME, shipped/NAME or a run folder")
    p.add_argument("dataset", nargs="+", metavar="DATASET", help=ds_help)
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    engine.add_cli_option(p)
    p.set_defaults(func=cmd_evaluate)

    # ---- predict
    p = subparsers.add_parser(
        "predict", help="classify an audio file with one or more runs",
        usage="python -m genre_core predict [-h] [--json] [--max-duration S] [--max-windows N] [--no-segments] "
              "[--quiet] RUN [RUN ...] FILE",
        description="Classify one audio file: for each run, the track-level label and confidence "
                    "(mean of segment probabilities), the top 3 genres, and per-segment probabilities.")
    p.add_argument("items", nargs="+", metavar="RUN [RUN ...] FILE",
                   help="one or more runs (NAME, user/NAME, shipped/NAME or a folder), then the audio file")
    p.add_argument("--json", action="store_true", help="print JSON (segments included)")
    from .config import MAX_DURATION
    from .predict import MAX_WINDOWS

    p.add_argument("--max-duration", type=float, default=MAX_DURATION, metavar="S",
                   help=f"analyse at most the first S seconds (default {MAX_DURATION:g})")
    p.add_argument("--max-windows", type=int, default=MAX_WINDOWS, metavar="N",
                   help="each run analyses at most N windows, none overlapping, spread over the whole track "
                        f"(default {MAX_WINDOWS}; 0 = every window, overlapping ones too)")
    p.add_argument("--no-segments", action="store_true", help="omit the per-segment table")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output on stderr")
    p.set_defaults(func=cmd_predict)

    # ---- sweep
    p = subparsers.add_parser(
        "sweep", parents=[common], help="train every configuration x seed (x fold) of a grid, grouped as a sweep",
        description="Train one backend for every configuration of a hyperparameter grid, every seed and (with "
                    "--split kfold) every fold; each (configuration, seed, fold) is one task on the engine "
                    "(--dask) and one run (<name>-c<i>-s<seed>[-f<fold>]). The sweep record lists them with "
                    "mean +- std per configuration across seeds and folds (Compare shows it).")
    p.add_argument("dataset", nargs="+", metavar="DATASET", help=ds_help)
    p.add_argument("--model", "-m", required=True, choices=backends, help="model backend")
    p.add_argument("--param", action="append", default=[], metavar="NAME=V1,V2",
                   help="hyperparameter values to sweep (repeatable; one value fixes it; list-valued "
                        "hyperparameters separate alternatives with ';', e.g. hidden=64;128,64)")
    p.add_argument("--seeds", nargs="+", type=int, default=[DEFAULTS.seed], metavar="N",
                   help=f"seeds (default {DEFAULTS.seed})")
    _add_split_options(p, ["track", "kfold", "ff"])
    p.add_argument("--metric", default="track_accuracy", choices=["track_accuracy", "balanced_accuracy", "macro_f1"],
                   help="metric whose mean picks the best configuration")
    p.add_argument("--search", default="grid", choices=["grid", "optuna"],
                   help="every grid configuration (default), or --trials configurations proposed by Optuna "
                        "(--param NAME=LOW:HIGH[:log] gives a numeric range)")
    p.add_argument("--trials", type=int, default=10, help="configurations to try with --search optuna (default 10)")
    p.add_argument("--name", default=None, help="sweep name (default sweep-<model>-<dataset>-<time>)")
    p.add_argument("--overwrite", action="store_true", help="replace the runs of an earlier sweep of that name")
    p.add_argument("--json", action="store_true", help="print the sweep record (JSON)")
    engine.add_cli_option(p)
    p.set_defaults(func=cmd_sweep)

    # ---- runs
    p = subparsers.add_parser(
        "runs", help="list saved runs with status and headline metrics",
        description="List user and shipped runs: status (complete, running, failed, cancelled, crashed, "
                    "invalid), backend, protocol, track accuracy with its 95%% CI, balanced accuracy, "
                    "macro F1 and size.")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--complete", action="store_true", help="only complete runs")
    p.set_defaults(func=cmd_runs)


# --------------------------------------------------------------------------- train


def _parse_set(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise GenreLabError(f"--set expects KEY=VALUE, not {item!r}.")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


def _collect_params(args, backend: str) -> dict[str, Any]:
    from .backends import get_backend

    cls = get_backend(backend)
    specs = {p.name: p for p in cls.param_specs()}
    given = {k[3:]: v for k, v in vars(args).items() if k.startswith("hp_") and v is not None}
    given.update(_parse_set(args.set))
    params = {}
    for name, value in given.items():
        if name not in specs:
            raise GenreLabError(
                f"The {cls.name} model has no hyperparameter {name!r} (--{name.replace('_', '-')}); "
                f"it has: {', '.join(specs)}."
            )
        params[name] = specs[name].coerce(value)
    return params


def _input_spec(args, backend: str):
    if args.window is None and args.hop is None and args.feature_set is None:
        return None
    import dataclasses

    from .backends import get_backend

    spec = get_backend(backend).default_input()
    changes: dict[str, Any] = {}
    if args.window is not None:
        changes["window"] = args.window
    if args.hop is not None:
        changes["hop"] = args.hop
    if args.feature_set is not None and spec.kind != "features":
        raise GenreLabError(f"--feature-set applies to feature models; {backend} uses {spec.kind} inputs.")
    return with_feature_set(dataclasses.replace(spec, **changes), args.feature_set)


def _weight(text: str):
    """A voting weight: a number, or a way to choose them (``fit``, ``select``)."""
    from .voting import WEIGHT_METHODS

    if text.strip().lower() in WEIGHT_METHODS:
        return text.strip().lower()
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a weight (a number, or one of: "
                                         f"{', '.join(WEIGHT_METHODS)})") from None


def _headline_lines(run) -> list[str]:
    m = run.metrics
    lines = [f"run        {run.id}  ({run.path})"]
    on = m.get("evaluated_on")
    n = m.get("n_tracks")
    if m.get("track_accuracy") is not None:
        lo, hi = m.get("track_accuracy_ci") or (None, None)
        lines.append(f"evaluated  on {on} tracks (n={n})")
        lines.append(f"track acc  {m['track_accuracy']:.3f}  95% CI [{lo:.3f}, {hi:.3f}]"
                     + (f"   folds {m['fold_track_accuracy_mean']:.3f} ± {m['fold_track_accuracy_std']:.3f}"
                        if m.get("fold_track_accuracy_mean") is not None else ""))
        lines.append(f"balanced   {m['balanced_accuracy']:.3f}   macro F1 {m['macro_f1']:.3f}")
        if m.get("segment_accuracy") is not None:
            lines.append(f"segment    {m['segment_accuracy']:.3f}   track (vote) {m.get('track_vote_accuracy') or 0:.3f}")
    else:
        lines.append("evaluated  nothing (no held-out tracks)")
    for note in run.info.get("notes") or []:
        lines.append(f"note       {note}")
    return lines


def cmd_train(args) -> int:
    from .training import train, train_voting

    progress = ProgressPrinter(args.quiet)
    info = {}
    if sys.argv and sys.argv[0].replace("\\", "/").endswith(("genre_core/__main__.py", "genre_core")):
        info["command"] = "python -m genre_core " + " ".join(sys.argv[1:])
    if args.model in _VOTING_NAMES and args.members:
        if args.dataset and not args.quiet:
            print("note: a voting ensemble is built from its members' saved test predictions; "
                  "DATASET is not used.", file=sys.stderr)
        weights = args.weights
        methods = [w for w in weights or [] if isinstance(w, str)]
        if methods:
            if len(weights) != 1:
                raise GenreLabError(f"--weights {methods[0]} stands alone (no numbers or other words beside it).")
            weights = methods[0]
        run = train_voting(args.members, weights, out=args.out, overwrite=args.overwrite,
                           progress=progress, info=info)
    else:
        if args.model == "voting":
            raise GenreLabError("--model voting needs --members RUN RUN...")
        if args.members or args.weights:
            raise GenreLabError("--members/--weights only apply to --model ensemble (soft voting).")
        if not args.dataset:
            raise GenreLabError("train needs a DATASET (a genre folder, a feature-table .csv or 'synthetic').")
        from .backends import get_backend

        backend = get_backend(args.model).name
        params = _collect_params(args, backend)
        plan = TrainConfig.from_mapping({
            "dataset": args.dataset if len(args.dataset) > 1 else args.dataset[0], "backend": backend,
            "params": params, "input_spec": _input_spec(args, backend), "split": args.split, "seed": args.seed,
            "test_size": args.test_size, "valid_size": args.valid_size, "k": args.k, "group": args.group,
            "refit": args.refit, "n_augment": args.augment, "overwrite": args.overwrite, "n_jobs": args.jobs,
            "use_cache": not args.no_cache,
        })
        run = train(plan.dataset, **{**plan.train_kwargs(), "out": args.out}, progress=progress, info=info)
    if args.json:
        print(json.dumps({"id": run.id, "path": str(run.path), **run.info}, indent=2))
    else:
        print("\n".join(_headline_lines(run)))
    return 0


# --------------------------------------------------------------------------- evaluate


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*header)] + [fmt.format(*map(str, r)) for r in rows])


def _f(v, nd=3) -> str:
    return "-" if v is None else f"{v:.{nd}f}"


def cmd_evaluate(args) -> int:
    from .evaluate import evaluate_run

    progress = ProgressPrinter(args.quiet)
    report = evaluate_run(args.run, args.dataset if len(args.dataset) > 1 else args.dataset[0],
                          n_jobs=args.jobs, use_cache=not args.no_cache, progress=progress)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    labels = report["labels"]
    lo, hi = report["track_accuracy_ci"]
    out = []
    overlap = report.get("overlap_with_training") or 0
    if overlap:
        clean = report.get("non_overlapping") or {}
        beside = (f" On the {clean['n_tracks']} tracks it never saw: track acc {_f(clean['track_accuracy'])}."
                  if clean.get("n_tracks") else " No track of this dataset is new to the run.")
        out += [f"WARNING    {overlap} of the {report['n_tracks']} tracks evaluated were used to train or validate "
                f"this run: the figures below are optimistic, not a test.{beside}", ""]
    out += [
        f"run        {report['run']}",
        f"dataset    {report['dataset']['name']} ({report['n_tracks']} tracks evaluated, "
        f"{report.get('n_segments') if report.get('n_segments') is not None else '-'} segments)",
        f"track acc  {_f(report['track_accuracy'])}  95% CI [{lo:.3f}, {hi:.3f}]",
        f"balanced   {_f(report['balanced_accuracy'])}   macro F1 {_f(report['macro_f1'])}   "
        f"top-2 {_f(report['top2_accuracy'])}   log loss {_f(report['log_loss'])}",
    ]
    if report.get("segment_accuracy") is not None:
        out.append(f"segment    {_f(report['segment_accuracy'])}   track (vote) {_f(report.get('track_vote_accuracy'))}")
    out.append("")
    rows = [[lab, _f(pc["precision"]), _f(pc["recall"]), _f(pc["f1"]), pc["support"]]
            for lab, pc in report["per_class"].items() if pc["support"] or pc["predicted"]]
    out.append(_table(rows, ["genre", "precision", "recall", "f1", "tracks"]))
    out.append("")
    out.append("confusion matrix (tracks; rows = true, columns = predicted)")
    short = [lab[:6] for lab in labels]
    cm_rows = [[lab] + row for lab, row in zip(labels, report["confusion_matrix"])]
    out.append(_table(cm_rows, [""] + short))
    for note in report.get("notes") or []:
        out.append(f"note: {note}")
    print("\n".join(out))
    return 0


# --------------------------------------------------------------------------- predict


def cmd_predict(args) -> int:
    from .errors import AudioError
    from .predict import open_runs, predict_file

    if len(args.items) < 2:
        raise GenreLabError("predict needs at least one RUN and then a FILE.")
    *refs, source = args.items
    from pathlib import Path

    if not Path(source).exists():
        raise AudioError(source, "missing", f"{source} does not exist.")
    progress = ProgressPrinter(args.quiet)
    t0 = time.perf_counter()
    runs = open_runs(refs)  # verified; models load while the audio is analysed
    t_load = time.perf_counter() - t0
    preds = predict_file(runs, source, max_duration=args.max_duration, max_windows=args.max_windows or None,
                         progress=progress)
    t_total = time.perf_counter() - t0
    if args.json:
        print(json.dumps({"file": source, "load_s": round(t_load, 3), "total_s": round(t_total, 3),
                          "predictions": [p.to_dict(segments=not args.no_segments) for p in preds]}, indent=2))
        return 0
    out = []
    for p in preds:
        top = ", ".join(f"{lab} {prob:.2f}" for lab, prob in p.top3)
        out.append(f"{p.run_id}: {p.label} (confidence {p.confidence:.2f}; top 3: {top})")
        out.append(f"  {p.n_segments} segment(s) of {p.window:g} s over {p.duration:.1f} s"
                   if p.window else f"  {p.n_segments} segment(s) over {p.duration:.1f} s")
        if p.n_windows_total > p.n_segments:
            out[-1] += f" ({p.n_segments} of its {p.n_windows_total} windows: none overlapping, spread evenly)"
        if p.clipped_to_max:
            out.append(f"  note: only the first {p.duration:.0f} s of {p.source_duration:.0f} s were analysed")
        for note in p.notes:
            out.append(f"  note: {note}")
        if not args.no_segments and p.n_segments:
            seg = p.segment_proba  # numpy rows, no DataFrame: pandas' import is ~0.6 s of a cold start
            rows = [[f"{a:.1f}-{b:.1f}", p.labels[int(row.argmax())]] + [f"{v:.2f}" for v in row]
                    for a, b, row in zip(p.starts, p.ends, seg)]
            table = _table(rows, ["seconds", "label"] + [lab[:7] for lab in p.labels])
            out.extend("  " + line for line in table.splitlines())
        out.append("")
    out.append(f"({t_total:.2f} s, run loading {t_load:.2f} s)")
    print("\n".join(out))
    return 0


# --------------------------------------------------------------------------- sweep


def cmd_sweep(args) -> int:
    from .sweep import format_pm, parse_grid, run_sweep

    record = run_sweep(args.dataset if len(args.dataset) > 1 else args.dataset[0], args.model,
                       parse_grid(args.param, args.model), seeds=args.seeds, split=args.split, group=args.group,
                       k=args.k, test_size=args.test_size, valid_size=args.valid_size, name=args.name,
                       overwrite=args.overwrite, metric=args.metric, progress=ProgressPrinter(args.quiet),
                       n_jobs=args.jobs, use_cache=not args.no_cache, search=args.search, trials=args.trials)
    if args.json:
        print(json.dumps(record, indent=2))
        return 0
    rows = [[("* " if r["best"] else "  ") + r["label"], f"{r['n_complete']}/{r['n_tasks']}",
             *(format_pm(r[m]) for m in ("track_accuracy", "balanced_accuracy", "macro_f1"))]
            for r in record["summary"]]
    print(f"sweep {record['name']}: {len(record['tasks'])} runs on {record['engine']} in {record['seconds']:.1f} s "
          f"({record['path']})")
    print(_table(rows, ["configuration", "runs", "track acc", "balanced", "macro F1"]))
    print(f"* best by mean {record['metric']} across seeds and folds (mean +- sample std, n = runs)")
    failed = [t for t in record["tasks"] if t.get("status") == "failed"]
    for t in failed[:10]:
        print(f"failed: config {t['config']} seed {t['seed']}" + (f" fold {t['fold']}" if t.get("fold") else "")
              + f": {t.get('error')}", file=sys.stderr)
    return 0 if record["status"] == "complete" else 1


# --------------------------------------------------------------------------- runs


def _size(n) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024.0
    return str(n)


def cmd_runs(args) -> int:
    from .runs import list_runs

    runs = list_runs()
    if args.complete:
        runs = [r for r in runs if r.status == "complete"]
    heads = [r.headline() for r in runs]
    if args.json:
        print(json.dumps(heads, indent=2))
        return 0
    if not heads:
        print("no runs yet (train one with `python -m genre_core train DATASET --model mlp`)")
        return 0
    rows = []
    for h in heads:
        ci = h.get("track_accuracy_ci")
        acc = _f(h.get("track_accuracy"))
        if ci and h.get("track_accuracy") is not None:
            acc += f" [{ci[0]:.2f}-{ci[1]:.2f}]"
        status = h["status"] + (f" ({h['stage']})" if h.get("stage") else "")
        rows.append([h["id"], status, h.get("backend") or "-", h.get("split") or "-",
                     f"{h.get('evaluated_on') or '-'}" + (f" n={h['n_tracks']}" if h.get("n_tracks") else ""),
                     acc, _f(h.get("balanced_accuracy")), _f(h.get("macro_f1")), _size(h.get("size_bytes")),
                     (h.get("created") or "-")[:16]])
    print(_table(rows, ["run", "status", "backend", "split", "evaluated", "track acc [95% CI]", "balanced",
                        "macro F1", "size", "created"]))
    failed = [h for h in heads if h["status"] in ("failed", "cancelled", "crashed", "invalid") and h.get("error")]
    for h in failed:
        print(f"{h['id']}: {h['status']}: {h['error']}")
    return 0
