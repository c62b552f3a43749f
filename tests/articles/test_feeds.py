from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import timezone
from lxml import etree

from articles.models import Article
from tests.factories import make_article, make_author, make_photo, make_section

pytestmark = pytest.mark.django_db

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
RSS_SCHEMA = etree.RelaxNG(etree.parse(str(SCHEMAS / "rss-2.0.rng")))
ATOM_SCHEMA = etree.RelaxNG(etree.parse(str(SCHEMAS / "atom-1.0.rng")))
NS = {"atom": "http://www.w3.org/2005/Atom", "dc": "http://purl.org/dc/elements/1.1/"}

SITE_URL = "https://news.example.org"
SITE_NAME = "The Example Times"

RSS_FEEDS = [
    ("feed-rss", None),
    ("section-feed-rss", "section"),
    ("author-feed-rss", "author"),
    ("tag-feed-rss", "tag"),
]
ATOM_FEEDS = [
    ("feed-atom", None),
    ("section-feed-atom", "section"),
    ("author-feed-atom", "author"),
    ("tag-feed-atom", "tag"),
]
ALL_FEEDS = RSS_FEEDS + ATOM_FEEDS
SCOPED_FEEDS = [feed for feed in ALL_FEEDS if feed[1]]


@pytest.fixture(autouse=True)
def site(settings, tmp_path):
    settings.SITE_URL = SITE_URL
    settings.SITE_NAME = SITE_NAME
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def world():
    """A section, three authors, a tag, and one story using all of them."""
    section = make_section(name="Science", slug="science")
    authors = [
        make_author(name="Ada Lovelace", slug="ada"),
        make_author(name="Grace Hopper", slug="grace"),
        make_author(name="Katherine Johnson", slug="katherine"),
    ]
    now = timezone.now()
    story = make_article(
        headline="Comet seen over the harbour",
        dek="Tom & Jerry <b>watched</b> it",
        section=section,
        authors=authors,
        tags=["Space", "Climate"],
        lead_photo=make_photo(size=(2000, 1500)),
        publish_at=now - timedelta(hours=3),
        updated_at=now - timedelta(hours=1),
    )
    return SimpleNamespace(section=section, authors=authors, tag="climate", story=story)


def feed_url(name, scope, world):
    if scope is None:
        return reverse(f"articles:{name}")
    slug = {"section": world.section.slug, "author": "ada", "tag": world.tag}[scope]
    return reverse(f"articles:{name}", kwargs={"slug": slug})


