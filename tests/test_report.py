"""widgets.report: a self-contained page, written to the run folder."""
from __future__ import annotations

import re
import shutil

import pytest
import torch

from widgets.report import report_html, write_report
from workbench import SearchConfig, Searcher, SupernetConfig
from workbench.history import History
from workbench.spaces import get_space

CFG = SearchConfig(space="toy", dataset="digits", epochs=2, batch_size=16, data_limit=160,
                   supernet=SupernetConfig(C=4), seed=0)


@pytest.fixture(scope="module")
def hist() -> History:
    torch.set_num_threads(1)
    s = Searcher(CFG)
    h = History.attach(s)
    s.run()
    return h


def _plotly_bundles(page: str) -> int:
    return len(re.findall(r"\* plotly\.js v\d", page))


def test_report_is_self_contained_and_written_to_the_folder(hist, tmp_path):
    path = write_report(tmp_path / "run", hist, title="Toy run")
    assert path == tmp_path / "run" / "report.html" and path.is_file()
    page = path.read_text(encoding="utf-8")
    assert _plotly_bundles(page) == 1  # plotly.js inlined exactly once
    assert not re.search(r"<script[^>]*\bsrc=", page)  # nothing fetched at view time
    # outside the inlined plotly.js bundle (whose defaults mention URLs it never fetches here)
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", page, flags=re.S)
    bundle = max(scripts, key=len)
    rest = page.replace(bundle, "")
    assert "cdn" not in rest and "https://" not in rest and "<link" not in rest
    n_figs = page.count("Plotly.newPlot(")
    assert n_figs == 4  # heatmap, alpha curves, loss curves, param-free count (1 cell type)
    genotype = hist.finished.genotype
    assert genotype.to_nb201_str() in page
    assert page.count("<tr") == 1 + len(hist.epochs)
    if shutil.which("dot"):
        assert "<svg" in page and "<?xml" not in page


def test_report_html_without_steps_still_renders():
    page = report_html(History(get_space("toy")), None, {"space": "toy", "note": "<b>x</b>"})
    assert "No step recorded yet" in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert _plotly_bundles(page) == 0


def test_write_report_from_a_run_folder(tmp_path):
    runs = pytest.importorskip("workbench.runs")
    torch.set_num_threads(1)
    s = Searcher(CFG.replace(epochs=1))
    with runs.RunStore(tmp_path / "r", s):
        s.run()
    path = write_report(tmp_path / "r")
    page = path.read_text(encoding="utf-8")
    assert "digits" in page and "darts-v1" in page and "finished" in page
    assert page.count("Plotly.newPlot(") == 4


def test_write_report_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_report(tmp_path / "nope")
