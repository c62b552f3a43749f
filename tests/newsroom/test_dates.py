"""time_element: the <time> element readers see under every date."""

import datetime
from types import SimpleNamespace

import pytest
from django.template import Context, Template, engines
from django.utils import timezone

# What the time_element filter of the public site's templates must match: Django's
# own date filter, in the Django template language.
DATE_FILTERS = Template(
    "<time datetime=\"{{ value|date:'c' }}\">{{ value|date:fmt }}</time>"
)
NEW_YEAR_UTC = datetime.datetime(2026, 1, 1, 3, 30, tzinfo=datetime.UTC)


def render(source, **context):
    return engines["jinja2"].from_string(source).render(context)


@pytest.mark.parametrize(
    "value, fmt",
    [
        (NEW_YEAR_UTC, "j F Y"),
        (NEW_YEAR_UTC, "j F Y, H:i T"),
        (datetime.datetime(2026, 7, 4, 18, 5, 9, 123456, tzinfo=datetime.UTC), "c"),
        (datetime.date(2026, 2, 28), "j F Y"),
    ],
)
def test_same_markup_as_the_date_filter_in_the_site_time_zone(value, fmt):
    with timezone.override("America/New_York"):
        tag = render("{{ value|time_element(fmt) }}", value=value, fmt=fmt)
        filters = DATE_FILTERS.render(Context({"value": value, "fmt": fmt}))
    assert tag == filters


def test_a_time_is_shown_in_the_current_time_zone():
    """The same instant reads differently in another zone (never from a
    cache filled in the first)."""
    with timezone.override("America/New_York"):
        new_york = render("{{ value|time_element }}", value=NEW_YEAR_UTC)
    with timezone.override("UTC"):
        utc = render("{{ value|time_element }}", value=NEW_YEAR_UTC)
    assert new_york == (
        '<time datetime="2025-12-31T22:30:00-05:00">31 December 2025</time>'
    )
    assert utc == '<time datetime="2026-01-01T03:30:00+00:00">1 January 2026</time>'


def test_a_card_from_an_imported_macro_shows_the_zone_of_its_render():
    """Cards come from a macro the page imports (a module Jinja2 keeps between
    renders): the zone is the one of the render, not of an earlier one."""
    story = SimpleNamespace(
        path="/2026/01/01/story/",
        section=SimpleNamespace(path="/section/city/", name="City"),
        headline="Story",
        dek="",
        snippet="",
        ordered_bylines=[],
        first_published_at=NEW_YEAR_UTC,
        lead_photo=None,
    )
    page = '{% from "includes/article_card.html" import cards %}{{ cards(stories) }}'
    with timezone.override("America/New_York"):
        new_york = render(page, stories=[story])
    with timezone.override("UTC"):
        utc = render(page, stories=[story])
    assert '<time datetime="2025-12-31T22:30:00-05:00">31 December 2025</time>' in (
        new_york
    )
    assert '<time datetime="2026-01-01T03:30:00+00:00">1 January 2026</time>' in utc


def test_nothing_for_no_date():
    assert render("[{{ value|time_element }}]", value=None) == "[]"


@pytest.mark.parametrize(
    "value",
    [
        NEW_YEAR_UTC,
        datetime.datetime(2026, 7, 4, 18, 5, 9, 123456, tzinfo=datetime.UTC),
    ],
)
def test_the_date_filter_in_iso_8601_is_djangos(value):
    with timezone.override("America/New_York"):
        jinja = render("{{ value|date('c') }}", value=value)
        django = Template("{{ value|date:'c' }}").render(Context({"value": value}))
    assert jinja == django


@pytest.mark.parametrize(
    "value, length",
    [
        ("Short", 80),
        ("Exactly ten", 11),
        ("A sentence longer than the limit", 10),
        ("Cafe\u0301 decomposed", 80),  # Django's filter normalizes to NFC
        (12345, 3),
        ("", 5),
        ("Anything", 0),
        ("Not a length", "x"),
    ],
)
def test_truncatechars_is_djangos(value, length):
    jinja = render("{{ value|truncatechars(length) }}", value=value, length=length)
    django = Template("{{ value|truncatechars:length }}").render(
        Context({"value": value, "length": length})
    )
    assert jinja == django


@pytest.mark.parametrize("language", ["en", "fr"])
def test_dates_are_formatted_as_djangos_dateformat_formats_them(language):
    """newsroom.jinja2.format_date() reads each format once; the text must
    be Django's for any date, time zone (a DST change included), language
    and format, those it leaves to Django included."""
    import random
    import zoneinfo

    from django.utils import dateformat, translation

    from newsroom.jinja2 import format_date

    formats = ["j F Y", "j F Y, H:i T", "d/m/Y H:i", r"j \d\e F Y", "jS F Y", "D j"]
    zones = [datetime.UTC, zoneinfo.ZoneInfo("Europe/London")]
    choose = random.Random(6)
    london = zoneinfo.ZoneInfo("Europe/London")
    values = [
        datetime.datetime(2026, 10, 25, 1, 30, tzinfo=london, fold=0),  # twice
        datetime.datetime(2026, 10, 25, 1, 30, tzinfo=london, fold=1),
        datetime.datetime(2026, 3, 29, 1, 30, tzinfo=london),  # never
        datetime.datetime(999, 1, 2, 3, 4, tzinfo=datetime.UTC),
    ]
    for _ in range(300):
        moment = datetime.datetime.fromtimestamp(
            choose.uniform(0, 4e9), tz=choose.choice(zones)
        )
        values += [moment, moment.date(), moment.replace(tzinfo=None)]

    def either(format_, value, fmt):
        try:
            return format_(value, fmt)
        except TypeError:  # a time format for a date, as Django refuses it
            return TypeError

    with translation.override(language):
        for value in values:
            for fmt in formats:
                expected = either(dateformat.format, value, fmt)
                assert either(format_date, value, fmt) == expected, (value, fmt)
