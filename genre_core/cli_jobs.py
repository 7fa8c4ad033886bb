"""``python -m genre_core jobs``: the training-job queue the Train page uses, headless.

* ``jobs list``: every job with its state, stage and run.
* ``jobs cancel JOB_ID``: ask a queued or running job to stop.
* ``jobs run JOB_DIR``: the worker process itself (started by the queue; it
  trains the job's configuration and records its progress).
"""

from __future__ import annotations

from pathlib import Path


def add_commands(subparsers) -> None:
    """Register ``jobs`` on ``subparsers``."""
    p = subparsers.add_parser("jobs", help="list or cancel the app's training jobs (or run one: the worker)")
    sub = p.add_subparsers(dest="jobs_command", metavar="ACTION")
    sub.required = True
    q = sub.add_parser("list", help="every job: id, state, stage, run")
    q.set_defaults(func=cmd_list)
    q = sub.add_parser("cancel", help="cancel a queued or running job")
    q.add_argument("job_id", metavar="JOB_ID")
    q.set_defaults(func=cmd_cancel)
    q = sub.add_parser("run", help="run a job's worker in this process (what the queue starts)")
    q.add_argument("folder", metavar="JOB_DIR")
    q.set_defaults(func=cmd_run)


def cmd_list(args) -> int:
    from .jobs import list_jobs

    for st in list_jobs():
        print(f"{st['job_id']}\t{st['state']}\t{st.get('stage')}\t{st.get('run_id') or ''}")
    return 0


def cmd_cancel(args) -> int:
    from .jobs import cancel_job

    print(cancel_job(args.job_id)["state"])
    return 0


def cmd_run(args) -> int:
    from .jobs import run_job

    st = run_job(args.folder)
    print(f"job {Path(args.folder).name}: {st.get('state')}" + (f" ({st.get('error')})" if st.get("error") else ""),
          flush=True)
    return 0 if st.get("state") == "complete" else 1
