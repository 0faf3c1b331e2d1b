"""The MLflow UI opens on the benchmark: the suite's experiment gets the model-training kind and a saved
view of the runs table, and (integration) in headless Chromium the address the main job prints shows
the sweep's runs with method, dataset, k and AOGM."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient
from tornado.websocket import websocket_connect

from benchmark.cli import main
from benchmark.data.ctc import write_ctc_sequence
from benchmark.mlflow_ui import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG, VIEW_KEY, VIEW_TAG
from benchmark.tracking import configure_tracking
from conftest import tiny_arrays, unavailable
from test_distributed import Services, answers, free_port, wait_until


def test_the_suites_experiment_gets_its_kind_and_view_once(tracking, monkeypatch):
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "fresh")
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    client = MlflowClient()
    experiment_id = configure_tracking()
    tags = client.get_experiment(experiment_id).tags
    assert tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND == "custom_model_development"
    envelope = json.loads(tags[VIEW_TAG])
    state = json.loads(envelope["state"])
    assert envelope["name"] == VIEW_KEY and envelope["createdAt"] <= envelope["updatedAt"]
    assert state["selectedColumns"][:3] == ["tags.`method`", "tags.`dataset`", "tags.`k`"]
    assert "metrics.`AOGM`" in state["selectedColumns"]

    client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, "genai_development")  # a person's choices stay
    client.set_experiment_tag(experiment_id, VIEW_TAG, "{}")
    assert configure_tracking() == experiment_id
    tags = client.get_experiment(experiment_id).tags
    assert (tags[EXPERIMENT_KIND_TAG], tags[VIEW_TAG]) == ("genai_development", "{}")


class Browser:
    """Headless Chromium driven over the DevTools protocol (one page, 1800 x 1000 px)."""

    def __init__(self, executable: str, profile: Path) -> None:
        self.process = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             "--remote-debugging-port=0", "--window-size=1800,1000", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.profile, self.calls, self.socket = profile, 0, None

    async def open(self) -> None:
        port_file = self.profile / "DevToolsActivePort"  # Chromium writes its port there
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and port_file.read_text().strip()):
            assert self.process.poll() is None and time.monotonic() < deadline, "Chromium did not start"
            await asyncio.sleep(0.2)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            page = next(target for target in json.load(response) if target["type"] == "page")
        self.socket = await websocket_connect(page["webSocketDebuggerUrl"], max_message_size=1 << 28)
        await self.call("Emulation.setDeviceMetricsOverride", width=1800, height=1000, deviceScaleFactor=1, mobile=False)

    async def call(self, method: str, **params) -> dict:
        self.calls += 1
        await self.socket.write_message(json.dumps({"id": self.calls, "method": method, "params": params}))
        while True:  # skip events until the answer
            message = json.loads(await self.socket.read_message())
            if message.get("id") == self.calls:
                assert "error" not in message, message["error"]
                return message["result"]

    async def evaluate(self, expression: str):
        return (await self.call("Runtime.evaluate", expression=expression, returnByValue=True))["result"].get("value")

    async def wait_for(self, expression: str, what: str, timeout_s: float = 120):
        """The value of ``expression`` once truthy; fails naming ``what`` after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while not (value := await self.evaluate(expression)):
            assert time.monotonic() < deadline, f"{what} not shown after {timeout_s} s"
            await asyncio.sleep(0.5)
        return value

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


#: The runs table as the browser shows it: {"headers": {column id: title}, "rows": {run id: {column id: text}}}
#: with the headers inside the window only (the UI's table is an ag-grid: cells carry their column's id,
#: rows their run's id).
TABLE = """(() => { const rows = {}, headers = {};
    for (const cell of document.querySelectorAll('.ag-row [role=gridcell][col-id]')) {
        const row = cell.closest('.ag-row').getAttribute('row-id');
        (rows[row] = rows[row] || {})[cell.getAttribute('col-id')] = cell.innerText.trim(); }
    for (const cell of document.querySelectorAll('[role=columnheader][col-id]'))
        if (cell.getBoundingClientRect().right <= window.innerWidth) headers[cell.getAttribute('col-id')] = cell.innerText.trim();
    return JSON.stringify({headers, rows}); })()"""
