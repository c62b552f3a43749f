"""The newsdesk in real Chromium: an editor files and schedules a story with
the rich-text editor; a reporter finds no way to publish, not even a forged one.

The site's time zone (UTC+05:30) and the browser's (UTC-07/-08) both differ
from UTC, so a date/time read in the wrong zone would be off by hours.
"""

import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from PIL import Image, ImageDraw
from playwright.sync_api import expect
from taggit.models import Tag

from articles.models import Article, Photo
from tests.factories import (
    PASSWORD,
    make_article,
    make_author,
    make_section,
    make_staff,
)

SITE_TIME_ZONE = "Asia/Kolkata"
BROWSER_TIME_ZONE = "America/Los_Angeles"
LEAD_SECONDS = 5
ARTIFACTS = Path("test-results")

HEADLINE = "Council approves the harbour plan"
SLUG = "council-approves-the-harbour-plan"
ALT_TEXT = "Cranes over the old harbour at dusk"
LINK = "https://example.org/minutes"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.browser_context_args(timezone_id=BROWSER_TIME_ZONE),
]


@pytest.fixture
def browser_log(page):
    """What the desk's browser reported: console messages and uncaught errors."""
    log = {"console": [], "errors": []}
    page.on(
        "console",
        lambda m: log["console"].append(f"{m.type}: {m.text} ({m.location['url']})"),
    )
    page.on("pageerror", lambda error: log["errors"].append(str(error)))
    return log


@pytest.fixture
def media(settings, tmp_path):
    """Uploads go to a folder of the test's own (the site serves /media/)."""
    settings.MEDIA_ROOT = tmp_path / "media"


