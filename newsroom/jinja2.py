"""The Jinja2 environment of the public site (``templates/jinja2/``).

The reader's and subscriber's pages are Jinja2 templates: a story list
renders dozens of cards, and Jinja2 compiles templates to Python code, which
renders the front page's cards several times faster than the Django template
language (measured in bench/README.md). The admin, the emails, the sitemaps
and robots.txt stay on the Django template language (``templates/``).

What the Django language offers the pages and Jinja2 does not is here:
``url()``, ``slug_url()`` (``url()`` for a view taking one slug, faster),
``static()``, ``now()``, ``picture_context()``, ``social_image()``,
``article_json_ld()``, and the filters ``absolute``, ``date``,
``urlencode``, ``truncatechars``, ``linebreaks``, ``linebreaksbr`` and
``pluralize`` with Django's meaning. Method calls take parentheses
(``article.get_absolute_url()``). A missing variable renders as nothing, as
in the Django language. Two filters of the site's own show what every card
shows: ``byline`` (the names under a headline) and ``time_element`` (a date
as a ``<time>`` element); four more let a list render each card, and a page
each photo, once per process (``card_key``, ``picture_key``, ``remembered``,
``remember``). They are filters rather than functions because Jinja2 calls
a filter directly and a function through the context's ``call()``: on the
front page's cards, 0.3 of 1.9 ms.
"""

import contextvars
import datetime
import functools
import unicodedata

import jinja2
from django.conf import settings
from django.core.signals import setting_changed
from django.template import defaultfilters
from django.utils import dateformat, timezone
from django.utils.dates import MONTHS
from django.utils.html import format_html
from django.utils.translation import get_language
from jinja2 import ChainableUndefined
from markupsafe import Markup, escape

from articles.caching import RecentlyUsed
from articles.loading import LoadedBylines, decode_array
from articles.models import author_path
from articles.pictures import photo_addresses_last, photo_values, picture_context
from articles.seo import article_json_ld, social_image
from newsroom.site import (
    absolute_url,
    cached_reverse,
    slug_reverse,
    static_url,
    url_context,
)

try:
    from markupsafe import _escape_inner
except ImportError:  # a MarkupSafe without it: its own escape() is used
    _escape_inner = None


def environment(**options):
    # Always escaped, whatever the settings say; a missing variable renders
    # as nothing, as in Django's template language.
    options.pop("autoescape", None)
    options["undefined"] = ChainableUndefined
    env = Environment(autoescape=True, **options)
    env.template_class = Template
    env.globals.update(
        {
            "url": url,
            "slug_url": slug_reverse,
            "static": static_url,
            "now": timezone.localtime,
            "picture_context": picture_context,
            "social_image": social_image,
            "article_json_ld": article_json_ld,
        }
    )
    env.filters.update(
        {
            "absolute": absolute_url,
            "byline": byline,
            "time_element": time_element,
            "card_key": card_key,
            "picture_key": picture_key,
            "remembered": remembered,
            "remember": remember,
            "date": date,
            "urlencode": defaultfilters.urlencode,
            "truncatechars": truncatechars,
            "linebreaks": defaultfilters.linebreaks_filter,
            "linebreaksbr": defaultfilters.linebreaksbr,
            "pluralize": defaultfilters.pluralize,
        }
    )
    return env


class Environment(jinja2.Environment):
    """Jinja2's environment, with each template's globals in a plain dict.

    Every render copies its template's globals into its context, and an
    include or import copies them again. Jinja2 keeps them in a
    ``ChainMap`` over the environment's, which copies in Python, key by
    key: 10 µs a copy against 0.7 for a dict, and ``ChainMap.__iter__`` was
    4% of a loaded story page's samples (py-spy). The ``ChainMap`` would let
    globals added to the environment later reach templates loaded before;
    ``environment()`` adds them all before any template is loaded.
    """

    def make_globals(self, d):
        return {**self.globals, **(d or {})}


