"""The touch stream: rows of the one big table, drawn per account and week from the plan.

Pure Python: it yields row tuples that ``writers.bulk_write`` streams into
the database, so a 300,000-touch data set never sits in memory. It needs
the ids the earlier writers got (stakeholders, visitors, programs), and it
draws from the same random stream, after them.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Iterator
from decimal import Decimal

from engagement.choices import FunnelPosition
from engagement.choices import TouchKind as K

from .journeys import AccountPlan, Window, slug
from .vocabulary import (
    BLOG_POSTS,
    CONTENT,
    FIELD_EVENTS,
    HIGH_VALUE_URLS,
    KIND_CHANNELS,
    KIND_MIX,
    PERSON_KINDS,
    PHASE_WEIGHT,
    SITE,
    SOURCE,
    TIER_WEIGHT,
    WEB_PAGES,
    WEBINARS,
)

#: Column order of the rows ``TouchStream.rows`` yields.
TOUCH_FIELDS = [
    "account_id", "stakeholder_id", "program_id", "visitor_id", "kind", "channel",
    "direction", "occurred_at", "url", "asset", "funnel_position", "engagement_minutes",
    "cost", "source", "external_id",
]  # fmt: skip

#: Per (tier, kind): the programs that can drive such a touch, as
#: (program id, first day ordinal, last day ordinal, industries, customers only).
ProgramPick = dict[tuple[int, str], list[tuple[int, int, int, tuple, bool]]]
#: Per account id: its visitors by first seen, as (day ordinal, id, identified ordinal, sh id).
VisitorPick = dict[int, list[tuple[int, int, int | None, int | None]]]


def money(x: float) -> Decimal:
    return Decimal(f"{max(x, 0):.2f}")


def _cum(values: Iterable[float]) -> Iterator[float]:
    total = 0.0
    for v in values:
        total += v
        yield total


class TouchStream:
    """Spreads the touch budget over accounts and weeks, then yields each touch's row."""

    def __init__(
        self,
        window: Window,
        accounts: list[AccountPlan],
        *,
        budget: int,
        sh_ids: dict[tuple[int, str], int],
        visitor_pick: VisitorPick,
        program_pick: ProgramPick,
        intent_touches: dict[int, list[tuple[dt.date, str]]],
    ) -> None:
        self.w = window
        self.rng = window.rng
        self.accounts = accounts
        self.sh_ids = sh_ids
        self.visitor_pick = visitor_pick
        self.program_pick = program_pick
        self.intent_touches = intent_touches
        self.weeks = self._weeks()
        self.mix = {key: (list(mix), list(_cum(mix.values()))) for key, mix in KIND_MIX.items()}
        self.seen_kinds: dict[str, int] = {}
        self.seq = 0
        self.cells, self.expected = self._cells(budget)

    def rows(self) -> Iterator[tuple]:
        for a in self.accounts:
            yield from self._account_touches(a, self.cells.get(a.idx, ()))
        yield from self._missing_kinds()

    # -- how many touches per account and week --
    def _weeks(self) -> list[tuple[dt.date, int]]:
        out, day = [], self.w.start
        while day <= self.w.end:
            out.append((day, min(7, (self.w.end - day).days + 1)))
            day += dt.timedelta(days=7)
        return out

    def _weight(self, a: AccountPlan, o: int, k: int, n_weeks: int) -> float:
        w = TIER_WEIGHT[a.tier] * (0.6 + 1.0 * (k / n_weeks) ** 1.5)
        phase = a.phase(o)
        w *= PHASE_WEIGHT[phase] if (a.abm or phase != "pre") else 0.05
        if a.targeted_on and o < a.targeted_on.toordinal():
            w *= 0.5
        if a.untargeted_on and o >= a.untargeted_on.toordinal():
            w *= 0.5
        for c in a.nb_created:
            if 0 < c - o <= 84:
                w *= 1 + 2.0 * (1 - (c - o) / 84)
        return w

    def _cells(self, touches: int) -> tuple[dict[int, list[tuple[int, int]]], int]:
        """Touches per (account, week), Poisson-rounded from the weights; and the total expected.

        The first engagements and intent touches come on top of the weights,
        so they are taken out of the budget first.
        """
        weeks, n_weeks = self.weeks, len(self.weeks)
        weights: list[tuple[AccountPlan, int, float]] = []
        total_w = 0.0
        for a in self.accounts:
            for k, (wk, ndays) in enumerate(weeks):
                mid = wk.toordinal() + ndays // 2
                w = self._weight(a, mid, k, n_weeks) * ndays / 7
                weights.append((a, k, w))
                total_w += w
        forced = sum(1 for a in self.accounts if a.e0 and a.e0 <= self.w.end)
        forced += sum(len(v) for v in self.intent_touches.values())
        budget = max(0, touches - forced - len(K.values))
        factor = budget / total_w if total_w else 0.0
        cells: dict[int, list[tuple[int, int]]] = {}
        for a, k, w in weights:
            lam = w * factor
            n = int(lam) + (1 if self.rng.random() < lam - int(lam) else 0)
            if n:
                cells.setdefault(a.idx, []).append((k, n))
        return cells, budget + forced

    # -- the touches --
    def _account_touches(self, a: AccountPlan, cells: Iterable[tuple[int, int]]) -> Iterator[tuple]:
        rng = self.rng
        if a.e0 and a.e0 <= self.w.end:  # the first engagement: the account shows up
            kind = K.AD_CLICK if a.abm and rng.random() < 0.35 else K.WEB_VISIT
            yield self._touch(a, kind, a.e0)
        for week, topic in self.intent_touches.get(a.id, ()):
            yield self._touch(a, K.INTENT_SIGNAL, week, asset=f"Intent: {topic}")
        for k, n in cells:
            wk, ndays = self.weeks[k]
            for _ in range(n):
                day = wk + dt.timedelta(days=rng.randrange(ndays))
                phase = a.phase(day.toordinal())
                kinds, cum = self.mix[(a.abm, phase)]
                kind = rng.choices(kinds, cum_weights=cum)[0]
                yield self._touch(a, kind, day, phase=phase)

    def _missing_kinds(self) -> Iterator[tuple]:
        """At tiny sizes a rare kind may not come up: add one of each on an engaged account."""
        host = next((a for a in self.accounts if a.e0 and a.abm), None) or self.accounts[0]
        for kind in K.values:
            if kind not in self.seen_kinds:
                yield self._touch(host, kind, self.w.end)

    def _touch(
        self, a: AccountPlan, kind: str, day: dt.date, *, phase: str = "engaged", asset: str = ""
    ) -> tuple:
        rng = self.rng
        self.seen_kinds[kind] = self.seen_kinds.get(kind, 0) + 1
        self.seq += 1
        o = day.toordinal()
        channels = KIND_CHANNELS[kind]
        channel, direction = channels[0] if len(channels) == 1 else rng.choice(channels)
        if kind in (K.AD_IMPRESSION, K.INTENT_SIGNAL):
            when = self.w.at(day, 0, 24) if kind == K.AD_IMPRESSION else self.w.at(day, 6, 7)
        else:
            when = self.w.at(day)
        url, asset, position, minutes, cost = self._content(kind, channel, phase, asset)
        stakeholder, visitor = self._person(a, kind, day)
        program = self._program(a, kind, o)
        return (
            a.id, stakeholder, program, visitor, kind, channel, direction, when, url, asset,
            position, money(minutes), money(cost), SOURCE, f"demo-t{self.seq:07d}",
        )  # fmt: skip

    def _content(
        self, kind: str, channel: str, phase: str, asset: str
    ) -> tuple[str, str, str, float, float]:
        """(url, asset, funnel position, engagement minutes, cost) of a touch of ``kind``."""
        rng = self.rng
        url = position = ""
        minutes = cost = 0.0
        if kind == K.WEB_VISIT:
            if rng.random() < 0.35:
                path, asset = rng.choice(BLOG_POSTS)
                position, minutes = FunnelPosition.TOFU, rng.uniform(0.5, 6)
            else:
                path = rng.choice(WEB_PAGES)
                minutes = rng.uniform(0.2, 3)
            url = SITE + path
        elif kind == K.HIGH_VALUE_PAGE_VISIT:
            path, asset = rng.choice(HIGH_VALUE_URLS)
            asset = f"{asset} page"
            url, position, minutes = SITE + path, FunnelPosition.BOFU, rng.uniform(1, 6)
        elif kind in (K.CONTENT_DOWNLOAD, K.FORM_FILL):
            pool = CONTENT if phase != "opp" else CONTENT[3:]
            asset, position, lo, hi = rng.choice(pool)
            url = f"{SITE}/resources/{slug(asset)}"
            if kind == K.FORM_FILL:
                url += "?form=gated"
                minutes = rng.uniform(0.5, 2)
            else:
                minutes = rng.uniform(lo, hi)
        elif kind == K.EVENT_ATTENDED:
            if channel == "webinar":
                asset, position = rng.choice(WEBINARS)
                minutes = rng.uniform(20, 55)
            else:
                asset, position = rng.choice(FIELD_EVENTS)
                minutes, cost = rng.uniform(60, 180), rng.uniform(120, 400)
        elif kind == K.AD_IMPRESSION:
            cost = rng.uniform(0.02, 0.09)
        elif kind == K.AD_CLICK:
            cost = rng.uniform(2.5, 11)
            url = f"{SITE}{rng.choice(WEB_PAGES[:9])}?utm_source={channel}&utm_medium=paid"
        elif kind == K.DIRECT_MAIL_SENT:
            cost = rng.uniform(30, 120)
        return url, asset, position, minutes, cost

    def _person(self, a: AccountPlan, kind: str, day: dt.date) -> tuple[int | None, int | None]:
        """(stakeholder id, visitor id): web visits by a known visitor, person kinds by a contact.

        Only someone already known on ``day`` qualifies.
        """
        rng, o = self.rng, day.toordinal()
        stakeholder = visitor = None
        if kind in (K.WEB_VISIT, K.HIGH_VALUE_PAGE_VISIT):
            options = self.visitor_pick.get(a.id)
            if options and rng.random() < 0.65:
                m = bisect.bisect_right(options, (o, 1 << 62))
                if m:
                    _seen, visitor, ident, sh = options[rng.randrange(m)]
                    if ident is not None and ident <= o:
                        stakeholder = sh
        elif kind in PERSON_KINDS and a.stakeholders:
            m = bisect.bisect_right(a.stakeholders, (day, "\uffff"))
            if m:
                stakeholder = self.sh_ids.get((a.id, a.stakeholders[rng.randrange(m)][2]))
        return stakeholder, visitor

    def _program(self, a: AccountPlan, kind: str, o: int) -> int | None:
        """A live program that drives this kind for the account's tier, industry and status."""
        options = self.program_pick.get((a.tier if a.abm else 0, kind))
        if not (options and self.rng.random() < 0.75):
            return None
        if a.sales_sourced and a.before_new_deal(o):
            return None
        is_customer = a.customer_from is not None and o >= a.customer_from.toordinal()
        live = [
            pid
            for pid, lo, hi, inds, cust_only in options
            if lo <= o <= hi
            and (not inds or a.industry in inds)
            and (not cust_only or is_customer)
            and (a.abm or not cust_only)
        ]
        if not live:
            return None
        return live[0] if len(live) == 1 else self.rng.choice(live)
