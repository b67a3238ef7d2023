"""The table writers: turn the plan into rows, table by table, in a fixed order.

Later tables point at rows written earlier, so each writer keeps the ids it
got (users, tiers, accounts, stakeholders, programs, visitors). Spend,
visitors, intent, NPS and touches draw from the window's random stream as
they go: the call order in ``services`` is part of the data set's identity.
Rows go in through ``bulk_write``: ``COPY`` on PostgreSQL, ``executemany``
on SQLite.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any, TextIO

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, models
from django.utils import timezone

from accounts.choices import IcpAttribute, ProgramType
from accounts.models import Account, IcpRule, Owner, Stakeholder, Tier
from accounts.services import account_fit_refresh
from engagement.models import HighValuePage, IntentSignal, Program, Spend, Touch, Visitor
from funnel.models import AccountStageChange, NpsResponse, Opportunity
from funnel.services import stage_history_rebuild

from .journeys import AccountPlan, Window, add_months
from .touches import TOUCH_FIELDS, ProgramPick, TouchStream, VisitorPick, money
from .vocabulary import (
    DEMO_USER_DOMAIN,
    GENERAL_SPEND,
    HIGH_VALUE_PAGES,
    ICP_COUNTRIES,
    ICP_INDUSTRIES,
    INTENT_TOPICS,
    PROGRAMS,
    REPS,
    SOURCE,
    TIERS,
    rep_username,
)

CHUNK = 5000
_IS_COMPETITOR_TOPIC = dict(INTENT_TOPICS)
_TIER_PROGRAM_TYPE = {
    1: ProgramType.ONE_TO_ONE,
    2: ProgramType.ONE_TO_FEW,
    3: ProgramType.ONE_TO_MANY,
}


class TableWriter:
    """Writes one table per method; ``step(label, n)`` reports each table's row count."""

    def __init__(
        self,
        window: Window,
        plan: list[AccountPlan],
        *,
        step: Callable[[str, int], None],
        progress_file: TextIO | None = None,
    ) -> None:
        self.w = window
        self.rng = window.rng
        self.plan = plan
        self.step = step
        self.progress_file = progress_file
        self.now = timezone.now()

    def _write(
        self, model: type[models.Model], fields: Sequence[str], rows: Iterable[tuple]
    ) -> int:
        return bulk_write(model, fields, rows, now=self.now)

    # -- users, tiers, ICP rules, high-value pages --
    def users(self) -> None:
        """The sales reps (unusable passwords) with their viewer or editor role."""
        User = get_user_model()
        users = []
        for first, last, _role in REPS:
            username = rep_username(first, last)
            user = User(
                username=username,
                email=f"{username}@{DEMO_USER_DOMAIN}",
                first_name=first.title(),
                last_name=last,
            )
            user.set_unusable_password()
            users.append(user)
        User.objects.bulk_create(users)
        by_name = dict(
            User.objects.filter(username__in=[u.username for u in users]).values_list(
                "username", "id"
            )
        )
        groups = dict(Group.objects.filter(name__in=["viewer", "editor"]).values_list("name", "id"))
        missing = [g for g in ("viewer", "editor") if g not in groups]
        if missing:
            raise RuntimeError(f"Role groups {missing} are missing: run `manage.py migrate` first.")
        Through = User.groups.through
        Through.objects.bulk_create(
            Through(user_id=by_name[u.username], group_id=groups[role])
            for u, (_f, _l, role) in zip(users, REPS, strict=True)
        )
        # The reps own accounts as owners linked to their users (accounts.Owner).
        Owner.objects.bulk_create(
            Owner(
                name=f"{u.first_name} {u.last_name}".strip(),
                email=u.email,
                user_id=by_name[u.username],
            )
            for u in users
        )
        self.user_ids = dict(
            Owner.objects.filter(user_id__in=by_name.values()).values_list("user__username", "id")
        )
        self.step("users", len(users))

    def reference_tables(self) -> None:
        Tier.objects.bulk_create(Tier(name=n, rank=r) for n, r in TIERS)
        self.tier_ids = dict(Tier.objects.values_list("rank", "id"))
        rules = [
            IcpRule(attribute=IcpAttribute.INDUSTRY, values=ICP_INDUSTRIES, weight=3),
            IcpRule(attribute=IcpAttribute.EMPLOYEES, min_value=200, max_value=10000, weight=2),
            IcpRule(
                attribute=IcpAttribute.ANNUAL_REVENUE,
                min_value=Decimal("20000000"),
                max_value=Decimal("2000000000"),
                weight=2,
            ),
            IcpRule(attribute=IcpAttribute.COUNTRY, values=ICP_COUNTRIES, weight=1),
            # An inactive rule, as admins keep retired criteria around.
            IcpRule(attribute=IcpAttribute.COUNTRY, values=["Japan"], weight=1, is_active=False),
        ]
        IcpRule.objects.bulk_create(rules)
        HighValuePage.objects.bulk_create(
            HighValuePage(url_pattern=p, label=label) for p, label in HIGH_VALUE_PAGES
        )
        self.step("tiers", len(TIERS))
        self.step("ICP rules", len(rules))
        self.step("high-value pages", len(HIGH_VALUE_PAGES))

    # -- accounts and their people --
    def accounts(self) -> None:
        """Accounts, then their fit grades (the ICP rules are in place by now)."""
        rows = [
            (
                a.name, a.domain, a.industry, a.employees, a.revenue, a.country,
                self.tier_ids.get(a.tier), a.targeted_on, a.untargeted_on, a.is_target,
                _TIER_PROGRAM_TYPE.get(a.tier, ""),
                self.user_ids[a.owner] if a.owner else None, a.churned_on, SOURCE,
                f"demo-a{a.idx:06d}", True, None, "",
            )
            for a in self.plan
        ]  # fmt: skip
        fields = [
            "name", "domain", "industry", "employees", "annual_revenue", "country", "tier_id",
            "targeted_on", "untargeted_on", "is_target", "program_type", "owner_id", "churned_on",
            "source", "external_id", "needs_recompute", "fit_score", "fit_grade",
        ]  # fmt: skip
        n = self._write(Account, fields, rows)
        ids = dict(Account.objects.filter(source=SOURCE).values_list("external_id", "id"))
        for a in self.plan:
            a.id = ids[f"demo-a{a.idx:06d}"]
        account_fit_refresh(Account.objects.filter(source=SOURCE))
        self.step("accounts", n)

    def stakeholders(self) -> None:
        fields = ["account_id", "name", "email", "title", "buying_role", "known_since", "source"]
        rows = (
            (a.id, name, email, title, role, known, SOURCE)
            for a in self.plan
            for known, name, email, title, role in a.stakeholders
        )
        n = self._write(Stakeholder, fields, rows)
        self.sh_ids = {
            (acc, email): pk
            for acc, email, pk in Stakeholder.objects.filter(source=SOURCE).values_list(
                "account_id", "email", "id"
            )
        }
        self.step("stakeholders", n)

    def visitors(self) -> None:
        """The planned visitors plus a quarter more that never match an account."""
        w = self.w
        rows: list[tuple] = []
        for a in self.plan:
            for anon, seen, identified, who in a.visitors:
                sh = self.sh_ids.get((a.id, who)) if who else None
                rows.append((anon, a.id, sh, seen, identified if sh else None))
        for _ in range(round(len(rows) * 0.25)):
            seen = w.at(w.day(w.start, w.end), 0, 24)
            rows.append((f"{self.rng.getrandbits(64):016x}", None, None, seen, None))
        uniq: dict[str, tuple] = {}
        for r in rows:
            uniq.setdefault(r[0], r)
        fields = ["anonymous_id", "account_id", "stakeholder_id", "first_seen_at", "identified_at"]
        n = self._write(Visitor, fields, uniq.values())
        ids = dict(Visitor.objects.values_list("anonymous_id", "id"))
        self.visitor_pick: VisitorPick = {}
        for anon, acc, sh, seen, identified in uniq.values():
            if acc is None:
                continue
            self.visitor_pick.setdefault(acc, []).append(
                (
                    seen.date().toordinal(),
                    ids[anon],
                    identified.date().toordinal() if identified else None,
                    sh,
                )
            )
        for lst in self.visitor_pick.values():
            lst.sort()
        self.step("visitors", n)

    # -- programs and spend --
    def programs_and_spend(self) -> None:
        """Programs with their tiers and budgets, their spend, then spend without a program."""
        spend_rows: list[tuple] = []
        programs = [self._program(spec, spend_rows) for spec in PROGRAMS]
        Program.objects.bulk_create(
            Program(
                name=p["name"],
                program_type=p["type"],
                budget=Decimal(p["budget"]),
                starts_on=p["starts_on"],
                ends_on=p["ends_on"],
            )
            for p in programs
        )
        program_ids = dict(Program.objects.values_list("name", "id"))
        Through = Program.target_tiers.through
        Through.objects.bulk_create(
            Through(program_id=program_ids[p["name"]], tier_id=self.tier_ids[rank])
            for p in programs
            for rank in p["tiers"]
        )
        for category, cadence, channel, base in GENERAL_SPEND:
            for day, amount in self._spend_series(self.w.start, None, cadence, base):
                external_id = f"demo-s{len(spend_rows) + 1:06d}"
                spend_rows.append((None, day, amount, channel, category, SOURCE, external_id))
        fields = [
            "program_id", "spent_on", "amount", "channel", "category", "source", "external_id",
        ]  # fmt: skip
        rows = ((program_ids.get(r[0]), *r[1:]) for r in spend_rows)
        self.step("programs", len(programs))
        self.step("spend", self._write(Spend, fields, rows))
        self.program_pick = self._program_pick(programs, program_ids)

    def _program(self, spec: dict[str, Any], spend_rows: list[tuple]) -> dict[str, Any]:
        """One program's dates and its spend rows; the budget is a little over the run rate."""
        w = self.w
        anchor, offset = spec["start"]
        p_start = (w.start if anchor == "window" else w.end) + dt.timedelta(days=offset)
        p_end = None if spec["end"] is None else w.end + dt.timedelta(days=spec["end"])
        spent = 0.0
        for category, cadence, channel, base in spec["spend"]:
            for day, amount in self._spend_series(p_start, p_end, cadence, base):
                external_id = f"demo-s{len(spend_rows) + 1:06d}"
                spend_rows.append(
                    (spec["name"], day, amount, channel, category, SOURCE, external_id)
                )
                spent += float(amount)
        lo = max(p_start, w.start)
        hi = min(p_end or w.end, w.end)
        elapsed = max(1, (hi - lo).days + 1)
        planned_days = ((p_end or add_months(w.end, 6)) - lo).days + 1
        budget = (
            math.ceil(spent * planned_days / elapsed * self.rng.uniform(1.02, 1.15) / 1000) * 1000
        )
        return {**spec, "starts_on": p_start, "ends_on": p_end, "budget": budget}

    def _spend_series(
        self, lo: dt.date, hi: dt.date | None, cadence: str, base: float
    ) -> Iterator[tuple[dt.date, Decimal]]:
        """Daily or weekly (Mondays) amounts in the window, growing towards the end."""
        w = self.w
        day = max(lo, w.start)
        last = min(hi or w.end, w.end)
        if cadence == "weekly":
            day += dt.timedelta(days=(7 - day.weekday()) % 7)
        step = dt.timedelta(days=7 if cadence == "weekly" else 1)
        while day <= last:
            progress = (day - w.start).days / w.days
            amount = base * w.scale * (0.75 + 0.5 * progress) * self.rng.uniform(0.7, 1.3)
            yield day, money(amount)
            day += step

    def _program_pick(
        self, programs: list[dict[str, Any]], program_ids: dict[str, int]
    ) -> ProgramPick:
        """Per (tier, kind): the programs that can drive such a touch (0 = non-target)."""
        pick: ProgramPick = {}
        for p in programs:
            lo = p["starts_on"].toordinal()
            hi = (p["ends_on"] or self.w.end).toordinal()
            tiers = p["tiers"] or [1, 2, 3]
            if p.get("non_target"):
                tiers = [*tiers, 0]
            entry = (
                program_ids[p["name"]],
                lo,
                hi,
                tuple(p.get("industries", ())),
                bool(p.get("customers_only")),
            )
            for tier in tiers:
                for kind in p["kinds"]:
                    pick.setdefault((tier, kind), []).append(entry)
        return pick

    # -- intent --
    def intent(self) -> None:
        """Weekly intent scores; surges before opportunities and competitor surges before churn."""
        w, rng = self.w, self.rng
        first_week = max(w.start, w.end - dt.timedelta(weeks=52))
        first_week += dt.timedelta(days=(7 - first_week.weekday()) % 7)
        weeks: list[dt.date] = []
        while first_week <= w.end:
            weeks.append(first_week)
            first_week += dt.timedelta(weeks=1)
        plain = [t for t, comp in INTENT_TOPICS if not comp]
        competitor = [t for t, comp in INTENT_TOPICS if comp]
        rows: list[tuple] = []
        self.intent_touches: dict[int, list[tuple[dt.date, str]]] = {}
        for a in self.plan:
            if rng.random() >= (0.65 if a.abm else 0.4) and a.churned_on is None:
                continue
            topics = rng.sample(plain, rng.randint(1, 3))
            at_risk = a.churned_on is not None or (a.customer_from and rng.random() < 0.15)
            if at_risk or rng.random() < 0.2:
                topics.append(rng.choice(competitor))
            for topic in topics:
                self._intent_history(a, topic, weeks, bool(at_risk), rows)
        fields = [
            "account_id", "topic", "is_competitor_topic", "score", "week", "provider_surge",
            "source",
        ]  # fmt: skip
        self.step("intent signals", self._write(IntentSignal, fields, rows))

    def _intent_history(
        self, a: AccountPlan, topic: str, weeks: list[dt.date], at_risk: bool, rows: list[tuple]
    ) -> None:
        """One account's scores on one topic: about every other week, surging at times."""
        rng = self.rng
        is_comp = _IS_COMPETITOR_TOPIC[topic]
        base = rng.uniform(12, 35)
        history: list[float] = []
        for week in weeks:
            if rng.random() > 0.45:
                history.append(-1.0)
                continue
            score = base * rng.uniform(0.6, 1.4)
            wo = week.toordinal()
            surge = rng.random() < 0.025
            if not is_comp and any(0 <= c - wo <= 42 for c in a.nb_created):
                surge = surge or rng.random() < 0.5
            if is_comp and a.churned_on:
                surge = surge or 0 <= a.churned_on.toordinal() - wo <= 112 and rng.random() < 0.6
            elif is_comp and at_risk:
                surge = surge or (self.w.end - week).days <= 90 and rng.random() < 0.2
            prev = [h for h in history[-8:] if h >= 0]
            if surge:
                score = max(
                    score * rng.uniform(2.1, 3.0), 2.05 * sum(prev) / len(prev) if prev else 0
                )
            flagged = surge and rng.random() < 0.5 or rng.random() < 0.005
            history.append(score)
            rows.append((a.id, topic, is_comp, money(score), week, flagged, SOURCE))
            if surge or flagged:
                self.intent_touches.setdefault(a.id, []).append((week, topic))

    # -- opportunities and NPS --
    def opportunities(self) -> None:
        rows = [
            (
                a.id, o.name, o.type, o.status, o.crm_stage, money(o.amount), o.created_on,
                o.closed_on, o.term_months, o.contract_start, o.contract_end, SOURCE,
                f"demo-o{seq:06d}",
            )
            for seq, (a, o) in enumerate(
                ((a, o) for a in self.plan for o in a.opps), start=1
            )
        ]  # fmt: skip
        fields = [
            "account_id", "name", "type", "status", "crm_stage", "amount", "created_on",
            "closed_on", "term_months", "contract_start", "contract_end", "source", "external_id",
        ]  # fmt: skip
        self.step("opportunities", self._write(Opportunity, fields, rows))

    def nps(self) -> None:
        """Quarterly surveys of customers; ABM customers answer more and happier."""
        w = self.w
        waves: list[dt.date] = []
        d = dt.date(w.start.year, 1, 15)
        while d <= w.end:
            if d >= w.start:
                waves.append(d)
            d = add_months(d, 3)
        answers: list[tuple] = []
        for a in self.plan:
            if not a.customer_from:
                continue
            for wave in waves:
                if wave < a.customer_from or (a.churned_on and wave >= a.churned_on):
                    continue
                self._nps_wave(a, wave, answers)
        rows = (
            (*answer, SOURCE, f"demo-n{seq:06d}") for seq, answer in enumerate(answers, start=1)
        )
        fields = ["account_id", "stakeholder_id", "score", "responded_on", "source", "external_id"]
        self.step("NPS responses", self._write(NpsResponse, fields, rows))

    def _nps_wave(self, a: AccountPlan, wave: dt.date, answers: list[tuple]) -> None:
        """Up to three answers from one customer to one survey; unhappier before a churn."""
        rng = self.rng
        churning = a.churned_on and (a.churned_on - wave).days < 200
        p_answer = 0.65 if a.abm else 0.45
        for _ in range(rng.randint(1, 3)):
            if rng.random() >= p_answer:
                continue
            mix = (0.55, 0.30) if a.abm else (0.33, 0.35)
            if churning:
                mix = (0.1, 0.3)
            u = rng.random()
            if u < mix[0]:
                score = rng.choice([9, 9, 10])
            elif u < mix[0] + mix[1]:
                score = rng.choice([7, 8])
            else:
                score = rng.choice([2, 3, 4, 5, 5, 6, 6, 6])
            day = min(self.w.end, wave + dt.timedelta(days=rng.randint(0, 20)))
            known = [s for s in a.stakeholders if s[0] <= day]
            sh = self.sh_ids.get((a.id, rng.choice(known)[2])) if known else None
            answers.append((a.id, sh, score, day))

    # -- touches and stage history --
    def touches(self, budget: int) -> None:
        """About ``budget`` touches, streamed (with a progress bar when asked for)."""
        stream = TouchStream(
            self.w,
            self.plan,
            budget=budget,
            sh_ids=self.sh_ids,
            visitor_pick=self.visitor_pick,
            program_pick=self.program_pick,
            intent_touches=self.intent_touches,
        )
        bar = _progress(self.progress_file, stream.expected)
        n = bulk_write(Touch, TOUCH_FIELDS, stream.rows(), now=self.now, on_chunk=bar.update)
        bar.close()
        self.step("touches", n)

    def stage_changes(self) -> None:
        """The stage history the data implies, from the one computation the recompute runs
        (``funnel.services.stage_history_rebuild``): no second statement of the rules."""
        ids = [a.id for a in self.plan]
        if ids:
            stage_history_rebuild(min(ids), max(ids), through=self.w.end)
        self.step("stage changes", AccountStageChange.objects.count())


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(file: TextIO | None, total: int):
    if file is None:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit=" touches", unit_scale=True, file=file, mininterval=0.5)


