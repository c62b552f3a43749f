from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from articles import caching
from articles.models import Article, Byline
from tests.factories import make_article, make_author, make_section, make_staff

pytestmark = pytest.mark.django_db


def add_articles(count, section, authors, start=0):
    now = timezone.now()
    articles = Article.objects.bulk_create(
        Article(
            headline=f"Bulk story {i}",
            slug=f"bulk-{i}",
            section=section,
            status=Article.Status.PUBLISHED,
            publish_at=now - timedelta(minutes=i),
            first_published_at=now - timedelta(minutes=i),
            url_date=(now - timedelta(minutes=i)).date(),
        )
        for i in range(start, start + count)
    )
    Byline.objects.bulk_create(
        Byline(article=a, author=authors[i % len(authors)], position=0)
        for i, a in enumerate(articles)
    )


def count_queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_changelist_and_change_form_queries_do_not_grow_with_the_archive(
    client, monkeypatch
):
    """10 or 1,000 stories: the desk's pages run the same number of queries."""
    # The content version read once, not again when a second has passed.
    monkeypatch.setattr(caching, "VERSION_TTL", 3600)
    caching.content_version()
    client.force_login(make_staff("editor", "Editor"))
    section = make_section()
    authors = [make_author() for _ in range(3)]
    add_articles(10, section, authors)
    article = make_article(section=section, authors=authors, tags=["a", "b"])
    change = reverse("admin:articles_article_change", args=[article.pk])
    changelist = reverse("admin:articles_article_changelist")
    search = changelist + "?q=story"
    urls = (changelist, change, search)

    def after_a_change():
        # What the desk keeps per content version is read again after any
        # change; bulk_create() sends no signal to bump the version.
        caching.content_memos.clear()
        return [count_queries(client, url) for url in urls]

    small = after_a_change()
    add_articles(990, section, authors, start=10)
    large = after_a_change()
    assert small == large
    assert max(large) <= 20
    # Nothing changed: the sections and writers of the filters, the years
    # of the date drill-down and the page count's estimate are kept; the
    # rows (and the editor's session and permissions) are read again.
    with CaptureQueriesContext(connection) as again:
        client.get(changelist)
    statements = [query["sql"] for query in again.captured_queries]
    assert len(statements) < large[0]
    kept = ('FROM "articles_section"', 'FROM "articles_author"', "EXPLAIN", "MIN(")
    assert not [sql for sql in statements if any(part in sql for part in kept)]
    assert any('"articles_article"."headline"' in sql for sql in statements)


def test_desk_search_leaves_out_the_date_drill_down_until_a_date_is_chosen(client):
    """Working out which dates hold matches reads every match of the search."""
    client.force_login(make_staff("editor", "Editor"))
    story = make_article(headline="Council votes on the budget")
    make_article(headline="Tide tables")
    changelist = reverse("admin:articles_article_changelist")
    drill_down = b'class="toplinks"'

    assert drill_down in client.get(changelist).content
    searched = client.get(changelist + "?q=council")
    assert b"Council votes" in searched.content
    assert b"Tide tables" not in searched.content
    assert drill_down not in searched.content
    year = f"&publish_at__year={story.publish_at.year}"
    drilled = client.get(changelist + "?q=council" + year)
    assert b"Council votes" in drilled.content
    assert drill_down in drilled.content


def test_desk_date_drill_down_lists_the_years_and_filters_by_them(client):
    client.force_login(make_staff("editor", "Editor"))
    now = timezone.now()
    make_article(headline="Old story", publish_at=now.replace(year=now.year - 2))
    make_article(headline="New story", publish_at=now - timedelta(hours=1))
    changelist = reverse("admin:articles_article_changelist")

    page = client.get(changelist).content.decode()
    years = [str(now.year - 2), str(now.year - 1), str(now.year)]
    for year in years:
        assert f'href="?publish_at__year={year}">{year}</a>' in page
    old_year = client.get(f"{changelist}?publish_at__year={years[0]}").content
    assert b"Old story" in old_year
    assert b"New story" not in old_year


