"""The command line starts fast: each command's module is imported only when it runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import LAZY_COMMANDS, LazyGroup, app

ROOT = Path(__file__).resolve().parents[1]
HEAVY = {"pandas", "tensorflow", "keras", "prefect", "great_expectations", "fastapi"}


def _imported_by(args: list[str]) -> set[str]:
    """Modules a fresh interpreter imported to run ``tradeforge *args``, and their packages."""
    return _imported_after(
        "from cli.main import app\n"
        "try:\n"
        f"    app({args!r})\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
    )


def _imported_after(code: str) -> set[str]:
    """Modules a fresh interpreter imported to run ``code``, and their packages."""
    probe = (
        "import json, sys\n"
        + code
        + "print(json.dumps(sorted(set(sys.modules) | {m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_help_lists_every_command_without_importing_them() -> None:
    lazy = {module for module, _ in LAZY_COMMANDS.values()}
    assert _imported_by(["--help"]) & (HEAVY | lazy | {"storage"}) == set()
    out = CliRunner().invoke(app, ["--help"]).output
    for name, (_, short) in LAZY_COMMANDS.items():
        assert name in out and short[:30] in out


def test_models_list_needs_no_pandas(tmp_path: Path) -> None:
    assert _imported_by(["models", "list", "--store", str(tmp_path)]) & HEAVY == set()


@pytest.mark.parametrize("name", list(LAZY_COMMANDS))
def test_every_lazy_command_loads(name: str) -> None:
    import typer

    group = typer.main.get_command(app)
    assert isinstance(group, LazyGroup)
    command = group.load(name)
    assert command.name == name and (command.help or "").strip()


def test_cli_default_store_is_the_configs() -> None:
    from cli.options import DEFAULT_STORE
    from tradeforge.config import DEFAULT_STORE as CONFIG_STORE

    assert DEFAULT_STORE is CONFIG_STORE  # one declaration, in tradeforge/__init__.py


def test_importing_the_python_api_loads_nothing_heavy() -> None:
    # `import tradeforge as tf` and naming every public function and type: no pandas, Prefect,
    # TensorFlow, Keras, great-expectations or FastAPI until a call needs them.
    import tradeforge

    names = [n for n in tradeforge.__all__ if n != "Report"]  # Report is a pandas-backed record
    loaded = _imported_after(
        "import tradeforge as tf\n" + "".join(f"tf.{name}\n" for name in names)
    )
    assert loaded & HEAVY == set()
    assert (
        _imported_after("import tradeforge\n") & (HEAVY | {"pydantic", "tradeforge.api"}) == set()
    )
