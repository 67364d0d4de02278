"""Run a lesson in JupyterLab (headless Debian Chromium) and save screenshots, to look at it as a learner would.

``python scripts/screenshot_lesson.py notebooks/12_beyond_vision.ipynb OUT_DIR [--width 1440] [--timeout 900]``

A copy of the notebook is opened in an isolated JupyterLab (tests/lab_session.py), every cell is run, and the
script saves ``<stem>-NN.png``: the notebook scrolled one screen at a time, top to bottom (at most ``--pages``).
It prints the error outputs, if any, and exits 1 on them. The repository's copy is never modified.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from lab_session import ALL_RUN, CHROMIUM, CHROMIUM_ARGS, ERRORS, KERNEL_IDLE, jupyterlab  # noqa: E402

SCROLL = ("(y) => { const el = document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer') || "
          "document.querySelector('.jp-NotebookPanel .jp-Notebook'); el.scrollTop = y; "
          "return [el.scrollTop, el.scrollHeight, el.clientHeight]; }")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebook", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--width", type=int, default=1440)
    ap.add_argument("--height", type=int, default=1000)
    ap.add_argument("--pages", type=int, default=40)
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds for running every cell (default 900)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        root = tmp / "root"
        root.mkdir()
        shutil.copy(args.notebook, root / args.notebook.name)
        for module in args.notebook.parent.glob("[a-z]*.py"):  # modules a lesson imports from its folder
            shutil.copy(module, root / module.name)
        with jupyterlab(tmp, root) as port, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            page.goto(f"http://127.0.0.1:{port}/lab/workspaces/s{uuid.uuid4().hex[:8]}/tree/"
                      f"{args.notebook.name}?reset")
            page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
            page.wait_for_function(KERNEL_IDLE, timeout=120_000, polling=250)
            t0 = time.perf_counter()
            page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); return 1; }")
            page.wait_for_function(ALL_RUN, timeout=args.timeout * 1000, polling=500)
            page.wait_for_function(KERNEL_IDLE, timeout=120_000, polling=250)
            print(f"{args.notebook.name}: every cell ran in {time.perf_counter() - t0:.0f} s")
            time.sleep(2.0)
            errors = page.evaluate(ERRORS)
            y, k = 0, 0
            while k < args.pages:
                top, height, client = page.evaluate(SCROLL, y)
                time.sleep(1.2)  # let plotly and the windowed notebook render what scrolled in
                path = args.out / f"{args.notebook.stem}-{k:02d}.png"
                page.screenshot(path=str(path))
                k += 1
                if top + client >= height - 2:
                    break
                y = top + client - 80
            browser.close()
    print(f"wrote {k} screenshots to {args.out}")
    for e in errors:
        print("error output:", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
