"""Journey planning: every account's firmographics and story, in memory, before any write.

Pure Python (no database): the writers turn the plan into rows. Every
random draw comes from the one ``Window.rng`` in a fixed order (lists and
dicts only, no set iteration), so the same seed and end date give the same
plan; reordering draws here changes the data set.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import random
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from accounts.choices import BuyingRole
from accounts.selectors import normalize_domain
from funnel.choices import OpportunityStatus, OpportunityType

from .vocabulary import (
    DEFAULT_ACCOUNTS,
    FIRST_NAMES,
    ICP_COUNTRIES,
    ICP_INDUSTRIES,
    LAST_NAMES,
    NAME_HEADS,
    NAME_ROOTS,
    NAME_TAILS,
    OPEN_CRM_STAGES,
    OTHER_COUNTRIES,
    OTHER_INDUSTRIES,
    PRODUCTS,
    REPS,
    ROLE_MIX,
    ROLE_TITLES,
    rep_username,
)

R, E, NB = OpportunityType.RENEWAL, OpportunityType.EXPANSION, OpportunityType.NEW_BUSINESS
WON, LOST, OPEN = OpportunityStatus.WON, OpportunityStatus.LOST, OpportunityStatus.OPEN


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole months, clamped to the month's last day."""
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def weighted(rng: random.Random, pairs: Sequence[tuple[Any, float]]) -> Any:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


class Window:
    """The months the data covers and the one random stream every step draws from."""

    def __init__(
        self, *, end: dt.date, months: int, accounts: int, seed: int, tz: zoneinfo.ZoneInfo
    ) -> None:
        self.rng = random.Random(seed)
        self.end = end
        self.start = add_months(end, -months) + dt.timedelta(days=1)
        self.days = (self.end - self.start).days + 1
        self.scale = accounts / DEFAULT_ACCOUNTS
        self.tz = tz

    def day(self, lo: dt.date, hi: dt.date) -> dt.date:
        """A uniform day in [lo, hi]."""
        span = (hi - lo).days
        return lo + dt.timedelta(days=self.rng.randint(0, max(span, 0)))

    def at(self, day: dt.date, lo_hour: int = 8, hi_hour: int = 18) -> dt.datetime:
        seconds = self.rng.randrange(lo_hour * 3600, hi_hour * 3600)
        return dt.datetime(
            day.year, day.month, day.day, seconds // 3600, seconds // 60 % 60, seconds % 60,
            tzinfo=self.tz,
        )  # fmt: skip


@dataclass
class OpportunityPlan:
    type: str
    status: str
    amount: float
    created_on: dt.date | None
    closed_on: dt.date | None
    term_months: int = 12
    contract_start: dt.date | None = None
    contract_end: dt.date | None = None
    name: str = ""
    crm_stage: str = ""


@dataclass
class AccountPlan:
    """The in-memory plan of one account: firmographics and its whole journey."""

    idx: int
    name: str
    domain: str
    tier: int  # 0 = no tier (non-target)
    is_target: bool
    targeted_on: dt.date | None
    untargeted_on: dt.date | None
    industry: str
    country: str
    employees: int
    revenue: Decimal
    owner: str | None
    e0: dt.date | None = None
    customer_from: dt.date | None = None
    churned_on: dt.date | None = None
    opps: list[OpportunityPlan] = field(default_factory=list)
    contracts: list[tuple[dt.date, dt.date, float]] = field(default_factory=list)
    nb_windows: list[tuple[int, int]] = field(default_factory=list)  # ordinal open spans
    nb_created: list[int] = field(default_factory=list)
    stakeholders: list[tuple[dt.date, str, str, str, str]] = field(default_factory=list)
    visitors: list[tuple[str, dt.datetime, dt.datetime | None, str | None]] = field(
        default_factory=list
    )
    id: int = 0  # set once the account row is written

    @property
    def abm(self) -> bool:
        return self.is_target

    @property
    def sales_sourced(self) -> bool:
        """4 accounts in 10 find their new deals through sales: no program touches them in
        the weeks before an opportunity opens (so program influence is not every deal)."""
        return self.idx % 10 < 4

    def before_new_deal(self, o: int, days: int = 100) -> bool:
        """Day ordinal ``o`` falls in the ``days`` before one of its new-business deals opened."""
        return any(c - days <= o <= c for c in self.nb_created)

    def phase(self, o: int) -> str:
        """Where the journey stands on day ordinal ``o``; picks the touch kind mix."""
        if self.churned_on and o >= self.churned_on.toordinal():
            return "churned"
        if self.customer_from and o >= self.customer_from.toordinal():
            return "customer"
        if self.e0 is None or o < self.e0.toordinal():
            return "pre"
        for lo, hi in self.nb_windows:
            if lo <= o <= hi:
                return "opp"
        return "engaged"