# --- Bulk writing -------------------------------------------------------------


def bulk_write(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Iterable[tuple],
    *,
    now: dt.datetime,
    on_chunk: Callable[[int], Any] | None = None,
) -> int:
    """Insert ``rows`` (tuples in ``fields`` order, attnames) in chunks; returns the row count.

    PostgreSQL: one ``COPY ... FROM STDIN`` streamed from the iterator.
    SQLite: one prepared ``INSERT`` run by ``executemany`` per chunk of
    ``CHUNK`` rows (``bulk_create`` there is held to 999 parameters per
    statement and costs several times the CPU). Other databases:
    ``bulk_create`` in batches of ``CHUNK``. Columns not given get their
    model default; ``created_at`` and ``updated_at`` are set to ``now``.
    """
    if connection.vendor not in ("postgresql", "sqlite"):
        return _bulk_create(model, fields, rows, on_chunk)
    meta = model._meta
    given = [meta.get_field(_field_name(model, f)) for f in fields]
    rest = [
        f
        for f in meta.concrete_fields
        if f.attname not in fields
        and not f.primary_key
        and f.name not in ("created_at", "updated_at")
    ]
    cols = [f.column for f in given] + [f.column for f in rest] + ["created_at", "updated_at"]
    quoted = ", ".join(connection.ops.quote_name(c) for c in cols)
    table = connection.ops.quote_name(meta.db_table)
    tail = (*(f.get_default() for f in rest), now, now)
    # Only these types need Django's conversion; ints, strings and None pass as they are.
    convert = [
        i
        for i, f in enumerate([*given, *rest])
        if isinstance(f, models.DateField | models.DecimalField | models.JSONField)
    ]
    if connection.vendor == "postgresql":
        json_cols = [i for i in convert if isinstance([*given, *rest][i], models.JSONField)]
        return _copy_rows(table, quoted, rows, tail, json_cols, on_chunk)
    all_fields = [*given, *rest, meta.get_field("created_at"), meta.get_field("updated_at")]
    convert += [len(all_fields) - 2, len(all_fields) - 1]
    placeholders = ", ".join(["%s"] * len(cols))
    # Identifiers come from the model's meta, quoted; values go as parameters.
    sql = f"INSERT INTO {table} ({quoted}) VALUES ({placeholders})"  # noqa: S608
    return _insert_rows(sql, rows, tail, all_fields, convert, on_chunk)


