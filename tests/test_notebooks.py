"""Every notebook in notebooks/ runs top to bottom on the embedded models (executed with nbclient), so
none of them can rot."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, hh_rows):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code")


def test_every_notebook_is_collected():
    assert {p.name for p in NOTEBOOKS} >= {"quickstart.ipynb", "prompts_to_dpo.ipynb"}
