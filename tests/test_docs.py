"""The documentation: the site builds strictly, its generated reference names every CLI option,
configuration field, endpoint and API name, the README stays short and its links resolve, and the
example notebook runs."""

from __future__ import annotations

import html
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MKDOCS = Path(sys.executable).with_name("mkdocs")


def _hook():
    spec = importlib.util.spec_from_file_location(
        "docs_reference", ROOT / "docs/_hooks/reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built as `make docs` builds it (strict: any warning fails), into a tmp dir."""
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [str(MKDOCS), "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "WARNING" not in done.stderr, done.stderr[-4000:]
    return out


def _text(site: Path, page: str) -> str:
    """A built page's text, tags dropped and entities decoded."""
    raw = (site / page / "index.html").read_text()
    return html.unescape(re.sub(r"<[^>]+>", "", raw))


def test_the_cli_reference_names_every_command_and_option(site: Path) -> None:
    import typer

    from cli.main import LAZY_COMMANDS, app

    page = _text(site, "reference/cli")
    group = typer.main.get_command(app)
    for name in LAZY_COMMANDS:
        command = group.load(name)
        subs = getattr(command, "commands", {}) or {name: command}
        for sub_name, sub in subs.items():
            full = f"tradeforge {name}" + ("" if sub is command else f" {sub_name}")
            assert full in page, full
            for param in sub.params:
                for opt in [*param.opts, *param.secondary_opts]:
                    if param.param_type_name == "option":
                        assert opt in page, f"{full}: {opt}"


def test_the_config_reference_names_every_field(site: Path) -> None:
    from tradeforge.config import SECTIONS, PipelineConfig

    page = _text(site, "reference/config")
    for section in SECTIONS:
        model = PipelineConfig.model_fields[section].annotation
        for name, info in model.model_fields.items():
            assert f"--{section}.{name}" in page, f"{section}.{name}"
            if info.description:
                # the description's first words (the page wraps nothing inside a cell)
                assert " ".join(info.description.split()[:6]) in page, f"{section}.{name}"


def test_the_http_reference_names_every_endpoint_and_field(site: Path) -> None:
    spec = _hook().openapi_schema()
    page = _text(site, "reference/http")
    for path, methods in spec["paths"].items():
        for method in methods:
            assert f"{method.upper()} {path}" in page
    for field in ("ticker", "position", "bars", "timestamp", "volume"):
        assert field in page


def test_the_local_stack_tutorial_lists_every_deployment(site: Path) -> None:
    import yaml

    page = _text(site, "tutorials/local-stack")
    for dep in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]:
        assert dep["entrypoint"] in page and f"/{dep['name']}" in page, dep["name"]
    assert "train_pipeline/nightly" in page and "paper/daily" in page  # flow names, not attributes


def test_the_api_reference_documents_every_public_name(site: Path) -> None:
    import tradeforge

    page = _text(site, "reference/python-api")
    for name in tradeforge.API:
        shown = "ValidationReport" if name == "Report" else name
        assert shown in page, name
    assert "Return type" in page or "RETURNS" in page.upper()  # rendered, not the bare ::: line
    assert ":::" not in page


def test_readme_is_short_and_its_links_resolve() -> None:
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 150
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    assert len(links) > 20
    for link in links:
        assert (ROOT / link).exists(), link
    for command in ("make demo", "make test", "tradeforge train", "tradeforge predict"):
        assert command in text


@pytest.mark.slow
def test_the_quickstart_notebook_runs(tmp_path: Path) -> None:
    import nbclient
    import nbformat

    notebook = nbformat.read(ROOT / "examples/quickstart.ipynb", as_version=4)
    # The kernel is a fresh process: its Prefect home in tmp, the checkout
    # importable; no PREFECT_API_URL, so tf.train starts (and stops) a temporary server.
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.pop("MPLBACKEND", None)  # the kernel's own inline backend draws the figures
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PYTHONPATH": str(ROOT)}
    client = nbclient.NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute(env=env)
    outputs = "".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells
        if cell.cell_type == "code"
        for o in cell.outputs
    )
    assert "GOOGL" in outputs and ("promoted" in outputs or "not_promoted" in outputs)
    assert re.search(r"holding flat: (flat|long) \(Q", outputs), outputs[-2000:]
    assert (tmp_path / ".tradeforge/quickstart-store/models/GOOGL").is_dir()
    images = [
        o
        for cell in notebook.cells
        for o in cell.get("outputs", [])
        if "image/png" in o.get("data", {})
    ]
    assert len(images) == 2  # the equity curves and the gate's chart
