"""Scopes that put process-wide state back: a library call must not change the random streams of its caller."""
from __future__ import annotations

import contextlib
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
