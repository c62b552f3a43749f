"""Content-Security-Policy in practice: Chromium reports no violation on the
reader's pages or while an editor edits a story in the admin."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from articles.models import Article
from tests.factories import (
    PASSWORD,
    make_article,
    make_author,
    make_photo,
    make_section,
    make_staff,
)

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_no_csp_violations_on_reader_pages_or_in_the_editor(
    live_server, page, settings, tmp_path
):
    """Walk the site and edit a story: zero CSP violations, editor working."""
    settings.MEDIA_ROOT = tmp_path
    section = make_section(slug="city")
    author = make_author(slug="reporter-one")
    article = make_article(
        section=section,
        authors=[author],
        tags=["roads"],
        lead_photo=make_photo(),
        headline="Roads reopen",
    )
    make_staff("editor", "Editor")
    console = []
    page.on("console", lambda m: console.append(m.text))
    page.add_init_script(RECORD_VIOLATIONS)
    violations = {}

    def visit(path):
        page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
        found = page.evaluate("window.__cspViolations")
        if found:
            violations[path] = found

    for path in [
        "/",
        article.get_absolute_url(),
        "/section/city/",
        "/tag/roads/",
        "/author/reporter-one/",
        "/search/?q=roads",
        "/newsletter/",
        "/no-such-page/",
    ]:
        visit(path)

    visit(reverse("admin:login"))
    page.fill("#id_username", "editor")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    change = reverse("admin:articles_article_change", args=[article.pk])
    visit(change)
    editor = page.locator(".field-body .ProseMirror[contenteditable=true]")
    expect(editor).to_be_visible()
    editor.click()
    page.keyboard.press("End")
    page.keyboard.type(" Updated by the desk.")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("changed successfully")
    found = page.evaluate("window.__cspViolations")
    if found:
        violations["after save"] = found
    assert "Updated by the desk." in Article.objects.get(pk=article.pk).body
    assert not violations, violations
    assert not [m for m in console if "Content Security Policy" in m], console