def test_desk_filters_and_years_follow_every_change(
    client, django_capture_on_commit_callbacks
):
    """The sections and writers the filters offer and the years of the date
    drill-down are kept between pages, and read again after any change."""
    client.force_login(make_staff("editor", "Editor"))
    now = timezone.now()
    make_section(name="News")
    make_article(headline="New story", publish_at=now - timedelta(hours=1))
    changelist = reverse("admin:articles_article_changelist")
    first = client.get(changelist).content.decode()
    assert "Weather" not in first
    assert "Desk Writer" not in first
    assert f"?publish_at__year={now.year - 3}" not in first

    with django_capture_on_commit_callbacks(execute=True):
        make_section(name="Weather")
    assert "Weather" in client.get(changelist).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        make_author(name="Desk Writer", user=make_staff("writer", "Reporter"))
    assert "Desk Writer" in client.get(changelist).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        make_article(headline="Old story", publish_at=now - timedelta(days=3 * 366))
    assert (
        f"?publish_at__year={now.year - 3}" in client.get(changelist).content.decode()
    )


def test_desk_page_links_search_box_and_count_follow_the_page_and_the_content(
    client, django_capture_on_commit_callbacks
):
    """The search box, the page links and the count are kept between page
    views: each page, search and order has its own, and a new story counts."""
    client.force_login(make_staff("editor", "Editor"))
    add_articles(60, make_section(), [make_author()])
    changelist = reverse("admin:articles_article_changelist")

    def page(query=""):
        return client.get(changelist + query).content.decode()

    current = '<a role="button" href="" aria-current="page">{}</a>'
    assert current.format(1) in page()
    assert current.format(2) in page("?p=2")
    assert current.format(1) in page()
    assert "60 articles" in page()
    assert 'value="story"' in page("?q=story")
    assert 'value="stories"' in page("?q=stories")
    assert 'name="o" value="-6"' in page("?q=story&o=-6")

    with django_capture_on_commit_callbacks(execute=True):
        make_article(headline="One more")
    assert "61 articles" in page()


def test_desk_rows_show_what_django_would_with_bylines_in_order(client):
    """The desk writes each row's checkbox and link itself and reads byline
    names in one query: the page is what Django's own rendering gives, the
    bylines in their order."""
    from django.contrib import admin
    from django.contrib.admin import ModelAdmin

    client.force_login(make_staff("editor", "Editor"))
    first, second = make_author(name="Zoë Second"), make_author(name="Ann First")
    article = make_article(headline="Desk <b>row</b> & co", authors=[first, second])
    html = client.get(reverse("admin:articles_article_changelist")).content.decode()
    model_admin = admin.site.get_model_admin(Article)
    checkbox = ModelAdmin.action_checkbox(model_admin, article)
    assert checkbox == model_admin.action_checkbox(article)
    assert checkbox in html
    assert 'id="action-toggle"' in html  # the select-all box above them
    change = reverse("admin:articles_article_change", args=[article.pk])
    assert f'<a href="{change}">Desk &lt;b&gt;row&lt;/b&gt; &amp; co</a>' in html
    assert '<td class="field-byline_names">Zoë Second, Ann First</td>' in html


@pytest.mark.parametrize(
    "query", ["", "?status=draft&o=-6", "?is_featured__exact=1", "?o=6", "?q=draft"]
)
def test_desk_rows_are_djangos_rows_cell_for_cell(client, query):
    """The desk builds its rows itself (articles/templatetags/desk.py); each
    cell is what Django's ``items_for_result()`` gives: links keeping the
    filters, dates, empty values, yes/no icons, scheduled stories, markup in
    a headline escaped."""
    from django.contrib.admin.templatetags.admin_list import results

    from articles.templatetags.desk import desk_results

    client.force_login(make_staff("editor", "Editor"))
    section = make_section(name="City & <Region>")
    now = timezone.now()
    make_article(
        section=section,
        headline="Live <i>story</i>",
        authors=[make_author(name="Zoë"), make_author(name="Ann")],
        is_featured=True,
    )
    make_article(section=section, headline="Soon", publish_at=now + timedelta(days=2))
    make_article(section=section, headline="Draft", status=Article.Status.DRAFT)
    make_article(
        section=section,
        headline="Featured draft",
        status=Article.Status.IN_REVIEW,
        is_featured=True,
    )

    url = reverse("admin:articles_article_changelist") + query
    response = client.get(url)
    cl = response.context["cl"]
    djangos = [list(row) for row in results(cl)]
    desks = [list(row) for row in desk_results(cl)]
    remembered = [list(row) for row in desk_results(cl)]

    assert djangos and desks == djangos
    assert remembered == djangos
    html = response.content.decode()
    # Written as Django's template writes them: the cells of a row in turn.
    assert all(f"<tr>{''.join(row)}</tr>" in html for row in djangos)
    if query:
        assert "_changelist_filters=" in desks[0][1]  # the link keeps the filters


