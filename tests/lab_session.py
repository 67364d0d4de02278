"""An isolated JupyterLab server for browser checks (tests/test_browser.py, scripts/screenshot_lesson.py).

Temporary settings, workspace and runtime folders, a free port on 127.0.0.1, no token, ``--allow-root``; the
server and its kernels run in their own process group and are killed on exit. The repository is put on the
kernels' PYTHONPATH.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


#: JavaScript run in the page (``page.evaluate`` / ``wait_for_function``) on the open notebook
CURRENT = "window.jupyterapp.shell.currentWidget"
KERNEL_IDLE = (f"() => {{ const w = {CURRENT}; const k = w && w.sessionContext && w.sessionContext.session "
               "&& w.sessionContext.session.kernel; return !!k && k.status === 'idle'; }")
ALL_RUN = (f"() => {{ const w = {CURRENT}; if (!w || !w.content) return false; "
           "const cells = w.content.widgets.filter(c => c.model.type === 'code'); "
           "return cells.length > 0 && cells.every(c => c.model.executionCount !== null && "
           "!c.node.querySelector('.jp-InputArea-prompt').textContent.includes('*')); }")
ERRORS = (f"() => {CURRENT}.content.widgets.filter(c => c.model.type === 'code')"
          ".flatMap(c => c.model.outputs.toJSON()).filter(o => o.output_type === 'error')"
          ".map(o => o.ename + ': ' + o.evalue)")


class LabError(RuntimeError):
    """The server exited or did not answer (the message carries the end of its log)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def jupyterlab(tmp: Path, root: Path, start_timeout: float = 120.0) -> Iterator[int]:
    """Run JupyterLab on ``root`` (its files are the lab's tree) with state under ``tmp``; yields the port."""
    settings = tmp / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    port = free_port()
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(tmp / "ws"),
               JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    log_path = tmp / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
             "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={root}",
             "--ServerApp.port_retries=0", "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
             "--expose-app-in-browser"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.time() + start_timeout
            while True:
                if proc.poll() is not None:
                    raise LabError(f"jupyter lab exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2)
                    break
                except OSError:
                    if time.time() > deadline:
                        raise LabError(f"jupyter lab did not answer within {start_timeout:.0f} s") from None
                    time.sleep(0.5)
            yield port
        finally:
            try:
                os.killpg(proc.pid, signal.SIGTERM)  # the server and its kernels (own process group)
                proc.wait(20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)
