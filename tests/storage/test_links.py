"""Links a browser can open without the store's credentials (for the Data Docs artifact)."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from storage import ObjectNotFound, open_store

PAGE = b"<html><head><style>td{border:1px solid}</style></head><body>ok</body></html>"


def test_local_link_is_a_file_url(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    store.put_bytes("validation/run/SPY/data-docs.html", PAGE)
    url = store.browser_url("validation/run/SPY/data-docs.html", content_type="text/html")
    assert url.startswith("file://") and url.endswith("/validation/run/SPY/data-docs.html")
    with urllib.request.urlopen(url) as response:
        assert response.read() == PAGE
    with pytest.raises(ObjectNotFound):
        store.browser_url("validation/run/SPY/missing.html")


def test_s3_link_is_presigned_and_served_as_html(s3_uri: str, monkeypatch) -> None:
    store = open_store(s3_uri)
    store.put_bytes("validation/run/SPY/data-docs.html", PAGE)
    url = store.browser_url("validation/run/SPY/data-docs.html", content_type="text/html")
    # A browser has no AWS keys: the signature in the URL is all it needs.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == PAGE
        assert response.headers["Content-Type"].startswith("text/html")
    tampered = url.replace("data-docs.html", "other.html")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(tampered, timeout=10)
    assert info.value.code in (403, 404)


def test_s3_link_of_a_missing_object_and_bad_expiry(s3_uri: str) -> None:
    store = open_store(s3_uri)
    with pytest.raises(ObjectNotFound, match=r"missing\.html"):
        store.browser_url("missing.html")
    store.put_bytes("x.html", PAGE)
    with pytest.raises(ValueError, match="7 days"):
        store.browser_url("x.html", expires_s=8 * 24 * 3600)
