"""Template tags for the desk (the admin)."""

import datetime
import functools
import html
from pathlib import Path
from urllib.parse import quote

from django import template
from django.contrib.admin.templatetags.admin_list import (
    ResultList,
    _coerce_field_name,
    admin_list_filter,
    date_hierarchy,
    result_headers,
    result_hidden_fields,
    results,
)
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.templatetags.base import InclusionAdminNode
from django.contrib.admin.utils import (
    FieldIsAForeignKeyColumnName,
    _get_non_gfk_field,
    display_for_field,
    display_for_value,
)
from django.contrib.admin.views.main import ORDER_VAR, ChangeList
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db import models
from django.db.models import Max, Min
from django.db.models.constants import LOOKUP_SEP
from django.forms import Media
from django.template.loader import select_template
from django.urls import NoReverseMatch, get_script_prefix
from django.utils import csp, timezone
from django.utils.encoding import iri_to_uri
from django.utils.safestring import SafeString
from django.utils.text import capfirst
from django.utils.translation import get_language, gettext

from articles.caching import RecentlyUsed, for_content_version

register = template.Library()


@register.inclusion_tag("admin/date_hierarchy.html")
def desk_date_hierarchy(cl):
    """Django's date drill-down, with its first level read from two index ends.

    Django lists the years that hold stories with a ``DISTINCT`` over every
    story, which at 100,000 stories costs more than the rest of the page.
    Here the years run from the first story's to the last one's (a newsroom
    publishes every year; an empty year would simply list nothing), read
    once per content version for each set of filters and search (the
    desk's stories are the same for every editor). Months and days, within
    one year, are Django's own.
    """
    field_name = cl.date_hierarchy
    if any(name.startswith(f"{field_name}__") for name in cl.params):
        return date_hierarchy(cl)
    filters = {
        name: values for name, values in cl.filter_params.items() if name != ORDER_VAR
    }
    dates = for_content_version(
        ("desk-dates", cl.model._meta.label, field_name, _params_key(filters)),
        lambda: cl.queryset.aggregate(first=Min(field_name), last=Max(field_name)),
    )
    if dates["first"] is None:
        return {"show": False}
    first, last = (timezone.localtime(dates[end]) for end in ("first", "last"))
    if first.year == last.year:
        return date_hierarchy(cl)
    year_field = f"{field_name}__year"
    field = cl.model._meta.get_field(field_name)
    return {
        "show": True,
        "back": None,
        "choices": [
            {
                "link": cl.get_query_string(
                    {year_field: str(year)}, [f"{field_name}__"]
                ),
                "title": str(year),
            }
            for year in range(first.year, last.year + 1)
        ],
        "field_name": field.verbose_name,
    }


@register.tag
def desk_remembered(parser, token):
    """``{% desk_remembered cl "name" %}...{% end_desk_remembered %}``: its
    content drawn once per content version for each page of the list ``cl``
    (its filters, search, order and page number) and language.

    For the parts of the desk around its rows that show only the list and
    what the content holds (the search box and its count, the date
    drill-down, the page links): Django's inclusion tags and templates,
    2 ms a page, the same from one page view to the next. Never for a part
    showing anything of the editor's (their name, what they may do).
    """
    bits = token.split_contents()
    if len(bits) != 3:
        raise template.TemplateSyntaxError(
            f"{bits[0]} takes a changelist and a name: {token.contents!r}"
        )
    nodelist = parser.parse(("end_desk_remembered",))
    parser.delete_first_token()
    return _RememberedNode(nodelist, parser.compile_filter(bits[1]), bits[2])


class _RememberedNode(template.Node):
    def __init__(self, nodelist, changelist, name):
        self.nodelist = nodelist
        self.changelist = changelist
        self.name = name

    def render(self, context):
        cl = self.changelist.resolve(context)
        key = (
            "desk-part",
            self.name,
            cl.model._meta.label,
            _params_key(cl.params),
            cl.page_num,
            cl.is_popup,
            get_language(),
            get_script_prefix(),
        )
        return for_content_version(key, lambda: self.nodelist.render(context))


