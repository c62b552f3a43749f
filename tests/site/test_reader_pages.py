"""The reader's site over Django's test client: what shows, what never shows,
how many queries each page costs, and how caching behaves."""

import json
import re
from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import timezone
from taggit.models import Tag, TaggedItem

from articles import caching, services
from articles.models import Correction, Section
from tests.factories import (
    make_article,
    make_author,
    make_photo,
    make_section,
    make_staff,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def hidden_stories(section):
    now = timezone.now()
    return [
        make_article(
            section=section, headline="Hidden draft", status="draft", tags=["shared"]
        ),
        make_article(
            section=section,
            headline="Hidden review",
            status="in_review",
            tags=["shared"],
        ),
        make_article(
            section=section,
            headline="Hidden scheduled",
            publish_at=now + timedelta(minutes=1),
            tags=["shared"],
            is_featured=True,
        ),
    ]


def test_nothing_unpublished_appears_on_any_page(client):
    """Drafts, stories in review and scheduled stories stay off every page."""
    section = make_section(slug="news")
    author = make_author(slug="ann")
    visible = make_article(
        section=section,
        headline="Visible story",
        authors=[author],
        tags=["shared"],
        is_featured=True,
    )
    hidden = hidden_stories(section)
    for story in hidden:
        story.bylines.create(author=author, position=0)
        visible.related.add(story)
    pages = [
        "/",
        visible.get_absolute_url(),
        reverse("articles:section", args=["news"]),
        reverse("articles:author", args=["ann"]),
        reverse("articles:tag", args=["shared"]),
        reverse("articles:search") + "?q=hidden",
        reverse("articles:search") + "?q=story",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert b"Hidden" not in response.content, url
    assert b"Visible story" in client.get("/").content
    for story in hidden:
        story.url_date = story.url_date or timezone.localdate()
        assert (
            client.get(f"/{story.url_date:%Y/%m/%d}/{story.slug}/").status_code == 404
        )


def build_rich_story(section, *, bylines, tags, related, corrections, photo):
    authors = [make_author() for _ in range(bylines)]
    tag_names = [f"tag-{i}" for i in range(tags)]
    article = make_article(
        section=section, authors=authors, tags=tag_names, lead_photo=photo
    )
    for _ in range(related):
        article.related.add(make_article(section=section, tags=tag_names[:1]))
    for i in range(corrections):
        Correction.objects.create(article=article, text=f"Fixed {i}")
    return article


def count_queries(client, url):
    """Queries for an uncached view of ``url`` (after a warm-up elsewhere),
    with nothing remembered from the content (``caching.content_memos``)."""
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    cache.clear()
    caching.recent_pages.clear()
    client.get(reverse("articles:search"))  # content version, navigation
    caching.content_memos.clear()
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    assert response["X-Cache"] == "miss"
    return len(ctx.captured_queries)


def test_an_archive_without_stories_says_so(client):
    """A new section, tag or writer with nothing published yet: a page that
    says so, not an empty list."""
    make_section(slug="new-desk")
    make_author(slug="new-writer")
    make_article(headline="Not yet", status="draft", tags=["coming"])
    for url in ["/section/new-desk/", "/author/new-writer/", "/tag/coming/"]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert "No stories yet." in response.content.decode(), url
        assert "Not yet" not in response.content.decode(), url


def test_an_unknown_section_tag_or_writer_is_a_404(client):
    make_section(slug="city")
    make_author(slug="writer")
    make_article(tags=["harbour"])
    for url in ["/section/city/", "/author/writer/", "/tag/harbour/"]:
        assert client.get(url).status_code == 200, url
    for url in ["/section/town/", "/author/editor/", "/tag/port/"]:
        assert client.get(url).status_code == 404, url


def test_a_writers_page_shows_their_portrait_without_a_query_of_its_own(client, media):
    """The portrait is loaded with the writer: a writer with one costs the
    page no more queries than one without."""
    bare = make_author(slug="bare")
    pictured = make_author(slug="pictured", photo=make_photo(alt_text="A face"))
    for author in (bare, pictured):
        make_article(authors=[author])
    client.get("/author/bare/?warm-up")  # what any page looks up once
    without = count_queries(client, "/author/bare/")
    assert count_queries(client, "/author/pictured/") == without
    page = client.get("/author/pictured/?again").content.decode()
    portrait = page.split('<div class="portrait">')[1].split("</div>")[0]
    assert 'alt="A face"' in portrait
    assert 'class="portrait"' not in client.get("/author/bare/?again").content.decode()


def test_author_page_lists_every_byline_of_theirs_newest_first(client):
    """Stories where the writer is any of the bylines, published ones only,
    newest first, 20 a page; never another writer's."""
    writer, colleague = make_author(slug="writer"), make_author(slug="colleague")
    now = timezone.now()
    for i in range(23):
        make_article(
            headline=f"Dispatch {i:02d}",
            authors=[colleague, writer] if i % 3 else [writer],
            publish_at=now - timedelta(days=i),
        )
    make_article(headline="Colleague alone", authors=[colleague])
    make_article(headline="Draft dispatch", authors=[writer], status="draft")

    def listed(url):
        page = client.get(url).content.decode()
        return re.findall(r">((?:Dispatch|Colleague|Draft)[^<]*)</a>", page)

    first, second = listed("/author/writer/"), listed("/author/writer/?page=2")
    assert first + second == [f"Dispatch {i:02d}" for i in range(23)]
    assert len(first) == 20
    assert client.get("/author/writer/?page=3").status_code == 404


def test_article_page_queries_are_fixed(client, media):
    """3 bylines, 8 tags, 6 related and 3 corrections cost what 1 of each does."""
    photo = make_photo()
    section = make_section()
    small = build_rich_story(
        section, bylines=1, tags=1, related=1, corrections=1, photo=photo
    )
    big = build_rich_story(
        section, bylines=3, tags=8, related=6, corrections=3, photo=photo
    )
    counts = [count_queries(client, a.get_absolute_url()) for a in (small, big)]
    assert counts[0] == counts[1]
    assert counts[1] <= 6


def test_a_card_links_its_story_and_its_section(client):
    sport = make_section(name="Sport", slug="sport")
    story = make_article(section=sport, headline="Cup final")

    html = client.get("/").content.decode()

    assert '<p class="kicker"><a href="/section/sport/">Sport</a></p>' in html
    assert f'<a href="{story.get_absolute_url()}">Cup final</a>' in html
    # A section's address follows its slug, on the same instance too.
    sport.slug = "sports"
    assert sport.get_absolute_url() == sport.path == "/section/sports/"


def test_home_page_queries_are_fixed(client, media):
    """The front page with 100 stories runs as many queries as with 10."""
    sections = [make_section() for _ in range(5)]
    photo = make_photo()
    for i in range(10):
        make_article(
            section=sections[i % 5],
            authors=[make_author()],
            lead_photo=photo,
            is_featured=i < 3,
        )
    small = count_queries(client, "/")
    for i in range(90):
        make_article(
            section=sections[i % 5],
            authors=[make_author()],
            lead_photo=photo,
            is_featured=i < 10,
        )
    large = count_queries(client, "/")
    assert small == large
    assert large <= 8


def test_cached_page_costs_no_query(client, django_assert_num_queries):
    """A page from the page cache is served without touching the database."""
    article = make_article()
    first = client.get(article.get_absolute_url())
    with django_assert_num_queries(0):
        response = client.get(article.get_absolute_url())
    assert response["X-Cache"] == "hit"
    assert response.content == first.content
    # A CDN revalidating sees one validator whichever answered it.
    assert response["ETag"] == first["ETag"]
    cache_control = response["Cache-Control"]
    for part in ["public", "max-age=60", "s-maxage=300", "stale-while-revalidate=600"]:
        assert part in cache_control


def test_links_with_tracking_parameters_are_served_from_the_page_cache(
    client, django_assert_num_queries
):
    """A story shared on social media is opened as /story/?fbclid=<new every
    click>, and a newsletter's links carry utm_* parameters: the page is the
    same, and so is the cached copy that serves it."""
    article = make_article(headline="Shared everywhere")
    url = article.get_absolute_url()
    first = client.get(url)
    assert first["X-Cache"] == "miss"
    for query in [
        "?fbclid=IwAR0abc",
        "?fbclid=IwAR1def",
        "?utm_source=newsletter&utm_medium=email&utm_campaign=digest-42",
        "?gclid=xyz&utm_content=lead",
    ]:
        with django_assert_num_queries(0):
            response = client.get(url + query)
        assert response["X-Cache"] == "hit", query
        assert response.content == first.content


def test_parameters_that_change_a_page_still_make_their_own_page(client):
    """Only tracking parameters are ignored: ?page=2 with utm_* added is page
    2 (from its own cached copy), not the cached page 1."""
    section = make_section(name="Sport", slug="sport")
    for i in range(25):
        make_article(section=section, headline=f"Match report {i:02d}")
    first = client.get("/section/sport/").content
    second = client.get("/section/sport/?page=2")
    assert second.content != first
    tagged = client.get("/section/sport/?page=2&utm_source=newsletter")
    assert tagged["X-Cache"] == "hit"
    assert tagged.content == second.content
    # A parameter the site does not know is not assumed harmless.
    assert client.get("/section/sport/?page=2&x=1")["X-Cache"] == "miss"


def test_repeated_request_with_validators_gets_304(client):
    """A browser or CDN revalidating with ETag or Last-Modified gets 304."""
    article = make_article()
    first = client.get(article.get_absolute_url())
    assert first["ETag"]
    assert first["Last-Modified"]
    again = client.get(
        article.get_absolute_url(), headers={"if-none-match": first["ETag"]}
    )
    assert again.status_code == 304
    again = client.get(
        article.get_absolute_url(),
        headers={"if-modified-since": first["Last-Modified"]},
    )
    assert again.status_code == 304


def test_a_304_from_the_page_cache_carries_the_page_validators(
    client, django_assert_num_queries
):
    """A revalidation answered from the page cache: no query, no body, and the
    headers a cache needs to keep the copy it has (RFC 9110 §15.4.5)."""
    url = make_article().get_absolute_url()
    first = client.get(url)
    with django_assert_num_queries(0):
        again = client.get(url, headers={"if-none-match": first["ETag"]})
    assert again.status_code == 304
    assert again.content == b""
    for header in ("ETag", "Last-Modified", "Cache-Control"):
        assert again[header] == first[header]
    # Another version of the page, or a precondition that fails, is answered
    # as Django answers it.
    other = client.get(url, headers={"if-none-match": '"another"'})
    assert other.status_code == 200
    assert other.content == first.content
    assert client.get(url, headers={"if-match": '"another"'}).status_code == 412
    modified = client.get(
        url, headers={"if-modified-since": "Mon, 01 Jan 2001 00:00:00 GMT"}
    )
    assert modified.status_code == 200


def test_pages_outside_the_page_cache_get_validators_too(client):
    """robots.txt is not in the page cache: Django's ETag, and a 304 for it."""
    first = client.get("/robots.txt")
    assert first["ETag"]
    again = client.get("/robots.txt", headers={"if-none-match": first["ETag"]})
    assert again.status_code == 304
    assert again["ETag"] == first["ETag"]


def test_cached_front_page_shows_a_new_story_at_once(
    client, django_capture_on_commit_callbacks
):
    """Publishing invalidates the page cache: the new story is there immediately."""
    make_article(headline="Older story")
    assert b"Older story" in client.get("/").content
    assert client.get("/")["X-Cache"] == "hit"
    draft = make_article(headline="Breaking story", status="draft")
    with django_capture_on_commit_callbacks(execute=True):
        services.publish(draft, user=make_staff("ed", "Editor"))
    assert b"Breaking story" in client.get("/").content


def test_the_navigation_shows_a_renamed_or_new_section_at_once(
    client, django_capture_on_commit_callbacks
):
    """Every page's navigation lists the sections: a desk renamed or opened
    is there on the next page, however recently the links were shown."""
    search = reverse("articles:search")  # never page-cached
    with django_capture_on_commit_callbacks(execute=True):
        section = make_section(name="Metro", slug="metro")
    assert '<a href="/section/metro/">Metro</a>' in client.get(search).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        section.name = "City"
        section.save()
        make_section(name="Climate", slug="climate")
    page = client.get(search).content.decode()
    assert '<a href="/section/metro/">City</a>' in page
    assert ">Metro<" not in page
    assert '<a href="/section/climate/">Climate</a>' in page


def test_scheduled_story_appears_when_its_time_comes(
    client, django_capture_on_commit_callbacks
):
    """No cron: the cache notices the scheduled time has passed."""
    soon = timezone.now() + timedelta(seconds=1)
    with django_capture_on_commit_callbacks(execute=True):
        make_article(headline="Timed story", publish_at=soon)
    assert b"Timed story" not in client.get("/").content
    import time

    time.sleep(max(0, (soon - timezone.now()).total_seconds()) + 0.1)
    caching._local.memo = None  # the 1-second memo elapsed in real life
    assert b"Timed story" in client.get("/").content


@pytest.mark.parametrize(
    "page", ["abc", "0", "-1", "999", "1.5", "9" * 30, "%00", "%C2%B2"]
)
def test_junk_and_out_of_range_page_numbers_are_404(client, page):
    """?page= that is not a page of the archive answers 404, never 500."""
    section = make_section(slug="s")
    make_article(section=section)
    assert client.get(f"/section/s/?page={page}").status_code == 404


def test_archive_pages(client):
    """Section pages page through older stories."""
    section = make_section(slug="s")
    for i in range(25):
        make_article(
            section=section,
            headline=f"Archive {i:02d}",
            publish_at=timezone.now() - timedelta(hours=i + 1),
        )
    first = client.get("/section/s/").content.decode()
    second = client.get("/section/s/?page=2").content.decode()
    assert "Archive 00" in first and "Archive 19" in first and "Archive 20" not in first
    assert "Archive 24" in second and 'rel="next"' in first


def test_a_tag_page_lists_the_stories_with_the_tag_newest_first(client):
    """Only stories carry the tag: an item of the same tag and number filed
    under another kind of object does not put a story on the page."""
    now = timezone.now()
    for i in range(22):
        make_article(
            headline=f"Archive {i:02d}",
            tags=["budget"],
            publish_at=now - timedelta(hours=i + 1),
        )
    untagged = make_article(headline="Archive 99", tags=["weather"])
    TaggedItem.objects.create(
        tag=Tag.objects.get(slug="budget"),
        content_type=ContentType.objects.get_for_model(Section),
        object_id=untagged.pk,
    )

    first = _listed(client, "/tag/budget/")
    second = _listed(client, "/tag/budget/?page=2")

    assert first == [f"Archive {i:02d}" for i in range(20)]
    assert second == ["Archive 20", "Archive 21"]


def test_tags_with_accents_have_pages_and_feeds(client):
    """taggit keeps letters with accents in a tag's slug ("São Paulo" is
    são-paulo): the story links its tag pages, which list it and link their
    feeds, which list it too."""
    story = make_article(headline="Carnival returns", tags=["São Paulo", "Café"])

    response = client.get(story.get_absolute_url())

    assert response.status_code == 200
    links = re.findall(r'href="(/tag/[^"]*)"', response.content.decode())
    assert links == ["/tag/caf%C3%A9/", "/tag/s%C3%A3o-paulo/"]
    for link in links:
        tag_page = client.get(link)
        assert tag_page.status_code == 200
        page = tag_page.content.decode()
        assert re.findall(r">(Carnival returns)</a>", page) == ["Carnival returns"]
        feed = re.search(r'href="(/tag/[^"]*/rss/)"', page).group(1)
        assert b"Carnival returns" in client.get(feed).content


def _archive(section, count):
    """``count`` stories in ``section``, two at a time sharing a publish time."""
    now = timezone.now()
    for i in range(count):
        make_article(
            section=section,
            headline=f"Archive {i:02d}",
            publish_at=now - timedelta(hours=1 + i // 2),
        )


def _listed(client, url):
    response = client.get(url)
    assert response.status_code == 200
    return re.findall(r">(Archive \d\d)</a>", response.content.decode())


def test_deep_archive_pages_show_what_walking_to_their_offset_shows(
    client, monkeypatch
):
    """A deep page starts from the archive's page boundaries, not an OFFSET
    walk: the same stories in the same order, ties in publish time broken as
    on every page, and past the last page a 404."""
    from django.core.cache import cache

    from articles import reader
    from articles.models import Article

    section = make_section(slug="s")
    _archive(section, 45)
    newest_first = list(
        Article.objects.filter(section=section)
        .order_by("-publish_at", "-pk")
        .values_list("headline", flat=True)
    )
    expected = [newest_first[0:20], newest_first[20:40], newest_first[40:45]]
    monkeypatch.setattr(reader, "DEEP_PAGE", 100)
    assert [_listed(client, f"/section/s/?page={n}") for n in (1, 2, 3)] == expected
    cache.clear()
    caching.recent_pages.clear()
    monkeypatch.setattr(reader, "DEEP_PAGE", 1)
    assert [_listed(client, f"/section/s/?page={n}") for n in (1, 2, 3)] == expected
    assert client.get("/section/s/?page=4").status_code == 404
    assert client.get("/section/s/?page=99").status_code == 404


def test_a_deep_page_costs_what_the_first_page_costs(client, monkeypatch):
    """Once an archive's page boundaries are known, any deep page runs the
    queries page 1 runs; knowing them costs one query, once per change."""
    from articles import reader

    monkeypatch.setattr(reader, "DEEP_PAGE", 1)
    _archive(make_section(slug="s"), 65)
    first = count_queries(client, "/section/s/")
    # Page 2 finds the boundaries (one query more); page 4 reuses them.
    assert count_queries(client, "/section/s/?page=2") == first + 1
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as deep:
        assert client.get("/section/s/?page=4").status_code == 200
    assert len(deep.captured_queries) == first


def test_a_deep_page_shows_a_story_published_since_it_was_last_shown(
    client, monkeypatch, django_capture_on_commit_callbacks
):
    """The page boundaries move with the archive: publishing a story pushes
    every older story one place down, on deep pages too."""
    from articles import reader

    monkeypatch.setattr(reader, "DEEP_PAGE", 1)
    section = make_section(slug="s")
    _archive(section, 25)
    before = _listed(client, "/section/s/?page=2")
    assert len(before) == 5
    draft = make_article(section=section, headline="Breaking", status="draft")
    with django_capture_on_commit_callbacks(execute=True):
        services.publish(draft, user=make_staff("ed", "Editor"))
    after = _listed(client, "/section/s/?page=2")
    assert len(after) == 6 and after[1:] == before


@pytest.mark.parametrize(
    "query",
    ["", "   ", "a" * 500, "\x00", "'\";--", "<script>", "-", '"', "or or", "☃ 日本"],
)
def test_search_with_empty_junk_or_long_query_is_friendly(client, query):
    """Whatever is typed into search, the answer is a page, not an error."""
    make_article(headline="Council budget")
    response = client.get(reverse("articles:search"), {"q": query})
    assert response.status_code == 200
    assert b"<script>" not in response.content.split(b"<main")[1]


def test_search_ranks_and_highlights(client):
    """Headline matches rank first; phrases, -exclusion and OR work; marked."""
    make_article(headline="Harbour bridge closes", body="<p>Traffic will move.</p>")
    make_article(
        headline="Other news", body="<p>The harbour bridge closes for repairs.</p>"
    )
    make_article(headline="Bridge club", body="<p>Cards and bridge.</p>")
    response = client.get(reverse("articles:search"), {"q": '"bridge closes"'})
    text = response.content.decode()
    assert text.index("Harbour bridge closes") < text.index("Other news")
    assert "<mark>bridge</mark>" in text
    assert "Bridge club" not in text
    text = client.get(
        reverse("articles:search"), {"q": "bridge -harbour"}
    ).content.decode()
    assert "Bridge club" in text and "Other news" not in text
    text = client.get(
        reverse("articles:search"), {"q": "cards or traffic"}
    ).content.decode()
    assert "Bridge club" in text and "Harbour bridge closes" in text


def test_search_snippet_shows_a_match_deep_in_a_long_story(client):
    """The snippet is cut around the first mention of a searched word,
    however far into the story (tags, even cut in half, never show)."""
    filler = "<p>The council met again.</p>" * 400  # 12,000 characters
    make_article(
        headline="Long meeting",
        body=filler + '<p>A <a href="https://example.com/walrus">walrus</a> spoke'
        " to the committee.</p>" + filler,
    )
    make_article(headline="Walrus seen", body="<p>The harbour was calm.</p>")

    text = client.get(reverse("articles:search"), {"q": "walrus"}).content.decode()

    assert "Long meeting" in text and "Walrus seen" in text
    card = text.split("Long meeting")[1].split("</article>")[0]
    assert "<mark>walrus</mark> spoke to the committee." in card
    assert "&lt;" not in card and "href" not in card and "example.com" not in card
    # No mention in the body: the snippet is the story's opening.
    card = text.split("Walrus seen")[1].split("</article>")[0]
    assert "…The harbour was calm.…" in card


@pytest.mark.parametrize(
    ("terms", "mention"),
    [("walrus", "Walrus"), ("ärzte", "Ärzte"), ("ÉCOLE", "École")],
)
def test_search_snippet_finds_a_capitalised_mention(client, terms, mention):
    """The first mention is found whatever its case, accented capitals
    included (the snippet does not fall back to the story's opening)."""
    filler = "<p>The council met again.</p>" * 100
    make_article(
        headline="Long meeting",
        body=f"{filler}<p>{mention} spoke to the committee.</p>{filler}",
    )

    text = client.get(reverse("articles:search"), {"q": terms}).content.decode()

    card = text.split("Long meeting")[1].split("</article>")[0]
    assert f"<mark>{mention}</mark> spoke to the committee." in card


def search_page_headlines(client, terms, page):
    text = client.get(
        reverse("articles:search"), {"q": terms, "page": page}
    ).content.decode()
    return re.findall(r">(Ferry story \d+)<", text)


def test_search_pages_list_every_match_once_best_first_in_fixed_queries(client):
    """Ten results a page, headline matches first, then the newest; page 2
    carries on from page 1; a full page costs what a page of three does."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    now = timezone.now()
    section = make_section()
    for n in range(3):
        make_article(
            section=section,
            headline=f"Ferry story {n}",
            body="<p>The timetable changes.</p>",
            publish_at=now - timedelta(days=30 + n),
        )
    client.get(reverse("articles:search"), {"q": "ferry"})  # content version
    with CaptureQueriesContext(connection) as few:
        assert len(search_page_headlines(client, "ferry", 1)) == 3
    few = len(few.captured_queries)  # read before the next request clears them
    for n in range(3, 15):
        make_article(
            section=section,
            headline=f"Ferry story {n}",
            body="<p>The ferry timetable changes.</p>",
            publish_at=now - timedelta(hours=n),
        )
    with CaptureQueriesContext(connection) as many:
        first = search_page_headlines(client, "ferry", 1)
    many = len(many.captured_queries)
    second = search_page_headlines(client, "ferry", 2)

    assert many == few <= 2
    assert len(first) == 10 and len(second) == 5
    assert sorted(first + second) == sorted(f"Ferry story {n}" for n in range(15))
    # "ferry" in the headline and the body outranks the headline alone, and
    # among equals the newest comes first.
    assert first[:5] == [f"Ferry story {n}" for n in range(3, 8)]
    assert second[-3:] == ["Ferry story 0", "Ferry story 1", "Ferry story 2"]


def test_search_snippet_finds_an_inflected_word(client):
    """Search matches word forms (a search for councils finds council); so
    does the snippet."""
    filler = "<p>Rain fell on the harbour.</p>" * 200
    make_article(
        headline="Budget", body=filler + "<p>The council voted on the budget.</p>"
    )

    text = client.get(reverse("articles:search"), {"q": "councils"}).content.decode()

    assert "The <mark>council</mark> voted on the budget" in text


def test_json_ld_survives_a_hostile_headline(client):
    """An editor's </script> cannot break out of the JSON-LD block."""
    article = make_article(
        headline='</script><script>alert("x")</script> & <!--', authors=[make_author()]
    )
    Correction.objects.create(article=article, text="Corrected the name")
    html = client.get(article.get_absolute_url()).content.decode()
    blocks = re.findall(
        r'<script type="application/ld\+json">(.*?)</script>', html, re.S
    )
    assert len(blocks) == 2
    # As Django's json_script escapes: no "<", ">" or "&" as they are.
    assert not set("<>&") & set(blocks[0])
    data = json.loads(blocks[0])
    assert data["@type"] == "NewsArticle"
    assert data["headline"] == article.headline
    assert data["author"][0]["@type"] == "Person"
    assert data["correction"][0]["text"] == "Corrected the name"
    assert json.loads(blocks[1])["@type"] == "BreadcrumbList"
    assert '<script>alert("x")' not in html


def test_article_page_metadata(client, media):
    """Canonical, Open Graph article tags, a sized og:image and a Twitter card."""
    author = make_author(slug="writer")
    article = make_article(
        authors=[author], tags=["budget"], lead_photo=make_photo(size=(1400, 900))
    )
    html = client.get(article.get_absolute_url()).content.decode()
    assert (
        f'<link rel="canonical" href="http://127.0.0.1:8000{article.get_absolute_url()}">'
        in html
    )
    for prop in [
        "article:published_time",
        "article:modified_time",
        "article:author",
        "article:section",
        "article:tag",
        "og:image:width",
        "og:image:height",
    ]:
        assert f'property="{prop}"' in html, prop
    assert 'name="twitter:card" content="summary_large_image"' in html


def test_a_shared_photos_card_image_is_each_storys_own_and_follows_the_site(
    client, media, settings
):
    """Photos are shared among stories, and their addresses are remembered
    per process (articles.seo.photo_url()): each story's og:image and
    JSON-LD image are still its own photo's, at the site's address."""

    def images(article, query=""):
        html = client.get(article.get_absolute_url() + query).content.decode()
        og = re.findall(r'property="og:image" content="([^"]*)"', html)
        ld = html.split('<script type="application/ld+json">')[1].split("</script>")
        return og[0], json.loads(ld[0])["image"]["url"]

    flood, fire = make_photo(size=(1400, 900)), make_photo(size=(1400, 900))
    first, second = make_article(lead_photo=flood), make_article(lead_photo=flood)
    other = make_article(lead_photo=fire)

    og, ld = images(first)
    assert og.startswith("http://127.0.0.1:8000/media/")
    assert ld.startswith("http://127.0.0.1:8000/media/")
    assert images(second) == (og, ld)
    assert set(images(other)).isdisjoint({og, ld})

    settings.SITE_URL = "https://news.example"
    assert images(first, "?not-the-cached-page") == (
        og.replace("http://127.0.0.1:8000", "https://news.example"),
        ld.replace("http://127.0.0.1:8000", "https://news.example"),
    )


def test_every_public_page_shares_its_own_absolute_address(client):
    """Open Graph wants the page's full address: a relative og:url makes
    link previews on social sites point nowhere."""
    author = make_author(slug="writer")
    article = make_article(authors=[author], tags=["budget"])
    for path in [
        "/",
        article.get_absolute_url(),
        article.section.get_absolute_url(),
        author.get_absolute_url(),
        reverse("articles:tag", args=["budget"]),
    ]:
        html = client.get(path).content.decode()
        assert re.findall(r'property="og:url" content="([^"]*)"', html) == [
            f"http://127.0.0.1:8000{path}"
        ], path


def test_a_path_that_reads_as_a_network_address_is_a_plain_404(client):
    """The canonical link of a page is its path on SITE_URL, even for a
    path like //[x/ (which urljoin would read as a host, and reject)."""
    response = client.get("/%2F%5Bx/")

    assert response.status_code == 404
    assert '<link rel="canonical" href="http://127.0.0.1:8000//[x/">' in response.text


def test_styled_404(client):
    """A missing page is a page of the site, with search."""
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert b"Page not found" in response.content


def test_searches_are_rate_limited_per_address(client, settings):
    """Past the limit a searcher gets a human 429 page; others still search."""
    settings.SEARCHES_PER_IP = 3
    for _ in range(3):
        assert (
            client.get(reverse("articles:search"), {"q": "budget"}).status_code == 200
        )
    response = client.get(reverse("articles:search"), {"q": "budget"})
    assert response.status_code == 429
    assert b"Please slow down" in response.content
    assert response["Retry-After"]
    other = client.__class__(REMOTE_ADDR="10.1.2.3")
    assert other.get(reverse("articles:search"), {"q": "budget"}).status_code == 200


def test_a_tag_without_a_slug_is_shown_without_a_link(client):
    """A tag whose name has no letter or digit has no slug, so no page (the
    desk refuses such tags; one may have come in another way): the story
    still shows, listing it unlinked."""
    story = make_article(headline="Odd tags", tags=["!!!", "Budget"])

    response = client.get(story.get_absolute_url())

    assert response.status_code == 200
    page = response.content.decode()
    assert re.findall(r'href="(/tag/[^"]*)"', page) == ["/tag/budget/"]
    assert "<li>!!!</li>" in page
