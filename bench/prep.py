"""Get the bench database ready for a run and count each page's queries.

Run by ``bench/run.py`` in its own process, with the same production settings
as the server (DJANGO_SETTINGS_MODULE=bench.settings). Prints one JSON object:
the targets (which story, section, tag, author and terms are measured), the
path of the file listing every published story's address, and the number of
SQL queries each scenario's request runs, counted with Django's test client
and ``CaptureQueriesContext``.

Before that it
* moves the newest stories' dates into the last 40 hours when the data has
  aged (the news sitemap and the front page need fresh stories; the rest of
  the archive is left alone),
* removes what an interrupted run may have left (signups, digests, tasks),
* sets the bench superuser's password to BENCH_ADMIN_PASSWORD.
"""

import json
import os
import sys
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import IntegrityError, connection, transaction  # noqa: E402
from django.db.models import Count, Exists, OuterRef  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402
from taggit.models import Tag  # noqa: E402

from articles.caching import content_changed  # noqa: E402
from articles.models import (  # noqa: E402
    Article,
    Author,
    Correction,
    Section,
    article_path,
)
from bench import common, scenarios  # noqa: E402

FRESH_STORIES = 80
FRESH_HOURS = 40
SIGNUP_PREFIX = "bench-signup-"
RANDOM_SAMPLE = 20


def freshen(now):
    """Spread the newest stories over the last FRESH_HOURS, keeping their order."""
    newest = Article.objects.published().order_by("-publish_at").first()
    if newest is None or newest.publish_at > now - timedelta(hours=2):
        return 0
    stories = list(
        Article.objects.published()
        .order_by("-publish_at")
        .values_list("pk", flat=True)[:FRESH_STORIES]
    )
    step = timedelta(hours=FRESH_HOURS) / FRESH_STORIES
    moved = 0
    for n, pk in enumerate(stories):
        moment = now - timedelta(minutes=5) - n * step
        try:
            with transaction.atomic():
                Article.objects.filter(pk=pk).update(
                    publish_at=moment,
                    first_published_at=moment,
                    url_date=timezone.localdate(moment),
                    updated_at=None,
                    modified_at=moment,
                )
                Correction.objects.filter(article_id=pk).delete()
            moved += 1
        except IntegrityError:  # the slug is taken on that date: leave it
            continue
    content_changed()
    return moved


def clean_up():
    """What earlier (perhaps interrupted) runs left behind."""
    removed = {}
    with connection.cursor() as cursor:
        if _table_exists(cursor, "newsletter_subscriber"):
            cursor.execute(
                "DELETE FROM newsletter_subscriber WHERE email LIKE %s",
                [SIGNUP_PREFIX + "%"],
            )
            removed["signups"] = cursor.rowcount
        if _table_exists(cursor, "newsletter_digest"):
            bench_digests = "SELECT id FROM newsletter_digest WHERE subject LIKE %s"
            for table in ("newsletter_delivery", "newsletter_digestitem"):
                cursor.execute(
                    f"DELETE FROM {table} WHERE digest_id IN ({bench_digests})",  # noqa: S608
                    ["Bench %"],
                )
            cursor.execute(
                "DELETE FROM newsletter_digest WHERE subject LIKE %s", ["Bench %"]
            )
            removed["digests"] = cursor.rowcount
        if _table_exists(cursor, "bench_parked"):
            cursor.execute(
                "UPDATE newsletter_subscriber s SET status = 'confirmed' "
                "FROM bench_parked p WHERE p.id = s.id"
            )
            cursor.execute("DROP TABLE bench_parked")
        cursor.execute("DELETE FROM django_tasks_database_dbtaskresult")
        removed["tasks"] = cursor.rowcount
    return removed


