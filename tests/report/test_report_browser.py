"""Open report.html in a real headless Chromium: tables and plots render, no console errors.

Marked ``browser`` (deselected by default and in CI). Run with::

    apt-get install chromium && pip install playwright
    pytest -m browser tests/report

The screenshot is saved to ``docs/img/report.png`` when ``HARMBENCH_SAVE_SCREENSHOT=1``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ROOT = Path(__file__).parents[2]


def _report(tmp_path, toy_manifest) -> Path:
    committed = ROOT / "leaderboards" / "synth-quick" / "report.html"
    if committed.exists():
        return committed
    from harmbench.harness.plan import EvalConfig
    from harmbench.harness.runner import evaluate
    from harmbench.runspec import parse_specs

    evaluate(EvalConfig(dataset=str(toy_manifest), methods=parse_specs("identity,histmatch,nyul"),
                        out=tmp_path / "lb", work_dir=tmp_path / "w"))
    return tmp_path / "lb" / "report.html"


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed (apt-get install chromium)")
def test_report_renders_in_chromium(tmp_path, toy_manifest):
    sync_api = pytest.importorskip("playwright.sync_api")
    report = _report(tmp_path, toy_manifest)
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(report.resolve().as_uri())
        page.wait_for_load_state("load")
        n_tables = page.locator("table").count()
        images = page.evaluate(
            "Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0, i.naturalWidth])")
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=False)
        browser.close()
    assert not errors, errors
    assert n_tables >= 8, n_tables
    assert images and all(ok for _, ok, _ in images), [a for a, ok, _ in images if not ok]
    assert shot.stat().st_size > 10_000
    if os.environ.get("HARMBENCH_SAVE_SCREENSHOT") == "1":
        dest = ROOT / "docs" / "img" / "report.png"
        dest.parent.mkdir(exist_ok=True)
        shutil.copy(shot, dest)
