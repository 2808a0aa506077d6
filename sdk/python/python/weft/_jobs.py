"""Jobs: a driver component run under the cluster's supervision, as Ray's
``JobSubmissionClient`` runs a driver script.

    job_id = weft.submit_job("driver", "run(100, 10)",
                             runtime_env={"env_vars": {"STAGE": "blue"}})
    print(weft.wait_job(job_id)["result"])
    print("\\n".join(weft.logs(job_id)))

Every task and actor the driver makes belongs to the job: ``stop_job``
ends them with it, and they see its ``env_vars``.
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional

from ._api import _runtime_env, _session
from ._errors import GetTimeoutError

#: States in which a job has ended for good.
FINISHED = ("SUCCEEDED", "FAILED", "STOPPED")


def submit_job(
    component: str,
    call: str,
    *,
    name: Optional[str] = None,
    max_retries: int = 0,
    runtime_env: Optional[Dict[str, Any]] = None,
    submission_id: Optional[str] = None,
) -> str:
    """Submits a job: ``component``'s entry ``call`` in WAVE
    (``"run(100, 10)"``); returns its id at once. ``max_retries`` reruns
    it when its host dies; ``runtime_env`` takes Ray's ``env_vars`` and
    weft's ``config``, ``secrets`` and ``dirs`` (as tasks do), which the
    job's tasks and actors inherit; ``submission_id`` names the job, and
    submitting it again returns that job rather than making another."""
    env = _runtime_env(runtime_env)
    record = _session().submit_job(
        component,
        call,
        name,
        max_retries,
        env.get("env", {}),
        submission_id,
        env.get("config"),
        env.get("secrets"),
        env.get("dirs"),
    )
    return str(record["id"])


def job(job_id: str) -> Dict[str, Any]:
    """A job's record by id or name: ``state`` (PENDING, RUNNING,
    SUCCEEDED, FAILED, STOPPED), ``reason``, ``result`` (WAVE), ``attempt``,
    ``host``, and times in seconds since the epoch."""
    return _session().job(job_id)


def list_jobs() -> List[Dict[str, Any]]:
    """Every job's record, oldest first."""
    return _session().jobs()


def stop_job(job_id: str) -> bool:
    """Stops a job with its tasks and non-detached actors; False when it
    had already ended."""
    return _session().stop_job(job_id)


def wait_job(job_id: str, timeout: Optional[float] = None) -> Dict[str, Any]:
    """Waits until the job ends and returns its record; raises
    ``GetTimeoutError`` after ``timeout`` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        record = job(job_id)
        if record["state"] in FINISHED:
            return record
        if deadline is not None and time.monotonic() >= deadline:
            raise GetTimeoutError(f"job {job_id} is still {record['state']} after {timeout} s")
        time.sleep(0.05)
