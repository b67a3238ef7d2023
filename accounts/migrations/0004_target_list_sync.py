"""The target list: created here, filled with each account's targeting interval, and kept
in step with ``Account.is_target``/``targeted_on``/``untargeted_on`` by triggers.

Triggers, not signals, because accounts are written by bulk paths (CSV import,
demo loader, ``QuerySet.update``) that send no signals. Rules (PostgreSQL):

- insert of a target account: an interval (targeted_on, untargeted_on);
- is_target false -> true on an account that was on the list before
  (re-targeting): the account's current interval starts anew on the given
  ``targeted_on``, or today when it was left unchanged, with ``untargeted_on``
  cleared unless given; a new membership interval is added, the old ones stay;
- target dates edited while on the list: a ``targeted_on`` on or after the
  previous ``untargeted_on`` starts a new interval, any other edit corrects
  the current one;
- is_target true -> false: the open interval closes on ``untargeted_on`` or today.
"""

from django.db import migrations

FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION accounts_target_list_id() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE lid bigint;
BEGIN
    SELECT id INTO lid FROM accounts_accountlist WHERE is_target;
    IF lid IS NULL THEN
        INSERT INTO accounts_accountlist
            (name, kind, description, criteria, tags, owner_id, is_target, created_at, updated_at)
        VALUES ('Target accounts', 'static', '', '{}', '[]', NULL, true, now(), now())
        ON CONFLICT DO NOTHING RETURNING id INTO lid;
        IF lid IS NULL THEN
            SELECT id INTO lid FROM accounts_accountlist WHERE is_target;
        END IF;
    END IF;
    RETURN lid;
END
$$;

CREATE OR REPLACE FUNCTION accounts_target_retarget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.is_target AND NOT OLD.is_target AND EXISTS (
        SELECT 1 FROM accounts_listmembership m
        JOIN accounts_accountlist l ON l.id = m.list_id
        WHERE l.is_target AND m.account_id = NEW.id
    ) THEN
        IF NEW.targeted_on IS NOT DISTINCT FROM OLD.targeted_on THEN
            NEW.targeted_on := CURRENT_DATE;
        END IF;
        IF NEW.untargeted_on IS NOT DISTINCT FROM OLD.untargeted_on THEN
            NEW.untargeted_on := NULL;
        END IF;
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION accounts_target_sync() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    lid bigint;
    cur accounts_listmembership%ROWTYPE;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.is_target THEN
            lid := accounts_target_list_id();
            IF lid IS NOT NULL THEN
                INSERT INTO accounts_listmembership
                    (account_id, list_id, joined_on, left_on, created_at, updated_at)
                VALUES (NEW.id, lid, NEW.targeted_on, NEW.untargeted_on, now(), now());
            END IF;
        END IF;
        RETURN NULL;
    END IF;
    IF (NOT OLD.is_target AND NOT NEW.is_target)
        OR (OLD.is_target = NEW.is_target
            AND OLD.targeted_on IS NOT DISTINCT FROM NEW.targeted_on
            AND OLD.untargeted_on IS NOT DISTINCT FROM NEW.untargeted_on) THEN
        RETURN NULL;
    END IF;
    lid := accounts_target_list_id();
    IF lid IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT * INTO cur FROM accounts_listmembership
    WHERE list_id = lid AND account_id = NEW.id
    ORDER BY left_on IS NULL DESC, joined_on DESC NULLS LAST, id DESC
    LIMIT 1;
    IF NOT NEW.is_target THEN  -- un-targeted: close the open interval
        IF cur.id IS NOT NULL AND cur.left_on IS NULL THEN
            UPDATE accounts_listmembership
            SET left_on = GREATEST(COALESCE(NEW.untargeted_on, CURRENT_DATE), cur.joined_on),
                updated_at = now()
            WHERE id = cur.id;
        END IF;
    ELSIF cur.id IS NULL
        OR (cur.left_on IS NOT NULL AND NOT OLD.is_target)
        OR (OLD.untargeted_on IS NOT NULL AND NEW.targeted_on >= OLD.untargeted_on) THEN
        INSERT INTO accounts_listmembership
            (account_id, list_id, joined_on, left_on, created_at, updated_at)
        VALUES (NEW.id, lid, NEW.targeted_on, NEW.untargeted_on, now(), now());
    ELSE  -- the current interval's dates were corrected
        UPDATE accounts_listmembership
        SET joined_on = NEW.targeted_on, left_on = NEW.untargeted_on, updated_at = now()
        WHERE id = cur.id;
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS accounts_target_retarget ON accounts_account;
CREATE TRIGGER accounts_target_retarget BEFORE UPDATE OF is_target ON accounts_account
    FOR EACH ROW EXECUTE FUNCTION accounts_target_retarget();
DROP TRIGGER IF EXISTS accounts_target_sync ON accounts_account;
CREATE TRIGGER accounts_target_sync AFTER INSERT OR UPDATE OF is_target, targeted_on, untargeted_on
    ON accounts_account FOR EACH ROW EXECUTE FUNCTION accounts_target_sync();
"""

DROP = """
DROP TRIGGER IF EXISTS accounts_target_sync ON accounts_account;
DROP TRIGGER IF EXISTS accounts_target_retarget ON accounts_account;
DROP FUNCTION IF EXISTS accounts_target_sync();
DROP FUNCTION IF EXISTS accounts_target_retarget();
DROP FUNCTION IF EXISTS accounts_target_list_id();
"""


def forwards(apps, schema_editor) -> None:
    """The target list, each target account's interval as its first, then the triggers."""
    AccountList = apps.get_model("accounts", "AccountList")
    Account = apps.get_model("accounts", "Account")
    ListMembership = apps.get_model("accounts", "ListMembership")
    target, _ = AccountList.objects.get_or_create(
        is_target=True, defaults={"name": "Target accounts", "kind": "static"}
    )
    rows = Account.objects.filter(is_target=True).values_list("pk", "targeted_on", "untargeted_on")
    ListMembership.objects.bulk_create(
        (
            ListMembership(account_id=pk, list=target, joined_on=joined, left_on=left)
            for pk, joined, left in rows.iterator()
        ),
        batch_size=2000,
    )
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:  # no parameters: %ROWTYPE stays
            cursor.execute(FUNCTIONS)


def backwards(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_account_lists"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
