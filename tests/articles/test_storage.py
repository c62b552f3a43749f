"""How PostgreSQL stores a story's row (articles/migrations/0009)."""

import random

import pytest
from django.db import connection

from tests.factories import make_article

pytestmark = pytest.mark.django_db


def _toast_chunks():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltoastrelid::regclass::text FROM pg_class "
            "WHERE oid = 'articles_article'::regclass"
        )
        (toast,) = cursor.fetchone()
        cursor.execute(f"SELECT count(*) FROM {toast}")  # noqa: S608 - a catalog name
        return cursor.fetchone()[0]


def test_a_story_of_a_thousand_words_is_stored_in_one_row():
    """A search ranks the newest matches by reading each one's search vector
    (about 4 KB for a story of a thousand words), and a story page reads the
    body. PostgreSQL moves a row's large values to its TOAST table once the
    row passes 2 KB, and every read of them is then another index look-up
    and two or three more pages: ranking 500 matches read 3,400 pages
    instead of 500 and took twice as long. The body, compressed, and the
    search vector now stay in the story's row."""
    rng = random.Random(1)
    vocabulary = [
        "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(4, 8)))
        for _ in range(200)
    ]
    words = rng.choices(vocabulary, k=900)
    paragraphs = [" ".join(words[i : i + 100]) for i in range(0, 900, 100)]
    chunks_before = _toast_chunks()
    article = make_article(body="".join(f"<p>{p}.</p>" for p in paragraphs))

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_column_size(search_vector), octet_length(body) "
            "FROM articles_article WHERE id = %s",
            [article.pk],
        )
        vector_size, body_size = cursor.fetchone()
    assert vector_size > 2500 and body_size > 6000  # each too large for 2 KB
    assert _toast_chunks() == chunks_before
