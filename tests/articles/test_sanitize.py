import json

import pytest
from django.core.management import call_command

from articles.admin import ArticleAdminForm
from articles.html import clean_html
from articles.models import Article
from tests.factories import make_article, make_section

pytestmark = pytest.mark.django_db

ATTACKS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    '<a href="javascript:alert(1)">link</a>',
    '<svg onload="alert(1)"></svg>',
    '<iframe src="https://evil.example"></iframe>',
    '<p style="background:url(javascript:alert(1))">styled</p>',
    '<p onclick="alert(1)">click</p>',
    '<a href="JaVaScRiPt:alert(1)">mixed case</a>',
    '<object data="x.swf"></object>',
    "<style>body{display:none}</style>",
]
FORBIDDEN = [
    "<script",
    "onerror",
    "javascript:",
    "<svg",
    "<iframe",
    "style=",
    "onclick",
    "<object",
    "<style",
    "alert(1)</",
]


def assert_clean(html):
    lowered = html.lower()
    for needle in FORBIDDEN:
        assert needle.lower() not in lowered, (needle, html)


def test_allowlist_keeps_what_the_editor_makes():
    """Headings, emphasis, links and lists survive; links get rel=noopener."""
    html = (
        "<h2>Head</h2><p><strong>b</strong> <em>i</em> "
        '<a href="https://example.org/">x</a></p><ul><li>one</li></ul>'
        "<ol><li>two</li></ol><blockquote><p>q</p></blockquote>"
    )
    cleaned = clean_html(html)
    for part in ["<h2>", "<strong>", "<em>", "<ul>", "<ol>", "<blockquote>"]:
        assert part in cleaned
    assert '<a href="https://example.org/" rel="noopener">x</a>' in cleaned


@pytest.mark.parametrize("attack", ATTACKS)
def test_objects_create_stores_a_sanitized_body(attack):
    """Article.objects.create cleans the body before it reaches the database."""
    article = make_article(body=f"<p>ok</p>{attack}")
    stored = Article.objects.values_list("body", flat=True).get(pk=article.pk)
    assert_clean(stored)
    assert_clean(article.body)


def test_bulk_create_update_and_bulk_update_sanitize():
    """Bulk writes that skip save() are cleaned too."""
    section = make_section()
    (article,) = Article.objects.bulk_create(
        [Article(headline="h", slug="h", section=section, body=ATTACKS[0])]
    )
    Article.objects.filter(pk=article.pk).update(body=ATTACKS[1])
    assert_clean(Article.objects.get(pk=article.pk).body)
    article.body = ATTACKS[3]
    Article.objects.bulk_update([article], ["body"])
    assert_clean(Article.objects.get(pk=article.pk).body)


def test_fixtures_are_sanitized(tmp_path):
    """loaddata bypasses save(); the field cleans the body anyway."""
    section = make_section()
    fixture = tmp_path / "story.json"
    fixture.write_text(
        json.dumps(
            [
                {
                    "model": "articles.article",
                    "pk": 9001,
                    "fields": {
                        "headline": "Imported",
                        "slug": "imported",
                        "section": section.pk,
                        "status": "draft",
                        "body": "".join(ATTACKS),
                        "created_at": "2026-01-01T00:00:00Z",
                        "modified_at": "2026-01-01T00:00:00Z",
                    },
                }
            ]
        )
    )
    call_command("loaddata", str(fixture), verbosity=0)
    assert_clean(Article.objects.get(pk=9001).body)


def test_admin_form_sanitizes():
    """The admin's form cleans the body in validation as well."""
    section = make_section()
    form = ArticleAdminForm(
        data={
            "headline": "Form story",
            "slug": "form-story",
            "section": section.pk,
            "status": "draft",
            "body": "".join(ATTACKS),
        }
    )
    assert form.is_valid(), form.errors
    assert_clean(form.instance.body)
    article = form.save()
    assert_clean(Article.objects.get(pk=article.pk).body)


def test_empty_link_titles_are_dropped():
    """The editor's link dialog sends title=""; it is not stored."""
    assert clean_html('<p><a href="https://x.org/" title="">x</a></p>') == (
        '<p><a href="https://x.org/" rel="noopener">x</a></p>'
    )
