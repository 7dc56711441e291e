"""Open a page in a real headless browser (Debian's Chromium, driven by Playwright; no browser
download) and report what a person would notice: console errors, uncaught exceptions, failed
requests, images that did not load, the sections present, and whether a screenshot is blank."""

from __future__ import annotations

import shutil
from pathlib import Path

# The sections of a run's report.html, in order (keraslab.runs.report.run_page).
REPORT_SECTIONS = [
    "metrics", "evaluation", "curves", "samples", "pictures", "resources", "command", "config",
    "versions",
]  # fmt: skip

CHROMIUM_ARGS = [  # the flags this workplace's machines need (no network, running as root)
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError(
        "no Chromium for the browser tests: sudo apt-get install -y chromium (make install-dev "
        "installs it)"
    )


def open_page(page_file, screenshot, width: int = 1100, height: int = 900) -> dict:
    """Load ``page_file`` (from the file system, as a user opens it) and save a full-page
    ``screenshot``. Returns ``problems`` (console errors, page errors, failed requests),
    ``broken_images``, ``images`` (count), ``sections`` (ids), ``blank`` and ``title``."""
    import numpy as np
    from PIL import Image
    from playwright.sync_api import sync_playwright

    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on(
                "console",
                lambda m: problems.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning") else None,
            )  # fmt: skip
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
            page.goto(Path(page_file).resolve().as_uri(), wait_until="load")
            info = page.evaluate(
                """() => ({
                    images: document.images.length,
                    broken: [...document.images]
                        .filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src),
                    sections: [...document.querySelectorAll('section[id]')].map(s => s.id),
                    title: document.title,
                })"""
            )
            page.screenshot(path=str(screenshot), full_page=True)
            info["slider"] = _move_first_slider(page)
        finally:
            browser.close()
    pixels = np.asarray(Image.open(screenshot).convert("L"), dtype="float32")
    return {
        "problems": problems,
        "broken_images": info["broken"],
        "images": info["images"],
        "sections": info["sections"],
        "title": info["title"],
        "slider": info["slider"],
        # blank: one colour (a white page), or nearly so (under 0.05% of the pixels differ)
        "blank": float((np.abs(pixels - np.median(pixels)) > 16).mean()) < 0.0005,
    }


def _move_first_slider(page) -> dict | None:
    """Move the first epoch slider to its start: what it then shows (src or text) and label."""
    slider = page.query_selector("figure.slider input[type=range]")
    if slider is None:
        return None
    before = page.evaluate("() => document.querySelector('figure.slider .frame-label').textContent")
    slider.fill("0")
    page.wait_for_function(
        "() => { const i = document.querySelector('figure.slider img'); return !i || i.complete; }"
    )
    return page.evaluate(
        """(before) => {
            const fig = document.querySelector('figure.slider');
            const img = fig.querySelector('img'), pre = fig.querySelector('pre');
            return {before, after: fig.querySelector('.frame-label').textContent,
                    shown: img ? img.getAttribute('src') : pre.textContent,
                    loaded: img ? img.complete && img.naturalWidth > 0 : true};
        }""",
        before,
    )