def test_a_remembered_desk_row_changes_with_anything_it_shows(client, monkeypatch):
    """The desk remembers each row's HTML by what it shows: a change to any
    of it, by any means (here, update(), which sends no signal), or the
    time a scheduled story goes live, shows at once."""
    from articles.models import Section

    client.force_login(make_staff("editor", "Editor"))
    author = make_author(name="Ann")
    soon = timezone.now() + timedelta(hours=1)
    article = make_article(headline="Before", authors=[author], publish_at=soon)
    changelist = reverse("admin:articles_article_changelist")

    def row():
        html = client.get(changelist).content.decode()
        start = html.index(f'value="{article.pk}"')
        return html[start : html.index("</tr>", start)]

    assert "Before" in row() and "Scheduled for" in row()
    Article.objects.filter(pk=article.pk).update(headline="After")
    assert "After" in row()
    Section.objects.filter(pk=article.section_id).update(name="Renamed desk")
    assert "Renamed desk" in row()
    author.__class__.objects.filter(pk=author.pk).update(name="Bo")
    assert 'field-byline_names">Bo<' in row()
    Article.objects.filter(pk=article.pk).update(is_featured=True)
    assert 'alt="True"' in row()

    later = soon + timedelta(minutes=5)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert "Scheduled for" not in row() and "Published" in row()


def test_desk_rows_with_a_column_it_does_not_know_are_djangos(client):
    """A column through a relation (or a property, or a function) is left to
    Django: the rows are Django's own."""
    from django.contrib.admin.templatetags.admin_list import results

    from articles.templatetags.desk import desk_results

    client.force_login(make_staff("editor", "Editor"))
    make_article(headline="One")
    response = client.get(reverse("admin:articles_article_changelist"))
    cl = response.context["cl"]
    cl.list_display = [*cl.list_display, "section__name"]

    assert [list(r) for r in desk_results(cl)] == [list(r) for r in results(cl)]
    assert "field-section__name" in str(list(desk_results(cl))[0][-1])


def test_desk_counts_a_small_result_exactly(client):
    """Below ``exact_below`` the desk's count is the stories it lists."""
    client.force_login(make_staff("editor", "Editor"))
    section = make_section()
    add_articles(3, section, [make_author()])
    make_article(headline="Council votes on the budget")
    changelist = reverse("admin:articles_article_changelist")

    assert client.get(changelist).context["cl"].result_count == 4
    searched = client.get(changelist + "?q=bulk")
    assert searched.context["cl"].result_count == 3
    assert b"3 articles" in searched.content


def test_desk_estimates_a_large_result_from_its_rows_alone(client, monkeypatch):
    """A large result is not counted (no ``COUNT(*)`` of the archive per
    page): the planner estimates the rows matching the list's filters, without
    the columns the list shows (the bylines' subquery, the section's join)."""
    from articles.paginators import EstimatedCountPaginator

    monkeypatch.setattr(EstimatedCountPaginator, "exact_below", 1)
    client.force_login(make_staff("editor", "Editor"))
    add_articles(30, make_section(), [make_author()])
    changelist = reverse("admin:articles_article_changelist")

    with CaptureQueriesContext(connection) as queries:
        response = client.get(changelist + "?q=bulk")
    assert response.status_code == 200
    sql = [query["sql"] for query in queries.captured_queries]
    assert not [s for s in sql if "COUNT(" in s.upper()]
    (explain,) = [s for s in sql if s.startswith("EXPLAIN")]
    assert "search_vector" in explain  # the search is estimated
    assert "ARRAY(" not in explain.upper()
    assert "JOIN" not in explain.upper()
    assert response.context["cl"].result_count >= 1
