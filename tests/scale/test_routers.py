"""The read-replica router (newsroom/routers.py) and its settings.

No second server is needed: the "replica" alias points at the test database,
as ``TEST: {"MIRROR": "default"}`` makes it in a test run with
``DATABASE_REPLICA_URL`` set, so reads sent there really run and really find
the rows written through the primary.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from taggit.models import Tag

from articles import caching
from articles.models import Article, ContentVersion, Section
from newsletter.models import Subscriber
from newsroom import routers
from newsroom.routers import ReplicaRouter

ROOT = Path(__file__).resolve().parents[2]
READER_GET = {"REQUEST_METHOD": "GET", "PATH_INFO": "/"}

# What settings.py adds for DATABASE_REPLICA_URL, pointed at the primary's own
# server: added when this module is collected, before pytest-django sets up the
# test databases, which then makes "replica" a mirror of the test database.
# No router is active unless a test switches it on (the ``replica`` fixture),
# so the alias alone changes nothing for other tests.
django_settings.DATABASES.setdefault(
    "replica",
    {
        **django_settings.DATABASES["default"],
        "TEST": {
            "CHARSET": None,
            "COLLATION": None,
            "MIGRATE": True,
            "MIRROR": "default",
            "NAME": None,
        },
    },
)

SHOW_SETTINGS = """
import json
from django.conf import settings
print(json.dumps({
    "aliases": sorted(settings.DATABASES),
    "routers": settings.DATABASE_ROUTERS,
    "replica": settings.DATABASES.get("replica"),
    "default": settings.DATABASES["default"],
}, default=str))
"""


def settings_with(**environ):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_REPLICA_URL"}
    env.update(environ, DJANGO_SETTINGS_MODULE="newsroom.settings", DEBUG="true")
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {SHOW_SETTINGS}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def test_without_a_replica_url_there_is_no_replica_and_no_router():
    shown = settings_with()
    assert shown["aliases"] == ["default"]
    assert shown["routers"] == []


def test_a_replica_url_adds_a_mirrored_replica_and_the_router():
    replica_url = "postgres://reader:secret@replica.internal:5433/newsroom?pool=true"
    shown = settings_with(DATABASE_REPLICA_URL=replica_url)
    assert shown["aliases"] == ["default", "replica"]
    assert shown["routers"] == ["newsroom.routers.ReplicaRouter"]
    replica = shown["replica"]
    assert (replica["HOST"], replica["PORT"], replica["USER"]) == (
        "replica.internal",
        5433,
        "reader",
    )
    assert replica["TEST"]["MIRROR"] == "default"
    # The same options as the primary: health checks, and the pool rule.
    assert replica["CONN_HEALTH_CHECKS"] is True
    assert replica["OPTIONS"]["pool"]  # the pool, with the primary's pool options
    assert replica["CONN_MAX_AGE"] == 0


def test_the_router_is_a_no_op_without_a_replica(monkeypatch):
    monkeypatch.delitem(django_settings.DATABASES, "replica")
    router = ReplicaRouter()
    routers.begin_request(READER_GET)
    try:
        assert router.db_for_read(Article) is None
        assert router.db_for_write(Article) is None
        assert router.allow_migrate("default", "articles") is None
    finally:
        routers.end_request()


@pytest.fixture
def replica(settings):
    """The router switched on, as DATABASE_REPLICA_URL does."""
    settings.DATABASE_ROUTERS = ["newsroom.routers.ReplicaRouter"]
    yield connections["replica"]
    routers.end_request()
    # A test's outage ends with it (the test client skips the end-of-request
    # clean-up that would forget a failed connection).
    routers._replica_resting_until[0] = 0.0
    connections["replica"].close()
    connections["replica"].errors_occurred = False


def read_db(model):
    return model.objects.all().db


def test_outside_requests_everything_reads_the_primary(replica):
    # Task workers, management commands, the shell.
    assert read_db(Article) == "default"
    assert read_db(Tag) == "default"


@pytest.mark.parametrize(
    "environ",
    [
        {"REQUEST_METHOD": "GET", "PATH_INFO": "/"},
        {"REQUEST_METHOD": "HEAD", "PATH_INFO": "/2026/01/02/a-story/"},
        {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "HTTP_COOKIE": "csrftoken=abc"},
    ],
)
def test_anonymous_reader_requests_read_stories_from_the_replica(replica, environ):
    routers.begin_request(environ)
    assert read_db(Article) == "replica"
    assert read_db(Section) == "replica"
    assert read_db(Tag) == "replica"
    # The page cache's key must be fresh: never from a lagging replica.
    assert read_db(ContentVersion) == "default"
    assert read_db(Subscriber) == "default"
    assert read_db(User) == "default"


@pytest.mark.parametrize(
    "environ",
    [
        {"REQUEST_METHOD": "POST", "PATH_INFO": "/newsletter/subscribe/"},
        {"REQUEST_METHOD": "GET", "PATH_INFO": "/admin/articles/article/"},
        {"REQUEST_METHOD": "GET", "PATH_INFO": "/preview/abc/"},
        {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "HTTP_COOKIE": "sessionid=abc"},
    ],
)
def test_other_requests_read_the_primary(replica, environ):
    routers.begin_request(environ)
    assert read_db(Article) == "default"


def test_after_a_write_the_request_reads_the_primary(replica):
    routers.begin_request(READER_GET)
    assert read_db(Article) == "replica"
    router = ReplicaRouter()
    assert router.db_for_write(Subscriber) == "default"
    assert read_db(Article) == "default"
    # The next request starts afresh.
    routers.end_request()
    routers.begin_request(READER_GET)
    assert read_db(Article) == "replica"


@pytest.mark.django_db(transaction=True)  # no test transaction around it
def test_inside_a_transaction_reads_stay_on_the_primary(replica):
    routers.begin_request(READER_GET)
    with transaction.atomic():
        assert read_db(Article) == "default"
    assert read_db(Article) == "replica"


def test_writes_and_migrations_go_to_the_primary_only(replica):
    router = ReplicaRouter()
    assert router.db_for_write(Article) == "default"
    assert router.allow_migrate("default", "articles") is True
    assert router.allow_migrate("replica", "articles") is False
    assert router.allow_relation(Article(), User()) is True


@pytest.mark.django_db(transaction=True, databases=["default", "replica"])
def test_reader_pages_are_served_from_the_replica(replica, client):
    section = Section.objects.create(name="News", slug="news")
    article = Article.objects.create(
        headline="Read from the replica",
        slug="read-from-the-replica",
        section=section,
        status=Article.Status.PUBLISHED,
        publish_at=timezone.now(),
    )
    caching._local.memo = None  # the publish remembered the version: forget it
    with (
        CaptureQueriesContext(replica) as on_replica,
        CaptureQueriesContext(connections["default"]) as on_primary,
    ):
        home = client.get("/")
        story = client.get(article.get_absolute_url())
        archive = client.get("/section/news/")
    assert home.status_code == 200
    assert story.status_code == 200
    assert archive.status_code == 200
    assert "Read from the replica" in home.text
    assert "Read from the replica" in story.text
    assert "Read from the replica" in archive.text
    replica_sql = " ".join(q["sql"] for q in on_replica.captured_queries)
    primary_sql = " ".join(q["sql"] for q in on_primary.captured_queries)
    assert '"articles_article"' in replica_sql
    assert '"articles_section"' in replica_sql
    assert '"articles_article"' not in primary_sql
    assert '"articles_section"' not in primary_sql
    assert '"articles_contentversion"' in primary_sql
    assert '"articles_contentversion"' not in replica_sql
    # The request is over: nothing is left marked as a reader request.
    assert read_db(Article) == "default"


@pytest.mark.django_db(transaction=True, databases=["default", "replica"])
def test_a_lost_replica_costs_one_request_then_the_primary_serves(
    replica, client, monkeypatch, caplog
):
    """The replica down, the primary up: the request that found the replica
    gone answers the styled 503, the next ones are read from the primary,
    and the replica is tried again after a pause."""
    section = Section.objects.create(name="News", slug="news")
    Article.objects.create(
        headline="Served all the same",
        slug="served-all-the-same",
        section=section,
        status=Article.Status.PUBLISHED,
        publish_at=timezone.now(),
    )
    caching._local.memo = None
    replica.close()
    monkeypatch.setitem(replica.settings_dict, "PORT", "1")  # nothing listens
    monkeypatch.setitem(replica.settings_dict, "HOST", "127.0.0.1")
    now = [1000.0]
    monkeypatch.setattr(routers, "_clock", lambda: now[0])

    first = client.get("/section/news/")
    assert first.status_code == 503
    assert "Retry-After" in first
    second = client.get("/section/news/?v=2")
    assert second.status_code == 200
    assert "Served all the same" in second.text
    assert any("replica unavailable" in r.getMessage() for r in caplog.records)

    now[0] += routers.REPLICA_RETRY_AFTER + 1
    assert client.get("/section/news/?v=3").status_code == 503