def fetch(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response, etree.fromstring(response.content)


def assert_valid(schema, document):
    assert schema.validate(document), schema.error_log


def rss_items(document):
    return {item.findtext("title"): item for item in document.iter("item")}


def atom_entries(document):
    return {
        entry.findtext("atom:title", namespaces=NS): entry
        for entry in document.iterfind("atom:entry", NS)
    }


@pytest.mark.parametrize(("name", "scope"), RSS_FEEDS)
def test_rss_feeds_are_valid_rss_2(client, world, name, scope):
    """Every RSS feed is valid RSS 2.0, with its addresses on SITE_URL."""
    url = feed_url(name, scope, world)
    response, document = fetch(client, url)
    assert response["Content-Type"].startswith("application/rss+xml")
    assert_valid(RSS_SCHEMA, document)
    channel = document.find("channel")
    assert SITE_NAME in channel.findtext("title")
    assert channel.findtext("description")
    assert channel.findtext("link").startswith(SITE_URL + "/")
    self_link = channel.find("atom:link", NS)
    assert self_link.get("href") == SITE_URL + url
    assert b"testserver" not in response.content
    assert list(rss_items(document)) == [world.story.headline]


@pytest.mark.parametrize(("name", "scope"), ATOM_FEEDS)
def test_atom_feeds_are_valid_atom_1(client, world, name, scope):
    """Every Atom feed is valid Atom 1.0, with its addresses on SITE_URL."""
    url = feed_url(name, scope, world)
    response, document = fetch(client, url)
    assert response["Content-Type"].startswith("application/atom+xml")
    assert_valid(ATOM_SCHEMA, document)
    assert document.findtext("atom:id", namespaces=NS).startswith(SITE_URL + "/")
    assert SITE_NAME in document.findtext("atom:title", namespaces=NS)
    assert document.findtext("atom:updated", namespaces=NS)
    # RFC 4287: a feed without an author needs one on every entry.
    assert document.findtext("atom:author/atom:name", namespaces=NS) == SITE_NAME
    self_link = document.find("atom:link[@rel='self']", NS)
    assert self_link.get("href") == SITE_URL + url
    assert b"testserver" not in response.content
    (entry,) = document.iterfind("atom:entry", NS)
    for child in ("id", "title", "updated", "author/atom:name"):
        assert entry.findtext(f"atom:{child}", namespaces=NS)
    # RFC 4287: an entry without content needs an alternate link.
    assert entry.find("atom:link[@rel='alternate']", NS) is not None


def test_rss_item_carries_the_story(client, world):
    """An RSS item has the headline, link, dates, all bylines and categories."""
    story = world.story
    _, document = fetch(client, reverse("articles:feed-rss"))
    item = rss_items(document)[story.headline]
    assert item.findtext("link") == SITE_URL + story.get_absolute_url()
    published = parsedate_to_datetime(item.findtext("pubDate"))
    assert published == story.first_published_at.replace(microsecond=0)
    creator = item.findtext("dc:creator", namespaces=NS)
    assert creator == "Ada Lovelace, Grace Hopper and Katherine Johnson"
    categories = [category.text for category in item.iterfind("category")]
    assert categories == ["Science", "Climate", "Space"]
    guid = item.find("guid")
    assert guid.get("isPermaLink") == "false"
    assert guid.text.startswith("tag:news.example.org,")


def test_atom_entry_carries_the_story(client, world):
    """An Atom entry has the headline, link, both dates, bylines and categories."""
    story = world.story
    _, document = fetch(client, reverse("articles:feed-atom"))
    entry = atom_entries(document)[story.headline]
    link = entry.find("atom:link[@rel='alternate']", NS)
    assert link.get("href") == SITE_URL + story.get_absolute_url()
    published = entry.findtext("atom:published", namespaces=NS)
    updated = entry.findtext("atom:updated", namespaces=NS)
    assert datetime.fromisoformat(published) == story.first_published_at
    assert datetime.fromisoformat(updated) == story.last_modified
    assert datetime.fromisoformat(updated) > datetime.fromisoformat(published)
    author = entry.findtext("atom:author/atom:name", namespaces=NS)
    assert author == "Ada Lovelace, Grace Hopper and Katherine Johnson"
    terms = [c.get("term") for c in entry.iterfind("atom:category", NS)]
    assert terms == ["Science", "Climate", "Space"]


def test_dek_is_escaped_text_not_html(client, world):
    """A dek with "&" and "<b>" reaches readers as those characters, not markup."""
    _, rss = fetch(client, reverse("articles:feed-rss"))
    _, atom = fetch(client, reverse("articles:feed-atom"))
    escaped = "Tom &amp; Jerry &lt;b&gt;watched&lt;/b&gt; it"
    assert rss_items(rss)[world.story.headline].findtext("description") == escaped
    summary = atom_entries(atom)[world.story.headline].find("atom:summary", NS)
    assert summary.get("type") == "html"
    assert summary.text == escaped


def test_enclosure_is_the_lead_photos_largest_jpeg(client, world):
    """The enclosure is the lead photo's widest JPEG rendition, at SITE_URL."""
    photo = world.story.lead_photo
    largest = max(
        (r for r in photo.renditions if r["format"] == "jpeg"),
        key=lambda r: r["width"],
    )
    assert largest["width"] == 1600
    expected_url = SITE_URL + photo.image.storage.url(largest["name"])

    _, rss = fetch(client, reverse("articles:feed-rss"))
    enclosure = rss_items(rss)[world.story.headline].find("enclosure")
    assert enclosure.get("url") == expected_url
    assert enclosure.get("type") == "image/jpeg"
    assert int(enclosure.get("length")) >= 0

    _, atom = fetch(client, reverse("articles:feed-atom"))
    entry = atom_entries(atom)[world.story.headline]
    link = entry.find("atom:link[@rel='enclosure']", NS)
    assert link.get("href") == expected_url
    assert link.get("type") == "image/jpeg"


def test_story_without_a_photo_has_no_enclosure(client):
    """A story without a lead photo gets no enclosure (and the feed stays valid)."""
    story = make_article()
    _, document = fetch(client, reverse("articles:feed-rss"))
    assert_valid(RSS_SCHEMA, document)
    assert rss_items(document)[story.headline].find("enclosure") is None


def test_story_without_a_byline_is_credited_to_the_publication(client):
    """A story without bylines has no RSS author; Atom falls back to the site."""
    story = make_article()
    _, rss = fetch(client, reverse("articles:feed-rss"))
    assert rss_items(rss)[story.headline].find("dc:creator", NS) is None
    _, atom = fetch(client, reverse("articles:feed-atom"))
    assert_valid(ATOM_SCHEMA, atom)
    assert atom.findtext("atom:author/atom:name", namespaces=NS) == SITE_NAME


@pytest.mark.parametrize(("name", "scope"), ALL_FEEDS)
def test_unpublished_stories_never_appear(client, world, name, scope):
    """Drafts, stories in review and stories due in a minute are in no feed."""
    common = {
        "section": world.section,
        "authors": [world.authors[0]],
        "tags": ["Climate"],
    }
    past = timezone.now() - timedelta(hours=1)
    make_article(
        headline="Draft", status=Article.Status.DRAFT, publish_at=past, **common
    )
    make_article(
        headline="In review", status=Article.Status.IN_REVIEW, publish_at=past, **common
    )
    make_article(
        headline="Scheduled",
        publish_at=timezone.now() + timedelta(minutes=1),
        **common,
    )
    response, _ = fetch(client, feed_url(name, scope, world))
    assert world.story.headline.encode() in response.content
    for headline in (b"Draft", b"In review", b"Scheduled"):
        assert headline not in response.content


@pytest.mark.parametrize(("name", "scope"), SCOPED_FEEDS)
def test_scoped_feeds_list_only_their_stories(client, world, name, scope):
    """A section, author or tag feed leaves out other sections', authors', tags'."""
    make_article(headline="Elsewhere", authors=[make_author()], tags=["Sport"])
    response, _ = fetch(client, feed_url(name, scope, world))
    assert world.story.headline.encode() in response.content
    assert b"Elsewhere" not in response.content


def test_feed_lists_the_30_latest_stories(client):
    """A feed holds the 30 most recent stories, newest first."""
    now = timezone.now()
    stories = [
        make_article(headline=f"Story {n:02d}", publish_at=now - timedelta(minutes=n))
        for n in range(1, 32)
    ]
    _, document = fetch(client, reverse("articles:feed-rss"))
    assert list(rss_items(document)) == [story.headline for story in stories[:30]]


@pytest.mark.parametrize(
    ("name", "scope", "queries"),
    [
        ("feed-rss", None, 2),
        ("feed-atom", None, 2),
        ("section-feed-rss", "section", 3),
        ("author-feed-atom", "author", 3),
        ("tag-feed-rss", "tag", 3),
    ],
)
def test_query_count_does_not_grow_with_items(
    client,
    django_assert_num_queries,
    django_capture_on_commit_callbacks,
    world,
    name,
    scope,
    queries,
):
    """10 or 30 stories with photos, bylines and tags: the same number of queries
    (each change makes the cached feed stale, so each fetch builds it)."""
    photo = make_photo()

    def add_stories(count):
        with django_capture_on_commit_callbacks(execute=True):
            for _ in range(count):
                make_article(
                    section=world.section,
                    authors=world.authors,
                    tags=["Climate", "Space"],
                    lead_photo=photo,
                )

    url = feed_url(name, scope, world)
    add_stories(9)
    with django_assert_num_queries(queries):
        response, document = fetch(client, url)
    assert len(rss_items(document) or atom_entries(document)) == 10
    add_stories(20)
    with django_assert_num_queries(queries):
        response, document = fetch(client, url)
    assert len(rss_items(document) or atom_entries(document)) == 30


@pytest.mark.parametrize(("name", "scope"), SCOPED_FEEDS)
def test_unknown_slug_is_not_found(client, world, name, scope):
    """A feed for a section, author or tag that does not exist answers 404."""
    response = client.get(reverse(f"articles:{name}", kwargs={"slug": "no-such"}))
    assert response.status_code == 404


@pytest.mark.parametrize("name", ["tag-feed-rss", "tag-feed-atom"])
def test_tag_used_only_on_unpublished_stories_is_not_found(client, name):
    """A tag only on a scheduled story answers 404: its name would give it away."""
    make_article(publish_at=timezone.now() + timedelta(hours=1), tags=["Merger"])
    response = client.get(reverse(f"articles:{name}", kwargs={"slug": "merger"}))
    assert response.status_code == 404


def test_guid_survives_a_slug_change(client, world, django_capture_on_commit_callbacks):
    """Fixing a slug moves the link but keeps the guid, so readers see no duplicate."""
    story = world.story
    _, before = fetch(client, reverse("articles:feed-rss"))
    with django_capture_on_commit_callbacks(execute=True):  # the feed goes stale
        story.slug = "comet-over-the-harbour"
        story.save()
    _, after = fetch(client, reverse("articles:feed-rss"))
    old, new = rss_items(before)[story.headline], rss_items(after)[story.headline]
    assert old.findtext("guid") == new.findtext("guid")
    assert new.findtext("link").endswith("/comet-over-the-harbour/")
    assert old.findtext("link") != new.findtext("link")


@pytest.mark.parametrize(
    ("name", "schema"), [("feed-rss", RSS_SCHEMA), ("feed-atom", ATOM_SCHEMA)]
)
def test_feeds_of_an_empty_site_are_valid(client, name, schema):
    """Before the first story is published, the feeds are valid and empty."""
    make_article(status=Article.Status.DRAFT)
    _, document = fetch(client, reverse(f"articles:{name}"))
    assert_valid(schema, document)
    assert not rss_items(document) and not atom_entries(document)


@pytest.mark.parametrize(
    ("name", "scope"), [("feed-rss", None), ("tag-feed-atom", "tag")]
)
def test_feeds_are_served_from_the_page_cache_until_a_change(
    client,
    world,
    django_assert_num_queries,
    django_capture_on_commit_callbacks,
    name,
    scope,
):
    """Feed readers poll: a repeated poll costs no query, carries validators
    for a 304 and CDN headers, and a newly published story shows at once."""
    url = feed_url(name, scope, world)
    first, _ = fetch(client, url)

    with django_assert_num_queries(0):
        again, _ = fetch(client, url)
    assert again["X-Cache"] == "hit" and again.content == first.content
    assert "public" in again["Cache-Control"] and "s-maxage" in again["Cache-Control"]
    assert client.get(url, headers={"if-none-match": again["ETag"]}).status_code == 304

    with django_capture_on_commit_callbacks(execute=True):
        make_article(
            headline="Eclipse tonight", section=world.section, tags=["Climate"]
        )
    _, document = fetch(client, url)
    assert "Eclipse tonight" in etree.tostring(document, encoding="unicode")
