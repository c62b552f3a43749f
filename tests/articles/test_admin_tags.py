"""Tags in the desk: a popular tag opens, renames and lists its stories."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from taggit.models import Tag, TaggedItem

from articles.caching import content_version
from articles.models import Article, ContentVersion
from tests.factories import make_article, make_section, make_staff

pytestmark = pytest.mark.django_db

LIST_URL = reverse("admin:articles_article_changelist")


@pytest.fixture
def editor_client(client):
    client.force_login(make_staff("editor", "Editor"))
    return client


def tag_on_stories(name, count):
    """A tag on ``count`` draft stories, made in bulk."""
    tag = Tag.objects.create(name=name, slug=name.lower())
    section = make_section()
    stories = Article.objects.bulk_create(
        Article(
            headline=f"{name} story {i}",
            slug=f"{tag.slug}-story-{i}",
            body="<p>Words.</p>",
            section=section,
            status=Article.Status.DRAFT,
        )
        for i in range(count)
    )
    content_type = ContentType.objects.get_for_model(Article)
    TaggedItem.objects.bulk_create(
        TaggedItem(tag=tag, content_type=content_type, object_id=story.pk)
        for story in stories
    )
    return tag


def test_a_tag_on_hundreds_of_stories_opens_and_is_renamed(editor_client):
    """taggit's own tag page put a form on it for every tagged story: for a
    tag on thousands of stories, minutes of page, and a save Django refused
    (more fields than ``DATA_UPLOAD_MAX_NUMBER_FIELDS``). The desk's tag page
    is the tag itself, with a link to its stories."""
    tag = tag_on_stories("Elections", 300)
    url = reverse("admin:taggit_tag_change", args=[tag.pk])

    page = editor_client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "TOTAL_FORMS" not in html  # no formset of tagged items
    assert f'href="{LIST_URL}?tag={tag.pk}"' in html

    response = editor_client.post(
        url, {"name": "Election 2026", "slug": "election-2026", "_save": "Save"}
    )
    assert response.status_code == 302
    tag.refresh_from_db()
    assert (tag.name, tag.slug) == ("Election 2026", "election-2026")
    assert TaggedItem.objects.filter(tag=tag).count() == 300


def test_the_tag_list_links_each_tag_to_its_stories(editor_client):
    tag = tag_on_stories("Floods", 2)
    page = editor_client.get(reverse("admin:taggit_tag_changelist"))
    assert f'href="{LIST_URL}?tag={tag.pk}"' in page.content.decode()


def test_desk_filters_stories_by_tag(editor_client):
    """?tag= lists the tag's stories, and the filter names the tag."""
    floods, fires = Tag.objects.create(name="Floods"), Tag.objects.create(name="Fires")
    make_article(headline="River bursts its banks", tags=[floods])
    make_article(headline="Hills ablaze", tags=[fires])
    html = editor_client.get(LIST_URL, {"tag": floods.pk}).content.decode()
    assert "River bursts its banks" in html and "Hills ablaze" not in html
    assert "By tag" in html and "Floods" in html
    # Unfiltered, the desk does not list its thousands of tags as filters.
    assert "By tag" not in editor_client.get(LIST_URL).content.decode()


@pytest.mark.parametrize(
    ("value", "listed"),
    [("²", True), ("1x", True), ("-1", True), ("99999999999999999999", False)],
)
def test_desk_tag_filter_ignores_junk_and_unknown_ids(editor_client, value, listed):
    """Junk is ignored (the whole desk); an id no tag has lists nothing.
    Neither is a server error."""
    make_article(headline="Still listed")
    response = editor_client.get(LIST_URL, {"tag": value})
    assert response.status_code == 200
    assert ("Still listed" in response.content.decode()) is listed


def test_deleting_a_tag_on_hundreds_of_stories_asks_on_one_light_page(
    editor_client, django_assert_max_num_queries
):
    """Django's confirmation page named every tagged item, each through its
    story (a query each): a minute and megabytes for a popular tag, longer
    than a worker may take. The page counts the items instead."""
    tag = tag_on_stories("Elections", 300)
    story = Article.objects.filter(tags=tag).first()
    url = reverse("admin:taggit_tag_delete", args=[tag.pk])

    with django_assert_max_num_queries(20):
        page = editor_client.get(url)
    html = page.content.decode()
    assert page.status_code == 200
    assert "Elections" in html and "Tagged items: 300" in html
    assert story.headline not in html

    response = editor_client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not Tag.objects.filter(pk=tag.pk).exists()
    assert not TaggedItem.objects.filter(tag_id=tag.pk).exists()
    assert Article.objects.filter(pk=story.pk).exists()  # the stories stay


