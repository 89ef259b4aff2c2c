"""great-expectations Data Docs (HTML) for one validation report."""

from __future__ import annotations

from pathlib import Path

from tradeforge.validation.gx_import import import_gx
from tradeforge.validation.report import ValidationReport


def write_data_docs(report: ValidationReport, directory: str | Path) -> Path:
    """Render ``report``'s GX validation result as a static HTML page in ``directory``.

    Returns the page's path. A report without a GX result (schema failure) cannot be rendered.
    """
    if report.gx_result is None:
        raise ValueError(
            f"no great-expectations result to render for {report.ticker}: {report.summary()}"
        )
    import_gx()
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    document = ValidationResultsPageRenderer().render(report.gx_result)
    html = DefaultJinjaPageView().render(document)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    page = out / f"{_slug(report.ticker)}-{_slug(report.suite)}.html"
    page.write_text(html, encoding="utf-8")
    return page


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "-" for c in text)
