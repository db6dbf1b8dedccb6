"""Take the dashboard screenshot of the docs (docs/img/dashboard.png) from a real devnet.

    python scripts/dashboard_screenshot.py [--out docs/img/dashboard.png]

Runs ``othentic devnet --keep-running`` (6 operators, one of them offline, 12 tasks) in a temporary
folder, opens the dashboard it serves in headless Chromium (tests/browser.py), waits until the page
shows the landed tasks, saves a full-page PNG and stops the devnet.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import HeadlessChromium  # noqa: E402


async def shoot(url: str, out: Path, landed: int) -> None:
    async with HeadlessChromium(width=1440, height=1100) as browser:
        await browser.goto(url)
        await browser.wait_for(f"document.querySelectorAll('#tasks tr[data-status=landed]').length >= {landed}", 120)
        await browser.screenshot(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "img" / "dashboard.png"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dashboard-shot-") as folder:
        state = Path(folder) / "devnet"
        command = [sys.executable, "-m", "othentic_offchain.cli", "devnet", "--operators", "6", "--tasks", "12"]
        command += ["--offline-attesters", "1", "--keep-running", "--state-dir", str(state)]
        devnet = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            assert devnet.stdout is not None
            for line in devnet.stdout:
                if "Ctrl-C stops everything" in line:
                    break
            else:
                raise SystemExit(f"the devnet stopped before it was ready (exit {devnet.wait()})")
            url = json.loads((state / "devnet.json").read_text())["dashboard"]
            asyncio.run(shoot(url, Path(args.out), landed=12))
            print(f"saved {args.out}")
        finally:
            devnet.send_signal(signal.SIGINT)
            deadline = time.monotonic() + 30
            while devnet.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            if devnet.poll() is None:
                devnet.terminate()
                devnet.wait()


if __name__ == "__main__":
    main()
