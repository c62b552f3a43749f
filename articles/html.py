"""Sanitizing story HTML.

Story bodies are the one place where editors' HTML reaches readers unescaped,
so it is cleaned to a short allowlist with nh3 on every write (see
``articles.fields.RichTextField``), not only in form validation. The allowlist
matches what the admin's rich-text editor can produce (``EDITOR_EXTENSIONS``).
"""

import nh3

ALLOWED_TAGS = {
    "p",
    "br",
    "h2",
    "h3",
    "h4",
    "strong",
    "em",
    "a",
    "ul",
    "ol",
    "li",
    "blockquote",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}

# django-prose-editor's extensions for the same allowlist.
EDITOR_EXTENSIONS = {
    "Bold": True,
    "Italic": True,
    "Heading": {"levels": [2, 3, 4]},
    "BulletList": True,
    "OrderedList": True,
    "ListItem": True,
    "Blockquote": True,
    "HardBreak": True,
    "Link": {"enableTarget": False, "protocols": sorted(ALLOWED_URL_SCHEMES)},
}


def _drop_empty(element, attribute, value):
    # The editor's link dialog always sends a title, often an empty one.
    return value or None


_cleaner = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=ALLOWED_ATTRIBUTES,
    url_schemes=ALLOWED_URL_SCHEMES,
    # Every surviving link gets rel="noopener": a story may link anywhere,
    # and the page it opens must not get a handle on ours.
    link_rel="noopener",
    strip_comments=True,
    attribute_filter=_drop_empty,
)


def clean_html(html):
    """Return ``html`` reduced to the story allowlist (idempotent)."""
    if not html:
        return ""
    cleaned = _cleaner.clean(html).strip()
    # The editor leaves an empty paragraph in an empty document.
    return "" if cleaned in {"<p></p>", "<p><br></p>"} else cleaned
