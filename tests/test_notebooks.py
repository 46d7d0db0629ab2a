"""The notebooks in notebooks/ run top to bottom in a fresh kernel and are committed without outputs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
KERNEL_NAME = "python3"  # the name the notebooks' metadata asks for


def test_notebook_directory_holds_notebooks() -> None:
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOK_DIR}"


@pytest.fixture(scope="session")
def kernel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private kernelspec directory whose python3 kernel is this interpreter (sys.executable).

    Jupyter would otherwise pick the first python3 kernelspec on its search path, which on a
    developer's machine may belong to another Python without jaxdl installed.
    """
    from ipykernel.kernelspec import write_kernel_spec

    root = tmp_path_factory.mktemp("kernels")
    write_kernel_spec(root / KERNEL_NAME)
    argv = json.loads((root / KERNEL_NAME / "kernel.json").read_text())["argv"]
    assert argv[0] == sys.executable
    return root


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_without_errors(path: Path, kernel_dir: Path) -> None:
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    specs = KernelSpecManager(kernel_dirs=[str(kernel_dir)], ensure_native_kernel=False)
    km = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)
    # Runs in notebooks/, as `jupyter lab notebooks/` would; a failing cell raises CellExecutionError
    # with the cell's traceback.
    client = NotebookClient(nb, km=km, timeout=300, resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute()
    # execute() raises on the first failing cell unless the cell is tagged "raises-exception";
    # no cell here is allowed to fail, tagged or not.
    errors = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
              if out.output_type == "error"]
    assert not errors, errors


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_has_no_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [
        i for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, (
        f"{path.name}: code cells {dirty} have outputs or execution counts; clear them before committing "
        "(JupyterLab: Edit > Clear Outputs of All Cells, or `jupyter nbconvert --clear-output --inplace`)"
    )
