"""The one kind of process pool gridlab starts (parsing large sensor-grid folders, writing synthetic thermal sets):
always clean ``spawn`` processes, since fork is unsafe once a threaded runtime (TensorFlow, JAX) is loaded, and one
start method means the same code path whatever the caller imported first.

A spawned worker imports the caller's ``__main__`` again. A script that calls gridlab at its top level, outside
``if __name__ == "__main__":``, therefore makes each worker run the script once more, and Python refuses to start
processes from there: the pool breaks. ``process_pool`` turns that into one ``GridlabError`` that names the fix."""
from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing

from .errors import GridlabError


@contextlib.contextmanager
def process_pool(workers: int, what: str):
    """A ``ProcessPoolExecutor`` of ``workers`` spawned processes; ``what`` names the work in the error."""
    try:
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            yield pool
    except concurrent.futures.process.BrokenProcessPool:
        raise GridlabError(f"{what}: a worker process ended before it started (expected {workers} worker "
                           "processes, received none). In a script, put the code that calls gridlab under "
                           "`if __name__ == \"__main__\":` (each worker process imports the script again).") from None
