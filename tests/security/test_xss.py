"""Stored XSS: known filter-evasion vectors in every field an editor types
into, rendered on every surface, in real Chromium."""

from pathlib import Path

import pytest
from django.urls import reverse

from articles.models import Correction
from tests.factories import (
    PASSWORD,
    make_article,
    make_author,
    make_photo,
    make_section,
    make_staff,
)

VECTORS = [
    line
    for line in (Path(__file__).parent / "xss_vectors.txt").read_text().splitlines()
    if line and not line.startswith("#")
]

# Anything the page itself may legitimately carry: JSON-LD data blocks and,
# in the admin, Django's and the editor's own scripts (from /static/, the
# admin's translation catalogue, and the editor's nonced importmap).
DOM_AUDIT = (Path(__file__).parent / "dom_audit.js").read_text()


def audit_pages(page, base_url, paths):
    """Open each page (200 expected) and audit its DOM; {path: problems}.

    Feeds are XML: they are opened (a browser would run nothing in them) but
    have no HTML DOM to audit.
    """
    problems = {}
    for path in paths:
        response = page.goto(base_url + path)
        assert response.status == 200, path
        if "feeds" not in path and (found := page.evaluate(DOM_AUDIT)):
            problems[path] = found
    return problems


def log_in_as_editor(page, base_url):
    page.goto(base_url + reverse("admin:login"))
    page.fill("#id_username", "editor")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")


@pytest.fixture
def hostile_newsroom(settings, tmp_path):
    """Every vector in every editor-typed field of stories, photos, authors."""
    settings.MEDIA_ROOT = tmp_path
    section = make_section(name="Hostile", slug="hostile")
    articles = []
    for i, vector in enumerate(VECTORS):
        photo = make_photo(alt_text=f"alt {vector}", caption=vector, credit=vector)
        author = make_author(name=f"Author {i}", slug=f"author-{i}", bio=vector)
        article = make_article(
            section=section,
            headline=f"xss {vector}",
            dek=vector,
            body=f"<p>xss story {i}</p>{vector}",
            authors=[author],
            tags=["hostile"],
            lead_photo=photo,
            seo_title=vector,
            seo_description=vector,
        )
        Correction.objects.create(article=article, text=vector)
        articles.append(article)
    return articles


def surfaces(articles):
    return [
        "/",
        "/section/hostile/",
        "/section/hostile/?page=2",
        "/tag/hostile/",
        "/author/author-0/",
        "/author/author-40/",
        "/search/?q=xss",
        "/search/?q=story",
        "/feeds/rss/",
        "/feeds/atom/",
        *[a.get_absolute_url() for a in articles],
    ]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_no_vector_runs_on_any_reader_surface(live_server, page, hostile_newsroom):
    """No alert fires and no script, handler or javascript: URL reaches the DOM."""
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    problems = audit_pages(page, live_server.url, surfaces(hostile_newsroom))
    assert not dialogs, dialogs
    assert not problems, problems


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_no_vector_runs_in_the_admin(live_server, page, hostile_newsroom):
    """The desk's own lists and forms show the vectors as text."""
    make_staff("editor", "Editor")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in_as_editor(page, live_server.url)
    pages = [
        reverse("admin:articles_article_changelist"),
        reverse("admin:articles_article_changelist") + "?q=xss",
        reverse("admin:articles_photo_changelist"),
        reverse("admin:articles_author_changelist"),
        reverse("admin:articles_article_change", args=[hostile_newsroom[0].pk]),
        reverse("admin:articles_article_change", args=[hostile_newsroom[30].pk]),
        reverse(
            "admin:articles_author_change",
            args=[hostile_newsroom[5].bylines.get().author_id],
        ),
        reverse(
            "admin:articles_photo_change", args=[hostile_newsroom[7].lead_photo_id]
        ),
    ]
    problems = audit_pages(page, live_server.url, pages)
    assert not dialogs, dialogs
    assert not problems, problems


@pytest.mark.browser
def test_the_dom_audit_catches_what_it_looks_for(page):
    """The audit above is not blind: it flags each kind of injected code."""
    page.set_content(
        '<img src="x" onerror="1"><a href=" jav&#x09;ascript:x">a</a>'
        "<script>1</script><iframe></iframe>"
        '<script type="application/ld+json">{}</script>'
    )
    found = " ".join(page.evaluate(DOM_AUDIT))
    for kind in ["handler:", "url:", "script:", "element:"]:
        assert kind in found
    assert "ld+json" not in found


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_no_vector_runs_in_the_digest(live_server, page, hostile_newsroom):
    """Digest subject and intro carry the vectors too; the email (HTML and
    text), its web archive copy and the desk's preview stay inert."""
    from django.utils import timezone

    from newsletter import emails, services
    from newsletter.models import Digest

    make_staff("editor", "Editor")
    digests = []
    for vector in VECTORS[::5]:
        digest = Digest.objects.create(
            subject=f"xss {vector}"[:200],
            intro=f"{vector}\n\n{vector}",
            status=Digest.Status.SENT,
            started_at=timezone.now(),
        )
        services.set_digest_items(digest, hostile_newsroom[:4])
        digests.append(digest)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    problems = {}
    for digest in digests:
        html, text = emails.preview(digest)
        # (CSS inlining re-serializes the HTML: a "<" inside a quoted
        # attribute stays literal there, which is harmless; the DOM decides.)
        page.set_content(html)
        found = page.evaluate(DOM_AUDIT)
        if found:
            problems[f"email {digest.pk}"] = found
        message, _ = emails.digest_message(
            digest, to="reader@example.com", subscriber_id=1, html=html, text=text
        )
        assert "\n" not in message.subject and "\r" not in message.subject
    log_in_as_editor(page, live_server.url)
    paths = [reverse("newsletter:archive")]
    for digest in digests[:4]:
        paths += [
            reverse("newsletter:archive-detail", args=[digest.pk]),
            reverse("admin:newsletter_digest_change", args=[digest.pk]),
            reverse("admin:newsletter_digest_preview", args=[digest.pk]),
            reverse("admin:newsletter_digest_preview_html", args=[digest.pk]),
        ]
    paths.append(reverse("admin:newsletter_digest_changelist"))
    problems.update(audit_pages(page, live_server.url, paths))
    assert not dialogs, dialogs
    assert not problems, problems