def vacuum_cleaned(removed):
    """VACUUM (ANALYZE) the tables ``clean_up()`` removed rows from.

    The rows an earlier run's signups and digest left are dead once removed;
    left to autovacuum, the clean-up of a 210,000-row table would start at
    some moment of the next measurements and compete with them for the cores.
    """
    tables = {
        "signups": ["newsletter_subscriber"],
        "digests": [
            "newsletter_delivery",
            "newsletter_digestitem",
            "newsletter_digest",
        ],
        "tasks": ["django_tasks_database_dbtaskresult"],
    }
    names = [name for key, count in removed.items() if count for name in tables[key]]
    with connection.cursor() as cursor:
        for name in names:
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(name)}")
    return names


def _table_exists(cursor, name):
    cursor.execute("SELECT to_regclass(%s)", [name])
    return cursor.fetchone()[0] is not None


def set_admin_password():
    user = get_user_model().objects.get(username="bench")
    user.set_password(os.environ["BENCH_ADMIN_PASSWORD"])
    user.is_staff = user.is_superuser = user.is_active = True
    user.save()
    return user


def pick_targets(now):
    """The story, section, tag and author measured, and the search terms."""
    meta = _meta()
    wanted = meta["newsroom"]["targets"]
    recent = (
        Article.objects.published()
        .filter(publish_at__gte=now - timedelta(days=60), lead_photo__isnull=False)
        .annotate(
            n_bylines=Count("bylines", distinct=True),
            n_tags=Count("tags", distinct=True),
        )
    )
    typical = (
        recent.filter(n_bylines=2, n_tags__gte=3).order_by("-publish_at").first()
        or recent.order_by("-publish_at").first()
    )
    picks = Article.related.through.objects.filter(from_article_id=OuterRef("pk"))
    heavy = (
        Article.objects.published()
        .annotate(
            n_bylines=Count("bylines", distinct=True),
            n_tags=Count("tags", distinct=True),
            corrected=Exists(Correction.objects.filter(article_id=OuterRef("pk"))),
            picked=Exists(picks),
        )
        .filter(corrected=True, picked=True, lead_photo__isnull=False)
        .order_by("-n_bylines", "-n_tags")
        .first()
    )
    light = (
        Article.objects.published()
        .filter(lead_photo__isnull=True)
        .annotate(
            n_bylines=Count("bylines", distinct=True),
            n_tags=Count("tags", distinct=True),
        )
        .filter(n_bylines=1, n_tags=0)
        .order_by("-publish_at")
        .first()
    )
    section = Section.objects.get(pk=wanted["section_id"])
    tag = Tag.objects.get(pk=wanted["tag_id"])
    author = Author.objects.get(pk=wanted["author_id"])
    published = Article.objects.published()
    return {
        "article_path": typical.path,
        "article_id": typical.pk,
        "heavy_article_path": heavy.path if heavy else None,
        "heavy_article_shape": _shape(heavy),
        "light_article_path": light.path if light else None,
        "light_article_shape": _shape(light),
        "section_path": section.get_absolute_url(),
        "section_stories": published.filter(section=section).count(),
        "tag_path": f"/tag/{tag.slug}/",
        "tag_stories": published.filter(tags=tag).count(),
        "author_path": author.get_absolute_url(),
        "author_stories": published.filter(bylines__author=author).count(),
        "common_term": wanted["common_term"],
        "common_matches": _matches(wanted["common_term"]),
        "rare_term": wanted["rare_term"],
        "rare_matches": _matches(wanted["rare_term"]),
        "published": published.count(),
    }


def _shape(article):
    if article is None:
        return None
    return {
        "bylines": article.bylines.count(),
        "tags": article.tags.count(),
        "corrections": article.corrections.count(),
        "related_picks": article.related.count(),
        "lead_photo": article.lead_photo_id is not None,
    }


def _matches(term):
    from django.contrib.postgres.search import SearchQuery

    from articles.models import SEARCH_CONFIG

    query = SearchQuery(term, search_type="websearch", config=SEARCH_CONFIG)
    return Article.objects.published().filter(search_vector=query).count()


def _meta():
    with connection.cursor() as cursor:
        cursor.execute("SELECT key, value::text FROM bench_meta")
        return {key: json.loads(value) for key, value in cursor.fetchall()}


