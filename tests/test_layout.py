"""The codebase's shape (STYLE.md): public surfaces enforced, modules of a readable size.

import-linter checks the contracts in pyproject.toml; these tests check that
the contracts cover every module, so a module added later is protected
without anyone remembering to list it.
"""

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = (
    "accounts",
    "events",
    "engagement",
    "funnel",
    "ingest",
    "activation",
    "reports",
    "demo",
)
#: What other apps may import (STYLE.md "Apps and boundaries").
PUBLIC = {"models", "selectors", "services", "choices"}
PUBLIC_PACKAGES = {"funnel.kpis"}
#: A module past this many lines becomes a package (STYLE.md).
MAX_LINES = 800


def _contracts() -> list[dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["importlinter"]["contracts"]


def _protected(app: str) -> list[str]:
    found = [c for c in _contracts() if c["type"] == "protected" and c["name"].startswith(app)]
    assert len(found) == 1, f"one protected contract for {app}"
    return found[0]["protected_modules"]


def _covered(module: str, protected: list[str]) -> bool:
    for expression in protected:
        if expression.endswith(".*"):
            parent = expression[:-2]
            if module.startswith(parent + ".") and module != parent:
                return True
        elif module == expression or module.startswith(expression + "."):
            return True
    return False


def _modules(app: str) -> list[str]:
    names = []
    for path in (ROOT / app).rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return sorted(names)


@pytest.mark.parametrize("app", APPS)
def test_every_module_but_the_public_surface_is_protected(app):
    protected = _protected(app)
    unprotected = [
        module
        for module in _modules(app)
        if module != app
        and module.split(".")[1] not in PUBLIC
        and module not in PUBLIC_PACKAGES
        and not _covered(module, protected)
    ]
    assert unprotected == [], f"add these to the protected contract of {app}"


def test_layers_put_abm_site_at_the_bottom_and_demo_on_top():
    (layers,) = [c for c in _contracts() if c["type"] == "layers"]
    assert layers["layers"][-1] == "abm_site"
    assert "demo" in layers["layers"][0]
    assert all(
        i.startswith(("abm_site.urls", "abm_site.api_urls")) for i in layers["ignore_imports"]
    )


@pytest.mark.parametrize("app", (*APPS, "abm_site"))
def test_no_module_is_over_the_size_limit(app):
    too_long = {
        str(path.relative_to(ROOT)): n
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts and (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert too_long == {}, f"split these into packages behind the same imports: {too_long}"
