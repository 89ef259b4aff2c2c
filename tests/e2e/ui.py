"""Look at a flow run in the Prefect UI as a person would: Debian's chromium, driven headless.

Playwright only drives the browser (``executable_path=/usr/bin/chromium``): it never downloads
one. The UI is a single-page app whose tabs ignore the URL on first load, so the Artifacts tab
is opened by a click, as a person would. The stack's UI asks for the Prefect auth string:
``capture_login`` goes through its login page; the other captures take ``auth`` and start logged
in (the UI keeps the string, base64-encoded, in the browser's local storage).
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class PageCapture:
    """What the browser showed: screenshots and the visible text of each view."""

    run_png: Path
    artifacts_png: Path
    metrics_png: Path
    run_text: str
    artifacts_text: str
    metrics_text: str


#: What the UI's login page says to a wrong auth string (the v2 UI, Prefect's default, the first).
LOGIN_REFUSED = ("Invalid credentials", "Authentication failed")


@dataclass(frozen=True)
class LoginCapture:
    """The UI's login page, then a wrong auth string refused, then the right one let in."""

    before_png: Path
    before_text: str
    before_html: str
    wrong_text: str
    after_png: Path
    after_text: str


@contextmanager
def _browser_page(out_dir: Path, auth: str | None, timeout_s: float) -> Iterator[Any]:
    """A page of a headless chromium, logged in with ``auth`` when given (where the UI's login
    form keeps it: base64 in local storage). On an error what the browser showed is kept as
    ``failure.png`` / ``failure.txt`` in ``out_dir``, for the person reading the failure."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("chromium is not installed (run ops/ci-deps.sh)")
    out_dir.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=list(CHROMIUM_FLAGS))
        page = browser.new_page(viewport={"width": 1600, "height": 1100})
        page.set_default_timeout(timeout_s * 1000)
        if auth is not None:
            encoded = json.dumps(base64.b64encode(auth.encode()).decode())
            page.add_init_script(f"window.localStorage.setItem('prefect-password', {encoded})")
        try:
            yield page
        except Exception:
            page.screenshot(path=out_dir / "failure.png", full_page=True)
            (out_dir / "failure.txt").write_text(page.inner_text("body"))
            raise
        finally:
            browser.close()


def capture_login(ui_url: str, auth: str, out_dir: Path, *, timeout_s: float = 60) -> LoginCapture:
    """Open the UI as a new visitor: screenshot its login page, try a wrong auth string, then
    log in with ``auth`` and screenshot what opens."""
    with _browser_page(out_dir, None, timeout_s) as page:
        page.goto(ui_url)
        field = page.get_by_placeholder("admin:pass")
        field.wait_for()
        before_png = out_dir / "login.png"
        page.screenshot(path=before_png)
        before_text, before_html = page.inner_text("body"), page.content()
        field.fill("tradeforge:wrong")
        page.get_by_role("button", name="Login").click()
        page.wait_for_function(
            "ts => ts.some(t => document.body.innerText.includes(t))", arg=list(LOGIN_REFUSED)
        )
        wrong_text = page.inner_text("body")
        field.fill(auth)
        page.get_by_role("button", name="Login").click()
        field.wait_for(state="detached")
        page.wait_for_load_state("networkidle")
        after_png = out_dir / "logged-in.png"
        page.screenshot(path=after_png)
        after_text = page.inner_text("body")
    return LoginCapture(before_png, before_text, before_html, wrong_text, after_png, after_text)


def capture_flow_run(
    ui_url: str,
    flow_run_id: str,
    run_name: str,
    out_dir: Path,
    *,
    metrics_key: str,
    auth: str | None = None,
    timeout_s: float = 60,
) -> PageCapture:
    """Screenshot the flow run's page, its Artifacts tab and the ``metrics_key`` artifact
    (opened from that tab); return what each view showed."""
    timeout_ms = timeout_s * 1000
    with _browser_page(out_dir, auth, timeout_s) as page:
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
    return PageCapture(run_png, artifacts_png, metrics_png, run_text, artifacts_text, metrics_text)


def _wait_for_texts(page, texts: list[str], timeout_ms: float) -> None:
    """Wait until the rendered page's visible text contains every one of ``texts``."""
    page.wait_for_function(
        "texts => texts.every(t => document.body.innerText.includes(t))",
        arg=texts,
        timeout=timeout_ms,
    )


def capture_run_form(
    ui_url: str,
    deployment_id: str,
    out_dir: Path,
    *,
    auth: str | None = None,
    timeout_s: float = 60,
) -> str:
    """Screenshot a deployment's "custom run" form; return its visible text."""
    with _browser_page(out_dir, auth, timeout_s) as page:
        page.goto(f"{ui_url}/deployments/deployment/{deployment_id}/run")
        _wait_for_texts(page, ["Parameters", "Run"], timeout_s * 1000)
        page.wait_for_load_state("networkidle")
        page.screenshot(path=out_dir / "manual-run-form.png", full_page=True)
        return page.inner_text("body")


def capture_artifact(
    ui_url: str,
    artifact_id: str,
    name: str,
    out_dir: Path,
    *,
    auth: str | None = None,
    timeout_s: float = 60,
) -> tuple[str, int]:
    """Screenshot one artifact's page as ``<name>.png``; return its text and how many of its
    images the browser decoded (an embedded PNG that fails to decode counts 0)."""
    with _browser_page(out_dir, auth, timeout_s) as page:
        page.goto(f"{ui_url}/artifacts/artifact/{artifact_id}")
        _wait_for_texts(page, ["Artifact"], timeout_s * 1000)
        page.wait_for_load_state("networkidle")
        decoded = page.evaluate(
            "() => [...document.images].filter(i => i.complete && i.naturalWidth > 0"
            " && i.src.startsWith('data:image/png')).length"
        )
        page.screenshot(path=out_dir / f"{name}.png", full_page=True)
        return page.inner_text("body"), int(decoded)
