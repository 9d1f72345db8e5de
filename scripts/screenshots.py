"""Screenshots of what an operator sees after the demo, taken in a real browser.

Starts `dagster dev` on the demo's DAGSTER_HOME and drives Debian's Chromium through
Playwright (no browser download: `apt-get install chromium`, `pip install playwright`):
the asset lineage, audio_files' partitions, the runs list and the latest run.

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


def latest_run_id(base: str) -> str | None:
    import json

    query = '{ runsOrError(limit: 1) { ... on Runs { results { runId } } } }'
    request = urllib.request.Request(f"{base}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        results = json.load(response)["data"]["runsOrError"]["results"]
    return results[0]["runId"] if results else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(REPO / ".media_pipeline" / "screenshots"))
    parser.add_argument("--dagster-home", default=str(REPO / ".media_pipeline" / "dagster_home"))
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"error: {CHROMIUM} is missing; install Debian's chromium (apt-get install chromium)")
    if not (Path(args.dagster_home) / "dagster.yaml").exists():
        sys.exit(f"error: no demo instance at {args.dagster_home}; run `bash scripts/demo.sh` first")
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": args.dagster_home, "MEDIA_PIPELINE_ENV": "local"}
    ui = subprocess.Popen([str(Path(sys.executable).parent / "dagster"), "dev", "-p", str(port)], cwd=REPO, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/server_info")
        pages = {
            "lineage": f"{base}/asset-groups",
            "audio_files_partitions": f"{base}/assets/audio_files?view=partitions",
            "transcriptions_checks": f"{base}/assets/transcriptions?view=checks",
            "runs": f"{base}/runs",
        }
        run_id = latest_run_id(base)
        if run_id:
            pages["run"] = f"{base}/runs/{run_id}"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            for name, url in pages.items():
                page.goto(url, wait_until="networkidle", timeout=120_000)
                skip = page.get_by_role("button", name="Skip")  # the first-visit "join the community" dialog
                if skip.count():
                    skip.first.click()
                page.wait_for_timeout(2500)  # the graph lays itself out after the data arrives
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