def save_artifacts_on_failure(request, page, label, log=None):
    report = getattr(request.node, "rep_call", None)  # set by pytest-playwright
    if report is None or not report.failed:
        return
    ARTIFACTS.mkdir(exist_ok=True)
    stem = ARTIFACTS / f"{request.node.name.replace('[', '-').rstrip(']')}-{label}"
    page.screenshot(path=f"{stem}.png", full_page=True)
    if log is not None:
        lines = log["console"] + [f"pageerror: {e}" for e in log["errors"]]
        Path(f"{stem}-console.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture
def desk(page, browser_log, media, request, settings):
    """The newsdesk's browser, in the site's time zone; on failure, a
    screenshot and the browser's log go to test-results/."""
    settings.TIME_ZONE = SITE_TIME_ZONE
    yield page
    save_artifacts_on_failure(request, page, "desk", browser_log)


@pytest.fixture
def reader(new_context, media, request):
    """A second browser that never signs in: what readers (and the page
    cache, which signed-in staff bypass) see."""
    page = new_context().new_page()
    yield page
    save_artifacts_on_failure(request, page, "reader")


def log_in(page, base_url, username):
    page.goto(f"{base_url}/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text(username)


def choose(page, row, search, option):
    """Pick ``option`` in the select2 autocomplete inside ``row``."""
    row.locator(".select2-selection").click()
    page.locator(".select2-container--open .select2-search__field").fill(search)
    page.locator(".select2-results__option", has_text=option).click()
    expect(row.locator(".select2-selection")).to_contain_text(option)


def select_with_keyboard(page, editor, text, key):
    """Select ``text`` next to the caret by pressing ``key`` once per letter.

    Then wait until the editor itself has that selection (Tiptap keeps its
    instance on the element): ProseMirror reads the browser's selection on
    ``selectionchange``, which can arrive after the next key press.
    """
    for _ in text:
        page.keyboard.press(key)
    page.wait_for_function(
        """([element, text]) => {
            const {state} = element.editor;
            const {from, to} = state.selection;
            return state.doc.textBetween(from, to) === text;
        }""",
        arg=[editor.element_handle(), text],
    )


def write_jpeg(path):
    image = Image.new("RGB", (800, 600), "#1d4e89")
    ImageDraw.Draw(image).rectangle((200, 150, 600, 450), fill="#f2a541")
    image.save(path, "JPEG", quality=90)
    return path


def test_editor_files_and_schedules_a_story_that_goes_live_on_time(
    desk, reader, browser_log, live_server, tmp_path
):
    """An editor uploads a photo and files a rich-text story scheduled a few
    seconds ahead; readers get 404 until then and the full story after."""
    page, base = desk, live_server.url
    make_staff("editor", "Editor")
    make_section(name="City")
    make_author(name="Ada Lovelace")
    make_author(name="Grace Hopper")
    Tag.objects.create(name="Harbour", slug="harbour")
    log_in(page, base, "editor")

    # The photo desk: upload, then see the preview made from a rendition.
    page.goto(f"{base}{reverse('admin:articles_photo_add')}")
    page.set_input_files("#id_image", write_jpeg(tmp_path / "IMG_0042.jpg"))
    page.fill("#id_alt_text", ALT_TEXT)
    page.fill("#id_credit", "Desk photographer")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    thumbnail = page.locator(".field-thumbnail img")
    expect(thumbnail).to_have_attribute("alt", ALT_TEXT)
    expect(thumbnail).to_have_attribute(
        "src", re.compile(r"^/media/photos/renditions/")
    )
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle()
    )
    expect(page.locator(".field-dimensions")).to_contain_text("800 × 600 px")
    photo = Photo.objects.get()
    assert photo.renditions and "IMG_0042" not in photo.image.name

    # The story.
    page.goto(f"{base}{reverse('admin:articles_article_add')}")
    page.locator("#id_headline").press_sequentially(HEADLINE)
    expect(page.locator("#id_slug")).to_have_value(SLUG)

    editor = page.locator(".field-body .ProseMirror[contenteditable=true]")
    expect(editor).to_be_visible()
    editor.click()
    keys = page.keyboard
    keys.type("## What was decided")  # Tiptap's markdown input rules
    keys.press("Enter")
    keys.type("- New quay walls")
    keys.press("Enter")
    keys.type("A ferry stop")
    keys.press("Enter")
    keys.press("Enter")  # an empty item ends the list
    keys.type("The council voted unanimously for the plan. Read the minutes online.")
    keys.press("Home")
    for _ in "The council voted ":
        keys.press("ArrowRight")
    select_with_keyboard(page, editor, "unanimously", "Shift+ArrowRight")
    keys.press("Control+b")
    keys.press("End")
    for _ in " online.":
        keys.press("ArrowLeft")
    select_with_keyboard(page, editor, "minutes", "Shift+ArrowLeft")
    page.locator(".prose-menubar__button[data-name=link]").click()
    dialog = page.locator("dialog.prose-editor-dialog[open]")
    dialog.locator("input[name=href]").fill(LINK)
    dialog.get_by_role("button", name="Update").click()
    expect(dialog).to_have_count(0)
    expect(editor.locator("h2")).to_have_text("What was decided")
    expect(editor.locator("strong")).to_have_text("unanimously")
    expect(editor.locator(f'a[href="{LINK}"]')).to_have_text("minutes")
    expect(editor.locator("ul > li")).to_have_text(["New quay walls", "A ferry stop"])

    choose(page, page.locator(".field-section"), "Cit", "City")
    choose(page, page.locator(".field-existing_tags"), "harb", "Harbour")
    page.fill("#id_new_tags", "ferries")
    choose(page, page.locator(".field-lead_photo"), "cranes", ALT_TEXT)
    choose(page, page.locator("#bylines-0 .field-author"), "Ada", "Ada Lovelace")
    page.locator("#bylines-group .add-row a").click()
    page.fill("#id_bylines-1-position", "1")
    choose(page, page.locator("#bylines-1 .field-author"), "Grace", "Grace Hopper")
    page.select_option("#id_status", "published")

    # Last, so that the lead time is spent on saving, not on typing. The
    # admin's split inputs are read in the site's time zone.
    publish_at = (timezone.now() + timedelta(seconds=LEAD_SECONDS + 1)).replace(
        microsecond=0
    )
    local = timezone.localtime(publish_at)
    page.fill("#id_publish_at_0", f"{local:%Y-%m-%d}")
    page.fill("#id_publish_at_1", f"{local:%H:%M:%S}")
    page.click("input[name=_save]")

    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    row = page.locator("#result_list tbody tr", has_text=HEADLINE)
    expect(row).to_contain_text(
        f"Scheduled for {date_format(local, 'DATETIME_FORMAT')}"
    )
    expect(row).to_contain_text("Ada Lovelace, Grace Hopper")
    # No script error and no CSP violation anywhere on the desk's way.
    assert not browser_log["errors"], browser_log["errors"]
    errors = [m for m in browser_log["console"] if m.startswith("error")]
    assert not errors, errors

    article = Article.objects.get(slug=SLUG)
    assert article.status == Article.Status.PUBLISHED
    assert article.publish_at == publish_at
    assert article.url_date == local.date()
    body = article.body
    assert "<h2>What was decided</h2>" in body
    assert "<strong>unanimously</strong>" in body
    assert re.search(
        rf'<a href="{re.escape(LINK)}"[^>]* rel="noopener">minutes</a>', body
    )
    assert "<ul><li><p>New quay walls</p></li><li><p>A ferry stop</p></li></ul>" in body
    assert [b.author.name for b in article.ordered_bylines] == [
        "Ada Lovelace",
        "Grace Hopper",
    ]
    assert sorted(article.tags.names()) == ["Harbour", "ferries"]
    assert article.lead_photo == photo

    # Readers: nothing before the publication time, the story after it.
    url = f"{base}{article.get_absolute_url()}"
    assert reader.goto(f"{base}/").status == 200  # anonymous: now in the page cache
    listed_early = reader.get_by_role("link", name=HEADLINE).count()
    status_early = reader.goto(url).status
    assert timezone.now() < publish_at, (
        "too slow to look before the publication time; raise LEAD_SECONDS"
    )
    assert status_early == 404
    assert listed_early == 0
    deadline = publish_at + timedelta(seconds=5)
    while True:
        status = reader.request.get(url).status
        answered_at = timezone.now()
        if status == 200:
            break
        assert status == 404
        assert answered_at < deadline, "the story did not go live on time"
        time.sleep(0.2)
    assert answered_at >= publish_at, "the story went live early"
    # The browser may keep its copy of the front page for max-age (60 s);
    # reloading revalidates it, and the server's caches already know.
    reader.goto(f"{base}/")
    reader.reload()
    expect(reader.get_by_role("link", name=HEADLINE).first).to_be_visible()

    assert reader.goto(url).status == 200
    expect(reader.locator("h1")).to_have_text(HEADLINE)
    story = reader.locator(".story-body")
    expect(story.locator("h2")).to_have_text("What was decided")
    expect(story.locator("strong")).to_have_text("unanimously")
    link = story.locator(f'a[href="{LINK}"]')
    expect(link).to_have_text("minutes")
    expect(link).to_have_attribute("rel", "noopener")
    expect(story.locator("ul > li")).to_have_text(["New quay walls", "A ferry stop"])
    expect(reader.locator(".byline")).to_have_text("By Ada Lovelace and Grace Hopper")
    lead = reader.locator(".lead-photo img")
    expect(lead).to_have_attribute("alt", ALT_TEXT)
    reader.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=lead.element_handle()
    )
    assert sorted(reader.locator(".tags li").all_inner_texts()) == [
        "Harbour",
        "ferries",
    ]