def _copy_rows(
    table: str,
    quoted: str,
    rows: Iterable[tuple],
    tail: tuple,
    json_cols: list[int],
    on_chunk: Callable[[int], Any] | None,
) -> int:
    """PostgreSQL: stream ``rows`` (plus ``tail``) through one ``COPY``."""
    n = 0
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy,
    ):
        for row in rows:
            full = [*row, *tail]
            for i in json_cols:
                full[i] = json.dumps(full[i])
            copy.write_row(full)
            n += 1
            if on_chunk and n % CHUNK == 0:
                on_chunk(CHUNK)
    if on_chunk and n % CHUNK:
        on_chunk(n % CHUNK)
    return n


def _insert_rows(
    sql: str,
    rows: Iterable[tuple],
    tail: tuple,
    all_fields: list,
    convert: list[int],
    on_chunk: Callable[[int], Any] | None,
) -> int:
    """SQLite: ``executemany`` of one prepared ``INSERT`` per chunk of ``CHUNK`` rows."""
    n = 0
    with connection.cursor() as cursor:
        chunk: list[list] = []
        for row in rows:
            full = [*row, *tail]
            for i in convert:
                full[i] = all_fields[i].get_db_prep_save(full[i], connection)
            chunk.append(full)
            if len(chunk) == CHUNK:
                cursor.executemany(sql, chunk)
                n += len(chunk)
                if on_chunk:
                    on_chunk(len(chunk))
                chunk = []
        if chunk:
            cursor.executemany(sql, chunk)
            n += len(chunk)
            if on_chunk:
                on_chunk(len(chunk))
    return n


def _bulk_create(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Iterable[tuple],
    on_chunk: Callable[[int], Any] | None,
) -> int:
    n = 0
    batch: list[models.Model] = []
    for row in rows:
        batch.append(model(**dict(zip(fields, row, strict=True))))
        if len(batch) == CHUNK:
            model.objects.bulk_create(batch, batch_size=CHUNK)
            n += len(batch)
            if on_chunk:
                on_chunk(len(batch))
            batch = []
    if batch:
        model.objects.bulk_create(batch, batch_size=CHUNK)
        n += len(batch)
        if on_chunk:
            on_chunk(len(batch))
    return n


def _field_name(model: type[models.Model], attname: str) -> str:
    for f in model._meta.concrete_fields:
        if f.attname == attname:
            return f.name
    raise ValueError(f"{model.__name__} has no column {attname!r}")
