"""Create the viewer, editor and admin groups with their permissions."""

from django.db import migrations


def create_roles(apps, schema_editor):
    from abm_site.roles import sync_role_permissions

    sync_role_permissions(apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("abm_site", "0001_initial"),
        ("accounts", "0001_initial"),
        ("engagement", "0001_initial"),
        ("funnel", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
