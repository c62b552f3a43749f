"""The Reporter and Editor groups.

Reporters write and submit stories for review; editors do everything,
including publishing (the ``articles.publish_article`` permission).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

REPORTER = {
    "articles": ["add_article", "change_article", "view_article",
                 "add_byline", "change_byline", "delete_byline", "view_byline",
                 "view_correction", "view_section",
                 "add_author", "view_author",
                 "add_photo", "change_photo", "view_photo"],
    "taggit": ["add_tag", "view_tag"],
}
EDITOR_APPS = ["articles", "taggit", "reversion"]


def create_groups(apps, schema_editor):
    # Permissions are normally created after all migrations; make sure they
    # exist now so the groups can hold them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    reporter, _ = Group.objects.get_or_create(name="Reporter")
    for app_label, codenames in REPORTER.items():
        reporter.permissions.add(
            *Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
        )
    editor, _ = Group.objects.get_or_create(name="Editor")
    editor.permissions.add(
        *Permission.objects.filter(content_type__app_label__in=EDITOR_APPS)
    )


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=["Reporter", "Editor"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("articles", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("taggit", "0006_rename_taggeditem_content_type_object_id_taggit_tagg_content_8fc721_idx"),
        ("reversion", "0002_add_index_on_version_for_content_type_and_db"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
