from django.db import migrations


class Migration(migrations.Migration):
    """An index on django-taggit's table for "the newest stories with this tag".

    The related-stories rail takes the newest few stories of each of a
    story's tags; with this index that is a short walk per tag, where
    taggit's own indexes make PostgreSQL fetch every use of a common tag and
    sort them. taggit's model is not ours to give a Meta index, hence SQL.
    """

    dependencies = [
        ("articles", "0005_desk_index"),
        ("taggit", "0006_rename_taggeditem_content_type_object_id_taggit_tagg_content_8fc721_idx"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS articles_taggeditem_newest_idx "
            "ON taggit_taggeditem (tag_id, content_type_id, object_id DESC)",
            "DROP INDEX IF EXISTS articles_taggeditem_newest_idx",
        ),
    ]
