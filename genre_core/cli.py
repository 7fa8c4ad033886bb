"""``python -m genre_core``: everything the pages do, headless.

The parser is assembled from three command modules: :mod:`genre_core.cli_data`
(``scan``, ``features``, ``spectrograms``), :mod:`genre_core.cli_models`
(``train``, ``evaluate``, ``predict``, ``runs``, ``sweep``) and
:mod:`genre_core.cli_jobs` (``jobs``: the app's training queue). Each exposes
``add_commands(subparsers)``; every sub-parser sets ``func`` to a callable taking
the parsed ``argparse.Namespace`` and returning an exit code.

User errors (:class:`~genre_core.errors.GenreLabError`) print one line on
stderr and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from . import __version__
from .errors import GenreLabError


def build_parser() -> argparse.ArgumentParser:
    from . import cli_data, cli_jobs, cli_models

    parser = argparse.ArgumentParser(
        prog="python -m genre_core",
        description="genre-lab: train, evaluate and use music-genre classifiers from the command line.",
    )
    parser.add_argument("--version", action="version", version=f"genre-lab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    cli_data.add_commands(sub)
    cli_models.add_commands(sub)
    cli_jobs.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .allocator import reuse_freed_memory

    reuse_freed_memory()  # every command decodes and computes arrays again and again
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from . import engine

        eng = engine.from_cli(args)  # --dask, else GENRE_DASK, else local processes
        if eng.is_dask and not getattr(args, "quiet", False):
            print(f"engine: {eng.describe()}", file=sys.stderr)
        with engine.use(eng):
            return int(args.func(args) or 0)
    except GenreLabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (e.g. `predict ... | head`): not an error of ours
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - so the interpreter's final flush is silent
        return 0
    except Exception as err:  # a bug in genre-lab: still one line, the traceback only on request
        if os.environ.get("GENRE_DEBUG"):
            raise
        print(f"error: unexpected {type(err).__name__}: {err} (this is a genre-lab bug; set GENRE_DEBUG=1 for "
              "the traceback)", file=sys.stderr)
        return 1
