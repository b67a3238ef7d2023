"""A fingerprint of the code that defines the numbers, for the KPI cache key.

Derived, not hand-kept: every module of the project's apps that the KPI
package imports, directly or through other project modules (the scores, the
customer and target rules, the touch kinds and their engagement flag, ...).
A deployment that changes any of them never serves results the previous
code computed.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from collections.abc import Callable
from pathlib import Path

#: Top-level packages whose modules can define a number.
PROJECT_PACKAGES = ("abm_site", "accounts", "engagement", "funnel")
#: Where the walk starts.
ROOT = "funnel.kpis"


def _source_path(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, AttributeError, ValueError):  # a name imported from a module
        return None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def _imports(module: str, path: Path) -> set[str]:
    """Project modules ``module`` imports (absolute and relative, at any depth of the file)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_bytes())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names = [prefix] + [f"{prefix}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in PROJECT_PACKAGES and _source_path(name) is not None:
                found.add(name)
    return found


def code_modules(root: str = ROOT) -> list[str]:
    """``root``, its submodules, and every project module they import, transitively."""
    root_path = _source_path(root)
    assert root_path is not None
    todo = {root}
    if root_path.name == "__init__.py":
        todo |= {
            f"{root}.{'.'.join(p.relative_to(root_path.parent).with_suffix('').parts)}".removesuffix(
                ".__init__"
            )
            for p in root_path.parent.rglob("*.py")
        }
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        path = _source_path(module)
        if path is not None:
            todo |= _imports(module, path) - seen
    return sorted(seen)


def fingerprint(
    modules: list[str] | None = None, read: Callable[[str], bytes] | None = None
) -> str:
    """A short hash over the source of ``modules`` (``code_modules()`` by default)."""

    def read_source(module: str) -> bytes:
        path = _source_path(module)
        return path.read_bytes() if path is not None else b""

    read = read or read_source
    digest = hashlib.sha256()
    for module in modules if modules is not None else code_modules():
        digest.update(module.encode() + b"\0" + read(module) + b"\0")
    return digest.hexdigest()[:16]