# The time zone and language a render started in (see Template.render()).
_render_locale = contextvars.ContextVar("newsroom.jinja2.render_locale", default=None)


class Template(jinja2.Template):
    """A template that reads the current time zone and language once a render,
    forgets the remembered cards and photos (``remembered()``) when compiled,
    and escapes its values with ``escape_value()``.

    Django keeps both in asgiref locals, and reading them costs more than the
    rest of a remembered ``time_element``: the front page shows 53 dates, and
    reading the two for each was 4% of its instructions. ``time_element``
    and the ``date`` filter take them from the render they are part of; called
    outside one, they read them.
    """

    @classmethod
    def from_code(cls, *args, **kwargs):
        # Compiled anew: first used, or reloaded after an edit (DEBUG). A
        # card remembered from the template before would outlive it.
        _FRAGMENTS.clear()
        template = super().from_code(*args, **kwargs)
        # The compiled code escapes each {{ value }} by calling the name
        # "escape" of its module, which it imports from Jinja2 (MarkupSafe's
        # escape()); every function of a template shares that module.
        if _escape_inner is not None:
            template.root_render_func.__globals__["escape"] = escape_value
        return template

    def render(self, *args, **kwargs):
        token = _render_locale.set((timezone.get_current_timezone(), get_language()))
        try:
            return super().render(*args, **kwargs)
        finally:
            _render_locale.reset(token)


def escape_value(value, /):
    """MarkupSafe's ``escape()``, without its second call in Python.

    ``escape()`` escapes the text (in C), then makes the result ``Markup``
    by calling the class, whose ``__new__`` is Python that asks the text for
    ``__html__`` again. A story page escapes about a hundred values: 616 ns
    each through ``escape()``, 255 here, which makes the ``Markup`` directly
    (``str.__new__``, as ``Markup.__new__`` ends up doing). The result is
    the same, type and text, for any value.
    """
    if type(value) is str:
        return _new_str(Markup, _escape_inner(value))
    if hasattr(value, "__html__"):
        return _new_str(Markup, value.__html__())
    return _new_str(Markup, _escape_inner(str(value)))


_new_str = str.__new__


def _current_locale():
    """``(time zone, language)`` of the current render, or the current ones."""
    return _render_locale.get() or (timezone.get_current_timezone(), get_language())


def _in_zone(value, zone):
    """``template_localtime(value)``, in ``zone`` rather than the current one."""
    if (
        settings.USE_TZ
        and timezone.is_aware(value)
        and getattr(value, "convert_to_local_time", True)
    ):
        return timezone.localtime(value, zone)
    return value


def url(viewname, *args, **kwargs):
    """``{% url %}``: ``url("articles:tag", tag.slug)``, remembered per
    process (a page links the same few views many times)."""
    return cached_reverse(viewname, args, tuple(kwargs.items()))


def date(value, format=None):
    """Django's ``date`` filter, in the current time zone."""
    if isinstance(value, datetime.datetime):
        value = _in_zone(value, _current_locale()[0])
        if format == "c":  # ISO 8601, as Django's "c" is: the common case, fast
            return value.isoformat()
    return defaultfilters.date(value, format)


def truncatechars(value, length):
    """Django's ``truncatechars``; text already short enough is returned as it
    is (Django's filter then returns it NFC-normalized, and so does this)."""
    text = str(value)
    if (
        isinstance(length, int)
        and 0 < len(text) <= length
        and unicodedata.is_normalized("NFC", text)
    ):
        return text
    return defaultfilters.truncatechars(value, length)