@register.simple_tag
def desk_list_filter(cl, spec):
    """Django's ``{% admin_list_filter cl spec %}``, the same HTML written here
    for a filter drawn with Django's own ``admin/filter.html``.

    The template's loop over the choices (fifty sections) took 3 ms of each
    desk page, most of it the Django template engine's. A filter with a
    template of its own, or a project overriding Django's, is drawn by its
    template. ``tests/articles/test_desk_html.py`` compares the two.
    """
    if spec.template != "admin/filter.html" or not _djangos_own(spec.template):
        return admin_list_filter(cl, spec)
    # Its choices come from the content (sections, writers) and its links
    # from the page's filters: remembered per content version, by those.
    key = (
        "desk-filter",
        cl.model._meta.label,
        type(spec).__qualname__,
        str(spec.title),
        tuple(spec.expected_parameters()),
        _params_key(cl.filter_params),
        get_language(),
    )
    return for_content_version(key, lambda: _filter_html(cl, spec))


def _params_key(params):
    return tuple(
        sorted(
            (name, tuple(values) if isinstance(values, list) else values)
            for name, values in params.items()
        )
    )


def _filter_html(cl, spec):
    title = _escape(spec.title)
    summary = gettext(" By %(filter_title)s ") % {"filter_title": title}
    choices = "".join(
        f"<li{' class="selected"' if choice['selected'] else ''}>"
        f'<a href="{_escape(iri_to_uri(choice["query_string"]))}">'
        f"{_escape(choice['display'])}</a></li>"
        for choice in spec.choices(cl)
    )
    return SafeString(
        f'<details data-filter-title="{title}" open><summary>{summary}</summary>'
        f"<ul>{choices}</ul></details>"
    )


@register.simple_tag(takes_context=True)
def desk_app_list(context):
    """Django's ``admin/app_list.html``, written here (see
    ``templates/admin/app_list.html``).

    Every admin page draws the list in its navigation sidebar, and the
    index in its body; the template's nested loops took 3 ms of each desk
    page. ``tests/articles/test_desk_html.py`` compares the two.
    """
    app_list = context.get("app_list")
    if not app_list:
        message = _escape(
            gettext("You don’t have permission to view or edit anything.")
        )
        return SafeString(f"<p>{message}</p>")
    path = quote(context["request"].path, safe="/")  # |urlencode
    show_changelinks = context.get("show_changelinks")
    headings = "".join(
        f'<th scope="col">{_escape(gettext(text))}</th>'
        for text in ("Model name", "Add link", "Change or view list link")
    )
    words = {key: _escape(gettext(key)) for key in ("Add", "Change", "View")}
    apps = []
    for app in app_list:
        label = _escape(app["app_label"])
        app_url = app["app_url"]
        current_app = " current-app" if app_url in path else ""
        rows = []
        for model in app["models"]:
            model_name = _escape(model["object_name"].lower())
            row_id = f"{label}-{model_name}"
            admin_url = model.get("admin_url")
            current = bool(admin_url) and admin_url in path
            if admin_url:
                aria = ' aria-current="page"' if current else ""
                name = (
                    f'<a href="{_escape(admin_url)}"{aria}>{_escape(model["name"])}</a>'
                )
            else:
                name = _escape(model["name"])
            cells = [f'<th scope="row" id="{row_id}">{name}</th>']
            add_url = model.get("add_url")
            if add_url:
                cells.append(
                    f'<td><a href="{_escape(add_url)}" class="addlink" '
                    f'aria-describedby="{row_id}">{words["Add"]}</a></td>'
                )
            else:
                cells.append("<td></td>")
            if admin_url and show_changelinks:
                kind, word = (
                    ("viewlink", "View")
                    if model.get("view_only")
                    else ("changelink", "Change")
                )
                cells.append(
                    f'<td><a href="{_escape(admin_url)}" class="{kind}" '
                    f'aria-describedby="{row_id}">{words[word]}</a></td>'
                )
            elif show_changelinks:
                cells.append("<td></td>")
            current_model = " current-model" if current else ""
            rows.append(
                f'<tr class="model-{model_name}{current_model}">{"".join(cells)}</tr>'
            )
        apps.append(
            f'<div class="app-{label} module{current_app}"><table><caption>'
            f'<a href="{_escape(app_url)}" class="section">{_escape(app["name"])}</a>'
            f'</caption><thead class="visually-hidden"><tr>{headings}</tr></thead>'
            f"{''.join(rows)}</table></div>"
        )
    return SafeString("".join(apps))


