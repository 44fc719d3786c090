"""Scopes that put process-wide state back: a library call must not change the random streams or the environment
variables of its caller."""
from __future__ import annotations

import contextlib
import os
import random

import numpy as np


@contextlib.contextmanager
def keep_random_state():
    """Python's and NumPy's global random states are restored on exit, whatever ran inside (gridlab's seeding,
    or a converter that draws from them).

    >>> with keep_random_state():
    ...     random.seed(0)
    """
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


@contextlib.contextmanager
def environment(values: dict):
    """The environment variables ``values`` set while the body runs, and each put back as it was on exit (removed
    where it was not set)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