def write_url_list(path):
    rows = Article.objects.published().values_list("url_date", "slug")
    lines = [article_path(url_date, slug) for url_date, slug in rows.iterator()]
    Path(path).write_text("\n".join(lines) + "\n")
    return len(lines)


def count_queries(scenario_list, urls_file, admin):
    """Queries per request for each scenario (steady state: caches warm)."""
    counts = {}
    anonymous = Client()
    staff = Client()
    staff.force_login(admin)
    random_paths = Path(urls_file).read_text().split()
    import random

    for scenario in scenario_list:
        if not scenario["queries"]:
            continue
        mode, path = scenario["mode"], scenario["path"]
        client = staff if mode == "admin" else anonymous
        if mode == "random":
            sample = random.Random(1).sample(random_paths, RANDOM_SAMPLE)
            numbers = [_count(client, _bust(p)) for p in sample]
            numbers = [n for n in numbers if isinstance(n, int)] or [-1]
            counts[scenario["key"]] = {"max": max(numbers), "min": min(numbers)}
            continue
        if mode == "etag":
            etag = client.get(path).headers.get("ETag")
            numbers = _count(client, path, headers={"if-none-match": etag}, status=304)
        elif mode == "signup":
            client.get("/newsletter/")
            numbers = _count(
                client,
                path,
                method="post",
                data={"email": f"{SIGNUP_PREFIX}count-{uuid.uuid4().hex}@example.org"},
                status=303,
            )
        elif mode == "bust":
            client.get(_bust(path))  # warm everything but the page cache
            numbers = _count(client, _bust(path))
        elif mode == "shared":
            client.get(path)  # the page cache, filled without the parameter
            shared = f"{scenarios.SHARED_PARAMETER}=count-{uuid.uuid4().hex}"
            numbers = _count(client, f"{path}?{shared}")
        else:
            client.get(path)  # a cached page: the first request fills the cache
            numbers = _count(client, path)
        counts[scenario["key"]] = numbers
    return counts


def _bust(path):
    return path + ("&" if "?" in path else "?") + f"v=count-{uuid.uuid4().hex}"


def _count(client, path, *, method="get", status=200, headers=None, data=None):
    with CaptureQueriesContext(connection) as captured:
        response = getattr(client, method)(path, data=data, headers=headers or {})
    if response.status_code != status:
        print(
            f"{path}: status {response.status_code}, expected {status}", file=sys.stderr
        )
        return f"status {response.status_code}"
    # The content-version read (articles.caching) happens once per process
    # per VERSION_TTL, not per request: it is left out of the per-page count.
    return sum(
        '"articles_contentversion"' not in query["sql"]
        for query in captured.captured_queries
    )


def shapes_queries(targets):
    """Queries of an uncached story page for a light and a heavy story."""
    client = Client()
    result = {}
    for key in ("light", "heavy"):
        path = targets.get(f"{key}_article_path")
        if path:
            client.get(_bust(path))
            result[key] = _count(client, _bust(path))
    return result


def main():
    if "--clean" in sys.argv:
        print(json.dumps({"cleaned": clean_up()}))
        return
    now = timezone.now()
    cleaned = clean_up()
    vacuum_cleaned(cleaned)
    moved = freshen(now)
    admin = set_admin_password()
    targets = pick_targets(now)
    urls_file = common.DATA / "article-urls.txt"
    common.DATA.mkdir(parents=True, exist_ok=True)
    listed = write_url_list(urls_file)
    client = Client()
    article = client.get(targets["article_path"])
    targets["article_bytes"] = len(article.content)
    targets["floor_path"] = f"/bench/floor/?bytes={len(article.content)}"
    scenario_list = scenarios.build(targets)
    counts = count_queries(scenario_list, urls_file, admin)
    counts["article-shapes"] = shapes_queries(targets)
    clean_up()
    print(
        json.dumps(
            {
                "targets": targets,
                "urls_file": str(urls_file),
                "urls": listed,
                "queries": counts,
                "freshened": moved,
                "cleaned": cleaned,
                "meta": _meta(),
            },
            default=str,
        )
    )


if __name__ == "__main__":
    main()