def test_reporter_has_no_way_to_publish(desk, browser_log, live_server):
    """A reporter sees no publishing controls and forged publish requests are
    refused: the draft stays a draft and the live story stays as it was."""
    page, base = desk, live_server.url
    reporter = make_staff("reporter", "Reporter")
    section = make_section(name="City")
    author = make_author(name="Ada Lovelace")
    live = make_article(
        headline="Harbour plan approved", section=section, authors=[author]
    )
    draft = make_article(
        headline="Ferry timetable leaked",
        status=Article.Status.DRAFT,
        section=section,
        authors=[author],
        created_by=reporter,
    )
    log_in(page, base, "reporter")

    # The add form: no Published status, no publication time, no featuring.
    page.goto(f"{base}{reverse('admin:articles_article_add')}")
    statuses = page.locator("#id_status option")
    expect(statuses).to_have_count(2)
    assert statuses.evaluate_all("options => options.map(o => o.value)") == [
        "draft",
        "in_review",
    ]
    expect(page.locator("[name^=publish_at]")).to_have_count(0)
    expect(page.locator("[name=is_featured]")).to_have_count(0)

    # The changelist: no publishing actions.
    changelist = f"{base}{reverse('admin:articles_article_changelist')}"
    page.goto(changelist)
    expect(page.locator("#result_list")).to_contain_text(live.headline)
    for action in ("publish_selected", "unpublish_selected", "feature_selected"):
        expect(page.locator(f"[name=action] option[value={action}]")).to_have_count(0)

    # A live story is the editors' alone: view only, nothing to save.
    live_url = f"{base}{reverse('admin:articles_article_change', args=[live.pk])}"
    page.goto(live_url)
    expect(page.locator("#content h1")).to_have_text("View article")
    expect(page.locator("input[type=submit]")).to_have_count(0)

    # Forged: the reporter's own draft posted back with status=published.
    draft_url = f"{base}{reverse('admin:articles_article_change', args=[draft.pk])}"
    page.goto(draft_url)
    expect(page.locator("input[name=_save]")).to_be_visible()
    entries = page.locator("#article_form").evaluate(
        "form => Array.from(new FormData(form).entries())"
    )
    form = dict(entries)
    assert len(form) == len(entries)
    soon = timezone.localtime(timezone.now() - timedelta(minutes=1))
    form |= {
        "status": "published",
        "publish_at_0": f"{soon:%Y-%m-%d}",
        "publish_at_1": f"{soon:%H:%M:%S}",
        "is_featured": "on",
        "_save": "Save",
    }
    response = page.request.post(draft_url, form=form, max_redirects=0)
    assert response.status == 200
    # Refused by the form: "published" is not among the reporter's choices.
    assert "published is not one of the available choices" in response.text()

    # Forged: the bulk action that is not offered.
    token = form["csrfmiddlewaretoken"]
    response = page.request.post(
        changelist,
        form={
            "csrfmiddlewaretoken": token,
            "action": "publish_selected",
            "_selected_action": str(draft.pk),
            "index": "0",
        },
        max_redirects=0,
    )
    assert response.status in (200, 302)

    # Forged: a change to the live story.
    response = page.request.post(
        live_url,
        form={
            "csrfmiddlewaretoken": token,
            "headline": "Harbour plan scrapped",
            "slug": live.slug,
            "section": str(section.pk),
            "status": "draft",
            "_save": "Save",
        },
        max_redirects=0,
    )
    assert response.status == 403

    draft.refresh_from_db()
    assert draft.status == Article.Status.DRAFT
    assert draft.publish_at is None
    assert not draft.is_featured
    live.refresh_from_db()
    assert live.headline == "Harbour plan approved"
    assert live.status == Article.Status.PUBLISHED
    assert list(Article.objects.published()) == [live]
    assert not browser_log["errors"], browser_log["errors"]
