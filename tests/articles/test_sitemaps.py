from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from lxml import etree

from articles.models import Article
from articles.sitemaps import ArticleSitemap, AuthorSitemap
from tests.factories import make_article, make_author, make_section

pytestmark = pytest.mark.django_db

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"
NS = {"sm": SITEMAP_NS, "news": NEWS_NS}

SITEMAP_SCHEMA = etree.XMLSchema(etree.parse(str(SCHEMAS / "sitemap.xsd")))
INDEX_SCHEMA = etree.XMLSchema(etree.parse(str(SCHEMAS / "siteindex.xsd")))
# sitemap.xsd admits <news:news> in a <url> only if its schema is known too.
NEWS_SITEMAP_SCHEMA = etree.XMLSchema(
    etree.XML(
        f"""<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema">
          <xsd:import namespace="{SITEMAP_NS}"
                      schemaLocation="{(SCHEMAS / "sitemap.xsd").as_uri()}"/>
          <xsd:import namespace="{NEWS_NS}"
                      schemaLocation="{(SCHEMAS / "sitemap-news.xsd").as_uri()}"/>
        </xsd:schema>"""
    )
)

SITE_URL = "https://news.example.org"
SITE_NAME = "The Example Times"


@pytest.fixture(autouse=True)
def site(settings):
    settings.SITE_URL = SITE_URL
    settings.SITE_NAME = SITE_NAME


