"""Look at a flow run in the Prefect UI as a person would: Debian's chromium, driven headless.

Playwright only drives the browser (``executable_path=/usr/bin/chromium``): it never downloads
one. The UI is a single-page app whose tabs ignore the URL on first load, so the Artifacts tab
is opened by a click, as a person would.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

# Flags for a closed network: without the background-networking ones chromium keeps dialling out.
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)


def chromium_path() -> str | None:
    """Debian's chromium if installed (``ops/ci-deps.sh`` installs it)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_chromium() -> str:
    """chromium's path; without it the calling test fails in CI (``CI`` set) and skips elsewhere.

    CI promises the UI checks: a missing browser there is a broken CI machine, not a reason to
    go green without them. On a developer's machine the skip says what to install.
    """
    path = chromium_path()
    if path is not None:
        return path
    reason = "chromium is not installed: run ops/ci-deps.sh (Debian package chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI={os.environ['CI']} requires the UI checks")
    pytest.skip(reason)


@dataclass(frozen=True)
class PageCapture:
    """What the browser showed: screenshots and the visible text of each view."""

    run_png: Path
    artifacts_png: Path
    metrics_png: Path
    run_text: str
    artifacts_text: str
    metrics_text: str


def capture_flow_run(
    ui_url: str,
    flow_run_id: str,
    run_name: str,
    out_dir: Path,
    *,
    metrics_key: str,
    timeout_s: float = 60,
) -> PageCapture:
    """Screenshot the flow run's page, its Artifacts tab and the ``metrics_key`` artifact
    (opened from that tab); return what each view showed."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("chromium is not installed (run ops/ci-deps.sh)")
    out_dir.mkdir(parents=True, exist_ok=True)
    timeout_ms = timeout_s * 1000
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=list(CHROMIUM_FLAGS))
        page = browser.new_page(viewport={"width": 1600, "height": 1100})
        page.set_default_timeout(timeout_ms)
        try:
            page.goto(f"{ui_url}/runs/flow-run/{flow_run_id}")
            _wait_for_texts(page, [run_name, "Completed"], timeout_ms)
            page.wait_for_load_state("networkidle")
            run_png = out_dir / "flow-run.png"
            page.screenshot(path=run_png)
            run_text = page.inner_text("body")

            page.get_by_text("Artifacts", exact=True).first.click()
            _wait_for_texts(page, ["promotion-"], timeout_ms)
            page.wait_for_load_state("networkidle")
            artifacts_png = out_dir / "flow-run-artifacts.png"
            page.screenshot(path=artifacts_png, full_page=True)
            artifacts_text = page.inner_text("body")

            page.get_by_text(metrics_key, exact=True).first.click()
            _wait_for_texts(page, ["baseline:"], timeout_ms)
            page.wait_for_load_state("networkidle")
            metrics_png = out_dir / "metrics-artifact.png"
            page.screenshot(path=metrics_png, full_page=True)
            metrics_text = page.inner_text("body")
        except Exception:
            # keep what the browser showed, for the person reading the failure
            page.screenshot(path=out_dir / "failure.png", full_page=True)
            (out_dir / "failure.txt").write_text(page.inner_text("body"))
            raise
        finally:
            browser.close()
    return PageCapture(run_png, artifacts_png, metrics_png, run_text, artifacts_text, metrics_text)


def _wait_for_texts(page, texts: list[str], timeout_ms: float) -> None:
    """Wait until the rendered page's visible text contains every one of ``texts``."""
    page.wait_for_function(
        "texts => texts.every(t => document.body.innerText.includes(t))",
        arg=texts,
        timeout=timeout_ms,
    )


def capture_run_form(
    ui_url: str, deployment_id: str, out_dir: Path, *, timeout_s: float = 60
) -> str:
    """Screenshot a deployment's "custom run" form; return its visible text."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("chromium is not installed (run ops/ci-deps.sh)")
    out_dir.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=list(CHROMIUM_FLAGS))
        page = browser.new_page(viewport={"width": 1600, "height": 1100})
        try:
            page.goto(f"{ui_url}/deployments/deployment/{deployment_id}/run")
            _wait_for_texts(page, ["Parameters", "Run"], timeout_s * 1000)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=out_dir / "manual-run-form.png", full_page=True)
            return page.inner_text("body")
        finally:
            browser.close()


def capture_artifact(
    ui_url: str, artifact_id: str, name: str, out_dir: Path, *, timeout_s: float = 60
) -> tuple[str, int]:
    """Screenshot one artifact's page as ``<name>.png``; return its text and how many of its
    images the browser decoded (an embedded PNG that fails to decode counts 0)."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("chromium is not installed (run ops/ci-deps.sh)")
    out_dir.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=list(CHROMIUM_FLAGS))
        page = browser.new_page(viewport={"width": 1600, "height": 1100})
        try:
            page.goto(f"{ui_url}/artifacts/artifact/{artifact_id}")
            _wait_for_texts(page, ["Artifact"], timeout_s * 1000)
            page.wait_for_load_state("networkidle")
            decoded = page.evaluate(
                "() => [...document.images].filter(i => i.complete && i.naturalWidth > 0"
                " && i.src.startsWith('data:image/png')).length"
            )
            page.screenshot(path=out_dir / f"{name}.png", full_page=True)
            return page.inner_text("body"), int(decoded)
        finally:
            browser.close()
