"""A reader's path through the site in real Chromium, and its accessibility."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from articles.models import Correction
from tests.conftest import AXE_SCRIPT
from tests.factories import make_article, make_author, make_photo, make_section

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def newsroom(settings, tmp_path):
    """A small newsroom: a featured lead story with everything on it."""
    settings.MEDIA_ROOT = tmp_path
    settings.MEDIA_URL = "/media/"
    politics = make_section(name="Politics", slug="politics")
    photo = make_photo(
        size=(1600, 1000), alt_text="Councillors at the vote", credit="A. Photographer"
    )
    authors = [
        make_author(name="Ada Lovelace", slug="ada", bio="Covers the council."),
        make_author(name="Grace Hopper", slug="grace"),
    ]
    lead = make_article(
        section=politics,
        headline="Council approves the harbour budget",
        dek="A late-night vote ends months of argument.",
        body="<p>The council voted for the <strong>harbour budget</strong> "
        "after a long debate.</p>"
        "<h2>What changes</h2><ul><li>New ferries</li><li>Longer hours</li></ul>",
        authors=authors,
        tags=["harbour", "budget"],
        lead_photo=photo,
        is_featured=True,
    )
    Correction.objects.create(
        article=lead, text="An earlier version misspelled a name."
    )
    for i in range(3):
        story = make_article(
            section=politics,
            headline=f"Harbour story {i}",
            tags=["harbour"],
            authors=[authors[0]],
            publish_at=timezone.now() - timedelta(days=i + 1),
        )
        lead.related.add(story)
    return lead


def test_reader_follows_the_lead_story_a_tag_and_a_search(live_server, page, newsroom):
    """Home → lead story (all its parts) → tag archive → highlighted search."""
    page.goto(live_server.url + "/")
    page.get_by_role("link", name="Council approves the harbour budget").first.click()
    expect(page).to_have_url(re.compile(re.escape(newsroom.get_absolute_url()) + "$"))
    expect(page.locator("h1")).to_have_text("Council approves the harbour budget")
    byline = page.locator(".story-header .byline")
    expect(byline).to_have_text("By Ada Lovelace and Grace Hopper")
    expect(byline.get_by_role("link", name="Ada Lovelace")).to_have_attribute(
        "href", "/author/ada/"
    )
    expect(page.locator(".story-header time").first).to_have_attribute(
        "datetime", re.compile(r"^\d{4}-\d\d-\d\dT")
    )
    expect(page.get_by_role("img", name="Councillors at the vote")).to_be_visible()
    expect(page.locator(".story-body strong")).to_have_text("harbour budget")
    expect(page.locator(".corrections")).to_contain_text("misspelled")
    expect(page.locator(".related li")).to_have_count(3)
    page.get_by_role("link", name="harbour", exact=True).click()
    expect(page.locator("h1")).to_have_text("harbour")
    expect(page.locator(".card-headline")).to_have_count(4)
    page.fill("#site-search", '"harbour budget"')
    page.press("#site-search", "Enter")
    expect(page.locator("mark").first).to_have_text(re.compile("harbour", re.I))
    expect(page.locator(".card-headline")).to_have_count(1)


def reader_pages(newsroom):
    return [
        "/",
        newsroom.get_absolute_url(),
        "/section/politics/",
        "/tag/harbour/",
        "/author/ada/",
        "/search/?q=harbour",
        "/no-such-page/",
    ]


def test_no_page_scrolls_sideways_on_a_phone(live_server, browser, newsroom):
    """At 375 pixels wide, every page fits the screen."""
    context = browser.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    for path in reader_pages(newsroom):
        page.goto(live_server.url + path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth"
            " - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px"
    context.close()


@pytest.mark.axe
def test_axe_finds_no_serious_accessibility_problems(live_server, browser, newsroom):
    """axe-core reports no serious or critical WCAG 2.2 AA violations."""
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    axe = AXE_SCRIPT.read_text()
    problems = {}
    for path in reader_pages(newsroom):
        page.goto(live_server.url + path)
        page.evaluate(axe)
        result = page.evaluate(
            """() => axe.run(document, {runOnly: {type: 'tag', values:
                ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}})"""
        )
        serious = [
            f"{v['id']}: {v['help']} ({len(v['nodes'])}x, "
            f"e.g. {v['nodes'][0]['html'][:120]})"
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        if serious:
            problems[path] = serious
    context.close()
    assert not problems, problems
