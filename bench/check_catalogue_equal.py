"""Old and new statement builders give the same catalogue, and how their costs compare.

Loads the accounts facts' builders (``_lowest``, ``_window``, ``_facts``) and the
view-through rows (``view_through_candidates``) as they were at ``--ref`` (git), checks
that the whole catalogue is identical with either under definitions v1 and v2 (no
filter, the first tier, the second program, cohort abm) for periods of 90, 30, 1 and
400 days ending with the data (computed in that order: from the second, the statements
proven are reused, ``funnel.kpis.statements``), then with ``--rounds N`` times old, new
and the floor scan (as in ``bench_engine.py``) alternating in one process. Old and new
keep statement caches of their own (one shape, other SQL). Read-only: the definitions
are resolved, never marked used.

    .venv/bin/python bench/check_catalogue_equal.py --database abm_bench_engine_s \
        --ref HEAD~1 --rounds 5
"""

import argparse
import datetime as dt
import os
import re
import statistics
import subprocess
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from bench_engine import floor_scan
from bench_ingest import setup_django

ROOT = Path(__file__).resolve().parent.parent
#: Module path -> the functions of it whose old text is loaded.
SWAPPED = {
    "funnel/kpis/sources/accounts.py": ("_lowest", "_window", "_facts"),
    "funnel/kpis/sources/touches.py": ("view_through_candidates",),
}


def _old_functions(ref: str, path: str, names: tuple[str, ...], module: Any) -> dict[str, Any]:
    """The functions ``names`` of ``path`` at ``ref``, compiled in ``module``'s namespace."""
    text = subprocess.run(  # noqa: S603
        ["git", "show", f"{ref}:{path}"],  # noqa: S607
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    namespace = dict(vars(module))
    for name in names:
        found = re.search(rf"^def {name}\(.*?(?=^def |^[A-Z_]+ = |^@)", text, re.S | re.M)
        assert found, f"{name} not in {path} at {ref}"
        exec(found.group(0), namespace)  # noqa: S102  # nosec B102: our own git history
    return {name: namespace[name] for name in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="abm_bench_engine_s")
    parser.add_argument("--ref", default="HEAD~1", help="the git commit of the old builders")
    parser.add_argument("--rounds", type=int, default=0)
    args = parser.parse_args()
    url = f"postgres://postgres@127.0.0.1:5432/{args.database}"
    setup_django({"DATABASE_URL": url, "ABM_KPI_CACHE_SECONDS": "0"})

    from django.db.models import Max

    import funnel.kpis.sources.accounts as accounts
    import funnel.kpis.sources.touches as touches
    from accounts.models import Tier
    from engagement.models import Program, Touch
    from funnel.definitions import definitions_resolve
    from funnel.kpis import Filters, Period, statements
    from funnel.kpis.engine import _compute, _specs

    modules = {"funnel/kpis/sources/accounts.py": accounts}
    modules["funnel/kpis/sources/touches.py"] = touches
    old = {p: _old_functions(args.ref, p, names, modules[p]) for p, names in SWAPPED.items()}
    new = {p: {name: getattr(modules[p], name) for name in names} for p, names in SWAPPED.items()}

    caches: dict[int, OrderedDict] = {id(old): OrderedDict(), id(new): OrderedDict()}

    def use(version: dict[str, dict[str, Any]]) -> None:
        statements._ENTRIES = caches[id(version)]  # each builder's statements its own
        for path, functions in version.items():
            for name, function in functions.items():
                setattr(modules[path], name, function)
        touches.VIEW_THROUGH.rows = touches.view_through_candidates  # the Source keeps its own

    last = Touch.objects.aggregate(m=Max("occurred_at"))["m"].date()
    periods = [Period(last - dt.timedelta(days=n - 1), last) for n in (90, 30, 1, 400)]
    period = periods[0]

    def catalogue(rules: Any, filters: Any = None, at: Any = period) -> dict[str, Any]:
        return _compute(_specs(None, rules.generation), at, filters or Filters(), rules)

    tier = Tier.objects.order_by("rank", "pk").values_list("pk", flat=True).first()
    program = list(Program.objects.order_by("pk").values_list("pk", flat=True)[:2])[-1]
    cases = {
        "no filter": Filters(),
        f"tier {tier}": Filters(tier=(tier,)),
        f"program {program}": Filters(program=(program,)),
        "cohort abm": Filters(cohort="abm"),
    }
    for name in ("v1", "v2"):
        rules = definitions_resolve(name)
        for label, filters in cases.items():
            for cache in caches.values():
                cache.clear()
            reused = statements.counts["reused"]
            for at in periods:
                use(old)
                before = catalogue(rules, filters, at)
                use(new)
                after = catalogue(rules, filters, at)
                pairs = zip(before["kpis"], after["kpis"], strict=True)
                moved = [k["id"] for k, n in pairs if k != n]
                assert before == after, f"{name}, {label}, {at}: moved {moved}"
            proven = {
                label: sorted(k[0][0].name for k, e in cache.items() if e is not statements._NEVER)
                for label, cache in (("old", caches[id(old)]), ("new", caches[id(new)]))
            }
            print(
                f"identical: definitions {name}, {label} ({len(after['kpis'])} KPIs,"
                f" {len(periods)} periods; {statements.counts['reused'] - reused} reused;"
                f" proven: {proven})"
            )
    if not args.rounds:
        return
    rules = definitions_resolve(None)
    variants = {
        "floor": floor_scan(period),
        "old": lambda: (use(old), catalogue(rules)),
        "new": lambda: (use(new), catalogue(rules)),
    }
    for run in variants.values():
        run()
    ratios: dict[str, list[float]] = {name: [] for name in variants}
    new_to_old, loads = [], []
    for _ in range(args.rounds):
        took = {}
        for name, run in variants.items():
            began = time.perf_counter()
            run()
            took[name] = time.perf_counter() - began
        loads.append(os.getloadavg()[0])
        new_to_old.append(took["new"] / took["old"])
        for name in variants:
            ratios[name].append(took[name] / took["floor"])
    use(new)
    print(f"{args.rounds} alternating rounds, load average {min(loads):.1f}-{max(loads):.1f}")
    for name, values in ratios.items():
        print(f"  {name:6} x floor {statistics.median(values):6.2f}")
    print(f"  new / old {statistics.median(new_to_old):.2f}")


if __name__ == "__main__":
    main()
