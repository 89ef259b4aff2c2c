"""The UI checks cannot quietly turn off in CI: a missing chromium fails there, skips elsewhere."""

from __future__ import annotations

import shutil

import pytest

from tests.e2e.ui import require_chromium


@pytest.fixture
def no_chromium(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)


# Both outcomes are caught, so a skip where a failure is due fails this test instead of
# skipping it.
OUTCOMES = (pytest.fail.Exception, pytest.skip.Exception)


def test_missing_chromium_fails_in_ci(no_chromium, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(OUTCOMES, match=r"chromium is not installed.*CI=true") as outcome:
        require_chromium()
    assert outcome.type is pytest.fail.Exception


def test_missing_chromium_skips_outside_ci(no_chromium, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(OUTCOMES, match=r"run ops/ci-deps\.sh") as outcome:
        require_chromium()
    assert outcome.type is pytest.skip.Exception


def test_installed_chromium_is_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    assert require_chromium() == "/usr/bin/chromium"
