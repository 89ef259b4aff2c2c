"""MkDocs hook: the reference pages generated from the code at build time, never written twice.

A page holds a marker such as ``<!-- generated: cli -->``; ``on_page_markdown`` replaces it
with the Markdown the generator of that name returns:

- ``cli``: every ``tradeforge`` command, argument and option, from the Typer app's click objects;
- ``config``: every configuration section and field (default, bounds, choices, description,
  the option spelling), from the pydantic models in ``tradeforge/config``;
- ``http``: every ``tradeforge serve`` endpoint, from FastAPI's OpenAPI schema;
- ``deployments``: the deployments of ``prefect.yaml``.

``tests/test_docs.py`` imports this module to check that every option and field appears.
"""

from __future__ import annotations

import html
import re
import sys
import tempfile
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `mkdocs build` from the checkout: import the project's packages
    sys.path.insert(0, str(ROOT))

MARKER = re.compile(r"<!--\s*generated:\s*([a-z_]+)\s*-->")


def _cell(text: Any) -> str:
    """A value made safe for one Markdown table cell (inside backticks: see ``_code``)."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _text(text: Any) -> str:
    """Prose for one table cell: ``<run id>`` stays text, not an HTML tag."""
    return html.escape(_cell(text), quote=False)


def _code(text: Any) -> str:
    return f"`{text}`" if str(text) else ""


# -- CLI ----------------------------------------------------------------------------------------


def cli_commands() -> list[tuple[str, Any]]:
    """``(full name, click command)`` for every command and sub-command, in ``--help`` order."""
    import typer

    from cli.main import LAZY_COMMANDS, app

    group = typer.main.get_command(app)
    out: list[tuple[str, Any]] = []
    for name in LAZY_COMMANDS:
        command = group.load(name)
        out.append((f"tradeforge {name}", command))
        for sub_name, sub in getattr(command, "commands", {}).items():
            out.append((f"tradeforge {name} {sub_name}", sub))
    return out


def cli_markdown() -> str:
    """Every command: usage, help, then its arguments and options grouped as ``--help`` groups
    them, each as ``--help`` prints it (spellings, value type, default, environment variable)."""
    lines: list[str] = []
    for full, command in cli_commands():
        ctx = command.make_context(full, [], resilient_parsing=True)
        lines += [f"## `{full}`", ""]
        usage = " ".join(command.collect_usage_pieces(ctx))
        lines += ["```text", f"{full} {usage}".rstrip(), "```", ""]
        lines += [_help_text(command.help or ""), ""]
        subcommands = getattr(command, "commands", None)
        if subcommands:
            lines += ["| command | what it does |", "| --- | --- |"]
            lines += [
                f"| [`{full} {n}`](#{_anchor(f'{full} {n}')}) | {_text(c.get_short_help_str(200))} |"
                for n, c in subcommands.items()
            ]
            lines.append("")
            continue
        panels: dict[str, list[str]] = {}
        for param in command.params:
            if getattr(param, "hidden", False):
                continue
            argument = param.param_type_name == "argument"
            panel = getattr(param, "rich_help_panel", None) or (
                "Arguments" if argument else "Options"
            )
            panels.setdefault(panel, []).append(_param_row(param, ctx))
        for panel, rows in panels.items():
            lines += [f"**{panel}**", "", "| option | description |", "| --- | --- |", *rows, ""]
    return "\n".join(lines)


def _anchor(title: str) -> str:
    """The id MkDocs' toc gives a heading ``## `title` ``."""
    return re.sub(r"[^a-z0-9_ -]", "", title.lower()).strip().replace(" ", "-")


def _help_text(text: str) -> str:
    """A command's docstring: its example lines (two leading spaces) as a code block."""
    out: list[str] = []
    block: list[str] = []
    for line in text.strip().splitlines():
        if line.startswith("  ") and line.strip():
            block.append(line.strip())
            continue
        if block and not line.strip():
            continue
        if block:
            out += ["```bash", *block, "```", ""]
            block = []
        out.append(line)
    if block:
        out += ["```bash", *block, "```"]
    return "\n".join(out)


