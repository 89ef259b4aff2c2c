"""great-expectations Data Docs (HTML) for one validation report, readable without internet.

GX's page loads Bootstrap, Font Awesome, jQuery and Vega from CDNs; on a machine without
internet (or behind the store's authentication, opened from a download) it rendered as
unstyled text with broken scripts (issue 14). :func:`offline_html` turns it into one
self-contained file: the CDN links and the scripts that need them are removed, and GX's own
stylesheet (shipped in the package) plus the few Bootstrap rules the page uses are inlined.
Nothing on the page needs scripts: every section is shown expanded.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from tradeforge.validation.gx_import import import_gx
from tradeforge.validation.report import ValidationReport

#: The Bootstrap 4 rules GX's validation page relies on (layout, cards, tables, badges,
#: alerts, spacing), and glyphs for the two Font Awesome icons it shows.
OFFLINE_CSS = """
*,*::before,*::after{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,
sans-serif;font-size:0.95rem;line-height:1.5;color:#212529;background:#fff}
a{color:#007bff;text-decoration:none}a:hover{text-decoration:underline}
h1,h2,h3,h4,h5,h6,.h6{margin:0 0 .5rem;font-weight:500;line-height:1.2}
.container-fluid{width:100%;padding:0 15px;margin:0 auto}
.row{display:flex;flex-wrap:wrap;margin:0 -15px}
[class*="col-"]{position:relative;width:100%;padding:0 15px}
@media (min-width:768px){.col-md-2{flex:0 0 16.67%;max-width:16.67%}
.col-md-10{flex:0 0 83.33%;max-width:83.33%}.d-md-block{display:block!important}
.d-md-inline-flex{display:inline-flex!important}}
@media (min-width:992px){.col-lg-2{flex:0 0 16.67%;max-width:16.67%}
.col-lg-10{flex:0 0 83.33%;max-width:83.33%}}
.col-6{flex:0 0 50%;max-width:50%}.col-12{flex:0 0 100%;max-width:100%}
.d-none{display:none}.d-flex{display:flex}.float-left{float:left}
.justify-content-center{justify-content:center}.align-items-center{align-items:center}
.sticky-top,.sticky{position:sticky;top:0;z-index:10}
.card{display:flex;flex-direction:column;margin-bottom:1rem;border:1px solid rgba(0,0,0,.125);
border-radius:.25rem;background:#fff}
.card-header{padding:.6rem 1rem;background:#f7f7f7;border-bottom:1px solid rgba(0,0,0,.125)}
.card-body{padding:1rem}.card-text{margin:0}
.table{width:100%;margin-bottom:1rem;border-collapse:collapse}
.table th,.table td{padding:.3rem .5rem;vertical-align:top;border-top:1px solid #dee2e6;
text-align:left}
.table-bordered,.table-bordered th,.table-bordered td{border:1px solid #dee2e6}
.table-responsive{display:block;width:100%;overflow-x:auto}
.alert{padding:.6rem 1rem;margin-bottom:1rem;border-radius:.25rem;border:1px solid #d6d8db}
.alert-secondary{color:#383d41;background:#e2e3e5}
.badge{display:inline-block;padding:.25em .4em;font-size:75%;font-weight:700;
border-radius:.25rem;background:#e9ecef}
.text-success{color:#28a745}.text-danger{color:#dc3545}.lead{font-size:1.1rem}
.bg-light{background:#f8f9fa}.border-bottom{border-bottom:1px solid #dee2e6}
.rounded{border-radius:.25rem}
.nav{display:flex;flex-wrap:wrap;padding:0;margin:0;list-style:none}
.nav-pills{flex-direction:column}.nav-link{display:block;padding:.4rem .8rem}
.navbar{display:flex;align-items:center;padding:.5rem 1rem}.navbar-brand{font-size:1.2rem}
.breadcrumb{display:flex;flex-wrap:wrap;padding:.5rem 0;margin:0;list-style:none}
.breadcrumb-item+.breadcrumb-item::before{content:"/";padding:0 .5rem;color:#6c757d}
.btn{display:inline-block;padding:.3rem .7rem;border:1px solid transparent;border-radius:.25rem}
.btn-primary{color:#fff;background:#007bff}
.m-0{margin:0}.m-2{margin:.5rem}.mb-0{margin-bottom:0}.mb-1{margin-bottom:.25rem}
.mb-2{margin-bottom:.5rem}.mb-3{margin-bottom:1rem}.mb-4{margin-bottom:1.5rem}
.mt-0{margin-top:0}.mt-1{margin-top:.25rem}.mt-3{margin-top:1rem}.ml-1{margin-left:.25rem}
.ml-2{margin-left:.5rem}.mr-0{margin-right:0}.mr-2{margin-right:.5rem}.mr-auto{margin-right:auto}
.p-0{padding:0}.p-1{padding:.25rem}.p-2{padding:.5rem}.p-3{padding:1rem}.pb-0{padding-bottom:0}
.pb-1{padding-bottom:.25rem}.pb-4{padding-bottom:1.5rem}.pt-0{padding-top:0}
.pt-4{padding-top:1.5rem}.px-0{padding-left:0;padding-right:0}.pl-5{padding-left:3rem}
.pr-3{padding-right:1rem}.pr-5{padding-right:3rem}
.fas{font-style:normal;font-weight:700}.fa-check-circle::before{content:"\\2714";color:#28a745}
.fa-times::before{content:"\\2716";color:#dc3545}
.ge-walkthrough-modal,.modal{display:none}
"""

_EXTERNAL_LINK = re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//[^>]*>\s*", re.I)
_FAVICON = re.compile(r"<link\b[^>]*\brel\s*=\s*[\"'][^\"']*icon[^>]*>\s*", re.I)
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>\s*", re.I | re.S)
_HEAD = re.compile(r"<head\b[^>]*>", re.I)
_EXTERNAL_IMG = re.compile(r"<img\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^>]*>", re.I)
_CSS_URL = re.compile(r"url\(\s*[\"']?(?:https?:)?//[^)]*\)", re.I)


def gx_default_css() -> str:
    """GX's own Data Docs stylesheet, as shipped in the great_expectations package."""
    styles = resources.files("great_expectations.render.view").joinpath(
        "static", "styles", "data_docs_default_styles.css"
    )
    # Its only remote reference is a logo image: dropped, like every other network fetch.
    return _CSS_URL.sub("none", styles.read_text(encoding="utf-8"))


def offline_html(html: str, extra_css: str = "") -> str:
    """``html`` with every CDN stylesheet and script removed and the styles inlined.

    The result loads nothing from the network (no remote ``<link>``, ``<script>``, ``<img>`` or
    CSS ``url()`` is left; plain hyperlinks stay) and shows every section, since no script runs.
    """
    out = _EXTERNAL_LINK.sub("", html)
    out = _FAVICON.sub("", out)
    out = _SCRIPT.sub("", out)
    out = _EXTERNAL_IMG.sub("<b>Great Expectations</b>", out)  # the remote logo
    out = _CSS_URL.sub("none", out)  # the page's own <style> blocks point at the logo too
    style = f"<style>\n{OFFLINE_CSS}\n{gx_default_css()}\n{extra_css}</style>"
    if _HEAD.search(out):
        return _HEAD.sub(lambda m: m.group(0) + "\n" + style, out, count=1)
    return style + out


def write_data_docs(report: ValidationReport, directory: str | Path) -> Path:
    """Render ``report``'s GX validation result as one self-contained HTML page in ``directory``.

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
    html = offline_html(DefaultJinjaPageView().render(document))
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    page = out / f"{_slug(report.ticker)}-{_slug(report.suite)}.html"
    page.write_text(html, encoding="utf-8")
    return page


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "-" for c in text)
