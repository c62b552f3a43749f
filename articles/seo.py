"""Metadata for search engines and social cards: absolute URLs and JSON-LD."""

import json

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.signals import setting_changed
from django.utils.safestring import mark_safe

from articles.caching import RecentlyUsed
from articles.pictures import media_url, photo_values
from newsroom.site import absolute_url, static_url


def _script_safe(text):
    """The escapes Django's json_script makes: nothing an editor types can
    close the <script> element or open a comment. With replace(): the same
    with str.translate() and a mapping, a per-character loop, took half of
    a story's JSON-LD time (89 against 45 µs)."""
    return text.replace("<", "\\u003C").replace(">", "\\u003E").replace("&", "\\u0026")


def photo_url(photo, max_width=1600):
    """The largest JPEG rendition up to ``max_width``: (url, width, height).

    Remembered per process for a photo loaded with its story (photos are
    shared among stories), by its row as loaded (``photo_values()``).
    """
    values = photo_values(photo)
    if values is None:
        return _photo_url(photo, max_width)
    key = (values, max_width)
    found = _PHOTO_URLS.get(key)
    if found is None:
        found = _photo_url(photo, max_width)
        _PHOTO_URLS.put(key, found)
    return found


def _photo_url(photo, max_width):
    jpegs = sorted(
        (r for r in photo.renditions if r["format"] == "jpeg"), key=lambda r: r["width"]
    )
    fitting = [r for r in jpegs if r["width"] <= max_width] or jpegs
    if not fitting:
        return absolute_url(photo.image.url), photo.width, photo.height
    best = fitting[-1]
    return (
        absolute_url(media_url(photo.image.storage, best["name"])),
        best["width"],
        best["height"],
    )


# Absolute addresses: forgotten when the settings they are made from change
# (tests change SITE_URL and the storages).
_PHOTO_URLS = RecentlyUsed(4096, weigh=lambda found: 1)


def _forget_photo_urls(**kwargs):
    _PHOTO_URLS.clear()


setting_changed.connect(_forget_photo_urls)


def social_image(photo):
    """Context for og:image: the photo's rendition, or None."""
    if not photo:
        return None
    url, width, height = photo_url(photo, max_width=1280)
    return {"url": url, "width": width, "height": height, "alt": photo.alt_text}


def _iso(value):
    return value.isoformat() if value else None


def article_json_ld(article):
    """JSON-LD NewsArticle and BreadcrumbList, safe inside <script>."""
    url = absolute_url(article.get_absolute_url())
    publisher = {
        "@type": "Organization",
        "name": settings.SITE_NAME,
        "url": settings.SITE_URL + "/",
        "logo": {
            "@type": "ImageObject",
            "url": absolute_url(static_url("img/logo.png")),
        },
    }
    data = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "mainEntityOfPage": url,
        "url": url,
        "headline": article.headline,
        "description": article.seo_description or article.dek,
        "datePublished": _iso(article.first_published_at),
        "dateModified": _iso(article.last_modified),
        "author": [
            {
                "@type": "Person",
                "name": byline.author.name,
                "url": absolute_url(byline.author.get_absolute_url()),
            }
            for byline in article.ordered_bylines
        ],
        "publisher": publisher,
        "articleSection": article.section.name,
        "keywords": [tag.name for tag in article.tag_list],
    }
    if article.lead_photo:
        image_url, width, height = photo_url(article.lead_photo)
        data["image"] = {
            "@type": "ImageObject",
            "url": image_url,
            "width": width,
            "height": height,
        }
    corrections = article.correction_list
    if corrections:
        data["correction"] = [
            {
                "@type": "CorrectionComment",
                "text": c.text,
                "datePublished": _iso(c.date),
            }
            for c in corrections
        ]
    breadcrumbs = {
        "@context": "https://schema.org",
        "@type": "BreadcrumbList",
        "itemListElement": [
            {
                "@type": "ListItem",
                "position": 1,
                "name": settings.SITE_NAME,
                "item": settings.SITE_URL + "/",
            },
            {
                "@type": "ListItem",
                "position": 2,
                "name": article.section.name,
                "item": absolute_url(article.section.get_absolute_url()),
            },
            {"@type": "ListItem", "position": 3, "name": article.headline, "item": url},
        ],
    }
    return mark_safe(  # noqa: S308 - JSON with <, > and & escaped
        "".join(
            '<script type="application/ld+json">'
            + _script_safe(json.dumps(block, cls=DjangoJSONEncoder))
            + "</script>"
            for block in (data, breadcrumbs)
        )
    )
