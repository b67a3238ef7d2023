"""KPI definitions versions, and funnel snapshots kept per version with revisions.

Seeds version 1 (the definitions of KPIS.md's first sections) and version 2 (its
"Definitions version 2"), with the parameters the code used until now; version 2
is the default. Existing funnel snapshots were computed under version 1 and
become its first revisions.
"""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Q

#: The parameters of the shipped versions (the score settings of this release, the gross
#: margin of the customer lifetime value, and None: the registered high-value pages).
SHIPPED_PARAMS = {
    "relationship_window_days": 90,
    "relationship_half_life_days": 30,
    "relationship_weights": {
        "email_sent": 1.0,
        "email_reply": 3.0,
        "meeting": 8.0,
        "call_connected": 5.0,
    },
    "relationship_full_scale": 60.0,
    "relationship_change_points": 5,
    "relationship_change_days": 30,
    "engagement_window_days": 90,
    "engagement_default_weight": 1.0,
    "engagement_weights": {
        "ad_click": 2.0,
        "web_visit": 1.0,
        "high_value_page_visit": 5.0,
        "chat_conversation": 5.0,
        "email_open": 0.5,
        "email_click": 2.0,
        "email_reply": 5.0,
        "form_fill": 8.0,
        "content_download": 4.0,
        "meeting": 10.0,
        "call_connected": 6.0,
        "event_attended": 8.0,
        "social_interaction": 1.0,
        "referral": 10.0,
    },
    "research_recent_days": 7,
    "research_baseline_weeks": 8,
    "research_ratio_thresholds": [1.5, 2.5, 4.0],
    "intent_surge_factor": 2.0,
    "intent_baseline_weeks": 8,
    "view_through_days": 30,
    "influence_days": 90,
    "renewal_grace_days": 30,
    "clv_max_years": 10,
    "gross_margin": 1.0,
    "high_value_patterns": None,
}


def seed_versions(apps, schema_editor):
    version = apps.get_model("funnel", "DefinitionsVersion")
    snapshot = apps.get_model("funnel", "FunnelSnapshot")
    v1 = version.objects.create(
        name="v1",
        generation=1,
        params=SHIPPED_PARAMS,
        note="The definitions of KPIS.md before version 2.",
    )
    version.objects.create(
        name="v2",
        generation=2,
        params=SHIPPED_PARAMS,
        derived_from=v1,
        is_default=True,
        note="KPIS.md 'Definitions version 2': program filter and spend allocation, touch "
        "quantity, a nested funnel, funnel flow, program-influenced pipeline, renewal grace.",
    )
    snapshot.objects.update(definitions=v1)


class Migration(migrations.Migration):
    dependencies = [
        ("funnel", "0003_recompute_chunks"),
    ]

    operations = [
        migrations.CreateModel(
            name="DefinitionsVersion",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("name", models.CharField(max_length=50, unique=True)),
                (
                    "generation",
                    models.PositiveSmallIntegerField(
                        choices=[(1, "Version 1"), (2, "Version 2")], default=2
                    ),
                ),
                ("params", models.JSONField(default=dict)),
                ("note", models.TextField(blank=True, help_text="What changed and why.")),
                ("is_default", models.BooleanField(default=False)),
                (
                    "used_at",
                    models.DateTimeField(
                        blank=True,
                        editable=False,
                        help_text="First result computed under it.",
                        null=True,
                    ),
                ),
                (
                    "derived_from",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="derived",
                        to="funnel.definitionsversion",
                    ),
                ),
            ],
            options={
                "verbose_name": "definitions version",
                "ordering": ["created_at", "pk"],
                "constraints": [
                    models.UniqueConstraint(
                        condition=Q(is_default=True),
                        fields=("is_default",),
                        name="funnel_definitionsversion_one_default",
                        violation_error_message="Another definitions version is the default.",
                    ),
                    models.CheckConstraint(
                        condition=Q(generation__in=(1, 2)),
                        name="funnel_definitionsversion_generation_known",
                        violation_error_message="Definitions generation must be 1 or 2.",
                    ),
                ],
            },
        ),
        migrations.AddField(
            model_name="funnelsnapshot",
            name="definitions",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="funnel_snapshots",
                to="funnel.definitionsversion",
            ),
        ),
        migrations.AddField(
            model_name="funnelsnapshot",
            name="revision",
            field=models.PositiveSmallIntegerField(default=1),
        ),
        migrations.AddField(
            model_name="funnelsnapshot",
            name="reason",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.RunPython(seed_versions, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="funnelsnapshot",
            name="definitions",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="funnel_snapshots",
                to="funnel.definitionsversion",
            ),
        ),
        migrations.RemoveConstraint(
            model_name="funnelsnapshot",
            name="funnel_funnelsnapshot_date_window_slice_unique",
        ),
        migrations.RemoveIndex(
            model_name="funnelsnapshot",
            name="funnel_snap_slice_idx",
        ),
        migrations.AlterModelOptions(
            name="funnelsnapshot",
            options={"ordering": ["-date", "slice", "-revision"]},
        ),
        migrations.AddConstraint(
            model_name="funnelsnapshot",
            constraint=models.UniqueConstraint(
                fields=("date", "window_days", "slice", "definitions", "revision"),
                name="funnel_funnelsnapshot_date_window_slice_revision_unique",
                violation_error_message="This revision of the snapshot exists.",
            ),
        ),
        migrations.AddConstraint(
            model_name="funnelsnapshot",
            constraint=models.CheckConstraint(
                condition=Q(revision__gte=1),
                name="funnel_funnelsnapshot_revision_positive",
                violation_error_message="Revisions count from 1.",
            ),
        ),
        migrations.AddIndex(
            model_name="funnelsnapshot",
            index=models.Index(
                fields=["slice", "window_days", "definitions", "date", "revision"],
                name="funnel_snap_slice_idx",
            ),
        ),
    ]
