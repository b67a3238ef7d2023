"""Multi-touch attribution parameters in every definitions version (issue 14).

The attribution KPIs are new in generation 2; existing versions (v1 included, which
never shows them) get the shipped defaults, so every version names the rules its
numbers would use. No result computed before reads these keys, so adding them leaves
every used version's numbers as they were.
"""

from django.db import migrations

DEFAULTS = {
    "attribution_model": "w_shaped",
    "attribution_lookback_days": 90,
    "attribution_half_life_days": 7,
}


def add_defaults(apps, schema_editor):
    version = apps.get_model("funnel", "DefinitionsVersion")
    for row in version.objects.all():  # a handful of versions
        missing = {k: v for k, v in DEFAULTS.items() if k not in row.params}
        if missing:
            version.objects.filter(pk=row.pk).update(params={**row.params, **missing})


def remove_defaults(apps, schema_editor):
    version = apps.get_model("funnel", "DefinitionsVersion")
    for row in version.objects.all():
        kept = {k: v for k, v in row.params.items() if k not in DEFAULTS}
        version.objects.filter(pk=row.pk).update(params=kept)


class Migration(migrations.Migration):
    dependencies = [
        ("funnel", "0006_stage_checkpoints"),
    ]

    operations = [migrations.RunPython(add_defaults, remove_defaults)]
