"""docs/jupyter.ipynb, executed as a reader would run it: a drawing, an explanation, a summary,
the viewer and the stepper, each displayed inline with its rich representation."""
import os

import pytest

NOTEBOOK = os.path.join(os.path.dirname(__file__), "..", "docs", "jupyter.ipynb")


@pytest.mark.slow
def test_the_notebook_runs_and_shows_everything_inline(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    shown = [o.data for o in outputs if o.output_type == "execute_result"]
    drawing, explanation, mlp_explanation, summary, viewer, stepper = shown
    assert drawing["image/svg+xml"].lstrip().startswith("<?xml") and "image/png" in drawing
    assert r"\frac{\partial \mathrm{L}}{\partial \mathrm{a}}" in explanation["text/html"]
    assert r"\mathrm{L1.n0.w0}" in mlp_explanation["text/html"]
    assert "<table>" in summary["text/html"] and "parameters" in summary["text/html"]
    for page in (viewer, stepper):
        assert page["text/html"].startswith('<iframe sandbox="allow-scripts"')
        assert "Content-Security-Policy" in page["text/html"]
