"""Read built book pages in headless Chromium as a reader would, at a desktop and a phone width,
and report what fails them (issue 38): an element past the content area (or past the right-hand
sidebar, where a page has one), a JavaScript error, chapter-figure text under 9 px at its
displayed size, a verdict table that is not one card per claim on a phone, a table that scrolls
sideways with its caption inside the scrolling box or without a line saying it scrolls, a page
that scrolls sideways. Used by the fixture book test and, on a real build, from the command line:

    python tests/browser.py _build/html [page.html ...]
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import itertools
import json
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from unlearnbook.teaching import find_chromium as chromium

#: the widths every page is read at (a desktop, a phone) and the smallest readable figure text
WIDTHS = (1400, 390)
MIN_TEXT_PX = 9.0

#: injected first into a copy of the page: collects errors from the start, measures on load
PROBE = """<script>
window.__ubErrors = [];
window.addEventListener("error", e => __ubErrors.push("error: " + e.message + (e.filename
  ? " (" + e.filename.split("/").pop() + ":" + e.lineno + ")" : "")));
window.addEventListener("unhandledrejection", e => __ubErrors.push("rejection: " + e.reason));
(() => { const log = console.error;
  console.error = (...a) => { __ubErrors.push("console: " + a.join(" ")); log(...a); }; })();