def fetch(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("application/xml")
    return etree.fromstring(response.content)


def assert_valid(schema, document):
    assert schema.validate(document), schema.error_log


def locations(document):
    return [loc.text for loc in document.iterfind(".//sm:loc", NS)]


def unpublished_stories(**fields):
    """A draft, a story in review and one scheduled a minute ahead."""
    past = timezone.now() - timedelta(hours=1)
    return [
        make_article(status=Article.Status.DRAFT, publish_at=past, **fields),
        make_article(status=Article.Status.IN_REVIEW, publish_at=past, **fields),
        make_article(publish_at=timezone.now() + timedelta(minutes=1), **fields),
    ]


def test_index_is_a_valid_sitemap_index_on_site_url(client):
    """/sitemap.xml is a valid index naming the three sitemaps on SITE_URL."""
    make_article(authors=[make_author()])
    document = fetch(client, reverse("sitemap"))
    assert_valid(INDEX_SCHEMA, document)
    assert locations(document) == [
        f"{SITE_URL}/sitemap-articles.xml",
        f"{SITE_URL}/sitemap-sections.xml",
        f"{SITE_URL}/sitemap-authors.xml",
    ]
    assert len(document.findall("sm:sitemap/sm:lastmod", NS)) == 3


def test_index_lists_every_page_of_a_long_sitemap(client, monkeypatch):
    """Past the per-file limit, the index lists ?p=2 and that page holds the rest."""
    monkeypatch.setattr(ArticleSitemap, "limit", 2)
    for _ in range(3):
        make_article()
    index = fetch(client, reverse("sitemap"))
    assert f"{SITE_URL}/sitemap-articles.xml?p=2" in locations(index)
    second_page = fetch(client, reverse("sitemap-section", args=["articles"]) + "?p=2")
    assert_valid(SITEMAP_SCHEMA, second_page)
    assert len(locations(second_page)) == 1


@pytest.mark.parametrize("section", ["articles", "sections", "authors"])
def test_each_sitemap_is_valid_and_on_site_url(client, section):
    """Every sitemap in the index is valid and lists absolute SITE_URL addresses."""
    make_article(authors=[make_author()])
    document = fetch(client, reverse("sitemap-section", args=[section]))
    assert_valid(SITEMAP_SCHEMA, document)
    assert locations(document)
    assert all(loc.startswith(SITE_URL + "/") for loc in locations(document))


def test_articles_sitemap_gives_each_story_its_updated_time(client):
    """A story's lastmod is its "Updated" time, to the second, with a time zone."""
    now = timezone.now()
    story = make_article(
        publish_at=now - timedelta(days=2), updated_at=now - timedelta(hours=5)
    )
    document = fetch(client, reverse("sitemap-section", args=["articles"]))
    (url,) = document.iterfind("sm:url", NS)
    assert url.findtext("sm:loc", namespaces=NS) == SITE_URL + story.get_absolute_url()
    lastmod = datetime.fromisoformat(url.findtext("sm:lastmod", namespaces=NS))
    assert lastmod == story.updated_at.replace(microsecond=0)


def test_unpublished_stories_are_in_no_sitemap(client):
    """Drafts, stories in review and scheduled stories are in no sitemap."""
    published = make_article()
    hidden = unpublished_stories()
    for url in (
        reverse("sitemap-section", args=["articles"]),
        reverse("news-sitemap"),
    ):
        found = locations(fetch(client, url))
        assert SITE_URL + published.get_absolute_url() in found
        for story in hidden:  # a draft has no dated address yet: look for its slug
            assert not any(f"/{story.slug}/" in location for location in found)


def test_authors_sitemap_lists_only_authors_with_a_published_story(client):
    """An author with only unpublished stories (or none) is left out."""
    reporter = make_author(slug="reporter")
    make_article(authors=[reporter])
    make_article(authors=[reporter])
    waiting = make_author(slug="waiting")
    unpublished_stories(authors=[waiting])
    make_author(slug="idle")
    document = fetch(client, reverse("sitemap-section", args=["authors"]))
    assert locations(document) == [SITE_URL + reporter.get_absolute_url()]


def test_authors_sitemap_is_one_query(django_assert_num_queries):
    """Finding the authors with a published story, and their lastmod, is one query."""
    for _ in range(5):
        make_article(authors=[make_author(), make_author()])
    with django_assert_num_queries(1):
        authors = list(AuthorSitemap().items())
    assert len(authors) == 10


def test_sections_sitemap_lists_every_section(client):
    """Every section page is listed, with or without stories yet."""
    busy = make_section(slug="busy")
    make_article(section=busy)
    quiet = make_section(slug="quiet")
    document = fetch(client, reverse("sitemap-section", args=["sections"]))
    found = locations(document)
    assert SITE_URL + busy.get_absolute_url() in found
    assert SITE_URL + quiet.get_absolute_url() in found


@pytest.mark.parametrize(
    ("url", "queries"),
    [
        (reverse("sitemap-section", args=["articles"]), 2),
        (reverse("sitemap-section", args=["sections"]), 2),
        (reverse("sitemap-section", args=["authors"]), 2),
        (reverse("news-sitemap"), 2),
        (reverse("sitemap"), 6),
    ],
)
def test_sitemap_query_count_does_not_grow(
    client, django_assert_num_queries, django_capture_on_commit_callbacks, url, queries
):
    """10 or 30 stories: the same number of queries for each sitemap (each
    change makes the cached sitemap stale, so each fetch builds it)."""
    section = make_section()

    def add_stories(count):
        with django_capture_on_commit_callbacks(execute=True):
            for _ in range(count):
                make_article(section=section, authors=[make_author()])

    add_stories(10)
    with django_assert_num_queries(queries):
        fetch(client, url)
    add_stories(20)
    with django_assert_num_queries(queries):
        fetch(client, url)


def test_news_sitemap_is_valid_google_news(client):
    """/news-sitemap.xml is a valid sitemap with valid Google News entries."""
    story = make_article(headline="Harbour & bridge reopen")
    document = fetch(client, reverse("news-sitemap"))
    assert_valid(NEWS_SITEMAP_SCHEMA, document)
    (url,) = document.iterfind("sm:url", NS)
    assert url.findtext("sm:loc", namespaces=NS) == SITE_URL + story.get_absolute_url()
    news = url.find("news:news", NS)
    assert news.findtext("news:publication/news:name", namespaces=NS) == SITE_NAME
    assert news.findtext("news:publication/news:language", namespaces=NS) == "en"
    assert news.findtext("news:title", namespaces=NS) == "Harbour & bridge reopen"
    published = news.findtext("news:publication_date", namespaces=NS)
    assert datetime.fromisoformat(published) == story.first_published_at.replace(
        microsecond=0
    )


def test_news_sitemap_holds_only_the_last_48_hours(client):
    """A story from 47 hours ago is listed; one from 3 days ago is not."""
    now = timezone.now()
    recent = make_article(publish_at=now - timedelta(hours=47))
    old = make_article(publish_at=now - timedelta(days=3))
    found = locations(fetch(client, reverse("news-sitemap")))
    assert found == [SITE_URL + recent.get_absolute_url()]
    assert SITE_URL + old.get_absolute_url() not in found


def test_news_sitemap_without_recent_stories_is_empty_not_an_error(client):
    """With nothing new in 48 hours the news sitemap is an empty urlset."""
    make_article(publish_at=timezone.now() - timedelta(days=3))
    document = fetch(client, reverse("news-sitemap"))
    assert document.tag == f"{{{SITEMAP_NS}}}urlset"
    assert locations(document) == []


def test_unknown_sitemap_is_not_found(client):
    """A sitemap name that does not exist answers 404."""
    response = client.get(reverse("sitemap-section", args=["photos"]))
    assert response.status_code == 404


def test_robots_txt_names_the_sitemaps(client):
    """robots.txt is plain text, keeps crawlers out of admin and previews only,
    and names the sitemap index and the news sitemap on SITE_URL."""
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    lines = response.content.decode().splitlines()
    assert "User-agent: *" in lines
    disallowed = [line for line in lines if line.startswith("Disallow:")]
    assert disallowed == ["Disallow: /admin/", "Disallow: /preview/"]
    assert f"Sitemap: {SITE_URL}/sitemap.xml" in lines
    assert f"Sitemap: {SITE_URL}/news-sitemap.xml" in lines


def test_news_sitemap_is_served_from_the_page_cache_until_a_change(
    client, django_assert_num_queries, django_capture_on_commit_callbacks
):
    """Crawlers poll the news sitemap: a repeat costs no query and keeps the
    sitemap's headers; a newly published story shows at once."""
    make_article(headline="First story")
    url = reverse("news-sitemap")
    first = client.get(url)

    with django_assert_num_queries(0):
        again = client.get(url)
    assert again["X-Cache"] == "hit" and again.content == first.content
    assert again["X-Robots-Tag"] == first["X-Robots-Tag"]
    assert again["Content-Type"].startswith("application/xml")

    with django_capture_on_commit_callbacks(execute=True):
        make_article(headline="Second story")
    assert b"Second story" in client.get(url).content
