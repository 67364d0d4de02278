from __future__ import annotations

from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)  # before any fixture builds a model: deterministic and fair on the 2-core CI machine

#: the NAS-Bench-201 table shipped inside the package (workbench/data/nb201/): tests need no ../shared for it
NB201_CSV = Path(__file__).resolve().parents[1] / "workbench" / "data" / "nb201" / "nb201_merged.csv.gz"


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)  # deterministic and fair on the 2-core CI machine
    yield


@pytest.fixture
def nb201_csv() -> Path:
    """The shipped NAS-Bench-201 table (package data; always present in a checkout)."""
    assert NB201_CSV.is_file(), f"the shipped NAS-Bench-201 table is missing: {NB201_CSV}"
    return NB201_CSV


def tiny_config(**kw):
    from workbench import SearchConfig, SupernetConfig
    base = dict(space="toy", dataset="digits", epochs=2, batch_size=16, data_limit=160,
                supernet=SupernetConfig(C=4), seed=0, eval_each_epoch=True)
    base.update(kw)
    return SearchConfig(**base)


def execute_notebook(path: Path, tmp_path: Path, monkeypatch, timeout: int = 300,
                     env: dict[str, str] | None = None) -> str:
    """Run a copy of notebook ``path`` headless in ``tmp_path/notebooks`` (as a user runs a copy elsewhere).

    The kernel gets the repository on PYTHONPATH; the lessons read the NAS-Bench-201 table shipped with the
    package (no table variable is set, so a user's own setting cannot leak in). Fails on the first failing cell; returns everything the notebook printed.
    """
    import os
    import shutil
    import time

    import nbformat
    from nbclient import NotebookClient

    root = Path(__file__).resolve().parents[1]
    work = tmp_path / "notebooks"
    work.mkdir(exist_ok=True)
    shutil.copy(path, work / path.name)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    for var in ("WORKBENCH_NB201_TABLE", "DNAS_NB201_TABLE"):
        monkeypatch.delenv(var, raising=False)
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(work / path.name, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(work)}})
    t = time.perf_counter()
    client.execute()  # raises CellExecutionError (with the cell and traceback) on the first failing cell
    print(f"{path.name}: {time.perf_counter() - t:.1f} s")
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    return "".join(o.get("text", "") for o in outputs if o.output_type == "stream")


def pytest_collection_modifyitems(config, items):
    """Start the longest tests first (notebooks, the browser, mypy, Ray: marked ``notebook``/``browser``/``slow``,
    or ``tests/test_types.py``), so that two workers finish together instead of one waiting on a lesson at the end.
    The order within each group is the collection order."""
    def long(item) -> bool:
        return (any(item.get_closest_marker(m) for m in ("notebook", "browser", "slow"))
                or item.nodeid.startswith("tests/test_types.py"))
    items.sort(key=lambda item: not long(item))
