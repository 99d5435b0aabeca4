"""The rooms of the house and who may import whom (see README, "Layout").

schemas (contracts) <- runtime (the shared floor) <- the processes: gateway, streams
(the stream worker) and helpdesk (the helpdesk bridge), which never import one another.
The ``techgear`` command and the benchmarks sit on top and may import anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "runtime", "gateway", "streams", "helpdesk", "techgear", "bench")
ALLOWED: dict[str, frozenset[str]] = {
    "schemas": frozenset({"schemas"}),
    "runtime": frozenset({"schemas", "runtime"}),
    "gateway": frozenset({"schemas", "runtime", "gateway"}),
    "streams": frozenset({"schemas", "runtime", "streams"}),
    "helpdesk": frozenset({"schemas", "runtime", "helpdesk"}),
}


def our_imports(path: Path) -> set[str]:
    """The packages of ours that ``path`` imports, at any depth of the module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(top for name in names if (top := name.split(".")[0]) in PACKAGES)
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_room_imports_only_what_lies_below_it(package: str) -> None:
    offences = {
        str(path.relative_to(REPO)): sorted(our_imports(path) - ALLOWED[package])
        for path in sorted((REPO / package).rglob("*.py"))
    }
    assert not {path: bad for path, bad in offences.items() if bad}


def test_the_rule_finds_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text("def f() -> None:\n    from streams.settings import WorkerSettings\n")
    assert our_imports(module) == {"streams"}
