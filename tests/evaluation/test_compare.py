"""compare: a table of runs' main figures and their overlaid validation curves, on run folders written by hand."""
import re

from gridlab.evaluation.compare import compare, compare_rows
from tests.test_runs import write_run


def test_rows_and_page(tmp_path):
    a = write_run(tmp_path / "a", "a", accuracy=0.8, epochs=2)
    b = write_run(tmp_path / "b", "b", accuracy=0.9, epochs=4, model="gridlab_fast")
    rows = compare_rows([a, b])
    assert [(r["model"], r["epochs"], r["accuracy"]) for r in rows] == [("seed001_cnn", 2, 0.8),
                                                                         ("gridlab_fast", 4, 0.9)]
    rows, out = compare([a, b], tmp_path / "c.html")
    page = out.read_text()
    assert re.search(r"<td>gridlab_fast</td><td>1,234</td><td>2.5000</td><td>4</td><td>0.9000</td>", page)
    assert page.count("data:image/png;base64,") == 1 and (tmp_path / "c.png").stat().st_size > 5000
