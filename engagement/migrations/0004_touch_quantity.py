"""Touch.quantity: an aggregated row (impressions of an account on a day) carries its count.

The column has a database default of 1, so adding it rewrites nothing and bulk
ingest may COPY rows without it.
"""

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("engagement", "0003_touch_partial_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="touch",
            name="quantity",
            field=models.PositiveIntegerField(
                db_default=1,
                default=1,
                help_text="How many events the row stands for: 1 for one event, more for an aggregated row (1,200 impressions of the account on a day).",
                validators=[django.core.validators.MinValueValidator(1)],
            ),
        ),
        migrations.AddConstraint(
            model_name="touch",
            constraint=models.CheckConstraint(
                condition=models.Q(("quantity__gte", 1)),
                name="engagement_touch_quantity_positive",
                violation_error_message="Quantity must be at least 1.",
            ),
        ),
    ]