class Planner:
    """Plans accounts, then journeys (deals, contracts, renewals, expansions, churn), then people."""

    def __init__(self, window: Window, accounts: int) -> None:
        self.w = window
        self.rng = window.rng
        self.n_accounts = accounts
        usernames = [rep_username(first, last) for first, last, _role in REPS]
        self.editors = [u for u, rep in zip(usernames, REPS, strict=True) if rep[2] == "editor"]
        self.all_reps = usernames
        self.accounts: list[AccountPlan] = []

    def plan(self) -> list[AccountPlan]:
        self._plan_accounts()
        for a in self.accounts:
            self._plan_journey(a)
        self._ensure_outcomes()
        self._plan_unknown_created()
        for a in self.accounts:
            self._plan_stakeholders(a)
            if a.e0 is not None:
                self._plan_visitors(a)
        return self.accounts

    # -- accounts --
    def _plan_accounts(self) -> None:
        n_target = round(self.n_accounts * 0.75)
        names_seen: dict[str, int] = {}
        for i in range(self.n_accounts):
            is_target = i < n_target
            tier = self._tier() if is_target else 0
            name = self._name(names_seen)
            self.accounts.append(self._account(i, name, tier, is_target))

    def _tier(self) -> int:
        u = self.rng.random()
        return 1 if u < 0.10 else 2 if u < 0.40 else 3

    def _name(self, names_seen: dict[str, int]) -> str:
        """A company name, numbered when 20 draws all hit names already taken."""
        rng = self.rng
        for _attempt in range(20):
            name = f"{rng.choice(NAME_HEADS)}{rng.choice(NAME_ROOTS)} {rng.choice(NAME_TAILS)}"
            if name not in names_seen:
                break
        if name in names_seen:
            names_seen[name] += 1
            name = f"{name} {names_seen[name]}"
        names_seen[name] = 1
        return name

    def _account(self, i: int, name: str, tier: int, is_target: bool) -> AccountPlan:
        rng, w = self.rng, self.w
        p_icp = {1: 0.92, 2: 0.8, 3: 0.65, 0: 0.35}[tier]
        industry = rng.choice(ICP_INDUSTRIES if rng.random() < p_icp else OTHER_INDUSTRIES)
        country = rng.choice(ICP_COUNTRIES if rng.random() < p_icp else OTHER_COUNTRIES)
        if rng.random() < p_icp:
            employees = int(math.exp(rng.uniform(math.log(220), math.log(9500))))
        elif rng.random() < 0.7:
            employees = rng.randint(12, 190)
        else:
            employees = rng.randint(10_500, 60_000)
        revenue = employees * rng.uniform(90_000, 400_000)
        if tier == 1:
            revenue *= 1.4
        targeted_on = untargeted_on = None
        if is_target:
            u = rng.random()
            if u < 0.15:  # joined the list during the window
                targeted_on = w.day(w.start + dt.timedelta(days=20), w.end)
            elif u < 0.19:  # taken off the list
                untargeted_on = w.day(w.start + dt.timedelta(days=60), w.end)
        if tier == 1:
            owner = rng.choice(self.editors)
        elif tier or rng.random() < 0.7:
            owner = rng.choice(self.all_reps)
        else:
            owner = None
        return AccountPlan(
            idx=i,
            name=name,
            domain=normalize_domain(f"{slug(name)}.example"),
            tier=tier,
            is_target=is_target,
            targeted_on=targeted_on,
            untargeted_on=untargeted_on,
            industry=industry,
            country=country,
            employees=employees,
            revenue=Decimal(round(revenue, -3)).quantize(Decimal("0.01")),
            owner=owner,
        )

    # -- opportunities --
    def _new_opp(self, a: AccountPlan, opp: OpportunityPlan) -> None:
        label = {NB: "New business", R: "Renewal", E: "Expansion"}[opp.type]
        year = (opp.closed_on or opp.created_on or self.w.end).year
        extra = f": {self.rng.choice(PRODUCTS)}" if opp.type == E else ""
        opp.name = f"{a.name} - {label}{extra} {year}"
        if opp.status == WON:
            opp.crm_stage = "Closed Won"
        elif opp.status == LOST:
            opp.crm_stage = "Closed Lost"
        else:
            age = (self.w.end - (opp.created_on or self.w.end)).days
            opp.crm_stage = OPEN_CRM_STAGES[min(3, age // 35)]
        a.opps.append(opp)

    def _contract(self, opp: OpportunityPlan, start: dt.date, term: int) -> None:
        opp.term_months = term
        opp.contract_start = start
        opp.contract_end = add_months(start, term) - dt.timedelta(days=1)

    def _deal_amount(self, a: AccountPlan) -> float:
        median = {1: 145_000, 2: 88_000, 3: 56_000, 0: 27_000}[a.tier]
        return round(self.rng.lognormvariate(math.log(median), 0.4), -2)

    # -- journeys --
    def _plan_journey(self, a: AccountPlan) -> None:
        """Engagement start, then new-business attempts; customers go on to renewals."""
        rng, t = self.rng, a.tier
        # Customers from before the window: their renewals fall inside it.
        p_existing = {1: 0.18, 2: 0.14, 3: 0.10, 0: 0.12}[t]
        if rng.random() < p_existing:
            self._plan_existing_customer(a)
            return
        p_engaged = {1: 0.96, 2: 0.88, 3: 0.74, 0: 0.55}[t]
        if rng.random() >= p_engaged:
            return
        active_from = a.targeted_on or self.w.start
        span = (self.w.end - active_from).days
        a.e0 = active_from + dt.timedelta(days=int(span * rng.random() ** 1.25))
        self._plan_new_business(a)

    def _plan_existing_customer(self, a: AccountPlan) -> None:
        rng, start = self.rng, self.w.start
        closed = start - dt.timedelta(days=rng.randint(20, 340))
        cycle = int(rng.lognormvariate(math.log(120 if a.abm else 60), 0.3))
        opp = OpportunityPlan(
            NB, WON, self._deal_amount(a), closed - dt.timedelta(days=cycle), closed
        )
        self._contract(opp, closed + dt.timedelta(days=rng.randint(0, 10)), 12)
        self._new_opp(a, opp)
        a.customer_from = closed
        a.e0 = start + dt.timedelta(days=rng.randint(0, 20))
        self._plan_customer(a, opp)

    def _plan_new_business(self, a: AccountPlan) -> None:
        """Up to two attempts after the first engagement: open, won (a customer) or lost."""
        rng, end, t = self.rng, self.w.end, a.tier
        p_opp = {1: 0.62, 2: 0.48, 3: 0.36, 0: 0.30}[t]
        cursor = a.e0
        assert cursor is not None
        attempts = 0
        while attempts < 2 and rng.random() < (p_opp if attempts == 0 else 0.3):
            attempts += 1
            gap = int(rng.gammavariate(2.0, 38 if a.abm else 22)) + 7
            created = cursor + dt.timedelta(days=gap)
            if created > end:
                break
            a.nb_created.append(created.toordinal())
            median = {1: 150, 2: 118, 3: 98, 0: 58}[t]
            cycle = max(7, int(rng.lognormvariate(math.log(median), 0.35)))
            closed = created + dt.timedelta(days=cycle)
            amount = self._deal_amount(a)
            if closed > end:
                self._new_opp(a, OpportunityPlan(NB, OPEN, amount, created, None))
                a.nb_windows.append((created.toordinal(), end.toordinal()))
                break
            a.nb_windows.append((created.toordinal(), closed.toordinal()))
            p_win = {1: 0.55, 2: 0.48, 3: 0.42, 0: 0.22}[t]
            if rng.random() < p_win:
                opp = OpportunityPlan(NB, WON, amount, created, closed)
                terms = [(12, 60), (24, 20), (36, 20)] if a.abm else [(12, 85), (24, 15)]
                term = weighted(rng, terms)
                self._contract(opp, closed + dt.timedelta(days=rng.randint(0, 14)), term)
                self._new_opp(a, opp)
                a.customer_from = closed
                self._plan_customer(a, opp)
                break
            self._new_opp(a, OpportunityPlan(NB, LOST, amount, created, closed))
            cursor = closed + dt.timedelta(days=rng.randint(45, 150))

    def _plan_customer(self, a: AccountPlan, first: OpportunityPlan) -> None:
        """Renewal chain (renew or churn) and expansions of a new customer."""
        annual = self._plan_renewals(a, first)
        self._plan_expansions(a, first, annual)

    def _plan_renewals(self, a: AccountPlan, first: OpportunityPlan) -> float:
        """Renew or churn at each contract end; returns the last annual value."""
        rng, end = self.rng, self.w.end
        assert first.contract_start and first.contract_end
        annual = first.amount / (first.term_months / 12)
        a.contracts.append((first.contract_start, first.contract_end, annual))
        c_end = first.contract_end
        while c_end <= end + dt.timedelta(days=90):
            created = c_end - dt.timedelta(days=rng.randint(60, 100))
            if created > end:
                break
            annual = round(annual * rng.uniform(1.0, 1.08), -2)
            if c_end >= end - dt.timedelta(days=20):  # still being negotiated
                self._new_opp(a, OpportunityPlan(R, OPEN, annual, created, None))
                break
            p_renew = {1: 0.94, 2: 0.9, 3: 0.86, 0: 0.7}[a.tier]
            closed = min(end, max(created, c_end + dt.timedelta(days=rng.randint(-30, 20))))
            if rng.random() < p_renew:
                term = 12 if rng.random() < (0.75 if a.abm else 0.9) else 24
                opp = OpportunityPlan(R, WON, annual * term / 12, created, closed)
                self._contract(opp, c_end + dt.timedelta(days=1), term)
                self._new_opp(a, opp)
                assert opp.contract_start and opp.contract_end
                a.contracts.append((opp.contract_start, opp.contract_end, annual))
                c_end = opp.contract_end
            else:
                self._new_opp(a, OpportunityPlan(R, LOST, annual, created, closed))
                a.churned_on = c_end
                break
        return annual

    def _plan_expansions(self, a: AccountPlan, first: OpportunityPlan, annual: float) -> None:
        """A monthly chance of an expansion while a customer, higher for ABM accounts."""
        rng, end, abm = self.rng, self.w.end, a.abm
        rate = {1: 1.3, 2: 0.95, 3: 0.75, 0: 0.35}[a.tier] / 12
        assert first.closed_on
        month = max(first.closed_on, self.w.start) + dt.timedelta(days=45)
        stop = min(end, a.churned_on or end)
        while month <= stop:
            if rng.random() < rate:
                created = month + dt.timedelta(days=rng.randint(0, 27))
                if created > stop:
                    break
                cycle = rng.randint(20, 80) if abm else rng.randint(15, 50)
                closed = created + dt.timedelta(days=cycle)
                base = next(((s, e, an) for s, e, an in a.contracts if s <= closed <= e), None)
                amount = round((base[2] if base else annual) * rng.uniform(0.1, 0.4), -2)
                if closed > end:
                    self._new_opp(a, OpportunityPlan(E, OPEN, amount, created, None))
                elif base and (base[1] - closed).days > 30 and rng.random() < (0.7 if abm else 0.5):
                    # Co-termed with the running contract so one renewal covers both.
                    opp = OpportunityPlan(E, WON, amount, created, closed)
                    c_start = closed + dt.timedelta(days=rng.randint(1, 7))
                    opp.contract_start, opp.contract_end = c_start, base[1]
                    opp.term_months = max(1, round((base[1] - c_start).days / 30.44))
                    self._new_opp(a, opp)
                else:
                    self._new_opp(a, OpportunityPlan(E, LOST, amount, created, closed))
            month += dt.timedelta(days=30)

    def _plan_unknown_created(self) -> None:
        """A few opportunities from a CRM export that did not know their creation date."""
        for a in self.accounts:
            for opp in a.opps:
                if opp.type == NB and self.rng.random() < 0.02:
                    opp.created_on = None

    # -- every outcome at least once --
    def _outcomes(self) -> set[tuple[str, str]]:
        return {(o.type, o.status) for a in self.accounts for o in a.opps}

    def _ensure_outcomes(self) -> None:
        """At small sizes chance may skip a renewal or expansion outcome: add one consistently.

        Only customers that fit the outcome are touched (a lost renewal turns a
        customer's last renewal into a churn), so the story stays coherent.
        """
        end, rng = self.w.end, self.rng
        live = [a for a in self.accounts if a.customer_from and not a.churned_on and a.contracts]
        if (R, LOST) not in self._outcomes():
            self._add_lost_renewal(live)
        have = self._outcomes()
        if live and (R, OPEN) not in have:
            a = live[0]
            amount = round(a.contracts[-1][2], -2)
            self._new_opp(a, OpportunityPlan(R, OPEN, amount, end - dt.timedelta(days=10), None))
        if live and (E, OPEN) not in have:
            a = live[-1]
            amount = round(a.contracts[-1][2] * 0.2, -2)
            self._new_opp(a, OpportunityPlan(E, OPEN, amount, end - dt.timedelta(days=15), None))
        if live and (E, LOST) not in have:
            a = live[len(live) // 2]
            amount = round(a.contracts[-1][2] * 0.25, -2)
            created = max(a.customer_from, end - dt.timedelta(days=70))  # type: ignore[type-var]
            closed = min(end, created + dt.timedelta(days=rng.randint(20, 50)))
            self._new_opp(a, OpportunityPlan(E, LOST, amount, created, closed))
        if (E, WON) not in have:
            self._add_won_expansion(live)

    def _add_lost_renewal(self, live: list[AccountPlan]) -> None:
        """Turn the last won renewal of a live customer into a loss (and a churn)."""
        for a in live:
            renewals = [o for o in a.opps if o.type == R and o.status == WON]
            if not renewals or len(a.contracts) < 2:
                continue
            final = renewals[-1]
            churn = a.contracts[-2][1]
            final.status, final.crm_stage = LOST, "Closed Lost"
            final.contract_start = final.contract_end = None
            final.term_months = 12
            a.churned_on = churn
            a.contracts.pop()
            # Nothing of the customer outlives the churn.
            a.opps = [
                o
                for o in a.opps
                if o is final
                or (
                    o.status != OPEN
                    and (o.created_on or churn) <= churn
                    and (o.closed_on or churn) <= churn
                    and (o.contract_end or churn) <= churn
                )
            ]
            live.remove(a)
            return

    def _add_won_expansion(self, live: list[AccountPlan]) -> None:
        """A won expansion co-termed with the running contract of the first customer it fits."""
        end = self.w.end
        for a in live:
            c_start, c_end, annual = a.contracts[-1]
            closed = min(end - dt.timedelta(days=5), c_end - dt.timedelta(days=31))
            if closed < max(c_start, self.w.start) + dt.timedelta(days=30):
                continue
            opp = OpportunityPlan(
                E, WON, round(annual * 0.2, -2), closed - dt.timedelta(days=30), closed
            )
            opp.contract_start, opp.contract_end = closed + dt.timedelta(days=1), c_end
            opp.term_months = max(1, round((c_end - opp.contract_start).days / 30.44))
            self._new_opp(a, opp)
            return

    # -- stakeholders and visitors --
    def _plan_stakeholders(self, a: AccountPlan) -> None:
        """Engaged accounts have a buying committee of 10+; others a few known names."""
        rng, w = self.rng, self.w
        engaged = a.e0 is not None
        n = 10 + rng.randint(0, 8) + (6 if a.tier == 1 else 0) if engaged else rng.randint(0, 4)
        roles = [BuyingRole.DECISION_MAKER, BuyingRole.CHAMPION, BuyingRole.INFLUENCER]
        roles += [weighted(rng, ROLE_MIX) for _ in range(max(0, n - len(roles)))]
        emails: dict[str, int] = {}
        anchor = a.e0 or w.start
        for k, role in enumerate(roles[:n]):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            local = f"{first}.{last}".lower()
            if local in emails:
                emails[local] += 1
                local = f"{local}{emails[local]}"
            emails[local] = 1
            if k < 3 or a.customer_from and a.customer_from < w.start:
                known = anchor - dt.timedelta(days=rng.randint(0, 90))
            else:
                span = (w.end - anchor).days
                known = anchor + dt.timedelta(days=int(span * rng.random() ** 1.5))
            title = rng.choice(ROLE_TITLES[role])
            a.stakeholders.append((known, f"{first} {last}", f"{local}@{a.domain}", title, role))
        a.stakeholders.sort(key=lambda s: (s[0], s[2]))

    def _plan_visitors(self, a: AccountPlan) -> None:
        """Anonymous visitors of an engaged account; some later identified as a stakeholder."""
        rng, w = self.rng, self.w
        assert a.e0 is not None
        n_vis = rng.randint(1, 3) + (2 if a.tier == 1 else 0)
        p_identify = 0.45 if a.abm else 0.25
        for _ in range(n_vis):
            seen = w.at(w.day(a.e0, w.end), 0, 24)
            identified = who = None
            if a.stakeholders and rng.random() < p_identify:
                when = seen + dt.timedelta(hours=rng.randint(1, 24 * 60))
                if when.date() <= w.end:
                    identified = when
                    who = rng.choice(a.stakeholders)[2]
            a.visitors.append((f"{rng.getrandbits(64):016x}", seen, identified, who))
