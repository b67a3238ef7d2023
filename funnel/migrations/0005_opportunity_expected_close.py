"""Opportunity.expected_close_on: the close date an open deal is expected on."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("funnel", "0004_definitions_versions"),
    ]

    operations = [
        migrations.AddField(
            model_name="opportunity",
            name="expected_close_on",
            field=models.DateField(
                blank=True,
                help_text="When an open opportunity is expected to close (the CRM's close date of an open deal); closed_on is the day it actually closed.",
                null=True,
            ),
        ),
    ]