window.addEventListener("load", () => setTimeout(() => {
  document.querySelectorAll("details").forEach(d => { d.open = true; });  // as a reader opens them
  const column = document.querySelector(".bd-article") || document.querySelector("main");
  const side = document.querySelector(".bd-sidebar-secondary");
  // the content area's edge (a full-width cell may use the margin beside the text column)
  let edge = (document.querySelector(".bd-main") || column).getBoundingClientRect().right;
  if (side && side.offsetWidth > 0 && getComputedStyle(side).display !== "none")
    edge = Math.min(edge, side.getBoundingClientRect().left);
  const scrolls = el => { for (let a = el.parentElement; a && a !== column; a = a.parentElement) {
      const o = getComputedStyle(a).overflowX;
      if (o === "auto" || o === "scroll" || o === "hidden") return true; } return false; };
  const name = el => el.tagName.toLowerCase() + (el.className && typeof el.className === "string"
      ? "." + el.className.trim().split(/\\s+/).join(".") : "") + " '" +
      (el.getAttribute("alt") || el.textContent || "").trim().slice(0, 60) + "'";
  const wide = [];
  for (const el of column.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.right <= edge + 1 || scrolls(el)) continue;
    if (!wide.some(w => w.el.contains(el))) wide.push({el, by: Math.round(r.right - edge)});
  }
  const small = [];
  for (const img of column.querySelectorAll("img[data-text-px]")) {
    const shown = parseFloat(img.dataset.textPx) * img.clientWidth / img.naturalWidth;
    if (img.naturalWidth && shown < %(min)s)
      small.push(name(img) + ": " + shown.toFixed(1) + " px");
  }
  const cards = [...document.querySelectorAll("table.ub-cards")].map(t => ({
    rows: t.querySelectorAll("tbody tr").length,
    block: getComputedStyle(t.querySelector("tbody tr") || t).display === "block",
    fits: t.getBoundingClientRect().right <= edge + 1}));
  // a table that scrolls sideways: its caption must sit outside the box, a line must say so
  const hidden = [];
  for (const table of column.querySelectorAll("table")) {
    let box = table.parentElement;
    while (box && box !== column && !["auto", "scroll"].includes(getComputedStyle(box).overflowX))
      box = box.parentElement;
    if (!box || box === column || box.scrollWidth <= box.clientWidth + 1) continue;
    const cue = box.nextElementSibling;
    if (table.querySelector("caption"))
      hidden.push("caption inside a scrolling box: " + name(table));
    if (!(cue && cue.classList.contains("ub-hint") && cue.textContent.trim()))
      hidden.push("a table scrolls sideways without a cue: " + name(table));
  }
  const out = {errors: __ubErrors, wide: wide.map(w => name(w.el) + ": " + w.by + " px"), small,
               cards, hidden, sideways: document.documentElement.scrollWidth - innerWidth};
  const pre = document.createElement("pre");
  pre.className = "ub-check"; pre.title = location.pathname.split("/").pop();
  pre.textContent = JSON.stringify(out);
  (window.parent === window ? document : parent.document).body.appendChild(pre);
}, 300));
</script>""".replace("%(min)s", str(MIN_TEXT_PX))


def read_pages(root: Path, pages: list[Path], browser: str, base: str) -> dict:
    """The probe's findings per (page, width), from one Chromium run: every page of ``pages``
    (under the site ``root``, served at ``base``) in a frame of each width (headless Chromium's
    window is at least 500 px wide; a frame's viewport is its own width), each from a probed copy
    beside the page, removed after."""
    copies = {}
    for page, width in itertools.product(pages, WIDTHS):
        html = page.read_text()
        head = re.search(r"<head[^>]*>", html)
        copy = page.parent / f".ub-check-{width}-{page.name}"
        copy.write_text(html[:head.end()] + PROBE + html[head.end():] if head else PROBE + html)
        copies[copy.name] = (page, width, copy)
    frames = "".join(f'<iframe src="{c.relative_to(root).as_posix()}" width="{w}" height="900" '
                     'style="border:0"></iframe>' for _, w, c in copies.values())
    frame = root / ".ub-frames.html"
    frame.write_text(f'<html><body style="margin:0">{frames}</body></html>')
    try:
        with tempfile.TemporaryDirectory() as profile:
            proc = subprocess.run(
                [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                 f"--user-data-dir={profile}", f"--window-size={max(WIDTHS)},900",
                 f"--virtual-time-budget={10000 + 2000 * len(copies)}", "--dump-dom",
                 f"{base}/{frame.name}"], capture_output=True, text=True, timeout=600)
    finally:
        frame.unlink()
        for _, _, copy in copies.values():
            copy.unlink()
    import html as html_lib

    found = {}
    for name, text in re.findall(r'<pre class="ub-check" title="([^"]+)">(.*?)</pre>',
                                 proc.stdout, re.S):
        page, width, _ = copies[name]
        found[page, width] = json.loads(html_lib.unescape(text))
    for page, width, _ in copies.values():
        found.setdefault((page, width), {
            "errors": [f"the page never finished loading: {proc.stderr[-300:]}"], "wide": [],
            "small": [], "cards": [], "hidden": [], "sideways": 0})
    return found


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # one line per file the browser asks for: not wanted
        pass


@contextlib.contextmanager
def served(root: Path):
    """``root`` over HTTP on a free local port (as a reader's browser gets it: file:// pages are
    each an origin of their own); yields the base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def problems(root: Path, pages: list[Path], browser: str) -> list[str]:
    """One line per failure, naming the page, the width and what fails (``pages`` under the
    built site ``root``)."""
    lines = []
    with served(root) as base:
        found = read_pages(root, pages, browser, base)
        for (page, width), seen in found.items():
            where = f"{page.name} at {width} px"
            lines += [f"{where}: {e}" for e in seen["errors"]]
            lines += [f"{where}: past the content area: {w}" for w in seen["wide"]]
            lines += [f"{where}: figure text too small: {s}" for s in seen["small"]]
            lines += [f"{where}: {h}" for h in seen["hidden"]]
            if seen["sideways"] > 1:
                lines.append(f"{where}: the page scrolls sideways by {seen['sideways']} px")
            if width < 600:
                lines += [f"{where}: verdict table not shown as cards ({c})"
                          for c in seen["cards"] if not (c["block"] and c["fits"])]
    return lines


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    browser = chromium()
    if browser is None:
        print("no Chromium on this machine (Debian: apt install chromium)")
        return 2
    root = Path(argv[0])
    pages = [root / p for p in argv[1:]] or sorted(  # the book's pages (not search, redirects)
        p for p in root.rglob("*.html") if "_static" not in p.parts
        and 'class="bd-article"' in p.read_text()
        and p.name not in ("search.html", "genindex.html"))
    found = problems(root, pages, browser)
    print("\n".join(found) or f"{len(pages)} page(s) read at {WIDTHS} px: nothing fails")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
