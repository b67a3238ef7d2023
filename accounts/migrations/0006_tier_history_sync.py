"""Tier history: each account's current tier as its first ``TierChange`` (since always),
and a trigger that records every later change of ``Account.tier`` on the day it happens.

A trigger, as for the target list (0004), because bulk paths (CSV import, demo loader,
``QuerySet.update``) send no signals. Several changes on one day keep the last.
"""

from django.db import migrations

FUNCTIONS = """
CREATE OR REPLACE FUNCTION accounts_tier_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.tier_id IS NOT NULL THEN
            INSERT INTO accounts_tierchange (account_id, tier_id, effective_on)
            VALUES (NEW.id, NEW.tier_id, NULL);
        END IF;
    ELSIF NEW.tier_id IS DISTINCT FROM OLD.tier_id THEN
        INSERT INTO accounts_tierchange (account_id, tier_id, effective_on)
        VALUES (NEW.id, NEW.tier_id, CURRENT_DATE)
        ON CONFLICT (account_id, effective_on) DO UPDATE SET tier_id = EXCLUDED.tier_id;
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS accounts_tier_history ON accounts_account;
CREATE TRIGGER accounts_tier_history AFTER INSERT OR UPDATE OF tier_id ON accounts_account
    FOR EACH ROW EXECUTE FUNCTION accounts_tier_history();
"""

DROP = """
DROP TRIGGER IF EXISTS accounts_tier_history ON accounts_account;
DROP FUNCTION IF EXISTS accounts_tier_history();
"""


def forwards(apps, schema_editor) -> None:
    Account = apps.get_model("accounts", "Account")
    TierChange = apps.get_model("accounts", "TierChange")
    rows = Account.objects.filter(tier__isnull=False).values_list("pk", "tier_id")
    TierChange.objects.bulk_create(
        (
            TierChange(account_id=pk, tier_id=tier, effective_on=None)
            for pk, tier in rows.iterator()
        ),
        batch_size=2000,
    )
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(FUNCTIONS)


def backwards(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_tier_changes"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
