"""The newsletter's emails: what they say and how they are built.

A digest is rendered once (``render_digest``), with a placeholder where each
subscriber's unsubscribe link goes; ``DigestMail`` builds the email's MIME
once per batch and fills the link and the subscriber's headers in for each
message (``digest_message`` for a single one). Every email is multipart:
plain text first, HTML (CSS inlined, table layout) as the alternative.
"""

import base64
import binascii
import email.policy
import re
import secrets
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import cache, cached_property
from urllib.parse import quote

import css_inline
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, make_msgid
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import escape
from django.utils.timezone import get_current_timezone

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


def unsubscribe_url(subscriber_id, *, token=None):
    token = token or services.unsubscribe_token(subscriber_id)
    return absolute_url(reverse("newsletter:unsubscribe", args=[token]))


def list_unsubscribe_headers(subscriber_id, url, *, token=None):
    """RFC 2369 and RFC 8058 headers: https (one-click) and mailto."""
    mailto = settings.NEWSLETTER_UNSUBSCRIBE_MAILTO
    token = token or services.unsubscribe_token(subscriber_id)
    return {
        "List-Unsubscribe": (
            f"<{url}>, <mailto:{mailto}?subject={quote('unsubscribe ' + token)}>"
        ),
        **_list_headers(),
    }