@register.simple_tag(takes_context=True)
def desk_scripts(context, media):
    """``{% csp_nonce_attr media %}`` for a list of scripts: the same tags,
    written once per process for each list, with the page's nonce put in.

    Each script's address is a static files look-up, and the list a merge
    of the admin's and the forms' lists: 1.7 ms of each desk page. The
    addresses do not change while the process runs.
    """
    # Media lists its files only in these (private) attributes.
    if media._css:
        return csp.nonce_attr(context, media)
    nonce = context.get(csp.CONTEXT_KEY)
    scripts = _scripts(tuple(media._js), with_nonce=nonce is not None)
    if nonce is None:
        return scripts
    return SafeString(scripts.replace(_NONCE_MARK, _escape(nonce)))


_NONCE_MARK = "desk-scripts-nonce"


@functools.lru_cache(maxsize=32)
def _scripts(scripts, *, with_nonce):
    attrs = {"nonce": _NONCE_MARK} if with_nonce else None
    return Media(js=list(scripts)).render(attrs=attrs)


@functools.cache
def _djangos_own(*template_names):
    """Whether the template of ``template_names`` found first is Django's
    admin's own (the last name), not one the project or an app put first."""
    import django.contrib.admin

    admin_templates = Path(django.contrib.admin.__file__).parent / "templates"
    found = select_template(template_names).origin.name
    return Path(found) == admin_templates / template_names[-1]


@register.tag(name="desk_result_list")
def desk_result_list_tag(parser, token):
    """``{% desk_result_list cl %}``: Django's ``{% result_list cl %}``, with
    the rows from ``desk_results()``, and the table written by
    ``_results_table()`` unless the project overrides its template."""
    return _ResultListNode(
        "desk_result_list",
        parser,
        token,
        func=desk_result_list,
        template_name="change_list_results.html",
        takes_context=False,
    )


class _ResultListNode(InclusionAdminNode):
    def render(self, context):
        opts = context["opts"]
        names = (
            f"admin/{opts.app_label.lower()}/{opts.model_name}/{self.template_name}",
            f"admin/{opts.app_label.lower()}/{self.template_name}",
            f"admin/{self.template_name}",
        )
        cl = self.args[0].resolve(context)
        if cl.formset or not _djangos_own(*names):
            return super().render(context)
        return _results_table(desk_result_list(cl))


def desk_result_list(cl):
    headers = list(result_headers(cl))
    rows = desk_results(cl)
    if not cl.formset:
        # Django's template writes a row's cells one by one, a variable node
        # each (a tenth of the page for 50 rows of 8 cells): here each row
        # arrives as one piece of HTML, the same cells joined.
        rows = (ResultList(None, [SafeString("".join(row))]) for row in rows)
    return {
        "cl": cl,
        "result_hidden_fields": list(result_hidden_fields(cl)),
        "result_headers": headers,
        "num_sorted_fields": sum(1 for h in headers if h["sortable"] and h["sorted"]),
        "results": list(rows),
    }


