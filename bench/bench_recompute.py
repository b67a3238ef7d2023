"""Recompute benchmark (issue 5): our recompute against the best hand-written SQL.

Builds (once, cached by size) a PostgreSQL database with N accounts and M
touches, then in one run times:

1. the full recompute of one day (``funnel.recompute.day_compute``: account
   snapshots by chunks, stage changes; funnel snapshots timed separately),
2. one hand-written SQL statement computing the same per-account figures
   (stage, engagement, relationship and research scores, surge flag, touch
   counts by kind, engagement touches, last touch, open pipeline) into a
   temporary table,
3. the recompute of the accounts marked after ingesting touches for 1 % of
   the accounts,

and prints the ratios (target: recompute <= 2x the hand-written statement;
marked recompute < 5 % of the full one).

    .venv/bin/python bench/bench_recompute.py [--accounts 100000] [--touches 10000000]

It uses the database ``abm_bench_<accounts>_<touches>`` on 127.0.0.1 (created on
first use, reused after). Not part of the test run.
"""

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DAY = dt.date(2026, 6, 30)


def setup_django(db_name: str) -> None:
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{db_name}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "abm_site.settings")
    import django

    django.setup()


def ensure_database(db_name: str) -> bool:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db_name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{db_name}"')
    return not exists


def populate(accounts: int, touches: int) -> None:
    """Set-based generation in SQL: deterministic (hash-based), fast enough for 10M rows."""
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.cursor() as c:
        c.execute("SELECT count(*) FROM accounts_account")
        if c.fetchone()[0] >= accounts:
            return
        print(f"Generating {accounts:,} accounts and {touches:,} touches (once)…", flush=True)
        t0 = time.monotonic()
        c.execute(
            "INSERT INTO accounts_tier (created_at, updated_at, name, rank) VALUES "
            "(now(), now(), 'Tier 1', 1), (now(), now(), 'Tier 2', 2), (now(), now(), 'Tier 3', 3)"
        )
        c.execute(
            """
            INSERT INTO accounts_account (created_at, updated_at, name, domain, industry, country,
                is_target, needs_recompute, program_type, source, external_id, tier_id, fit_grade)
            SELECT now(), now(), 'Account ' || g, 'a' || g || '.example.com', 'Software', 'US',
                   g %% 4 <> 0, false, '', '', '',
                   (SELECT id FROM accounts_tier ORDER BY rank LIMIT 1 OFFSET (g %% 3)), 'B'
            FROM generate_series(1, %s) g
            """,
            [accounts],
        )
        c.execute("SELECT min(id) FROM accounts_account")
        first = c.fetchone()[0]
        kinds = [
            "ad_impression",
            "ad_impression",
            "ad_impression",
            "web_visit",
            "web_visit",
            "email_sent",
            "email_sent",
            "email_open",
            "email_click",
            "email_reply",
            "ad_click",
            "meeting",
            "call_connected",
            "form_fill",
            "content_download",
            "high_value_page_visit",
            "chat_conversation",
            "event_attended",
            "social_interaction",
            "referral",
            "direct_mail_sent",
            "intent_signal",
        ]
        kind_array = "ARRAY[" + ",".join(f"'{k}'" for k in kinds) + "]"
        c.execute("ALTER TABLE engagement_touch SET (autovacuum_enabled = false)")
        c.execute(
            f"""
            INSERT INTO engagement_touch (created_at, updated_at, account_id, kind, channel,
                direction, occurred_at, url, asset, funnel_position, engagement_minutes, cost,
                source, external_id)
            SELECT now(), now(), %s + (hashint4(g) & 2147483647) %% %s,
                   ({kind_array})[1 + (hashint4(g + 7) & 2147483647) %% {len(kinds)}], '',
                   'inbound',
                   %s::timestamptz - make_interval(secs => (hashint4(g + 13) & 2147483647) %% (540 * 86400)),
                   'https://example.com/p/' || ((hashint4(g + 17) & 2147483647) %% 40), '', '',
                   ((hashint4(g + 19) & 2147483647) %% 600) / 100.0, 0, 'bench', ''
            FROM generate_series(1, %s) g
            """,  # noqa: S608 - constant kind list
            [first, accounts, f"{DAY + dt.timedelta(days=1)} 00:00:00+00", touches],
        )
        c.execute(
            """
            INSERT INTO funnel_opportunity (created_at, updated_at, account_id, name, type, status,
                crm_stage, amount, created_on, closed_on, term_months, source, external_id)
            SELECT now(), now(), a.id, 'Deal', 'new_business',
                   (ARRAY['open','won','lost'])[1 + a.id %% 3], '', 10000 + a.id %% 50000,
                   %s::date - (a.id %% 400)::int,
                   CASE WHEN a.id %% 3 = 0 THEN NULL ELSE %s::date - (a.id %% 200)::int END,
                   12, '', ''
            FROM accounts_account a WHERE a.id %% 5 = 0
            """,
            [DAY, DAY],
        )
        c.execute(
            """
            INSERT INTO engagement_intentsignal (created_at, updated_at, account_id, topic,
                is_competitor_topic, score, week, provider_surge, source)
            SELECT now(), now(), a.id, 'topic-' || (a.id %% 5), a.id %% 10 = 0,
                   CASE WHEN w = 0 AND a.id %% 7 = 0 THEN 80 ELSE 20 + (a.id + w) %% 10 END,
                   %s::date - ((w * 7) + extract(isodow FROM %s::date)::int - 1),
                   false, 'bench'
            FROM accounts_account a, generate_series(0, 9) w WHERE a.id %% 2 = 0
            """,
            [DAY, DAY],
        )
        c.execute("ALTER TABLE engagement_touch SET (autovacuum_enabled = true)")
    from django.db import connection as conn

    conn.close()
    import psycopg

    with psycopg.connect(
        f"postgresql://postgres@127.0.0.1:5432/{os.environ['DATABASE_URL'].rsplit('/', 1)[1]}",
        autocommit=True,
    ) as raw:
        raw.execute("VACUUM ANALYZE")
    print(f"  generated in {time.monotonic() - t0:.0f} s", flush=True)


