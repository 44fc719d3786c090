"""The example notebook runs top to bottom in a real Jupyter kernel (nbclient), on tiny data, and every result
shows itself inline."""
import os
import shutil
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "seed001.ipynb"


@pytest.mark.slow
def test_example_notebook_runs_and_shows_results_inline(tmp_path):
    """...and shows gridlab's lines alone: no TensorFlow start-up line and no retracing warning from gridlab's own
    predictions. The kernel runs as a user's does: without TF_CPP_MIN_LOG_LEVEL, and without PYTEST_CURRENT_TEST,
    under which ipykernel leaves what native code writes to descriptor 2 out of the notebook (iostream.py)."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")

    nb = nbformat.read(NOTEBOOK, as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source = 'DATA = "digits"\nEPOCHS = 1\nLIMIT = 400'
    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute(
        env={k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "PYTEST_CURRENT_TEST")})
    code = [c for c in nb.cells if c.cell_type == "code"]

    def html_of(source_start):
        cell = next(c for c in code if c.source.startswith(source_start))
        return "".join(o.get("data", {}).get("text/html", "") for o in cell.outputs)

    run_card = html_of("run = gridlab.train")
    assert "gridlab run seed001-notebook" in run_card and "balanced accuracy" in run_card
    assert run_card.count("data:image/png;base64,") == 2 and "report.html</a>" in run_card
    assert "gridlab metrics" in html_of("metrics = gridlab.evaluate") and "ECE" in html_of("metrics = ")
    predicted = html_of("dataset = gridlab.load_dataset")                  # the rows of 5 arrays, as a table
    assert all(f"<td>x[{i}]</td>" in predicted for i in range(5)) and "<td>x[5]</td>" not in predicted
    assert "<th>like training data</th>" in predicted and "n/a" not in predicted      # the OOD flag of each
    assert "gridlab run seed001-notebook" in html_of("gridlab.load_run")
    printed = "".join(o.get("text", "") for o in code[-1].outputs)
    assert printed.strip() == "matplotlib backend unchanged: True"
    assert (tmp_path / "runs" / "seed001-notebook" / "report.html").is_file()
    streams = "".join(o.get("text", "") for c in code for o in c.outputs if o.get("output_type") == "stream")
    assert "run directory: runs/seed001-notebook" in streams
    for chatter in ("absl", "port.cc", "oneDNN custom operations", "rebuild TensorFlow", "retracing", "WARNING"):
        assert chatter not in streams, streams
