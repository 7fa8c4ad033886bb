"""``python -m genre_core``: the command line (:mod:`genre_core.cli`).

When the command is done, the process ends without the interpreter's module-by-
module teardown: the exit handlers run (a Dask cluster or joblib workers shut
down, temporary folders are removed), stdout and stderr are flushed, then
``os._exit``. Freeing torch, the arrays and the native libraries one module at
a time took about 1 s of a cold ``predict`` (3-minute song: 8.4 s -> 7.4 s);
nothing of genre-lab's is left to write by then (every file it writes is closed
and renamed into place before the command returns).
"""

import atexit
import contextlib
import os
import sys

from .cli import main


def _exit(code: int) -> None:
    atexit._run_exitfuncs()  # what the interpreter would run first on a normal exit
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # e.g. a closed pipe (`predict ... | head`)
            stream.flush()
    os._exit(code)


_exit(main())