#: Expand the sweep run (README: "expand it"); true once clicked.
EXPAND_SWEEP = """(() => { const link = [...document.querySelectorAll('a')].find(a => a.innerText.startsWith('sweep-'));
    const button = link && link.closest('[role=row]').querySelector('button'); if (button) button.click();
    return Boolean(button); })()"""
CLOSE_ASSISTANT = "(() => { const b = document.querySelector('button[aria-label=Close]'); if (b) b.click(); return true; })()"


async def runs_table(browser: Browser, url: str, runs: int, screenshot: Path) -> dict:
    """Open ``url``, expand the sweep run, wait until ``runs`` rows show and return the TABLE; save a
    screenshot."""
    await browser.open()
    await browser.call("Page.navigate", url=url)
    await browser.wait_for(EXPAND_SWEEP, "the sweep run")
    await browser.evaluate(CLOSE_ASSISTANT)
    await browser.wait_for(f"Object.keys(JSON.parse({TABLE}).rows).length >= {runs}", f"{runs} runs")
    await asyncio.sleep(2)  # let the last columns render before the picture
    shot = await browser.call("Page.captureScreenshot", format="png")
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    return json.loads(await browser.evaluate(TABLE))


@pytest.mark.integration
def test_the_printed_address_shows_the_runs_with_method_dataset_k_and_aogm(tracking, tmp_path, monkeypatch, capsys):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        unavailable("chromium not found; .ci/run installs it (apt-get install chromium)")
    movie = tmp_path / "tiny"
    write_ctc_sequence(movie, "01", *tiny_arrays())
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({
        "profile": "smoke", "datasets": [str(movie)], "seeds": [0], "methods": ["position", "attrackt"],
        "finetune": {"k": [2], "sampling": ["confidence"], "setup": ["interpolation"]},
        "overrides": {"data.data_dir": tracking["data.data_dir"]},
    }))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "attrackt-benchmark")  # the README's experiment
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    assert main(["main", "--grid", str(grid)]) == 0
    printed = capsys.readouterr().out
    [address] = [line.split()[2] for line in printed.splitlines() if line.startswith("  then open http://")]
    client = MlflowClient()
    experiment = client.get_experiment_by_name("attrackt-benchmark").experiment_id
    runs = {run.info.run_name: run for run in client.search_runs([experiment], "tags.method != ''")}
    assert len(runs) == 4  # position, autoencoder, attrackt, finetune

    with tempfile.TemporaryDirectory() as profile, ExitStack() as stack:
        port = free_port()
        server, log = Services(stack, tmp_path).start("mlflow-ui", [
            Path(sys.executable).parent / "mlflow", "ui", "--backend-store-uri", os.environ["MLFLOW_TRACKING_URI"], "--host", "127.0.0.1",
            "--port", str(port), "--workers", "1",
        ], {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}, tmp_path)
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/health"), "mlflow ui", server, log)
        browser = Browser(chromium, Path(profile))
        stack.callback(browser.close)
        screenshot = tmp_path / "mlflow-ui.png"
        table = asyncio.run(runs_table(browser, address.replace(":5000/", f":{port}/"), len(runs) + 1, screenshot))
    print(f"screenshot: {screenshot}")
    columns = {"method": "tags.`method`", "dataset": "tags.`dataset`", "k": "tags.`k`", "AOGM": "metrics.`AOGM`"}
    assert {table["headers"].get(key) for key in columns.values()} == set(columns), table["headers"]
    for run in runs.values():  # every run of the sweep with its tags and AOGM
        cells = table["rows"][run.info.run_id]
        assert cells[columns["method"]] == run.data.tags["method"] and cells[columns["dataset"]] == str(movie)
        assert cells[columns["k"]] == run.data.tags.get("k", "-")
        assert float(cells[columns["AOGM"]]) == run.data.metrics["AOGM"]