@pytest.mark.django_db(transaction=True)
def test_deleting_a_tag_on_hundreds_of_stories_bumps_the_content_version_once(
    client, django_assert_max_num_queries
):
    """Every tagged item deleted with the tag asked for a bump of the
    content version after the commit: four queries each. One transaction
    now bumps it once, however many changes it holds."""
    client.force_login(make_staff("editor", "Editor"))
    tag = tag_on_stories("Elections", 300)
    before = content_version()
    url = reverse("admin:taggit_tag_delete", args=[tag.pk])
    with django_assert_max_num_queries(40):
        response = client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not Tag.objects.filter(pk=tag.pk).exists()
    assert ContentVersion.objects.get(pk=1).version == before + 1


@pytest.mark.django_db(transaction=True)
def test_tags_deleted_with_the_delete_action_make_their_pages_stale(client):
    """Deleting through a queryset (the admin's "delete selected" action)
    bumps the content version too."""
    client.force_login(make_staff("editor", "Editor"))
    tags = [tag_on_stories("Floods", 3), tag_on_stories("Fires", 3)]
    before = content_version()
    response = client.post(
        reverse("admin:taggit_tag_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [tag.pk for tag in tags],
            "post": "yes",
        },
    )
    assert response.status_code == 302
    assert not Tag.objects.exists()
    assert ContentVersion.objects.get(pk=1).version > before


def test_renaming_a_tag_shows_at_once_on_cached_story_pages(
    client, django_capture_on_commit_callbacks
):
    """Story pages list their tags: a tag renamed in the desk makes the
    cached pages stale, as any change readers can see does."""
    tag = Tag.objects.create(name="Wildfires", slug="wildfires")
    with django_capture_on_commit_callbacks(execute=True):
        story = make_article(headline="Hills ablaze", tags=[tag])
    url = story.get_absolute_url()
    assert "Wildfires" in client.get(url).content.decode()
    assert client.get(url)["X-Cache"] == "hit"

    editor = make_staff("editor", "Editor")
    client.force_login(editor)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:taggit_tag_change", args=[tag.pk]),
            {"name": "Bushfires", "slug": "bushfires", "_save": "Save"},
        )
    assert response.status_code == 302
    client.logout()
    html = client.get(url).content.decode()
    assert "Bushfires" in html and "Wildfires" not in html


def merge(client, tags, into):
    """The admin's "Merge selected tags": the action, then its form."""
    changelist = reverse("admin:taggit_tag_changelist")
    chosen = {"action": "render_tag_form", "_selected_action": [t.pk for t in tags]}
    assert client.post(changelist, chosen).status_code == 302
    url = reverse("admin:taggit_tag_merge_tags")
    assert "new_tag_name" in client.get(url).content.decode()
    return client.post(url, {"new_tag_name": into})


def test_merging_a_duplicate_into_the_other_keeps_every_story_tagged(editor_client):
    """taggit deleted the items of the tag merged into when it was one of
    those selected: the stories tagged "Politics" lost their tag."""
    upper, lower = (
        Tag.objects.create(name="Politics"),
        Tag.objects.create(name="politics"),
    )
    only_upper = make_article(headline="Only upper", tags=[upper])
    only_lower = make_article(headline="Only lower", tags=[lower])
    both = make_article(headline="Both", tags=[upper, lower])

    response = merge(editor_client, [upper, lower], into="Politics")
    assert response.status_code == 302
    for story in (only_upper, only_lower, both):
        assert list(story.tags.names()) == ["Politics"]
    assert not TaggedItem.objects.filter(tag=lower).exists()


def test_merging_into_a_name_too_long_says_so(editor_client):
    tags = [Tag.objects.create(name="Floods"), Tag.objects.create(name="Flooding")]
    response = merge(editor_client, tags, into="x" * 101)
    assert response.status_code == 200
    assert "at most 100 characters" in response.content.decode()
    assert TaggedItem.objects.count() == 0 and Tag.objects.count() == 2


def test_merging_a_tag_on_hundreds_of_stories_takes_a_few_statements(
    editor_client, django_assert_max_num_queries
):
    """taggit moved each tagged item with a query and a save of its own."""
    elections = tag_on_stories("Elections", 300)
    votes = tag_on_stories("Votes", 2)
    with django_assert_max_num_queries(40):
        response = merge(editor_client, [elections, votes], into="Elections 2026")
    assert response.status_code == 302
    merged = Tag.objects.get(name="Elections 2026")
    assert TaggedItem.objects.filter(tag=merged).count() == 302
    assert not TaggedItem.objects.filter(tag__in=[elections, votes]).exists()
