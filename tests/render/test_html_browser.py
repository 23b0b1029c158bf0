"""Open a built ``index.html`` in headless Chromium and check it renders cleanly.

Chromium is driven over the DevTools protocol on ``--remote-debugging-pipe`` (fd 3 in,
fd 4 out, NUL-separated JSON; no port, no extra package). The test loads the page from
disk and asserts: the title and every section are there, every ``<img>`` decoded
(``naturalWidth > 0``), the page fetched nothing from the network, and there were no
console errors, uncaught exceptions or browser log errors, and that on a 1,400 px wide window
the per-token-kind table fits without a horizontal scrollbar (every column, p95, p99 and the
close codes included, is visible). A second page, a copy with a broken image, a
``console.error`` and a too-wide table injected, proves the checks can fail.

Skipped when ``/usr/bin/chromium`` is missing (``make system-deps`` installs it).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.render import report as build
from tests.analysis.builders import (
    FINDINGS,
    chaos_event,
    chaos_records,
    with_findings,
    write_run,
)
from tests.conftest import scaled

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
)

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium (/usr/bin/chromium): make system-deps"
)

#: What the page reports about itself once loaded (evaluated in the page).
PAGE_PROBE = """JSON.stringify({
  title: document.title,
  h2: Array.from(document.querySelectorAll('h2')).map(h => h.textContent),
  banners: Array.from(document.querySelectorAll('.banner')).map(b => b.textContent),
  images: Array.from(document.images).map(i => ({
    complete: i.complete, width: i.naturalWidth, height: i.naturalHeight,
    scheme: i.src.split(':')[0]})),
  fetched: performance.getEntriesByType('resource').map(r => r.name),
  severities: Array.from(document.querySelectorAll('td.sev')).map(
    td => [td.textContent, getComputedStyle(td).backgroundColor]),
  scripts: document.scripts.length,
  width: document.documentElement.scrollWidth,
  viewport: window.innerWidth,
  tables: ['kinds-table', 'close-codes'].map(id => {
    const t = document.getElementById(id), box = t.parentElement;
    return {id: id, width: t.scrollWidth, box: box.clientWidth, boxScroll: box.scrollWidth,
            right: Math.max(...Array.from(t.querySelectorAll('th, td')).map(
              c => c.getBoundingClientRect().right)),
            heads: Array.from(t.rows[0].cells).map(c => c.textContent)};
  }),
})"""

#: The window the page is checked in (CSS pixels).
WINDOW = {"width": 1400, "height": 900, "deviceScaleFactor": 1, "mobile": False}


class DevTools:
    """A headless Chromium and its DevTools pipe: send commands, collect events."""

    def __init__(self, user_data_dir: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def plumb() -> None:  # in the child: fd 3 = commands in, fd 4 = replies out
            a = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={user_data_dir}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=plumb,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_chrome], [], [], left)[0]:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                raise ConnectionError("chromium closed its DevTools pipe")
            self._buf += chunk
        raw, _, self._buf = self._buf.partition(b"\0")
        msg: dict[str, Any] = json.loads(raw)
        return msg

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send a command and return its result (events that arrive meanwhile are kept)."""
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + scaled(10.0)
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                assert "error" not in reply, f"{method}: {reply['error']}"
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_event(self, method: str, session: str) -> dict[str, Any]:
        """Wait for an event of ``method`` on ``session`` (events seen before count)."""
        deadline = time.monotonic() + scaled(10.0)
        while True:
            for ev in self.events:
                if ev.get("method") == method and ev.get("sessionId") == session:
                    self.events.remove(ev)
                    return ev
            self.events.append(self._read_message(deadline))

    def close(self) -> None:
        with contextlib.suppress(OSError, TimeoutError, ConnectionError, AssertionError):
            self.call("Browser.close")
        try:
            self.proc.wait(timeout=scaled(5.0))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