def _param_row(param: Any, ctx: Any) -> str:
    """One table row: the spellings as ``--help`` prints them, then the help and default."""
    if param.param_type_name == "argument":
        names, help_text = param.name.upper(), getattr(param, "help", None) or ""
    else:
        names, help_text = param.get_help_record(ctx)
    required = " (required)" if param.required else ""
    return f"| {_code(_cell(names))} | {_text(help_text)}{required} |"


def cli_options() -> set[str]:
    """Every option spelling of every command (for the test that the reference names them)."""
    return {
        opt
        for _, command in cli_commands()
        for param in command.params
        if param.param_type_name == "option"
        for opt in [*param.opts, *param.secondary_opts]
    }


# -- configuration ------------------------------------------------------------------------------


def config_fields() -> list[tuple[str, str, Any]]:
    """``(section, field, FieldInfo)`` of every configuration field, in the CLI's order."""
    from tradeforge.config import SECTIONS, PipelineConfig

    out = []
    for section in SECTIONS:
        model = PipelineConfig.model_fields[section].annotation
        out += [(section, name, info) for name, info in model.model_fields.items()]
    return out


def _bounds(info: Any) -> str:
    symbols = {
        "ge": ">=",
        "gt": ">",
        "le": "<=",
        "lt": "<",
        "min_length": "length >=",
        "max_length": "length <=",
    }
    out = []
    for meta in info.metadata:
        for attr, symbol in symbols.items():
            value = getattr(meta, attr, None)
            if value is not None:
                out.append(html.escape(f"{symbol} {value}", quote=False))
        pattern = getattr(meta, "pattern", None)
        if pattern:
            out.append(f"matches `{pattern}`")
    return ", ".join(out)


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return "choice"
    if origin in (tuple, list):
        return f"list of {_type_name(typing.get_args(annotation)[0])}"
    if origin in (typing.Union, __import__("types").UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return " or ".join(_type_name(a) for a in args) + " (optional)"
    return getattr(annotation, "__name__", str(annotation))


def config_markdown() -> str:
    """One table per section: field, option, type, default, bounds, choices, description."""
    from cli.train import SHORT, _choices, _shown
    from tradeforge.config import SECTIONS, PipelineConfig

    lines: list[str] = []
    for section, heading in SECTIONS.items():
        model = PipelineConfig.model_fields[section].annotation
        lines += [f"## `{section}`: {heading.split(': ', 1)[-1]}", ""]
        lines += [f"`{model.__module__}.{model.__name__}`: {_text(model.__doc__ or '')}", ""]
        lines += ["| field and options | value | description |", "| --- | --- | --- |"]
        for name, info in model.model_fields.items():
            options = [f"--{section}.{name}"]
            if (section, name) in SHORT:
                options.insert(0, SHORT[(section, name)])
            value = [f"{_text(_type_name(info.annotation))}"]
            value.append(
                f"default {_code(_cell(_shown(info.get_default(call_default_factory=True))))}"
            )
            if _bounds(info):
                value.append(_bounds(info))
            choices = _choices(info.annotation)
            if choices:
                value.append("one of " + ", ".join(_code(c) for c in choices))
            lines.append(
                f"| **`{name}`**<br>{' '.join(_code(o) for o in options)} | "
                f"{'<br>'.join(value)} | {_text(info.description or '')} |"
            )
        lines.append("")
    return "\n".join(lines)


# -- HTTP ---------------------------------------------------------------------------------------


def openapi_schema() -> dict[str, Any]:
    """``tradeforge serve``'s OpenAPI schema (an app over an empty store: routes only)."""
    from tradeforge.inference import open_registry
    from tradeforge.serving import ChampionBook, create_app

    with tempfile.TemporaryDirectory() as store:
        return create_app(ChampionBook(open_registry(store))).openapi()


def _schema_type(schema: dict[str, Any], components: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " or ".join(_schema_type(s, components) for s in schema["anyOf"])
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    if schema.get("type") == "array":
        return f"list of {_schema_type(schema.get('items', {}), components)}"
    return schema.get("type", "any")


def http_markdown() -> str:
    """Each endpoint: method, path, description, parameters, request body and responses; then
    the request schemas field by field."""
    spec = openapi_schema()
    components = spec.get("components", {}).get("schemas", {})
    lines: list[str] = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            lines += [f"## `{method.upper()} {path}`", ""]
            lines += [op.get("description") or op.get("summary", ""), ""]
            params = op.get("parameters", [])
            if params:
                lines += ["| parameter | in | type | default |", "| --- | --- | --- | --- |"]
                lines += [
                    f"| `{p['name']}` | {p['in']} | {_schema_type(p['schema'], components)} | "
                    f"{_code(p['schema'].get('default', ''))} |"
                    for p in params
                ]
                lines.append("")
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                lines += [
                    f"Request body (JSON): [{_schema_type(body['schema'], components)}](#{_schema_type(body['schema'], components).lower()})",
                    "",
                ]
            codes = ", ".join(
                f"`{c}` {r.get('description', '')}" for c, r in op["responses"].items()
            )
            lines += [f"Responses in the schema: {codes}.", ""]
    lines += ["## Schemas", ""]
    for name, schema in components.items():
        if name in ("HTTPValidationError", "ValidationError"):
            continue
        lines += [f"### {name}", "", schema.get("description", ""), ""]
        lines += [
            "| field | type | required | default | description |",
            "| --- | --- | --- | --- | --- |",
        ]
        required = set(schema.get("required", []))
        for field, prop in schema.get("properties", {}).items():
            lines.append(
                f"| `{field}` | {_schema_type(prop, components)} | {'yes' if field in required else ''} | "
                f"{_code(prop.get('default', '')) if 'default' in prop else ''} | {_text(prop.get('description', ''))} |"
            )
        lines.append("")
    return "\n".join(lines)


# -- deployments --------------------------------------------------------------------------------


def _flow_name(entrypoint: str) -> str:
    """The name Prefect gives the flow at ``path/to/file.py:attribute`` (what
    ``prefect deployment run <flow name>/<deployment>`` takes)."""
    import importlib
    import logging

    path, attribute = entrypoint.split(":")
    # Prefect reads each flow's docstring with griffe when the flow is defined; griffe's notes
    # on the flows' (non-Google) docstrings would reach MkDocs' log (mkdocstrings routes
    # griffe's logger there) and fail a strict build.
    logging.disable(logging.WARNING)
    try:
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    finally:
        logging.disable(logging.NOTSET)
    return getattr(module, attribute).name


def deployments_markdown() -> str:
    """The deployments of ``prefect.yaml``: name, flow, schedule, queue, description."""
    import yaml

    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    lines = ["| deployment | flow | schedule | work pool / queue | what it does |"]
    lines.append("| --- | --- | --- | --- | --- |")
    for dep in spec["deployments"]:
        flow_name = _flow_name(dep["entrypoint"])
        schedules = [
            f"`{s['cron']}` {s.get('timezone', 'UTC')}"
            for s in dep.get("schedules") or []
            if "cron" in s
        ]
        pool = dep.get("work_pool", {})
        lines.append(
            f"| `{flow_name}/{dep['name']}` | `{dep['entrypoint']}` | {', '.join(schedules) or 'none'} | "
            f"`{pool.get('name', '')}` / `{pool.get('work_queue_name', '')}` | {_text(dep.get('description', ''))} |"
        )
    return "\n".join(lines) + "\n"


GENERATORS: dict[str, Callable[[], str]] = {
    "cli": cli_markdown,
    "config": config_markdown,
    "http": http_markdown,
    "deployments": deployments_markdown,
}


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace each ``<!-- generated: NAME -->`` marker with ``GENERATORS[NAME]()``."""

    def generated(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise KeyError(f"{page.file.src_path}: no generator {name!r} (have {list(GENERATORS)})")
        return GENERATORS[name]()

    return MARKER.sub(generated, markdown)