HAND_SQL = """
CREATE TEMP TABLE hand_snapshots AS
WITH win AS (
    SELECT t.account_id,
           jsonb_build_object({counts}) AS touch_counts,
           count(*) FILTER (WHERE t.kind IN ({engagement})) AS engagement_touches,
           coalesce(sum(CASE t.kind {engagement_weights} ELSE %(default_weight)s END)
                    FILTER (WHERE t.kind IN ({engagement})), 0) AS engagement_score,
           least(100, coalesce(sum(
               CASE t.kind {relationship_weights} ELSE 0 END
               * power(0.5, extract(epoch FROM (%(end)s::timestamptz - t.occurred_at)) / 86400.0
                            / %(half_life)s)
           ) FILTER (WHERE t.kind IN ({relationship_kinds})), 0) * 100.0 / %(full_scale)s)
               AS relationship_score
    FROM engagement_touch t
    WHERE t.occurred_at >= %(begin)s AND t.occurred_at < %(end)s
    GROUP BY t.account_id
), research AS (
    SELECT r.account_id,
           CASE WHEN g >= %(t3)s THEN 3 WHEN g >= %(t2)s THEN 2 WHEN g >= %(t1)s THEN 1 ELSE 0 END
               AS research_grade
    FROM (
        SELECT t.account_id, greatest(
            (count(*) FILTER (WHERE t.occurred_at >= %(split)s AND {hv}))::float * %(per_week)s
              / greatest((count(*) FILTER (WHERE t.occurred_at < %(split)s AND {hv}))::float / %(weeks)s, 1.0),
            (count(DISTINCT t.url) FILTER (WHERE t.occurred_at >= %(split)s AND t.url <> ''))::float
              * %(per_week)s
              / greatest((count(DISTINCT t.url) FILTER (WHERE t.occurred_at < %(split)s AND t.url <> ''))::float
                         / %(weeks)s, 1.0),
            coalesce(sum(t.engagement_minutes) FILTER (WHERE t.occurred_at >= %(split)s), 0)::float
              * %(per_week)s
              / greatest(coalesce(sum(t.engagement_minutes) FILTER (WHERE t.occurred_at < %(split)s), 0)::float
                         / %(weeks)s, 1.0)
        ) AS g
        FROM engagement_touch t
        WHERE t.kind IN ('web_visit', 'high_value_page_visit')
          AND t.occurred_at >= %(research_begin)s AND t.occurred_at < %(end)s
        GROUP BY t.account_id
    ) r
), opp AS (
    SELECT o.account_id,
           min(o.closed_on) FILTER (WHERE o.type = 'new_business' AND o.status = 'won') AS first_won,
           bool_or(o.type = 'renewal' AND o.status = 'won' AND o.closed_on <= %(day)s) AS renewed,
           bool_or(o.type = 'expansion' AND o.status = 'won' AND o.closed_on <= %(day)s) AS expanded,
           bool_or(o.type = 'new_business' AND {open_q}) AS open_nb,
           coalesce(sum(o.amount) FILTER (WHERE {open_q}), 0) AS open_pipeline
    FROM funnel_opportunity o GROUP BY o.account_id
), surge AS (
    SELECT DISTINCT s.account_id
    FROM engagement_intentsignal s
    WHERE s.week BETWEEN %(surge_begin)s AND %(day)s
      AND (s.provider_surge OR (s.score > 0 AND s.score >= %(factor)s * (
            SELECT avg(b.score) FROM engagement_intentsignal b
            WHERE b.account_id = s.account_id AND b.topic = s.topic
              AND b.week BETWEEN s.week - %(baseline_days)s AND s.week - 1)))
)
SELECT a.id AS account_id,
       CASE
         WHEN opp.first_won <= %(day)s AND (a.churned_on IS NULL OR a.churned_on > %(day)s)
              AND opp.expanded THEN 'expanded'
         WHEN opp.first_won <= %(day)s AND (a.churned_on IS NULL OR a.churned_on > %(day)s)
              AND opp.renewed THEN 'retained'
         WHEN opp.first_won <= %(day)s AND (a.churned_on IS NULL OR a.churned_on > %(day)s)
              THEN 'customer'
         WHEN opp.open_nb THEN 'opportunity'
         WHEN {target} AND win.engagement_touches > 0 THEN 'engaged'
         WHEN {target} THEN 'target'
         ELSE 'none' END AS stage,
       {target} AS is_target,
       round(coalesce(win.engagement_score, 0)::numeric, 2) AS engagement_score,
       round(coalesce(win.relationship_score, 0)::numeric, 2) AS relationship_score,
       coalesce(research.research_grade, 0) AS research_grade,
       surge.account_id IS NOT NULL AS intent_surge,
       coalesce(win.touch_counts, '{{}}'::jsonb) AS touch_counts,
       coalesce(win.engagement_touches, 0) AS engagement_touches,
       last.last_touch_at,
       coalesce(opp.open_pipeline, 0) AS open_pipeline
FROM accounts_account a
LEFT JOIN win ON win.account_id = a.id
LEFT JOIN research ON research.account_id = a.id
LEFT JOIN opp ON opp.account_id = a.id
LEFT JOIN surge ON surge.account_id = a.id
LEFT JOIN LATERAL (
    SELECT max(t.occurred_at) AS last_touch_at FROM engagement_touch t
    WHERE t.account_id = a.id AND t.occurred_at < %(end)s
) last ON true
"""


