"""A pytest plugin for bench/suite_cpu.py: each test's CPU, appended to the file GRIDLAB_BENCH_CPU_LOG names as one
tab-separated line (worker, the test process's own CPU seconds, its waited-for children's, wall seconds, test id).
A child is charged to the test during which it is waited for; processes nobody waits for (Ray's, a server's
helpers) are charged to no test: bench/suite_cpu.py counts them in the machine's busy time."""
import os
import resource
import time

import pytest

LOG = os.environ.get("GRIDLAB_BENCH_CPU_LOG")


def _now() -> tuple[float, float, float]:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime, time.time()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    before = _now()
    yield
    after = _now()
    if LOG:
        with open(LOG, "a") as f:
            f.write(f"{os.environ.get('PYTEST_XDIST_WORKER', '-')}\t{after[0] - before[0]:.3f}\t"
                    f"{after[1] - before[1]:.3f}\t{after[2] - before[2]:.3f}\t{item.nodeid}\n")
