"""The desk draws some of Django's admin templates in Python, for speed
(``articles/templatetags/desk.py``): what it draws is Django's HTML.

Compared with whitespace between tags taken out, which the templates' line
breaks and indents add and browsers ignore.
"""

import re
from pathlib import Path

import django.contrib.admin
import pytest
from django.contrib.admin.helpers import ActionForm
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.template import Context, Template
from django.urls import reverse

from articles.admin import DeskActionForm
from articles.models import Author
from tests.factories import make_article, make_author, make_section, make_staff

pytestmark = pytest.mark.django_db

LIST_URL = reverse("admin:articles_article_changelist")
DJANGO_TEMPLATES = Path(django.contrib.admin.__file__).parent / "templates"


def tidy(html):
    return re.sub(r"\s*(<[^>]+>)\s*", r"\1", str(html)).strip()


@pytest.fixture
def editor_client(client):
    client.force_login(make_staff("editor", "Editor"))
    return client


@pytest.mark.parametrize(
    "query",
    ["", "?status=draft&is_featured__exact=1", "?section={section}", "?q=story"],
)
def test_desk_filters_are_djangos_filters(editor_client, query):
    """Each filter of the sidebar, and the page, as Django draws them:
    choices, the chosen one, links keeping the other filters, names escaped."""
    from django.contrib.admin.templatetags.admin_list import admin_list_filter

    from articles.templatetags.desk import desk_list_filter

    section = make_section(name="City & <Region>")
    make_section(name="Sport")
    make_article(section=section, headline="A story")
    desk = make_author(name="Desk <writer>")
    desk.user = make_staff("writer", "Reporter")
    desk.save()
    url = LIST_URL + query.replace("{section}", f"{section.pk}")
    url = url.replace("?section=", "?section__id__exact=")
    # Remembered per content version and filters: again, after another
    # page's, and again.
    for shown in (url, url, LIST_URL, url):
        response = editor_client.get(shown)
        cl = response.context["cl"]
        specs = [spec for spec in cl.filter_specs if spec.has_output()]
        assert len(specs) == 4  # status, section, featured, author
        page = response.content.decode()
        for spec in specs:
            djangos = admin_list_filter(cl, spec)
            assert tidy(desk_list_filter(cl, spec)) == tidy(djangos)
            assert tidy(djangos) in tidy(page)
    assert "City &amp; &lt;Region&gt;" in page
    assert "Desk &lt;writer&gt;" in page


@pytest.mark.parametrize("order", ["", "?o=3", "?o=-6.2.1"])
def test_the_result_table_is_djangos(editor_client, order):
    """Headers with their sorting links (and priorities when sorted by
    several columns) and the rows, as Django's template draws them."""
    from articles.templatetags.desk import _results_table, desk_result_list

    make_article(headline="One <i>story</i>", authors=[make_author(name="Zoë")])
    make_article(headline="Another", status="draft")
    response = editor_client.get(LIST_URL + order)
    context = desk_result_list(response.context["cl"])
    source = (DJANGO_TEMPLATES / "admin" / "change_list_results.html").read_text()
    djangos = Template(source).render(Context(context))

    assert tidy(_results_table(context)) == tidy(djangos)
    assert tidy(djangos) in tidy(response.content.decode())
    assert ("sortpriority" in djangos) == (order == "?o=-6.2.1")


def test_a_filter_template_overridden_by_the_project_is_used():
    """Django's templates are written out only where the project has not
    replaced them: the project's own app_list.html is the desk's."""
    from articles.templatetags.desk import _djangos_own

    assert _djangos_own("admin/filter.html")
    assert not _djangos_own("admin/app_list.html")


def app_list_context(response, apps, show_changelinks):
    """What admin/app_list.html is given on ``response``'s page."""
    return {
        "app_list": response.context[apps],
        "show_changelinks": show_changelinks,
        "request": response.wsgi_request,
    }


def djangos_app_list(context):
    source = (DJANGO_TEMPLATES / "admin" / "app_list.html").read_text()
    return Template(source).render(Context(context))


def test_the_model_lists_are_djangos(editor_client):
    """The index's list of models, with its add and change links, and the
    sidebar's, with the current model marked, are Django's."""
    from articles.templatetags.desk import desk_app_list

    index = editor_client.get(reverse("admin:index"))
    context = app_list_context(index, "app_list", show_changelinks=True)
    assert "addlink" in djangos_app_list(context)
    assert tidy(desk_app_list(context)) == tidy(djangos_app_list(context))
    assert tidy(djangos_app_list(context)) in tidy(index.content.decode())

    changelist = editor_client.get(LIST_URL)
    context = app_list_context(changelist, "available_apps", show_changelinks=False)
    assert 'aria-current="page"' in djangos_app_list(context)
    assert tidy(desk_app_list(context)) == tidy(djangos_app_list(context))
    assert tidy(djangos_app_list(context)) in tidy(changelist.content.decode())


def test_a_model_one_may_only_view_has_a_view_link(client):
    from articles.templatetags.desk import desk_app_list

    user = get_user_model().objects.create_user("viewer", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(codename="view_author"),
        Permission.objects.get(codename="add_section"),
    )
    client.force_login(user)
    Author.objects.create(name="A <b>writer</b>", slug="a-writer")

    index = client.get(reverse("admin:index"))
    context = app_list_context(index, "app_list", show_changelinks=True)
    assert "viewlink" in djangos_app_list(context)
    assert tidy(desk_app_list(context)) == tidy(djangos_app_list(context))
    context["app_list"] = []
    assert "permission" in djangos_app_list(context)
    assert tidy(desk_app_list(context)) == tidy(djangos_app_list(context))


def test_the_action_form_is_djangos():
    choices = [("", "---------"), ("publish_selected", "Publish <now>")]
    djangos, desks = ActionForm(auto_id=None), DeskActionForm(auto_id=None)
    for form in (djangos, desks):
        form.fields["action"].choices = choices
    assert tidy(desks["action"]) == tidy(djangos["action"])
    assert "Publish &lt;now&gt;" in str(desks["action"])
    assert tidy(desks["select_across"]) == tidy(djangos["select_across"])


def test_the_status_column_names_each_status_as_the_model_does():
    from django.contrib import admin

    from articles.models import Article

    model_admin = admin.site.get_model_admin(Article)
    for status in [*Article.Status.values, "retired"]:
        article = Article(status=status)
        assert model_admin.status_label(article) == article.get_status_display()


def test_the_desk_scripts_are_djangos_with_each_page_its_own_nonce(editor_client):
    """The scripts' tags are written once per process; each page's carry
    that page's nonce, never another's."""
    from django.utils import csp

    from articles.templatetags.desk import desk_scripts

    response = editor_client.get(LIST_URL)
    media = response.context["media"]["js"]
    for context in ({"csp_nonce": "n0nce"}, {}):
        assert desk_scripts(context, media) == csp.nonce_attr(context, media)
    assert 'nonce="n0nce"' in desk_scripts({"csp_nonce": "n0nce"}, media)

    pages = [editor_client.get(LIST_URL).content.decode() for _ in range(2)]
    nonces = [set(re.findall(r'<script[^>]* nonce="([^"]+)"', page)) for page in pages]
    assert all(len(page_nonces) == 1 for page_nonces in nonces)
    assert nonces[0] != nonces[1]
    assert all(page.count("vendor/jquery/jquery") == 1 for page in pages)
