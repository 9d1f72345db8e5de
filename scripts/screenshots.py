"""Screenshots of what an operator sees after the demo, taken in a real browser.

Starts `dagster dev` on the demo's DAGSTER_HOME and drives Debian's Chromium through
Playwright (no browser download: `apt-get install chromium`, `pip install playwright`):
the asset lineage (every group expanded), audio_files' partitions (its latest materialized
partition selected), transcriptions' checks, the runs list (the Target column) and the
latest audio_files run.

    bash scripts/demo.sh && make screenshots     # PNGs in .media_pipeline/screenshots/
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            if time.monotonic() > deadline:
                sys.exit(f"error: the Dagster UI did not answer at {url} within {timeout:.0f} s")
            time.sleep(1)


def graphql(base: str, query: str) -> dict:
    import json

    request = urllib.request.Request(
        f"{base}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["data"]


def latest_asset_run(base: str, asset: str) -> tuple[str, str] | None:
    """(run id, first partition) of the latest run that materialized ``asset``."""
    query = "{ runsOrError(limit: 50) { ... on Runs { results { runId assetSelection { path } tags { key value } } } } }"
    for run in graphql(base, query)["runsOrError"]["results"]:
        if [asset] in [key["path"] for key in run["assetSelection"] or []]:
            tags = {t["key"]: t["value"] for t in run["tags"]}
            return run["runId"], tags.get("dagster/asset_partition_range_start") or tags.get(
                "dagster/partition", ""
            )
    return None


def dismiss_first_visit_dialog(page) -> None:
    """The "join the community" dialog a fresh browser profile gets, a moment after the first page."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(timeout=8000)
        skip.click()
    except Exception:
        pass


def wait_loaded(page) -> None:
    page.wait_for_function("!/Loading(\\.\\.\\.|…)/.test(document.body.innerText)", timeout=60_000)
    page.wait_for_timeout(1000)  # the graph lays itself out after the data arrives


def lineage(page, base: str) -> None:
    """Every group expanded, the asset list folded away, tall enough to show the whole graph."""
    page.set_viewport_size({"width": 1600, "height": 1700})
    page.goto(f"{base}/asset-groups", wait_until="networkidle", timeout=120_000)
    page.locator("button:has([aria-label=settings])").last.click()
    page.get_by_role("menuitem", name="Expand all groups").click()
    page.reload(wait_until="networkidle")  # laid out again, expanded (the UI keeps that choice)
    page.locator("button:has([aria-label=panel_show_right])").nth(1).click()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(REPO / ".media_pipeline" / "screenshots"))
    parser.add_argument("--dagster-home", default=str(REPO / ".media_pipeline" / "dagster_home"))
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(
            f"error: {CHROMIUM} is missing; install Debian's chromium (apt-get install chromium)"
        )
    if not (Path(args.dagster_home) / "dagster.yaml").exists():
        sys.exit(
            f"error: no demo instance at {args.dagster_home}; run `bash scripts/demo.sh` first"
        )
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": args.dagster_home, "MEDIA_PIPELINE_ENV": "local"}
    ui = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "dev", "-p", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/server_info")
        pages = {
            "audio_files_partitions": f"{base}/assets/audio_files?view=partitions",
            "transcriptions_checks": f"{base}/assets/transcriptions?view=checks",
            "runs": f"{base}/runs",
        }
        latest = latest_asset_run(base, "audio_files")
        if (
            latest
        ):  # a materialized partition selected, and that run's page (its target asset on top)
            run_id, partition = latest
            pages["audio_files_partitions"] += "&partition=" + urllib.parse.quote(
                partition, safe=""
            )
            pages["run"] = f"{base}/runs/{run_id}"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(f"{base}/runs", wait_until="networkidle", timeout=120_000)
            dismiss_first_visit_dialog(page)
            for name in ["lineage", *pages]:
                if name == "lineage":
                    lineage(page, base)
                else:
                    page.set_viewport_size({"width": 1600, "height": 1000})
                    page.goto(pages[name], wait_until="networkidle", timeout=120_000)
                wait_loaded(page)
                path = out / f"{name}.png"
                page.screenshot(path=str(path), full_page=False)
                print(f"{name}: {path}")
            browser.close()
    finally:
        os.killpg(ui.pid, signal.SIGTERM)
        ui.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
