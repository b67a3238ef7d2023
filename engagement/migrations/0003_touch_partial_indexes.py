"""Touch: the stakeholder, program and visitor indexes hold only rows that set the key.

Bulk-ingested touches mostly name none of the three, and keeping index
entries of NULL keys for them cost PostgreSQL a tenth to a quarter of its
work per inserted touch, more as the table grows. Lookups by these columns
(=, IN, joins, ON DELETE SET NULL) imply IS NOT NULL, so they still use the
indexes.

The timestamps get database defaults, so bulk ingest can COPY rows
straight into the table.

The visitor foreign key's own index is dropped by name rather than through
AlterField, which would drop and re-validate the foreign key (a scan of the
whole table on PostgreSQL, a table rebuild on SQLite).
"""

import django.db.models.deletion
import django.db.models.functions.datetime
from django.db import migrations, models

VISITOR_FK_INDEX = "engagement_touch_visitor_id_57021632"


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("engagement", "0002_touch_fewer_indexes"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="touch",
            name="touches_stakeholder_time_idx",
        ),
        migrations.RemoveIndex(
            model_name="touch",
            name="touches_program_time_idx",
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="touch",
                    name="visitor",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="touches",
                        to="engagement.visitor",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{VISITOR_FK_INDEX}"',
                    reverse_sql=(
                        f'CREATE INDEX "{VISITOR_FK_INDEX}" ON "engagement_touch" ("visitor_id")'
                    ),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="touch",
            index=models.Index(
                condition=models.Q(("stakeholder__isnull", False)),
                fields=["stakeholder", "occurred_at"],
                name="touches_stakeholder_time_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="touch",
            index=models.Index(
                condition=models.Q(("program__isnull", False)),
                fields=["program", "occurred_at"],
                name="touches_program_time_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="touch",
            index=models.Index(
                condition=models.Q(("visitor__isnull", False)),
                fields=["visitor"],
                name="touches_visitor_idx",
            ),
        ),
        migrations.AlterField(
            model_name="touch",
            name="created_at",
            field=models.DateTimeField(
                auto_now_add=True, db_default=django.db.models.functions.datetime.Now()
            ),
        ),
        migrations.AlterField(
            model_name="touch",
            name="updated_at",
            field=models.DateTimeField(
                auto_now=True, db_default=django.db.models.functions.datetime.Now()
            ),
        ),
    ]
