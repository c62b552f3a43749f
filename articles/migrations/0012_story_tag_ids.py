from django.contrib.postgres.operations import CreateExtension
from django.db import migrations

# Each story's tag ids, sorted, in a column of its own row, kept by
# PostgreSQL: articles.reader ranks a story's related stories by the number
# of tags each candidate shares with it, and counting them from taggit's
# table cost a probe per candidate, the largest part of the story page's
# query (bench/README.md, "The shared tags on the story's row"). Read from
# the row, the count is intarray's icount(a & b).
#
# Django does not know the column (it is not a model field), so it never
# writes a stale copy of it; the triggers below keep it, whatever writes
# taggit's rows: the admin, taggit's manager, bulk_create(), a revision
# revert, a COPY. The price: a tag change rewrites its stories' rows, and
# PostgreSQL recomputes their stored search vectors with them (deleting a
# tag on 25,000 bench stories takes 5 s instead of 0.02).
COLUMN = (
    "ALTER TABLE articles_article ADD COLUMN tag_ids integer[] NOT NULL DEFAULT '{}'"
)

# Rows of taggit_taggeditem for other models than Article are left alone.
WRITE_FUNCTION = """
CREATE FUNCTION articles_write_tag_ids(article_ids bigint[]) RETURNS void
LANGUAGE sql AS $$
    UPDATE articles_article a SET tag_ids = t.ids
    FROM (
        SELECT s.id, ARRAY(
            SELECT i.tag_id FROM taggit_taggeditem i
            WHERE i.content_type_id = ct.id AND i.object_id = s.id
            ORDER BY i.tag_id
        ) AS ids
        FROM unnest(article_ids) s(id)
        JOIN django_content_type ct ON ct.app_label = 'articles' AND ct.model = 'article'
    ) t
    WHERE a.id = t.id AND a.tag_ids IS DISTINCT FROM t.ids;
$$;
"""

# As for the byline lists (0011): two transactions tagging one story take
# turns on the story's row, and the second one counts the first one's tags
# once it has committed (each statement below takes a new snapshot).
REFRESH_FUNCTION = """
CREATE FUNCTION articles_refresh_tag_ids(article_ids bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM FROM articles_article WHERE id = ANY(article_ids)
    ORDER BY id FOR NO KEY UPDATE;
    PERFORM articles_write_tag_ids(article_ids);
END;
$$;
"""

# Statement triggers with transition tables: a bulk insert refreshes each
# story once, not once per tag. Rows of other models' tags are left out.
STORIES = (
    "content_type_id = (SELECT id FROM django_content_type"
    " WHERE app_label = 'articles' AND model = 'article')"
)
TRIGGERS = f"""
CREATE FUNCTION articles_tagged_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM articles_refresh_tag_ids(ARRAY(
        SELECT DISTINCT object_id FROM new_rows WHERE {STORIES}
    )::bigint[]);
    RETURN NULL;
END;
$$;

CREATE FUNCTION articles_tagged_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM articles_refresh_tag_ids(ARRAY(
        SELECT object_id FROM new_rows WHERE {STORIES}
        UNION SELECT object_id FROM old_rows WHERE {STORIES}
    )::bigint[]);
    RETURN NULL;
END;
$$;

CREATE FUNCTION articles_tagged_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM articles_refresh_tag_ids(ARRAY(
        SELECT DISTINCT object_id FROM old_rows WHERE {STORIES}
    )::bigint[]);
    RETURN NULL;
END;
$$;

CREATE TRIGGER articles_tagged_inserted AFTER INSERT ON taggit_taggeditem
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION articles_tagged_inserted();

CREATE TRIGGER articles_tagged_updated AFTER UPDATE ON taggit_taggeditem
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION articles_tagged_updated();

CREATE TRIGGER articles_tagged_deleted AFTER DELETE ON taggit_taggeditem
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION articles_tagged_deleted();
"""

DROP_TRIGGERS = """
DROP TRIGGER articles_tagged_deleted ON taggit_taggeditem;
DROP TRIGGER articles_tagged_updated ON taggit_taggeditem;
DROP TRIGGER articles_tagged_inserted ON taggit_taggeditem;
DROP FUNCTION articles_tagged_deleted();
DROP FUNCTION articles_tagged_updated();
DROP FUNCTION articles_tagged_inserted();
"""

# Every tagged story, once. No lock is taken: the migration's transaction
# holds the tables while it runs.
BUILD = (
    "SELECT articles_write_tag_ids("
    "ARRAY(SELECT DISTINCT object_id FROM taggit_taggeditem)::bigint[])"
)


class Migration(migrations.Migration):
    """Each story's tag ids on its own row, kept by PostgreSQL (see above).

    intarray is one of PostgreSQL's own extensions (contrib), marked
    trusted: the database's owner may create it (docs/deploy.md). It gives
    integer arrays its own ``&&``, ``@>`` and ``<@``, which refuse NULL
    elements; no query of ours compares integer arrays with them.
    """

    dependencies = [
        ("articles", "0011_byline_list"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("taggit", "0006_rename_taggeditem_content_type_object_id_taggit_tagg_content_8fc721_idx"),
    ]

    operations = [
        CreateExtension("intarray"),
        migrations.RunSQL(
            COLUMN, reverse_sql="ALTER TABLE articles_article DROP COLUMN tag_ids"
        ),
        migrations.RunSQL(
            WRITE_FUNCTION,
            reverse_sql="DROP FUNCTION articles_write_tag_ids(bigint[])",
        ),
        migrations.RunSQL(
            REFRESH_FUNCTION,
            reverse_sql="DROP FUNCTION articles_refresh_tag_ids(bigint[])",
        ),
        migrations.RunSQL(TRIGGERS, reverse_sql=DROP_TRIGGERS),
        migrations.RunSQL(BUILD, reverse_sql=migrations.RunSQL.noop),
    ]