def hand_sql() -> tuple[str, dict]:
    from django.conf import settings

    from abm_site.db import day_start
    from engagement.choices import ENGAGEMENT_KINDS, TouchKind
    from engagement.scoring import high_value_patterns

    p = settings.ABM_SCORES
    end = day_start(DAY + dt.timedelta(days=1))
    split = end - dt.timedelta(days=p["research_recent_days"])

    def quoted(values):
        return ", ".join(f"'{v}'" for v in values)

    def weights(mapping):
        return " ".join(f"WHEN '{k}' THEN {float(w)}" for k, w in mapping.items())

    hv = "(t.kind = 'high_value_page_visit'"
    for pattern in high_value_patterns():
        hv += " OR upper(t.url) LIKE upper('" + pattern.replace("'", "''") + "') ESCAPE '\\'"
    hv += ")"
    target = (
        "(a.is_target AND (a.targeted_on IS NULL OR a.targeted_on <= %(day)s) "
        "AND (a.untargeted_on IS NULL OR a.untargeted_on > %(day)s))"
    )
    open_q = (
        "((o.created_on IS NULL OR o.created_on <= %(day)s) "
        "AND (o.status = 'open' OR o.closed_on > %(day)s))"
    )
    t1, t2, t3 = sorted(p["research_ratio_thresholds"])
    sql = HAND_SQL.format(
        counts=", ".join(
            f"'{k}', count(*) FILTER (WHERE t.kind = '{k}')" for k in TouchKind.values
        ),
        engagement=quoted(ENGAGEMENT_KINDS),
        engagement_weights=weights(p["engagement_weights"]),
        relationship_weights=weights(p["relationship_weights"]),
        relationship_kinds=quoted(p["relationship_weights"]),
        hv=hv,
        target=target,
        open_q=open_q,
    )
    params = {
        "day": DAY,
        "begin": end - dt.timedelta(days=p["engagement_window_days"]),
        "end": end,
        "split": split,
        "research_begin": split - dt.timedelta(weeks=p["research_baseline_weeks"]),
        "per_week": 7.0 / p["research_recent_days"],
        "weeks": float(p["research_baseline_weeks"]),
        "t1": t1,
        "t2": t2,
        "t3": t3,
        "default_weight": float(p["engagement_default_weight"]),
        "half_life": float(p["relationship_half_life_days"]),
        "full_scale": float(p["relationship_full_scale"]),
        "surge_begin": DAY - dt.timedelta(days=13),
        "factor": float(p["intent_surge_factor"]),
        "baseline_days": 7 * int(p["intent_baseline_weeks"]),
    }
    return sql, params


