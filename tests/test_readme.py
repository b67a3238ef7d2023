"""README.md documents every setting read from the environment and the two commands."""

import re
from pathlib import Path

from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
README = (BASE_DIR / "README.md").read_text()


def environment_variables() -> set[str]:
    source = (BASE_DIR / "abm_site" / "settings.py").read_text()
    return set(re.findall(r"""env(?:\.\w+)?\(\s*["']([A-Z0-9_]+)["']""", source))


def documented() -> set[str]:
    rows = [line for line in README.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z0-9_]+)`", row.split("|")[1])}


def test_settings_read_the_core_variables():
    assert {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "CELERY_BROKER_URL"} <= (
        environment_variables()
    )


def test_every_environment_variable_is_in_the_configuration_table():
    missing = environment_variables() - documented()
    assert not missing, f"add these to the README configuration table: {sorted(missing)}"


def test_the_commands_and_docs_are_described():
    for text in ("make run", "make test", "/api/docs/", "/api/schema/", "create_api_token"):
        assert text in README, text


def test_every_section_is_written():
    for heading in (
        "## The two commands",
        "## Configuration",
        "## API",
        "## Security",
        "## Benchmarks",
        "curl",
    ):
        assert heading in README, heading
    assert "<!-- section:" not in README  # no placeholder left
