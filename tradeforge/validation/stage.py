"""Validation stage: keep each run's report and its Data Docs page in the store, pass or fail."""

from __future__ import annotations

import json
import tempfile
from typing import Any


def publish_validation(
    ticker: str, report: Any, store: Any, run_id: str, *, docs: bool = True
) -> tuple[str, str | None]:
    """Write ``report.json`` and the GX Data Docs page under ``validation/<run>/<ticker>/``
    (the page only when ``docs`` or the contract failed: it takes ~0.3 s to render).

    Returns the store URI of the report's folder and a link a browser opens the (offline
    readable) Data Docs page with: a ``file://`` URL, or a presigned S3 link (7 days); None
    when the frame never reached great-expectations or no page was asked for.
    """
    from tradeforge.validation import write_data_docs

    prefix = f"validation/{run_id}/{ticker}"
    payload = json.dumps(report.to_dict(), indent=2, default=str).encode()
    store.put_bytes(f"{prefix}/report.json", payload)
    # A frame without the OHLCV columns never reached GX: no page to render.
    if report.gx_result is not None and (docs or not report.success):
        with tempfile.TemporaryDirectory(prefix="tradeforge-") as tmp:
            page = write_data_docs(report, tmp)
            store.put_bytes(f"{prefix}/data-docs.html", page.read_bytes())
        return store.uri_for(prefix), store.browser_url(
            f"{prefix}/data-docs.html", content_type="text/html"
        )
    return store.uri_for(prefix), None
