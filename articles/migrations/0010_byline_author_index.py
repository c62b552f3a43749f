import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """An author's stories from one index: (author, article) replaces the
    foreign key's index on author alone, which made PostgreSQL visit every
    byline row of the author (see ``ArticleQuerySet.by_author``). The new
    index is built before the old one goes."""

    dependencies = [
        ("articles", "0009_story_rows_keep_search_vector"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="byline",
            index=models.Index(
                fields=["author", "article"], name="byline_author_article_idx"
            ),
        ),
        migrations.AlterField(
            model_name="byline",
            name="author",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="bylines",
                to="articles.author",
            ),
        ),
    ]
