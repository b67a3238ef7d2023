"""Owners of accounts become their own table; accounts get alias domains.

Account owners were users. Every user who owned an account becomes an owner
with the same id (so saved links and API calls with ``owner=<id>`` keep
meaning the same person), linked to the user; ``Account.owner`` then points
at owners. Backwards, owners linked to a user point back at that user and
the others (CRM people created by imports) are cleared.
"""

import django.db.models.deletion
from django.conf import settings
from django.core.management.color import no_style
from django.db import migrations, models


def owners_from_users(apps, schema_editor):
    Account = apps.get_model("accounts", "Account")
    Owner = apps.get_model("accounts", "Owner")
    User = apps.get_model(
        settings.AUTH_USER_MODEL.split(".")[0], settings.AUTH_USER_MODEL.split(".")[1]
    )
    ids = Account.objects.filter(owner__isnull=False).values("owner_id").distinct()
    owners = [
        Owner(
            id=user.id,
            name=(f"{user.first_name} {user.last_name}".strip() or user.username)[:255],
            email=(user.email or "").strip().lower() or None,
            user_id=user.id,
        )
        for user in User.objects.filter(id__in=ids)
    ]
    seen = set()
    for owner in owners:  # e-mails are unique among owners; users may share one
        if owner.email in seen:
            owner.email = None
        seen.add(owner.email)
    Owner.objects.bulk_create(owners)
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), [Owner]):
            cursor.execute(sql)


def users_from_owners(apps, schema_editor):
    Account = apps.get_model("accounts", "Account")
    Owner = apps.get_model("accounts", "Owner")
    linked = dict(Owner.objects.filter(user__isnull=False).values_list("id", "user_id"))
    for owner_id, user_id in linked.items():
        Account.objects.filter(owner_id=owner_id).update(owner_id=user_id)
    Account.objects.exclude(owner_id__in=set(linked.values())).update(owner=None)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AccountDomain",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "domain",
                    models.CharField(
                        help_text="Stored lower case without scheme or www.",
                        max_length=253,
                        unique=True,
                    ),
                ),
                (
                    "account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="alias_domains",
                        to="accounts.account",
                    ),
                ),
            ],
            options={
                "verbose_name": "alias domain",
                "ordering": ["domain"],
            },
        ),
        migrations.CreateModel(
            name="Owner",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("name", models.CharField(max_length=255)),
                ("email", models.EmailField(blank=True, max_length=254, null=True)),
                (
                    "user",
                    models.OneToOneField(
                        blank=True,
                        help_text="The user this owner signs in as, if any.",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="owner",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["name"],
            },
        ),
        migrations.RunPython(owners_from_users, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="account",
            name="owner",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="accounts",
                to="accounts.owner",
            ),
        ),
        migrations.RunPython(migrations.RunPython.noop, users_from_owners),
        migrations.AddConstraint(
            model_name="owner",
            constraint=models.UniqueConstraint(
                condition=models.Q(("email__isnull", False)),
                fields=("email",),
                name="accounts_owner_email_unique",
                violation_error_message="Another owner has this e-mail.",
            ),
        ),
    ]
