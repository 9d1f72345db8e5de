"""The benchmarks and scripts import the product lazily (inside functions, so a measured
child process starts from a small baseline): no test imports them, so a module move would
break them silently. Every product name they import must resolve."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SOURCES = sorted([*REPO.glob("benchmarks/*.py"), *REPO.glob("scripts/*.py")])


def _product_imports(path: Path) -> list[tuple[int, str, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").split(".")[0] == "media_pipeline_dagster"
        ):
            found += [(node.lineno, str(node.module), alias.name) for alias in node.names]
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_every_product_import_resolves(path: Path):
    missing = []
    for line, module, name in _product_imports(path):
        try:
            imported = importlib.import_module(module)
        except ImportError as exc:
            missing.append(f"{path.name}:{line}: {module} ({exc})")
            continue
        if not hasattr(imported, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ImportError:
                missing.append(f"{path.name}:{line}: {name} from {module}")
    assert not missing, "stale imports:\n" + "\n".join(missing)


def test_the_scan_sees_the_benchmarks():
    assert any(_product_imports(p) for p in SOURCES if p.name == "scale.py")
