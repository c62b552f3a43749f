import django.db.models.deletion
from django.db import migrations, models

# See BylineList. articles_write_byline_lists() builds the lists of the given
# stories from their committed bylines: a row for each story with bylines,
# none for a story without. Its JSON is the shape articles.loading reads
# (tests/articles/test_byline_list.py compares it with the ORM's).
WRITE_FUNCTION = """
CREATE FUNCTION articles_write_byline_lists(article_ids bigint[]) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM articles_bylinelist l
    WHERE l.article_id = ANY(article_ids)
      AND NOT EXISTS (SELECT FROM articles_byline b WHERE b.article_id = l.article_id);
    INSERT INTO articles_bylinelist (article_id, json)
    SELECT b.article_id,
           json_agg(
               json_build_object(
                   'id', b.id, 'article_id', b.article_id, 'author_id', b.author_id,
                   'position', b.position, 'role', b.role,
                   'author', json_build_object('id', a.id, 'name', a.name, 'slug', a.slug)
               )
               ORDER BY b.position, b.id
           )::text
    FROM articles_byline b JOIN articles_author a ON a.id = b.author_id
    WHERE b.article_id = ANY(article_ids)
    GROUP BY b.article_id
    ON CONFLICT (article_id) DO UPDATE SET json = EXCLUDED.json;
$$;
"""

# Two transactions changing one story's bylines take turns on the story's
# row: the second builds the list once the first has committed (in READ
# COMMITTED each statement below sees what was committed before it began),
# so neither writes a list that misses the other's byline. FOR NO KEY UPDATE
# does not wait for a byline's foreign-key check on the story.
REFRESH_FUNCTION = """
CREATE FUNCTION articles_refresh_byline_lists(article_ids bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM FROM articles_article WHERE id = ANY(article_ids)
    ORDER BY id FOR NO KEY UPDATE;
    PERFORM articles_write_byline_lists(article_ids);
END;
$$;
"""

# Statement triggers with transition tables: a bulk insert (bulk_create, a
# COPY) refreshes each story once, not once per byline.
TRIGGERS = """
CREATE FUNCTION articles_bylines_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM articles_refresh_byline_lists(ARRAY(SELECT DISTINCT article_id FROM new_rows));
    RETURN NULL;
END;
$$;

CREATE FUNCTION articles_bylines_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM articles_refresh_byline_lists(ARRAY(
        SELECT article_id FROM new_rows UNION SELECT article_id FROM old_rows
    ));
    RETURN NULL;
END;
$$;

CREATE FUNCTION articles_bylines_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM articles_refresh_byline_lists(ARRAY(SELECT DISTINCT article_id FROM old_rows));
    RETURN NULL;
END;
$$;

CREATE FUNCTION articles_authors_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM articles_refresh_byline_lists(ARRAY(
        SELECT DISTINCT b.article_id
        FROM new_rows n
        JOIN old_rows o ON o.id = n.id
        JOIN articles_byline b ON b.author_id = n.id
        WHERE n.name IS DISTINCT FROM o.name OR n.slug IS DISTINCT FROM o.slug
    ));
    RETURN NULL;
END;
$$;

CREATE TRIGGER articles_bylines_inserted AFTER INSERT ON articles_byline
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION articles_bylines_inserted();

CREATE TRIGGER articles_bylines_updated AFTER UPDATE ON articles_byline
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION articles_bylines_updated();

CREATE TRIGGER articles_bylines_deleted AFTER DELETE ON articles_byline
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION articles_bylines_deleted();

CREATE TRIGGER articles_authors_updated AFTER UPDATE ON articles_author
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION articles_authors_updated();
"""

DROP_TRIGGERS = """
DROP TRIGGER articles_authors_updated ON articles_author;
DROP TRIGGER articles_bylines_deleted ON articles_byline;
DROP TRIGGER articles_bylines_updated ON articles_byline;
DROP TRIGGER articles_bylines_inserted ON articles_byline;
DROP FUNCTION articles_authors_updated();
DROP FUNCTION articles_bylines_deleted();
DROP FUNCTION articles_bylines_updated();
DROP FUNCTION articles_bylines_inserted();
"""

# Every story's list, once. No lock is taken: the migration's transaction
# holds the table while it runs.
BUILD = (
    "SELECT articles_write_byline_lists(ARRAY(SELECT DISTINCT article_id "
    "FROM articles_byline))"
)


class Migration(migrations.Migration):
    """Each story's bylines as one JSON text, kept by PostgreSQL (BylineList)."""

    dependencies = [
        ("articles", "0010_byline_author_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="BylineList",
            fields=[
                (
                    "article",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="byline_list",
                        serialize=False,
                        to="articles.article",
                    ),
                ),
                ("json", models.TextField()),
            ],
        ),
        migrations.RunSQL(
            WRITE_FUNCTION,
            reverse_sql="DROP FUNCTION articles_write_byline_lists(bigint[])",
        ),
        migrations.RunSQL(
            REFRESH_FUNCTION,
            reverse_sql="DROP FUNCTION articles_refresh_byline_lists(bigint[])",
        ),
        migrations.RunSQL(TRIGGERS, reverse_sql=DROP_TRIGGERS),
        migrations.RunSQL(BUILD, reverse_sql=migrations.RunSQL.noop),
    ]
