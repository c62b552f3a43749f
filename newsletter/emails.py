"""The newsletter's emails: what they say and how they are built.

A digest is rendered once (``render_digest``), with a placeholder where each
subscriber's unsubscribe link goes; ``digest_message`` fills it in. Every
email is multipart: plain text first, HTML (CSS inlined, table layout) as the
alternative.
"""

from functools import cache
from urllib.parse import quote

import css_inline
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, make_msgid
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import escape

from articles.models import Article
from newsletter import services
from newsroom.site import absolute_url, site_host

UNSUBSCRIBE_PLACEHOLDER = "__NEWSLETTER_UNSUBSCRIBE_URL__"
EMAIL_PHOTO_WIDTH = 600  # the content column's width, in CSS pixels


@cache
def _inliner():
    # Never fetch remote stylesheets; keep @media rules for small screens.
    return css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True)


def inline_css(html):
    return _inliner().inline(html)


def unsubscribe_url(subscriber_id):
    token = services.unsubscribe_token(subscriber_id)
    return absolute_url(reverse("newsletter:unsubscribe", args=[token]))


def list_unsubscribe_headers(subscriber_id, url):
    """RFC 2369 and RFC 8058 headers: https (one-click) and mailto."""
    mailto = settings.NEWSLETTER_UNSUBSCRIBE_MAILTO
    token = services.unsubscribe_token(subscriber_id)
    return {
        "List-Unsubscribe": (
            f"<{url}>, <mailto:{mailto}?subject={quote('unsubscribe ' + token)}>"
        ),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "List-Id": f"{settings.SITE_NAME} newsletter <newsletter.{site_host()}>",
    }


# Digests -------------------------------------------------------------------


def email_photo(photo):
    """The JPEG rendition to show in an email (mail clients lack WebP)."""
    if not photo:
        return None
    # The smallest one that fills the column sharply on a retina screen,
    # else the largest there is.
    chosen = photo.jpeg_rendition(min_width=2 * EMAIL_PHOTO_WIDTH)
    if chosen:
        url = photo.image.storage.url(chosen["name"])
        width, height = chosen["width"], chosen["height"]
    elif photo.image and photo.width:
        url, width, height = photo.image.url, photo.width, photo.height
    else:
        return None
    shown = min(width, EMAIL_PHOTO_WIDTH)
    return {
        "url": absolute_url(url),
        "width": shown,
        "height": round(height * shown / width) if width else None,
        "alt": photo.alt_text,
    }


def digest_stories(digest):
    """The digest's stories in order, as readers may see them now."""
    article_ids = list(
        digest.items.order_by("position", "pk").values_list("article_id", flat=True)
    )
    live = Article.objects.published().for_listing().in_bulk(article_ids)
    return [
        {
            "headline": article.headline,
            "dek": article.dek,
            "url": absolute_url(article.get_absolute_url()),
            "section": article.section.name,
            "photo": email_photo(article.lead_photo),
        }
        for article in (live.get(pk) for pk in article_ids)
        if article is not None
    ]


def digest_context(digest, *, unsubscribe_link):
    stories = digest_stories(digest)
    return {
        "digest": digest,
        "subject": digest.subject,
        "intro_paragraphs": [
            p.strip() for p in digest.intro.split("\n\n") if p.strip()
        ],
        "stories": stories,
        "preheader": stories[0]["headline"] if stories else "",
        "site_name": settings.SITE_NAME,
        "site_url": settings.SITE_URL,
        "web_url": absolute_url(digest.get_absolute_url()) if digest.pk else "",
        "archive_url": absolute_url(reverse("newsletter:archive")),
        "postal_address": settings.NEWSLETTER_POSTAL_ADDRESS,
        "unsubscribe_url": unsubscribe_link,
    }


def render_digest(digest):
    """(html, text) with a placeholder for the unsubscribe link; CSS inlined."""
    context = digest_context(digest, unsubscribe_link=UNSUBSCRIBE_PLACEHOLDER)
    html = inline_css(render_to_string("emails/digest.html", context))
    text = render_to_string("emails/digest.txt", context)
    return html, text


def personalise(html, text, url):
    return html.replace(UNSUBSCRIBE_PLACEHOLDER, escape(url)), text.replace(
        UNSUBSCRIBE_PLACEHOLDER, url
    )


def digest_message(digest, *, to, subscriber_id, html, text, subject_prefix=""):
    """The digest for one subscriber, from the HTML and text rendered once.

    Returns the message and its Message-ID (stored in the ledger).
    """
    url = unsubscribe_url(subscriber_id)
    html, text = personalise(html, text, url)
    message_id = make_msgid(idstring=f"digest{digest.pk}", domain=site_host())
    message = EmailMultiAlternatives(
        subject=subject_prefix + digest.subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers={
            "Message-ID": message_id,
            **list_unsubscribe_headers(subscriber_id, url),
        },
    )
    message.attach_alternative(html, "text/html")
    return message, message_id


# Signup ----------------------------------------------------------------------


def signup_message(subscriber, notice):
    """The confirmation email, or the "you're already subscribed" one."""
    context = {
        "site_name": settings.SITE_NAME,
        "site_url": settings.SITE_URL,
        "postal_address": settings.NEWSLETTER_POSTAL_ADDRESS,
        "signup_url": absolute_url(reverse("newsletter:signup")),
        "archive_url": absolute_url(reverse("newsletter:archive")),
    }
    headers = {}
    if notice == services.Notice.CONFIRM:
        template = "emails/confirm"
        subject = f"Confirm your subscription to {settings.SITE_NAME}"
        context["confirm_url"] = absolute_url(
            reverse("newsletter:confirm", args=[services.confirm_token(subscriber)])
        )
    else:
        template = "emails/already_subscribed"
        subject = f"You're already subscribed to {settings.SITE_NAME}"
        url = unsubscribe_url(subscriber.pk)
        context["unsubscribe_url"] = url
        headers = list_unsubscribe_headers(subscriber.pk, url)
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"{template}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[subscriber.email],
        headers=headers,
    )
    message.attach_alternative(
        inline_css(render_to_string(f"{template}.html", context)), "text/html"
    )
    return message


def preview(digest):
    """(html, text) as a subscriber receives it: what went out, once sent."""
    if digest.rendered_html:
        html, text = digest.rendered_html, digest.rendered_text
    else:
        html, text = render_digest(digest)
    return personalise(html, text, unsubscribe_url(0))
