"""How values and images are shown in tables and pages (the report, compare, a notebook's inline cards)."""
from __future__ import annotations

from pathlib import Path


def format_value(v) -> str:
    """A table cell: floats to 4 decimals, whole numbers with thousands separators, None as a dash.

    >>> format_value(0.91234), format_value(10000), format_value(None)
    ('0.9123', '10,000', '–')
    """
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def png_data_uri(path: Path) -> str:
    """A PNG file as a ``data:`` URI, for pages that must open as one file."""
    import base64

    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()