def byline(bylines):
    """``<p class="byline">By A, B and C</p>``, each name linked to the
    author's page; nothing without bylines.

    A template macro would do, but every card of a list calls it, and a
    Jinja2 macro call costs more than the rest of a byline (the front page
    shows 53 of them). The same writers sign story after story, and lists
    show the same stories to every reader: each byline's markup is
    remembered per process (``_byline()``), keyed by everything it shows,
    and a listed story's (``articles.loading.LoadedBylines``) is shown from
    the JSON it was loaded from, so that its instances are never made.
    """
    if not bylines:
        return ""
    if isinstance(bylines, LoadedBylines):
        # A listed story's: read from the JSON it was loaded from, which
        # holds everything the byline shows, without making instances.
        return _loaded_byline(bylines.raw, url_context())
    authors = [line.author for line in bylines]
    return _byline(tuple([(a.name, a.slug) for a in authors]), url_context())


@functools.lru_cache(maxsize=2048)
def _loaded_byline(raw, context):
    # Keyed by the story's bylines as JSON (LoadedBylines.raw): one entry
    # per story listed lately, the markup shared with _byline().
    authors = [data["author"] for data in decode_array(raw)]
    return _byline(tuple([(a["name"], a["slug"]) for a in authors]), context)


@functools.lru_cache(maxsize=4096)
def _byline(authors, context):
    # Keyed by the names and slugs, in order, and by the script prefix and
    # URLconf the links are reversed under: a renamed writer is a new key.
    last = len(authors) - 1
    parts = []
    for index, (name, slug) in enumerate(authors):
        if index:
            parts.append(" and " if index == last else ", ")
        parts.append(f'<a href="{escape(author_path(slug))}">{escape(name)}</a>')
    return Markup(f'<p class="byline">By {"".join(parts)}</p>')  # noqa: S704 - escaped


def time_element(value, format="j F Y"):
    """``<time datetime="(ISO 8601)">(value in ``format``)</time>``, or nothing.

    ``{{ article.first_published_at|time_element }}``,
    ``{{ article.updated_at|time_element("j F Y, H:i T") }}``: the same as
    ``<time datetime="{{ value|date('c') }}">{{ value|date(format) }}</time>``
    in the current time zone and language. A list of stories shows a date on
    every card: each is formatted once per process (``_time_element()``).
    """
    if not value:
        return ""
    zone, language = _current_locale()
    if not isinstance(value, datetime.datetime):
        zone = None
    return _time_element(value, zone, format, language)


@functools.lru_cache(maxsize=4096)
def _time_element(value, zone, format, language):
    # Keyed by the instant, the current zone and the language (the element
    # differs in another zone, or with month names in another language):
    # a list shows the same stories' dates to every reader, so each is
    # converted and formatted once per process, not once per request.
    if zone is not None:
        value = _in_zone(value, zone)
    return format_html(
        '<time datetime="{}">{}</time>',
        value.isoformat(),
        format_date(value, format),
    )


def format_date(value, format):
    """``django.utils.dateformat.format(value, format)``, the same text,
    with the format read once per process (``_date_format()``).

    Django splits the format with a regular expression on every call and
    checks the time zone even when the format does not show it: 20 µs for
    a story's "j F Y, H:i T" against 4 here, and a story page formats its
    dates on every request (each story is a new instant). Formats with
    characters other than those of ``_FORMATTERS`` are Django's.
    """
    pieces = _date_format(format)
    if pieces is None or (
        type(value) is datetime.date and any(p in _TIME_FORMATTERS for p in pieces)
    ):
        return dateformat.format(value, format)
    return "".join([_FORMATTERS[p](value) if p in _FORMATTERS else p for p in pieces])


def _zone_name(value):
    # As Django's "T": the zone's name, or nothing when the zone is unknown
    # or the time is ambiguous or imaginary in it (a DST change).
    if not isinstance(value, datetime.datetime):
        return ""
    zone = value.tzinfo or timezone.get_default_timezone()
    if zone.utcoffset(value.replace(fold=not value.fold)) != zone.utcoffset(value):
        return ""
    return str(zone.tzname(value))


_FORMATTERS = {
    "j": lambda value: str(value.day),
    "d": lambda value: f"{value.day:02d}",
    "n": lambda value: str(value.month),
    "m": lambda value: f"{value.month:02d}",
    "F": lambda value: str(MONTHS[value.month]),
    "Y": lambda value: f"{value.year:04d}",
    "H": lambda value: f"{value.hour:02d}",
    "i": lambda value: f"{value.minute:02d}",
    "T": _zone_name,
}
_TIME_FORMATTERS = frozenset("HiT")


