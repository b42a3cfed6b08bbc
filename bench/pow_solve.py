"""How long a reader's browser takes to solve the proof-of-work challenge (docs/spam.md).

    .venv/bin/python -m bench.pow_solve [MAX_NUMBER ...]   (default: 20000 50000)

Debian's Chromium (/usr/bin/chromium) through Playwright runs embed.js's own `solvePow` (cut
out of service/commentd/static/embed.js, unchanged) on a page served from 127.0.0.1 (a secure
context, so Web Crypto is there), ten fresh challenges of spam.proof.issue per MAX_NUMBER, and
prints each solve's milliseconds and the median rate in hashes per second.
"""

from __future__ import annotations

import http.server
import re
import statistics
import sys
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

from commentd.spam import proof

EMBED = Path(__file__).resolve().parents[1] / "service/commentd/static/embed.js"
RUNS = 10


class BlankPage(http.server.BaseHTTPRequestHandler):
    """An empty HTML page at every path: somewhere on 127.0.0.1 for the solver to run."""

    def do_GET(self) -> None:
        body = b"<!doctype html><title>proof of work</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Quiet."""


def main(max_numbers: list[int]) -> None:
    found = re.search(r"  function solvePow\(c\) \{.*?\n  \}\n", EMBED.read_text(), re.S)
    assert found, "solvePow is no longer in embed.js"
    solver = found.group(0).replace("function solvePow", "window.solvePow = function")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), BlankPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
        page.add_script_tag(content=solver)
        for max_number in max_numbers:
            times, rates = [], []
            for _ in range(RUNS):
                challenge = proof.issue("a secret only for measuring, 0123456789", max_number)
                took, number = page.evaluate(
                    """async (c) => { const t0 = performance.now(); const p = await solvePow(c);
                    return [performance.now() - t0, JSON.parse(atob(p)).number]; }""",
                    challenge,
                )
                times.append(took)
                rates.append((number + 1) / took * 1000)
            rate = statistics.median(rates)
            print(
                f"max_number {max_number}: ms per solve {sorted(round(t) for t in times)}, "
                f"median {statistics.median(times):.0f} ms; {rate:,.0f} hashes/s, so "
                f"{max_number / 2 / rate * 1000:.0f} ms expected"
            )
        browser.close()
    server.shutdown()


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [20000, 50000])