def timed(label: str, fn) -> float:
    t0 = time.monotonic()
    fn()
    elapsed = time.monotonic() - t0
    print(f"{label:<58} {elapsed:8.2f} s", flush=True)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--touches", type=int, default=10_000_000)
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="chunks computed at once, like that many Celery worker processes (default 2)",
    )
    parser.add_argument(
        "--funnel",
        action="store_true",
        help="also time the funnel snapshots (the KPI catalogue for every slice); slow at 100k",
    )
    args = parser.parse_args()
    db_name = f"abm_bench_{args.accounts}_{args.touches}"
    ensure_database(db_name)
    setup_django(db_name)
    populate(args.accounts, args.touches)

    from django.db import connection

    from accounts.models import Account
    from funnel import recompute
    from funnel.models import AccountSnapshot, AccountStageChange, RecomputeRun
    from funnel.snapshots import funnel_snapshots_upsert

    AccountSnapshot.objects.filter(date=DAY).delete()
    AccountStageChange.objects.filter(changed_on=DAY).delete()
    RecomputeRun.objects.filter(date=DAY).delete()

    def full_accounts():
        """The chunks run ``--workers`` at a time, as Celery workers run them in production."""
        from concurrent.futures import ThreadPoolExecutor

        from django.db import connections

        run, chunks = recompute.run_start(DAY, kind="backfill")

        def one(bounds):
            try:
                recompute.chunk_compute(run.pk, DAY, *bounds)
            finally:
                connections.close_all()

        with ThreadPoolExecutor(max_workers=args.workers) as pool:
            list(pool.map(one, chunks))
        RecomputeRun.objects.filter(pk=run.pk).update(status="succeeded")

    sql, params = hand_sql()

    def hand():
        with connection.cursor() as c:
            c.execute("DROP TABLE IF EXISTS hand_snapshots")
            c.execute(sql, params)

    print(
        f"Day {DAY}; {args.accounts:,} accounts, {args.touches:,} touches; "
        f"{args.workers} chunk worker(s)"
    )
    hand()  # warm the cache for both contenders alike
    ours = timed("Recompute: account snapshots + stage changes (all chunks)", full_accounts)
    best = timed("Hand-written single SQL statement (into a temp table)", hand)
    with connection.cursor() as c:
        c.execute(
            "SELECT count(*) FROM hand_snapshots h JOIN funnel_accountsnapshot s "
            "ON s.account_id = h.account_id AND s.date = %s "
            "WHERE h.stage = s.stage AND h.engagement_score = s.engagement_score "
            "AND h.relationship_score = s.relationship_score "
            "AND h.research_grade = s.research_grade AND h.intent_surge = s.intent_surge "
            "AND h.touch_counts = s.touch_counts AND h.open_pipeline = s.open_pipeline "
            "AND h.last_touch_at IS NOT DISTINCT FROM s.last_touch_at",
            [DAY],
        )
        agree = c.fetchone()[0]
    print(f"Rows where both agree on every figure: {agree:,} of {args.accounts:,}")
    funnel = 0.0
    if args.funnel:
        funnel = timed(
            "Funnel snapshots (every slice, through the KPI engine)",
            lambda: funnel_snapshots_upsert(DAY),
        )

    marked_ids = list(
        Account.objects.order_by("?").values_list("pk", flat=True)[: args.accounts // 100]
    )
    Account.objects.filter(pk__in=marked_ids).update(needs_recompute=True)
    marked = timed(
        f"Marked recompute of 1 % of accounts ({len(marked_ids):,})",
        lambda: recompute.marked_compute(DAY),
    )
    print()
    print(f"Recompute / hand-written SQL ratio: {ours / best:.2f} (target <= 2.00)")
    print(
        f"Marked / full recompute: {100 * marked / (ours + funnel):.2f} % (target < 5 %)"
        + ("" if args.funnel else " (account snapshots; funnel snapshots not timed)")
    )


if __name__ == "__main__":
    main()