def _results_table(context):
    """Django's ``admin/change_list_results.html`` (without the list's
    editable rows, which the desk leaves to the template), written here.

    The template's loops over the headers and the rows took 2.3 ms of each
    desk page. ``tests/articles/test_desk_html.py`` compares the two.
    """
    parts = []
    if context["result_hidden_fields"]:
        hidden = "".join(map(str, context["result_hidden_fields"]))
        parts.append(f'<div class="hiddenfields">{hidden}</div>')
    if context["results"]:
        remove = _escape(gettext("Remove from sorting"))
        toggle = _escape(gettext("Toggle sorting"))
        several = context["num_sorted_fields"] > 1
        parts.append('<div class="results"><table id="result_list"><thead><tr>')
        for header in context["result_headers"]:
            parts.append(f'<th scope="col"{header["class_attrib"]}>')
            priority = header.get("sort_priority", 0)
            if header["sortable"] and priority > 0:
                parts.append(
                    '<div class="sortoptions"><a class="sortremove" '
                    f'href="{_escape(header["url_remove"])}" title="{remove}"></a>'
                )
                if several:
                    title = gettext("Sorting priority: %(priority_number)s") % {
                        "priority_number": priority
                    }
                    parts.append(
                        f'<span class="sortpriority" title="{_escape(title)}">'
                        f"{priority}</span>"
                    )
                direction = "ascending" if header["ascending"] else "descending"
                parts.append(
                    f'<a href="{_escape(header["url_toggle"])}" '
                    f'class="toggle {direction}" title="{toggle}"></a></div>'
                )
            text = header["text"]
            if hasattr(text, "__html__"):  # |capfirst keeps markup as markup
                text = SafeString(capfirst(text.__html__()))
            else:
                text = _escape(capfirst(text))
            if header["sortable"]:
                link = f'<a role="button" href="{_escape(header["url_primary"])}">'
                parts.append(f'<div class="text">{link}{text}</a></div>')
            else:
                parts.append(f'<div class="text"><span>{text}</span></div>')
            parts.append('<div class="clear"></div></th>')
        parts.append("</tr></thead><tbody>")
        parts.extend(f"<tr>{''.join(row)}</tr>" for row in context["results"])
        parts.append("</tbody></table></div>")
    return SafeString("".join(parts))


def desk_results(cl):
    """The rows of Django's ``results(cl)``, cell for cell, built faster.

    Django's ``items_for_result()`` works out, for every cell of every row,
    what the column is (a field, a method of the admin), its classes, its
    empty value and whether it links, and renders a yes/no icon with a
    static-files lookup each time: on a page of 50 stories, a third of the
    desk's time. Here that is worked out once per column (``_column()``),
    and each cell only reads its value and displays it with Django's own
    ``display_for_field()`` or ``display_for_value()``.
    ``tests/articles/test_admin_queries.py`` compares the rows with Django's.

    Columns that are model fields or methods of the admin are done so (the
    desk's are); with any other column (a lookup through a relation, a
    model property, a function), editable rows or in a pop-up, the rows are
    Django's.

    An admin whose ``desk_row(obj)`` returns everything a row shows (for
    the columns named in ``desk_row.columns``) has its rows remembered by
    this process, by that, the page's filters and the language and time
    zone: the desk shows the same newest stories to every editor, page
    after page, and a row changes only when what it shows does.
    """
    if cl.formset or cl.is_popup:
        yield from results(cl)
        return
    columns = []
    first = True
    for index, name in enumerate(cl.list_display):
        read = _reader(cl, name)
        if read is None:
            yield from results(cl)
            return
        link = _link_in_column(first, name, cl)
        columns.append(_column(cl, index, name, read, link=link, first=first))
        first = first and not link
    row_key = _row_key(cl)
    for result in cl.result_list:
        key = row_key(result) if row_key else None
        cells = _ROWS.get(key) if key is not None else None
        if cells is None:
            cells = tuple(cell(result) for cell in columns)
            if key is not None:
                _ROWS.put(key, cells)
        yield ResultList(None, list(cells))


def _row_key(cl):
    """``key(row)``: what a row of ``cl`` is remembered by; None when its
    admin does not say what its rows show, or shows other columns."""
    shows = getattr(cl.model_admin, "desk_row", None)
    columns = [name for name in cl.list_display if name != "action_checkbox"]
    if shows is None or columns != list(getattr(shows, "columns", ())):
        return None
    page = (
        cl.model._meta.label,
        tuple(cl.list_display),
        repr(cl.list_display_links),
        cl.preserved_filters,
        get_script_prefix(),
        get_language(),
        timezone.get_current_timezone_name(),
    )

    def key(result):
        shown = shows(result)
        return None if shown is None else (page, shown)

    return key


# The rows of the desk's lists by what they show (see desk_results()).
_ROWS = RecentlyUsed(2048, weigh=lambda cells: 1)


def _link_in_column(first, name, cl):
    # As items_for_result() decides.
    if cl.list_display_links is None:
        return False
    if first and not cl.list_display_links:
        return True
    return name in cl.list_display_links


