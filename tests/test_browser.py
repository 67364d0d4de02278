"""The dashboard in a real browser: JupyterLab on 127.0.0.1 driven by Playwright with Debian's Chromium.

Opens a copy of notebook 02, runs all cells, then uses the dashboard as a
person would: *Run to end* (the heatmap must change in the DOM), *Pause* (the
step counter must stop), switch an op off in the op swapper and take steps
(its column of the DOM heatmap must become 0). Saves a screenshot of the
dashboard to ``test-artifacts/dashboard.png`` (gitignored).

Never runs ``playwright install``: it needs /usr/bin/chromium (Debian package
``chromium``) and the ``playwright`` Python package, and is skipped with the
reason when either is missing. The server is isolated from the user's
JupyterLab: temporary settings, workspace and runtime folders, a free port,
no token, the notebook copied to a temporary root.
"""
from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import pytest
from lab_session import (
    ALL_RUN,
    CHROMIUM,
    CHROMIUM_ARGS,
    ERRORS,
    KERNEL_IDLE,
    LabError,
    jupyterlab,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "02_darts_step_by_step.ipynb"
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} not found: install Debian's chromium package (never `playwright install`)",
                allow_module_level=True)
try:
    from playwright.sync_api import sync_playwright
except ImportError:
    pytest.skip("the playwright Python package is not installed (pip install playwright; do NOT run "
                "`playwright install`, the test uses /usr/bin/chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "root"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / "dashboard.ipynb")
    try:
        with jupyterlab(tmp, root) as port:
            yield port
    except LabError as exc:
        pytest.fail(str(exc))


HEATMAP_Z = ("() => { const el = document.querySelector('.dnas-dashboard .dnas-heatmap.js-plotly-plot'); "
             "return el && el.data ? Array.from(el.data[0].z, row => Array.from(row, Number)) : null; }")
STEP = ("() => { const el = document.querySelector('.dnas-dashboard .dnas-progress'); if (!el) return null; "
        "const m = el.textContent.match(/step\\s+(\\d+)\\//); return m ? Number(m[1]) : null; }")
GRAPH_FONT_PX = ("() => { const svg = document.querySelector('.dnas-dashboard .dnas-genotype svg'); if (!svg) return 0; "
                 "const k = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width; "
                 "const sizes = Array.from(svg.querySelectorAll('.edge text'), t => Number(t.getAttribute('font-size'))); "
                 "return sizes.length ? Math.min(...sizes) * k : 0; }")
CURVES_LAYOUT = ("() => { const el = document.querySelector('.dnas-dashboard .dnas-alpha-curves.js-plotly-plot'); "
                 "if (!el || !el._fullLayout) return null; const t = el.querySelector('.gtitle'); "
                 "const l = el.querySelector('.legend'); if (!t || !l) return null; "
                 "return {title_bottom: t.getBoundingClientRect().bottom, legend_top: l.getBoundingClientRect().top, "
                 "x_max: el._fullLayout.xaxis.range[1]}; }")
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")  # NB201 op order (columns)


def _wait(page, fn: str, arg=None, timeout: float = 120.0) -> None:
    page.wait_for_function(fn, arg=arg, timeout=timeout * 1000, polling=250)


def test_dashboard_controls_a_running_search_in_jupyterlab(lab):
    port = lab
    console_errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.goto(f"http://127.0.0.1:{port}/lab/workspaces/t{uuid.uuid4().hex[:8]}/tree/dashboard.ipynb?reset")
            page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
            _wait(page, "() => window.jupyterapp && window.jupyterapp.serviceManager.isReady")
            _wait(page, KERNEL_IDLE)
            # fire and forget: execute() resolves only when every cell has run
            page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); return 1; }")
            _wait(page, ALL_RUN, timeout=480)
            _wait(page, KERNEL_IDLE)
            assert page.evaluate(ERRORS) == []

            dash = page.locator(".dnas-dashboard").first
            dash.scroll_into_view_if_needed()
            _wait(page, HEATMAP_Z)
            z0 = page.evaluate(HEATMAP_Z)
            step0 = page.evaluate(STEP)
            assert step0 == 36, f"the notebook leaves the search at step 36, the page shows {step0}"

            # Run to end: the search runs in the kernel's background thread, the heatmap changes in the DOM
            run = dash.locator(".dnas-run")
            run.scroll_into_view_if_needed()
            assert run.is_enabled()
            run.click()
            _wait(page, f"() => ({STEP})() > {step0}", timeout=60)
            _wait(page, f"(z0) => ({HEATMAP_Z})().some((row, i) => row.some((v, j) => Math.abs(v - z0[i][j]) > 1e-4))",
                  arg=z0, timeout=60)
            _wait(page, f"() => ({STEP})() >= 40", timeout=60)

            # Pause: the step counter stops
            dash.locator(".dnas-pause").click()
            _wait(page, "() => document.querySelector('.dnas-dashboard .dnas-status').textContent"
                        ".includes('paused')", timeout=30)
            time.sleep(1.0)  # let the last throttled redraw arrive
            paused_at = page.evaluate(STEP)
            time.sleep(2.0)
            assert page.evaluate(STEP) == paused_at, "the search kept stepping after Pause"
            assert paused_at < 240

            # Switch nor_conv_1x1 off in the op swapper, take two steps: its heatmap column is 0
            col = OPS.index("nor_conv_1x1")
            dash.locator(".dnas-op-cell-nor_conv_1x1").click()
            _wait(page, "() => document.querySelector('.dnas-dashboard .dnas-swap-status').textContent"
                        ".includes('nor_conv_1x1 switched off')", timeout=30)
            for k in (1, 2):
                dash.locator(".dnas-step").click()
                _wait(page, f"() => ({STEP})() === {paused_at + k}", timeout=60)
            _wait(page, f"() => {{ const z = ({HEATMAP_Z})(); return z && z.every(row => row[{col}] === 0); }}",
                  timeout=30)
            z = page.evaluate(HEATMAP_Z)
            assert all(row[col] == 0 for row in z)
            assert all(abs(sum(row) - 1) < 1e-4 for row in z)  # still a softmax over the other ops

            # what a person reads: the graph's edge labels at >= 11 px, the curves' legend clear of their title,
            # the curves' x axis no wider than the steps run (an op switch's label does not stretch it)
            _wait(page, GRAPH_FONT_PX, timeout=30)
            assert page.evaluate(GRAPH_FONT_PX) >= 11, f"edge labels {page.evaluate(GRAPH_FONT_PX):.1f} px"
            _wait(page, CURVES_LAYOUT, timeout=30)
            layout = page.evaluate(CURVES_LAYOUT)
            assert layout["legend_top"] >= layout["title_bottom"], layout
            step = page.evaluate(STEP)
            _wait(page, f"() => ({CURVES_LAYOUT})().x_max <= {step} + 0.5 + 1e-6", timeout=30)

            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "jupyterlab.png"))  # what a 1440x900 laptop screen shows
            page.set_viewport_size({"width": 1440, "height": 2200})  # tall enough for the whole dashboard
            time.sleep(1.5)
            dash.scroll_into_view_if_needed()
            time.sleep(1.0)
            dash.screenshot(path=str(ARTIFACTS / "dashboard.png"))
        finally:
            browser.close()
    serious = [e for e in console_errors if "favicon" not in e]
    assert not serious, f"browser console errors: {serious[:5]}"
