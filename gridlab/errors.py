"""Typed errors. Library code raises these; only ``cli.py`` and ``serving/`` turn them into messages.

Every message follows one shape: where (file and line when there is one), what was expected, what was received,
and what to do about it.
"""
from __future__ import annotations

import os

# Exit codes of the command line: 0 done, 2 refused (a GridlabError: nothing was done, or nothing written), 3 done
# with some inputs failed (a batch of files where some could not be read: the good ones were predicted, each bad one
# is a row with its error), 130 interrupted.
EXIT_REFUSED = 2
EXIT_SOME_FAILED = 3


class GridlabError(Exception):
    """Base class of every error gridlab raises on purpose. The CLI prints it on one line and exits with 2."""

    exit_code = EXIT_REFUSED


class ConfigError(GridlabError):
    """A configuration key or value is wrong."""


class DataNotFoundError(GridlabError):
    """A data set could not be found anywhere gridlab looks."""


class DataFormatError(GridlabError):
    """A data file does not have the expected format.

    Args:
        path: the file that is wrong.
        problem: what was expected and what was received.
        fix: what the user can do about it.
        line: 1-based line number for text formats, when known.
    """

    def __init__(self, path: str | os.PathLike, problem: str, fix: str = "", line: int | None = None):
        self.path = str(path)
        self.line = line
        self.problem = problem
        self.fix = fix
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}." + (f" {fix}" if fix else ""))

    def __reduce__(self):  # keep the fields when the error crosses a process boundary
        return type(self), (self.path, self.problem, self.fix, self.line)


class ModelSpecError(GridlabError):
    """A model name or a YAML layer specification is wrong, or does not fit the data."""


class UnsafeModelError(GridlabError):
    """A model file was refused because loading it could run code or exhaust memory."""


class RunError(GridlabError):
    """A run directory is missing, incomplete or would be overwritten."""


class TrainingError(GridlabError):
    """Training could not go on (for example the loss became NaN)."""


def first_line(exc: BaseException, with_type: bool = False) -> str:
    """The first line of an exception's message (empty messages allowed), for one-line error reports.

    >>> first_line(ValueError("bad\\nmore detail"), with_type=True)
    'ValueError: bad'
    """
    lines = str(exc).splitlines()
    text = lines[0] if lines else ""
    return f"{type(exc).__name__}: {text}" if with_type else text


def did_you_mean(word: str, choices) -> str:
    """Return ' Did you mean "x"?' for the closest choice, or '' when nothing is close."""
    import difflib

    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.5)
    return f' Did you mean "{close[0]}"?' if close else ""
