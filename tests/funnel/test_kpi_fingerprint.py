"""The KPI cache key's code fingerprint covers every module that defines a number.

The module list is derived from what the KPI package imports, so the rules
that live outside it (which touch kinds are engagement, who is on the target
list, the scores) are covered without anyone keeping a list.
"""

import datetime as dt
import importlib.util
from pathlib import Path

from funnel.kpis import Filters, Period, engine
from funnel.kpis.fingerprint import code_modules, fingerprint
from funnel.models import DefinitionsVersion


def _read(module: str) -> bytes:
    return Path(importlib.util.find_spec(module).origin).read_bytes()


def _edited(target: str, old: bytes, new: bytes):
    def read(module: str) -> bytes:
        text = _read(module)
        if module == target:
            assert old in text, f"{old!r} is no longer in {target}: update this test"
            text = text.replace(old, new)
        return text

    return read


def test_the_modules_outside_the_kpi_package_that_define_numbers_are_covered():
    modules = set(code_modules())
    assert {
        "engagement.choices",  # IS_ENGAGEMENT: what counts as engagement
        "accounts.models",  # target_q: who is on the target list
        "engagement.scoring",  # the scores
        "funnel.selectors",  # customers and cohorts
        "funnel.querysets",  # open / won / closed in
        "abm_site.db",  # day bounds and day arithmetic
    } <= modules
    assert not any(m.startswith(("reports", "ingest", "demo")) for m in modules)


def test_changing_what_counts_as_engagement_changes_the_fingerprint():
    base = fingerprint()
    assert fingerprint(read=_read) == base
    flipped = _edited(
        "engagement.choices", b"TouchKind.AD_IMPRESSION: False", b"TouchKind.AD_IMPRESSION: True"
    )
    assert fingerprint(read=flipped) != base


def test_changing_the_target_rule_changes_the_fingerprint():
    edited = _edited("accounts.models", b'targeted_on__lte": day', b'targeted_on__lt": day')
    assert fingerprint(read=edited) != fingerprint()


def test_the_cache_key_carries_the_fingerprint(monkeypatch):
    period = Period(dt.date(2024, 1, 1), dt.date(2024, 3, 31))
    rules = DefinitionsVersion(pk=1, name="v2", generation=2, params={})
    specs = engine._specs(["target_accounts"], rules.generation)
    key = engine._cache_key(period, Filters(), specs, 7, rules)
    monkeypatch.setattr(engine, "_CODE", "another-code")
    assert engine._cache_key(period, Filters(), specs, 7, rules) != key