def _reader(cl, name):
    """``lookup_field(name, row, model_admin)`` for a column whose kind does
    not depend on the row, as ``(field or None, reader)``: a model field, or
    a method of the admin. None for any other column."""
    if not isinstance(name, str) or LOOKUP_SEP in name:
        return None
    try:
        field = _get_non_gfk_field(cl.model._meta, name)
    except (FieldDoesNotExist, FieldIsAForeignKeyColumnName):
        method = getattr(cl.model_admin, name, None)
        if name == "__str__" or not callable(method):
            return None
        return None, lambda result: (method, method(result))
    return field, lambda result: (None, getattr(result, name))


def _column(cl, index, name, read, *, link, first):
    """A function rendering this column's cell for a row, as
    ``items_for_result()`` does."""
    field, read = read
    empty = cl.model_admin.get_empty_value_display()
    classes = [f"field-{_coerce_field_name(name, index)}"]
    # A model field: its kind says whether the cell wraps. Anything else
    # (a method of the admin, an automatic field): the value's type does.
    is_field = field is not None and not field.auto_created
    nowrap = (models.DateField, models.TimeField, models.ForeignKey)
    if is_field and isinstance(field, nowrap):
        classes.append("nowrap")
    if not is_field and name == "action_checkbox":
        classes = ["action-checkbox"]

    if not is_field:

        def display(value, attr):
            boolean = getattr(attr, "boolean", False)
            return display_for_value(
                value, getattr(attr, "empty_value_display", empty), boolean
            )

    elif isinstance(field.remote_field, models.ManyToOneRel):

        def display(value, attr):
            return empty if value is None else value

    elif isinstance(field, models.BooleanField):
        icons = {}  # the icon depends on the value alone

        def display(value, attr):
            if not (isinstance(value, bool) or value is None):
                return display_for_field(value, field, empty)
            if value not in icons:
                icons[value] = display_for_field(value, field, empty)
            return icons[value]

    else:

        def display(value, attr):
            return display_for_field(value, field, empty, avoid_link=link)

    row_class = " ".join(classes)
    tag = "th" if first else "td"
    with_filters = _filters_adder(cl) if link else None

    def cell(result):
        try:
            attr, value = read(result)
        except ObjectDoesNotExist:
            shown, value = empty, None
        else:
            if isinstance(value, str) and value.strip() == "":
                value = ""
            shown = display(value, attr)
        css = row_class
        if not is_field and isinstance(value, (datetime.date, datetime.time)):
            css += " nowrap"
        shown = _escape(shown)
        if not link:
            return SafeString(f'<td class="{css}">{shown}</td>')
        try:
            url = cl.url_for_result(result)
        except NoReverseMatch:
            pass
        else:
            shown = f'<a href="{_escape(with_filters(url))}">{shown}</a>'
        return SafeString(f'<{tag} class="{css}">{shown}</{tag}>')

    return cell


def _escape(value):
    """``conditional_escape(value)``, without ``keep_lazy``'s look through
    the arguments of ``escape()`` on each call (hundreds a page): a lazy
    string is escaped as its text, one that is safe has ``__html__``."""
    if hasattr(value, "__html__"):
        return value.__html__()
    return SafeString(html.escape(str(value)))


def _filters_adder(cl):
    """``add(url)``: ``add_preserved_filters()`` for the rows' links, which
    keep the list's filters and search for the way back.

    Django resolves each link to tell a link back to the list (whose
    filters are the list's own) from any other: with a search, 50 resolves,
    a sixth of the page. The rows of Django's ``ChangeList`` and of the
    desk's all link to a story's change view, so the first row's answer
    holds for every row: its query string is kept and added to the others.
    """
    from articles.admin import DeskChangeList

    preserved = {"preserved_filters": cl.preserved_filters, "opts": cl.opts}
    to_change_views = type(cl).url_for_result in (
        ChangeList.url_for_result,
        DeskChangeList.url_for_result,
    )
    suffix = None  # the first row's query string, once known

    def add(url):
        nonlocal suffix
        if not to_change_views or "?" in url or "#" in url:
            return add_preserved_filters(preserved, url)
        if suffix is None:
            with_query = add_preserved_filters(preserved, url)
            if not with_query.startswith(url):
                return with_query
            suffix = with_query[len(url) :]
        return url + suffix

    return add
