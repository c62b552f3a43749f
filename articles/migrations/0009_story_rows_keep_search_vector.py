from django.db import migrations


class Migration(migrations.Migration):
    """A story's body (compressed) and search vector stay in its row.

    PostgreSQL moves a row's large values out to its TOAST table once the
    row passes about 2 KB (``toast_tuple_target``); a story of a thousand
    words has a 6 KB body and a 4 KB search vector, so both went out, and
    each read of either (ranking a search's matches, showing a story) was
    another index look-up and two or three more pages. With the target at
    its maximum the body is compressed in the row and the vector stays
    beside it; only a row that still does not fit a page moves values out.
    The row itself then takes a page of its own: with TOAST, the table
    takes about 9% more space at 100,000 stories (the unused end of each
    page).

    This applies to rows written from now on; rows written before move when
    they are next saved, or all at once with ``VACUUM FULL articles_article``
    (which locks the table while it runs; see docs/operations.md).
    """

    dependencies = [
        ("articles", "0008_archive_index_order"),
    ]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE articles_article SET (toast_tuple_target = 8160)",
            reverse_sql="ALTER TABLE articles_article RESET (toast_tuple_target)",
        ),
    ]
