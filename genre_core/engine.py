"""Where per-track and per-run work executes: this machine's processes, or a Dask cluster.

One concept for every caller (feature extraction, spectrograms, training inputs,
evaluation, Explore, sweeps): an :class:`Engine`.

* **local** (the default): joblib's local processes on this machine, as before.
* **Dask** (`Dask distributed <https://distributed.dask.org>`_): named by an
  *address*, from ``--dask ADDRESS`` on the CLI or ``GENRE_DASK`` in the
  environment (the CLI option wins):

  ``tcp://host:8786`` (or ``tls://...``)
      an existing scheduler (``dask scheduler`` + ``dask worker tcp://host:8786``).
  ``local`` / ``local:N``
      a cluster of ``N`` worker processes on this machine (default: one per
      core), started on first use and closed when the process exits.

The engine is *ambient*: :func:`use` sets it for a block of code and
:func:`current` is what library code asks (``GENRE_DASK`` when nothing is
set), so :func:`genre_core.extraction.compute_dataset_inputs` and every function
built on it run on the cluster without a new argument. Inside a Dask worker
:func:`current` is always local and serial (no cluster in the cluster, no
process pool in a worker process).

Workers must be able to ``import genre_core`` (same code, e.g.
``PYTHONPATH=/path/to/genre-lab``) and see the audio and the cache folder at
the same paths as the client (shared storage). Connecting is checked within
``GENRE_DASK_TIMEOUT`` seconds (default 5): an unreachable scheduler is an
:class:`EngineError` (a :class:`~genre_core.errors.GenreLabError`, so the CLI
prints one line), never a hang.

Example
-------
>>> from genre_core import engine
>>> engine.parse_address("local:2")
('local', None, 2)
>>> with engine.use("local:2"):                                   # doctest: +SKIP
...     inputs, failures = compute_dataset_inputs(ds.tracks, spec)
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import os
import re
import sys
import threading
import time
from typing import Any, Callable, Iterator, Sequence

from .errors import GenreLabError, TrainingCancelled

__all__ = [
    "Engine",
    "EngineError",
    "ENV_VAR",
    "parse_address",
    "get_engine",
    "current",
    "use",
    "in_worker",
    "describe_configured",
    "connect_timeout",
    "shutdown",
    "add_cli_option",
    "from_cli",
    "chunk_size",
]

#: Environment variable naming the engine (same syntax as ``--dask``).
ENV_VAR = "GENRE_DASK"
#: Seconds to wait for a scheduler (``GENRE_DASK_TIMEOUT`` overrides).
DEFAULT_CONNECT_TIMEOUT = 5.0
_ADDRESS_RE = re.compile(r"^(tcp|tls|ucx|ws|wss)://[^\s/]+:\d+/?$")



def resolve_jobs(n_jobs: int | None, n_tasks: int) -> int:
    """How many local processes to use: ``n_jobs`` (``-1`` all cores, ``-2`` all but one, ``None``/0 one),
    never more than ``n_tasks`` and at least 1.

    Examples
    --------
    >>> resolve_jobs(4, 2)
    2
    >>> resolve_jobs(None, 10)
    1
    """
    cpus = os.cpu_count() or 1
    if n_jobs is None or n_jobs == 0:
        n = 1
    elif n_jobs < 0:
        n = max(1, cpus + 1 + n_jobs)
    else:
        n = int(n_jobs)
    return max(1, min(n, n_tasks))


class EngineError(GenreLabError):
    """The Dask engine cannot be used as asked (bad address, unreachable scheduler, lost workers)."""


def connect_timeout() -> float:
    """Seconds to wait for a scheduler: ``GENRE_DASK_TIMEOUT`` or 5."""
    raw = os.environ.get("GENRE_DASK_TIMEOUT", "").strip()
    try:
        value = float(raw) if raw else DEFAULT_CONNECT_TIMEOUT
    except ValueError:
        raise EngineError(f"GENRE_DASK_TIMEOUT must be a number of seconds, not {raw!r}.") from None
    return value if value > 0 else DEFAULT_CONNECT_TIMEOUT


def parse_address(text: str | None) -> tuple[str, str | None, int | None]:
    """``(kind, scheduler address, n local workers)`` for an engine address.

    ``None``, ``""``, ``"none"``, ``"off"`` -> ``("joblib", None, None)``;
    ``"local"`` -> ``("local", None, None)`` (one worker per core); ``"local:N"``
    -> ``("local", None, N)``; ``"tcp://host:port"`` -> ``("scheduler", address, None)``.

    Raises
    ------
    EngineError
        Anything else, with the accepted forms.

    Examples
    --------
    >>> parse_address("tcp://127.0.0.1:8786")
    ('scheduler', 'tcp://127.0.0.1:8786', None)
    >>> parse_address("")
    ('joblib', None, None)
    """
    s = (text or "").strip()
    if s.lower() in ("", "none", "off", "no", "joblib"):
        return "joblib", None, None
    low = s.lower()
    if low == "local":
        return "local", None, None
    if low.startswith("local:"):
        n = s.split(":", 1)[1].strip()
        if n.isdigit() and 1 <= int(n) <= 1024:
            return "local", None, int(n)
        raise EngineError(f"Dask address {s!r}: 'local:N' needs a number of worker processes from 1 to 1024.")
    if _ADDRESS_RE.match(s):
        return "scheduler", s.rstrip("/"), None
    if re.match(r"^[A-Za-z0-9.\-]+:\d+$", s):  # host:port without a protocol: Dask's default is tcp
        return "scheduler", f"tcp://{s}", None
    raise EngineError(
        f"{s!r} is not a Dask address; use tcp://HOST:PORT for a running scheduler, 'local' or 'local:N' "
        f"for a cluster of N worker processes on this machine, or leave --dask/{ENV_VAR} unset to run locally."
    )


def in_worker() -> bool:
    """True inside a Dask worker (a task): work there stays local and serial."""
    if "distributed" not in sys.modules:
        return False
    try:
        from distributed import get_worker

        get_worker()
        return True
    except (ValueError, ImportError, AttributeError):
        return False


# --------------------------------------------------------------------------- the engine


class Engine:
    """An execution engine: local processes (joblib) or a Dask client.

    Build with :func:`get_engine` (cached per address) or :meth:`from_client`
    (an existing ``distributed.Client``, e.g. in tests). The Dask client is
    made on first use (:meth:`client`), so naming an engine costs nothing
    until work is mapped on it.
    """

    def __init__(self, address: str | None = None, *, client: Any = None, serial: bool = False):
        self.kind, self.address, self.n_local = parse_address(address) if client is None else ("client", None, None)
        self.text = (address or "").strip() if client is None else "client"
        self.serial = serial  # inside a Dask worker: no process pool either
        self._client = client
        self._cluster = None
        self._owns_client = False
        self._lock = threading.Lock()

    @classmethod
    def from_client(cls, client: Any) -> "Engine":
        """An engine over an existing ``distributed.Client`` (not closed by :meth:`close`)."""
        return cls(client=client)

    @property
    def is_dask(self) -> bool:
        """True when work goes to Dask workers."""
        return self.kind != "joblib"

    def local_jobs(self, n: int) -> int:
        """Process count for local (joblib) work: ``n``, or 1 inside a Dask worker."""
        return 1 if self.serial else n

    def describe(self) -> str:
        """One line for people: which engine runs the work."""
        if self.kind == "joblib":
            if self.serial:
                return "this Dask worker (serial)"
            return f"local processes on this machine ({os.cpu_count() or 1} cores, joblib)"
        if self.kind == "local":
            n = self.n_local or (os.cpu_count() or 1)
            return f"Dask local cluster ({n} worker process{'es' if n != 1 else ''} on this machine)"
        if self.kind == "client":
            return f"Dask cluster via {getattr(self._client, 'scheduler', None) and self._client.scheduler.address}"
        return f"Dask scheduler at {self.address}"

    def __repr__(self) -> str:
        return f"Engine({self.text or 'joblib'!r})"

    # ---- Dask client

    def client(self):
        """The ``distributed.Client`` (made on first call).

        Raises
        ------
        EngineError
            ``dask``/``distributed`` missing, the scheduler unreachable within
            :func:`connect_timeout` seconds, or workers that cannot import genre_core.
        """
        if not self.is_dask:
            raise EngineError("This engine runs locally; it has no Dask client.")
        with self._lock:
            if self._client is not None:
                return self._client
            try:
                import logging

                from distributed import Client, LocalCluster
            except ImportError as err:
                raise EngineError(f"--dask needs the 'dask' and 'distributed' packages ({err}); "
                                  "install requirements.txt.") from None
            timeout = connect_timeout()
            if self.kind == "local":
                n = self.n_local or (os.cpu_count() or 1)
                try:
                    self._cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                                 dashboard_address=None, silence_logs=logging.ERROR)
                    self._client = Client(self._cluster, timeout=max(timeout, 30.0), set_as_default=False)
                except Exception as err:  # noqa: BLE001 - any start failure is the engine's
                    self._close_quietly()
                    raise EngineError(f"Could not start a local Dask cluster of {n} workers: "
                                      f"{type(err).__name__}: {err}") from None
            else:
                t0 = time.monotonic()
                try:
                    self._client = Client(self.address, timeout=timeout, set_as_default=False)
                except Exception as err:  # noqa: BLE001 - OSError/TimeoutError/CommClosedError...
                    raise EngineError(
                        f"Cannot reach the Dask scheduler at {self.address} (gave up after "
                        f"{time.monotonic() - t0:.1f} s: {_short(err)}). Check the address and that "
                        f"`dask scheduler` is running there, or drop --dask/{ENV_VAR} to run locally."
                    ) from None
            self._owns_client = True
            self._check_workers(self._client)
            return self._client

    @staticmethod
    def _check_workers(client) -> None:
        """The scheduler and every connected worker can import genre_core (they unpack its tasks)."""
        def probe():
            return __import__("importlib.util").util.find_spec("genre_core") is not None

        try:
            on_scheduler = client.run_on_scheduler(probe)
            found = client.run(probe)
        except Exception:  # noqa: BLE001 - no workers yet / old scheduler: tasks will tell
            return
        bad = [w for w, ok in found.items() if not ok]
        if not on_scheduler:
            bad.insert(0, "the scheduler")
        if bad:
            raise EngineError(
                f"{len(bad)} Dask process(es) cannot import genre_core (e.g. {bad[0]}); start the scheduler "
                "and the workers with the same code on their path, e.g. `PYTHONPATH=/path/to/genre-lab dask "
                "scheduler` and `PYTHONPATH=/path/to/genre-lab dask worker ADDRESS`."
            )

    def n_workers(self) -> int:
        """Workers (or local processes) available now."""
        if not self.is_dask:
            return 1 if self.serial else (os.cpu_count() or 1)
        try:
            return max(1, len(self.client().scheduler_info().get("workers", {})))
        except EngineError:
            raise
        except Exception:  # noqa: BLE001
            return 1

    def _close_quietly(self) -> None:
        for obj in (self._client, self._cluster):
            if obj is not None:
                try:
                    obj.close()
                except Exception:  # noqa: BLE001 - closing at exit
                    pass
        self._client = self._cluster = None

    def close(self) -> None:
        """Close the client (and the local cluster) this engine made; a given client is left open."""
        with self._lock:
            if self._owns_client:
                self._close_quietly()
                self._owns_client = False

    # ---- mapping work

    def map(
        self,
        fn: Callable[..., Any],
        args: Sequence[tuple],
        *,
        n_jobs: int = 1,
        should_stop: Callable[[], bool] | None = None,
        stop_message: Callable[[], str] | str = "The work was stopped on request.",
        what: str = "task",
    ) -> Iterator[Any]:
        """Run ``fn(*a)`` for every ``a`` in ``args``; yield the results as they finish.

        Locally (``n_jobs`` processes via joblib, in order; in this process
        when ``n_jobs <= 1``) or on the Dask workers (in completion order).
        ``should_stop`` is polled between results (and every 0.1 s while
        waiting on Dask); when it returns True the outstanding tasks are
        cancelled and :class:`~genre_core.errors.TrainingCancelled` is raised
        with ``stop_message``. An exception raised by ``fn`` is re-raised here
        (the remaining tasks are cancelled); a Dask failure of the engine itself
        (lost scheduler, workers killed) is an :class:`EngineError`.
        """
        args = list(args)

        def stop() -> None:
            if should_stop is not None and should_stop():
                raise TrainingCancelled(stop_message() if callable(stop_message) else stop_message)

        if not args:
            return
        if not self.is_dask:
            n = max(1, min(self.local_jobs(int(n_jobs)), len(args)))
            if n <= 1:
                for a in args:
                    stop()
                    yield fn(*a)
                return
            from joblib import Parallel, delayed

            gen = Parallel(n_jobs=n, return_as="generator")(delayed(fn)(*a) for a in args)
            try:
                for res in gen:
                    yield res
                    stop()
            finally:
                close = getattr(gen, "close", None)
                if close is not None:
                    close()
            return
        yield from self._dask_map(fn, args, stop, what)

    def _dask_map(self, fn, args: list[tuple], stop: Callable[[], None], what: str) -> Iterator[Any]:
        from distributed import as_completed

        client = self.client()
        size = chunk_size(len(args), self.n_workers())
        chunks = [args[i:i + size] for i in range(0, len(args), size)]
        try:
            futures = client.map(_run_chunk, [fn] * len(chunks), chunks, pure=False, batch_size=1000)
        except Exception as err:  # noqa: BLE001
            raise EngineError(f"Could not submit {len(args)} {what}(s) to the Dask scheduler: {_short(err)}") from None
        # results are gathered in the background, in batches (one round trip per future would double the overhead)
        ac = as_completed(futures, loop=client.loop, with_results=True, raise_errors=False)
        remaining = len(futures)
        try:
            while remaining:
                stop()
                batch = ac.next_batch(block=False) if ac.has_ready() else []
                if not batch:
                    time.sleep(0.02)
                    continue
                for fut, res in batch:
                    remaining -= 1
                    for r in (self._result(fut, what) if fut.status != "finished" else res):
                        yield r
                        stop()
                    fut.release()
        finally:
            if remaining:
                try:
                    client.cancel([f for f in futures if not f.done()])
                except Exception:  # noqa: BLE001 - best effort on the way out
                    pass

    @staticmethod
    def _result(fut, what: str) -> Any:
        status = fut.status
        if status == "error":
            exc = fut.exception()
            name = type(exc).__name__
            if name == "KilledWorker":
                raise EngineError(f"Dask workers died while running a {what} ({exc}); they may have run out "
                                  "of memory (see the worker logs).") from None
            if "deserialization of the task graph" in str(exc):
                raise EngineError("The Dask scheduler could not unpack genre-lab's tasks: start it (and the "
                                  "workers) with the same Python environment and genre_core on the path, e.g. "
                                  "`PYTHONPATH=/path/to/genre-lab dask scheduler`.") from None
            raise exc
        if status in ("cancelled", "lost"):
            raise EngineError(f"A {what} was {status} by the Dask scheduler (connection to the scheduler or its "
                              "workers lost?).")
        try:
            return fut.result()
        except Exception as err:  # noqa: BLE001
            if type(err).__name__ in ("CancelledError", "CommClosedError", "FutureCancelledError"):
                raise EngineError(f"Lost a {what} on the Dask cluster: {_short(err)}") from None
            raise


def chunk_size(n_tasks: int, n_workers: int) -> int:
    """Tasks per Dask task: 1 below 1000 tasks (fine-grained progress), else up to 16 so that each worker
    still gets ~50 chunks (Dask costs ~2-5 ms per task here; 100k tracks in single tasks would spend minutes
    on bookkeeping).

    >>> chunk_size(217, 2), chunk_size(100_000, 64), chunk_size(5000, 2)
    (1, 16, 16)
    """
    if n_tasks < 1000:
        return 1
    return max(1, min(16, n_tasks // (max(1, n_workers) * 50)))


def _run_chunk(fn: Callable[..., Any], chunk: Sequence[tuple]) -> list:
    """A Dask task: ``fn(*a)`` for each ``a`` of a chunk, in order."""
    return [fn(*a) for a in chunk]


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


# --------------------------------------------------------------------------- which engine


_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()
_CURRENT: contextvars.ContextVar[Engine | None] = contextvars.ContextVar("genre_core_engine", default=None)
_SERIAL = Engine(None, serial=True)
_LOCAL = Engine(None)


def get_engine(address: str | None = None) -> Engine:
    """The engine for ``address`` (``None``: ``GENRE_DASK``, else local), one per address per process.

    Validates the address (:class:`EngineError` when malformed) but does not
    connect: that happens on the first :meth:`Engine.map` / :meth:`Engine.client`.
    """
    if address is None:
        address = os.environ.get(ENV_VAR, "")
    kind, _, _ = parse_address(address)
    if kind == "joblib":
        return _LOCAL
    key = address.strip()
    with _ENGINES_LOCK:
        eng = _ENGINES.get(key)
        if eng is None:
            eng = _ENGINES[key] = Engine(key)
        return eng


def current() -> Engine:
    """The engine library code should use now.

    Inside a Dask worker: local and serial. Else the one set by :func:`use`,
    else ``GENRE_DASK``'s, else local processes.
    """
    if in_worker():
        return _SERIAL
    eng = _CURRENT.get()
    return eng if eng is not None else get_engine(None)


@contextlib.contextmanager
def use(engine: "Engine | str | None"):
    """Make ``engine`` (an :class:`Engine`, an address, or ``None`` for ``GENRE_DASK``/local) current in a block."""
    if not isinstance(engine, Engine):
        engine = get_engine(engine)
    token = _CURRENT.set(engine)
    try:
        yield engine
    finally:
        _CURRENT.reset(token)


def describe_configured(address: str | None = None) -> str:
    """Which engine ``address`` (default ``GENRE_DASK``) names, without connecting (for the Train page)."""
    try:
        return get_engine(address).describe()
    except EngineError as err:
        return f"invalid {ENV_VAR} ({err}); work would fail"


def shutdown() -> None:
    """Close every client and local cluster this process made (also run at exit)."""
    with _ENGINES_LOCK:
        engines = list(_ENGINES.values())
        _ENGINES.clear()
    for eng in engines:
        eng.close()


atexit.register(shutdown)


def add_cli_option(parser) -> None:
    """``--dask ADDRESS`` on a CLI command (see the module docstring)."""
    parser.add_argument(
        "--dask", default=None, metavar="ADDRESS",
        help=f"run per-track work on Dask: tcp://HOST:PORT (a running scheduler), 'local' or 'local:N' "
             f"(N worker processes here); default ${ENV_VAR}, else local processes",
    )


def from_cli(args) -> Engine:
    """The engine a CLI command asked for: ``--dask`` if given, else ``GENRE_DASK``, else local."""
    return get_engine(getattr(args, "dask", None))