@functools.lru_cache(maxsize=64)
def _date_format(format):
    """The format's pieces, as Django's ``Formatter.format()`` splits them:
    text, with its backslashes undone, and format characters; None when a
    character is not one of ``_FORMATTERS``."""
    pieces = []
    for index, piece in enumerate(dateformat.re_formatchars.split(str(format))):
        if index % 2:
            if piece not in _FORMATTERS:
                return None
            pieces.append(piece)
        elif piece:
            # Text that is also a format character's key would be taken
            # for it: leave such a format to Django.
            if piece in _FORMATTERS:
                return None
            pieces.append(dateformat.re_escaped.sub(r"\1", piece))
    return tuple(pieces)


@jinja2.pass_context
def card_key(context, article, lead, show_photo, level):
    """What a listed story's card is remembered by, or None.

    A list's cards are most of its page's rendering (the front page shows
    53), and lists show the same stories to every reader, page after page:
    ``includes/article_card.html`` renders each card once per process and
    remembers it (``remembered``, ``remember``), by:

    - the template rendering it;
    - the row its story was loaded from (``loaded_row``, see
      ``articles.loading.load_stories()``), which holds everything a card
      shows: an edited story, section, writer or photo is a new row;
    - the card's options;
    - the script prefix and URLconf its links are reversed under;
    - the time zone and language its date is shown in.

    A template compiled anew (first used, or reloaded after an edit in
    development) forgets every card (``Template.from_code()``). None, and
    the card is rendered each time, for a story not loaded so, and for a
    card showing a photo that was not loaded with the story or whose
    addresses expire.
    """
    loaded = getattr(article, "loaded_row", None)
    if loaded is None or (show_photo and not _photo_lasts(article, loaded)):
        return None
    return (
        context.name,
        loaded[1],
        lead,
        show_photo,
        level,
        url_context(),
        _current_locale(),
    )


def _photo_lasts(article, loaded):
    # Loaded with the story (loaded[0]), and at addresses that stay. Read
    # from the key and the field: a listed story is not made for its key.
    if not loaded[0]:
        return False
    return article.lead_photo_id is None or photo_addresses_last()


@jinja2.pass_context
def picture_key(context, photo, sizes, loading, css_class):
    """What a photo's ``<picture>`` is remembered by, or None.

    ``includes/picture.html`` renders a photo once per process for each way
    a page shows it, and remembers the markup by the template rendering it,
    the photo's row as loaded with its story (``loaded_values``, see
    ``articles.loading.load_stories()``: an edited photo is a new row) and
    the macro's options. Photos are shared among stories: the next story
    with the same lead photo shows it from memory. None, and the photo is
    rendered each time, for a photo not loaded so, or whose addresses expire.
    """
    values = photo_values(photo)
    if values is None:
        return None
    return (context.name, values, sizes, loading, css_class)


def remembered(key):
    """The markup remembered for ``key`` (from ``card_key()`` or
    ``picture_key()``), or None."""
    return None if key is None else _FRAGMENTS.get(key)


def remember(markup, key):
    """Remember ``markup`` for ``key`` (from ``card_key()`` or
    ``picture_key()``); ``markup``."""
    if key is not None:
        _FRAGMENTS.put(key, markup)
    return markup


# The cards of the lists read lately (a front page, a hundred archive pages)
# and the photos of the pages: 3.3 MB for 2,048 cards on the bench data, keys
# (the rows) included; a photo's takes about as much.
_FRAGMENTS = RecentlyUsed(4096, weigh=lambda markup: 1)


def _forget_fragments(**kwargs):
    # A photo's markup depends on the storage settings (tests change them).
    _FRAGMENTS.clear()


setting_changed.connect(_forget_fragments)
