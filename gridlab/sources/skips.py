"""One policy for files that cannot be read: raise (``on_bad_file=error``) or leave them out and list them
(``on_bad_file=skip``). Every left-out file is kept with its reason, for the run's ``data_report.csv``."""
from __future__ import annotations

import dataclasses

from ..errors import DataFormatError


@dataclasses.dataclass
class Skipped:
    """Files left out of a data set, each with the reason."""

    policy: str = "error"
    files: list = dataclasses.field(default_factory=list)

    def handle(self, error: DataFormatError) -> None:
        """Raise ``error`` under the ``error`` policy, otherwise record it."""
        if self.policy != "skip":
            raise error
        self.files.append((error.path, str(error)))