def errors_of(events: list[dict[str, Any]], session: str) -> list[str]:
    """Console errors, uncaught exceptions and browser log errors seen on ``session``."""
    out = []
    for ev in events:
        if ev.get("sessionId") != session:
            continue
        method, params = ev.get("method"), ev.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            out.append("console: " + " ".join(str(a.get("value")) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            out.append("exception: " + str(params["exceptionDetails"].get("text")))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            out.append("log: " + str(params["entry"].get("text")))
    return out


def load_page(chrome: DevTools, path: Path) -> tuple[dict[str, Any], list[str]]:
    """Open ``path`` in a new tab; return what :data:`PAGE_PROBE` saw and the errors."""
    target = chrome.call("Target.createTarget", url="about:blank")["targetId"]
    session = chrome.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Page", "Runtime", "Log"):
        chrome.call(f"{domain}.enable", session)
    chrome.call("Emulation.setDeviceMetricsOverride", session, **WINDOW)
    chrome.call("Page.navigate", session, url=path.resolve().as_uri())
    chrome.wait_event("Page.loadEventFired", session)
    result = chrome.call("Runtime.evaluate", session, expression=PAGE_PROBE, returnByValue=True)
    page: dict[str, Any] = json.loads(result["result"]["value"])
    return page, errors_of(chrome.events, session)


@pytest.fixture
def chrome(tmp_path: Path) -> Iterator[DevTools]:
    browser = DevTools(tmp_path / "chromium-profile")
    try:
        yield browser
    finally:
        browser.close()


def fits(page: dict[str, Any]) -> list[str]:
    """What does not fit the window: the page, or a table wider than its box or the window."""
    out = []
    if page["width"] > page["viewport"]:
        out.append(f"page {page['width']} px > window {page['viewport']} px")
    for t in page["tables"]:
        if t["boxScroll"] > t["box"] or t["right"] > page["viewport"]:
            out.append(f"{t['id']}: {t['width']} px in a {t['box']} px box, right {t['right']}")
    return out


def test_index_html_renders_in_chromium(
    tmp_path: Path, chrome: DevTools, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One finding's text holds a script: the page must show it, not run it.
    xss = replace(FINDINGS[1], meaning="dropped <script>console.error('xss')</script>")
    findings = (FINDINGS[0], xss, FINDINGS[3])  # critical, high, low
    real = build.summarize
    monkeypatch.setattr(build, "summarize", lambda run: with_findings(real(run), findings))
    records = chaos_records()
    for r in records:
        r.open_s = 2.0 if r.outcome == "accepted" else 0.2 if r.close_code else None
        if r.close_code:  # long close reasons: the widest the table's cells get
            r.close_reason = "server overloaded, try again in a few seconds please"
    records[-1].token_kind = "expired_reused"  # the longest token kind name
    gates = [{"name": "valid ok", "metric": "success_rate", "op": ">=", "threshold": 0.9}]
    events = [
        chaos_event(10, "applying", "cpu_quota#1", params={"percent": 20}, planned_for=10),
        chaos_event(20, "reverted", "cpu_quota#1", planned_at=10, planned_for=10),
        chaos_event(25, "applying", "fd_limit#2", planned_for=10),  # killed: never reverted
    ]
    run_dir = write_run(tmp_path / "run", records, complete=False, gates=gates, chaos=events)
    result = build.build_report(run_dir)
    assert len(result.paths.charts) >= 9

    page, errors = load_page(chrome, result.paths.index_html)
    assert errors == []
    assert page["viewport"] == 1400
    assert fits(page) == [], page["tables"]  # no horizontal scrollbar at 1,400 px
    kinds = page["tables"][0]
    assert {"p95ms", "p99ms", "handshakep50 ms"} <= set(kinds["heads"])  # every column shown
    assert "close codes (most frequent)" in page["tables"][1]["heads"]
    assert page["title"] == "smoke - run run-42"
    for section in ("Gates", "Findings", "Per token kind", "Chaos timeline", "Phases", "Charts"):
        assert section in page["h2"]
    assert {"Environment", "Scenario as run"} <= set(page["h2"])
    assert any(b.startswith("FAIL") for b in page["banners"])
    assert any(b.startswith("CUT SHORT") for b in page["banners"])
    assert len(page["images"]) == len(result.paths.charts)
    for img in page["images"]:
        assert img["complete"] and img["width"] >= 400 and img["height"] >= 200, img
        assert img["scheme"] == "data"
    assert page["fetched"] == []  # nothing loaded from anywhere, not even from disk
    assert page["scripts"] == 0  # the finding's <script> was escaped, not parsed
    # Severities coloured: critical first (dark red), then high (red), then low.
    assert [s for s, _ in page["severities"]] == ["critical", "high", "low"]
    assert page["severities"][0][1] == "rgb(127, 0, 0)"
    assert page["severities"][1][1] == "rgb(198, 40, 40)"

    # The same checks catch a broken image, a console error and a table too wide.
    html = result.paths.index_html.read_text(encoding="utf-8")
    broken = tmp_path / "broken.html"
    broken.write_text(
        html.replace(
            "</body>",
            '<img src="data:image/png;base64,AAAA"><script>console.error("boom")</script></body>',
        ).replace("<td>0</td>", '<td style="min-width: 300px">0</td>', 1),
        encoding="utf-8",
    )
    page, errors = load_page(chrome, broken)
    assert errors == ["console: boom"]
    assert [i["width"] for i in page["images"]].count(0) == 1
    assert [f.split(":")[0] for f in fits(page)] == ["kinds-table"]
