"""House rules on imports: domain code never imports Prefect; only storage/ imports boto3."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _python_files(*folders: str) -> list[Path]:
    return [p for folder in folders for p in (ROOT / folder).rglob("*.py")]


def test_domain_and_storage_never_import_prefect() -> None:
    offenders = [p for p in _python_files("tradeforge", "storage") if "prefect" in _imports(p)]
    assert offenders == [], f"Prefect imported outside flows/, tasks/, cli/: {offenders}"


def test_only_storage_imports_boto3() -> None:
    folders = ("tradeforge", "flows", "tasks", "cli")
    offenders = [p for p in _python_files(*folders) if {"boto3", "botocore"} & _imports(p)]
    assert offenders == [], f"boto3 imported outside storage/: {offenders}"


def test_only_the_api_door_reaches_the_orchestration_layer() -> None:
    # tradeforge/api.py is a door like cli/ (tf.train runs the flow); no other domain module may
    # import flows/, tasks/ or cli/.
    layers = {"flows", "tasks", "cli"}
    offenders = [p for p in _python_files("tradeforge", "storage") if layers & _imports(p)]
    assert offenders == [ROOT / "tradeforge" / "api.py"], offenders
