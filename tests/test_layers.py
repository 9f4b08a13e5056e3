"""Import rules between layers (STYLE.md rule 9 and the architecture's data flow)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HUB = Path(__file__).resolve().parents[1] / "hub"

# package -> packages it must never import
FORBIDDEN = {
    "hub.dimse": ("hub.web",),
    "hub.web": ("hub.dimse",),
    "hub.inference": ("hub.dimse", "hub.web", "hub.cli"),
    "hub.results": ("hub.dimse", "hub.web", "hub.cli"),
    "hub.sdk": ("hub.plugins", "hub.inference", "hub.results", "hub.dimse", "hub.web", "hub.cli"),
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layer_does_not_import_forbidden(package):
    folder = HUB / package.split(".", 1)[1]
    assert folder.is_dir(), f"{package} is part of the layout"
    offenders = []
    for file in folder.rglob("*.py"):
        for name in imported_modules(file):
            if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[package]):
                offenders.append(f"{file.relative_to(HUB.parent)} imports {name}")
    assert not offenders, offenders


def test_rule_checker_detects_violation(tmp_path):
    bad = tmp_path / "x.py"
    bad.write_text("from hub.web import app\nimport hub.dimse.scp\n")
    assert imported_modules(bad) == {"hub.web", "hub.dimse.scp"}