def _list_headers():
    """The list headers that are the same for every subscriber."""
    return {
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

    Returns the message and its Message-ID (stored in the ledger). To send
    the digest to many, build one ``DigestMail`` and ask it for each message.
    """
    mail = DigestMail(digest, html=html, text=text, subject_prefix=subject_prefix)
    return mail.message(to=to, subscriber_id=subscriber_id)


class DigestMail:
    """One digest's email, built once, personalised per subscriber cheaply.

    Building a message with Django's and Python's email packages takes a few
    milliseconds, longer than sending it, so it is done once: Django builds
    the message as its SMTP backend would, with a marker in place of each
    part's body and without the headers that differ per subscriber. Each
    subscriber's message is then those headers (To, Date, Message-ID, and
    List-Unsubscribe with its two links as they are, never RFC 2047-encoded)
    followed by that skeleton with each part's body in place: the rendered
    text or HTML, encoded once around the unsubscribe placeholder, with the
    subscriber's link encoded between the pieces (``_Body``). Nothing is
    replaced inside encoded text, so no encoding can cut a link apart.

    Addresses and links that the plain headers cannot carry (non-ASCII, not a
    simple ``local@domain``) get a message built the usual way. The result
    is a ``PrebuiltEmail``: an ``EmailMultiAlternatives`` with the same
    content in its attributes, whose ``message()`` is those bytes.
    """

    def __init__(self, digest, *, html, text, subject_prefix=""):
        self.digest = digest
        self.subject = subject_prefix + digest.subject
        self.html, self.text = html, text
        self.msgid_domain = site_host()
        self._skeleton, self._parts = self._build()

    def _build(self):
        """The message's bytes cut at each part's body, and the parts."""
        marker = f"digest-part-{secrets.token_hex(16)}-"
        mail = EmailMultiAlternatives(
            subject=self.subject,
            body=f"{marker}0",
            from_email=settings.DEFAULT_FROM_EMAIL,
            headers=_list_headers(),
        )
        mail.attach_alternative(f"{marker}1", "text/html")
        mime = mail.message(policy=email.policy.SMTP)
        del mime["Date"]  # per subscriber, like Message-ID
        del mime["Message-ID"]
        # A delimiter line that no encoded body can contain: base64 has no
        # "-", and quoted-printable never writes "==".
        mime.set_boundary(f"=============={secrets.token_hex(12)}==")
        parts = [_Body(self.text, str), _Body(self.html, escape)]
        for part, body in zip(mime.iter_parts(), parts, strict=True):
            part.replace_header("Content-Transfer-Encoding", body.cte)
        skeleton = []
        rest = mime.as_bytes()
        for index in range(len(parts)):
            before, found, rest = rest.partition(f"{marker}{index}\r\n".encode())
            if not found:
                raise ValueError("digest parts not where expected")
            skeleton.append(before)
        skeleton.append(rest)
        return skeleton, parts

    def message(self, *, to, subscriber_id):
        """(message, Message-ID) for one subscriber."""
        token = services.unsubscribe_token(subscriber_id)
        url = unsubscribe_url(subscriber_id, token=token)
        message_id = make_msgid(
            idstring=f"digest{self.digest.pk}", domain=self.msgid_domain
        )
        headers = {
            "Message-ID": message_id,
            **list_unsubscribe_headers(subscriber_id, url, token=token),
        }
        html, text = personalise(self.html, self.text, url)
        fields = {
            "subject": self.subject,
            "body": text,
            "from_email": settings.DEFAULT_FROM_EMAIL,
            "to": [to],
            "headers": headers,
        }
        data = self._bytes(to, url, headers)
        if data is None:  # an address or a link that needs Python's encoding
            message = EmailMultiAlternatives(**fields)
        else:
            message = PrebuiltEmail(**fields, mime_bytes=data)
        message.attach_alternative(html, "text/html")
        return message, message_id

    def _bytes(self, to, url, headers):
        if not (SIMPLE_ADDRESS.fullmatch(to) and url.isascii()):
            return None
        zone = get_current_timezone() if settings.EMAIL_USE_LOCALTIME else UTC
        own = (
            f"To: {to}\r\n"
            f"Date: {format_datetime(datetime.now(zone))}\r\n"
            f"Message-ID: {headers['Message-ID']}\r\n"
            # Folded after the comma, as RFC 2369 allows; never encoded.
            "List-Unsubscribe: "
            + headers["List-Unsubscribe"].replace(">, <", ">,\r\n <")
            + "\r\n"
        )
        if not own.isascii() or any(len(line) > MAX_LINE for line in own.split("\r\n")):
            return None
        chunks = [own.encode("ascii"), self._skeleton[0]]
        for body, after in zip(self._parts, self._skeleton[1:], strict=True):
            chunks += [body.encoded(url), after]
        return b"".join(chunks)


class _Body:
    """A part's body, encoded once for all subscribers but for their links.

    Quoted-printable (or base64 when shorter, as Python chooses). In
    quoted-printable the text around the placeholder is encoded once, in
    pieces, each ending a line (with a soft line break where the link goes
    on in the same line), so a subscriber's link is only encoded and put
    between them. Decoded, that is the rendered text with the link in place.
    """

    def __init__(self, text, escape_link):
        self.escape_link = escape_link
        self.data = _crlf_lines(text)
        *first, last = self.data.split(PLACEHOLDER_BYTES)
        pieces = [
            _quoted_printable_open(p)
            if p and not p.endswith(b"\r\n")
            else _quoted_printable(p)
            for p in first
        ] + [_quoted_printable(last)]
        if sum(map(len, pieces)) > len(_base64(self.data)):
            self.cte, self.pieces = "base64", None
        else:
            self.cte, self.pieces = "quoted-printable", pieces

    def encoded(self, url):
        link = self.escape_link(url).encode("ascii")
        if self.pieces is None:
            return _base64(self.data.replace(PLACEHOLDER_BYTES, link))
        return _quoted_printable_open(link).join(self.pieces)


# A plain ASCII addr-spec (dot-atom@domain): written into the To header as is.
SIMPLE_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*",
    re.ASCII,
)
MAX_LINE = 998  # RFC 5322 §2.1.1
PLACEHOLDER_BYTES = UNSUBSCRIBE_PLACEHOLDER.encode("ascii")


def _crlf_lines(text):
    """A body as the email package encodes it: UTF-8, CRLF after every line."""
    lines = text.encode("utf-8").splitlines()
    return b"\r\n".join(lines) + b"\r\n"


SOFT_BREAK = b"=\r\n"  # a quoted-printable line break that decodes to nothing


def _quoted_printable(data):
    """Quoted-printable, lines of at most 76 characters, CRLF line ends."""
    encoded = binascii.b2a_qp(data, istext=True)
    if b"\r\n" not in data:  # binascii ends lines as the data's first line does
        encoded = encoded.replace(b"\n", b"\r\n")
    lines = encoded.split(b"\r\n")
    if max(map(len, lines)) <= QP_LINE:
        return encoded
    # binascii writes a space or tab that ends a line as "=20" or "=09" once
    # the line is full, making it 77 long: break such lines once more.
    return b"\r\n".join(_qp_wrapped(line) for line in lines)


QP_LINE = 76  # RFC 2045 §6.7


def _qp_wrapped(line):
    """An encoded line cut into lines of at most 76, with soft line breaks."""
    out = []
    while len(line) > QP_LINE:
        cut = QP_LINE - 1  # room for the "="
        if line[cut - 1 : cut] == b"=":  # never inside an "=XX" escape
            cut -= 1
        elif line[cut - 2 : cut - 1] == b"=":
            cut -= 2
        out.append(line[:cut] + b"=")
        line = line[cut:]
    return b"\r\n".join([*out, line])


def _quoted_printable_open(data):
    """Quoted-printable of text that the next piece continues on its line.

    It ends with a soft line break, so the next piece starts an encoded line
    of its own: encoded with one more character, which is then dropped, so
    that the last line leaves room for the "=".
    """
    encoded = _quoted_printable(data + b"x")[:-1]
    return encoded if encoded.endswith(SOFT_BREAK) else encoded + SOFT_BREAK


def _base64(data):
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


class PrebuiltEmail(EmailMultiAlternatives):
    """An email whose MIME bytes were made beforehand (see ``DigestMail``).

    Its attributes hold the same subject, addresses, headers, text and HTML,
    so backends that read them (an ESP's API) send the same email; backends
    that serialize ``message()`` (SMTP, console, file, locmem) get the bytes.
    """

    def __init__(self, *args, mime_bytes, **kwargs):
        super().__init__(*args, **kwargs)
        self.mime_bytes = mime_bytes

    def message(self, *, policy=email.policy.default):
        return PrebuiltMessage(self.mime_bytes, policy)


class PrebuiltMessage:
    """What ``PrebuiltEmail.message()`` returns: the bytes as they are.

    ``as_bytes()`` uses the policy's line ends; anything else (headers,
    parts) is read from the message parsed on first use.
    """

    def __init__(self, data, policy):
        self._data = data  # CRLF line ends
        self.policy = policy

    def as_bytes(self, unixfrom=False, policy=None):
        policy = policy or self.policy
        if unixfrom:
            return self._parsed.as_bytes(unixfrom=True, policy=policy)
        if policy.linesep == "\r\n":
            return self._data
        return self._data.replace(b"\r\n", policy.linesep.encode("ascii"))

    def as_string(self, unixfrom=False, maxheaderlen=0, policy=None):
        return self.as_bytes(unixfrom, policy).decode("ascii")

    __bytes__ = as_bytes
    __str__ = as_string

    @cached_property
    def _parsed(self):
        return email.message_from_bytes(self._data, policy=self.policy)

    def __getattr__(self, name):
        if name.startswith("__") or name == "_parsed":
            raise AttributeError(name)
        return getattr(self._parsed, name)

    def __getitem__(self, name):
        return self._parsed[name]

    def __contains__(self, name):
        return name in self._parsed

    def __iter__(self):
        return iter(self._parsed)

    def __len__(self):
        return len(self._parsed)


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
