"""RSS 2.0 and Atom 1.0 feeds: the whole site, and per section, author and tag.

Every feed lists the latest published stories (``Article.objects.published()``)
in a fixed number of queries, whatever the number of items. Addresses in a
feed are absolute on ``settings.SITE_URL``, never on the host a request came
in on (a proxy's or a health checker's).
"""

import datetime
import io

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.contrib.postgres.expressions import ArraySubquery
from django.contrib.syndication.views import Feed
from django.db.models import Exists, OuterRef
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.encoding import iri_to_uri
from django.utils.feedgenerator import Atom1Feed, Enclosure, Rss201rev2Feed
from django.utils.html import escape
from django.utils.text import get_text_list
from taggit.models import Tag, TaggedItem

from articles.caching import cache_public_page
from articles.models import Article, Author, Section
from newsroom.site import absolute_url, site_host

ITEMS_PER_FEED = 30


class BufferedWrite:
    """A feed generator that writes its XML into a string, then the string
    into the response: Django's writes each tag and text into the response
    (some 1,500 writes for 30 stories, a tenth of the feed's time)."""

    def write(self, outfile, encoding):
        buffer = io.StringIO()
        super().write(buffer, encoding)
        outfile.write(buffer.getvalue())


class RssFeed(BufferedWrite, Rss201rev2Feed):
    pass


class AtomFeed(BufferedWrite, Atom1Feed):
    pass


class LatestFeed(Feed):
    """The latest stories from the whole site, as RSS 2.0."""

    feed_type = RssFeed

    # The guid is a tag: URI built from the story's id, not its address,
    # which changes when an editor fixes a slug (the old address redirects).
    item_guid_is_permalink = False

    # Feed readers poll: every feed is served from the page cache, keyed by
    # the content version like the reader's pages, with ETag and CDN headers.
    @method_decorator(cache_public_page)
    def __call__(self, request, *args, **kwargs):
        return super().__call__(request, *args, **kwargs)

    def get_feed(self, obj, request):
        feed = super().get_feed(obj, request)
        # Django puts the request's host in front of the feed's own address
        # (Atom's rel="self" link); readers must see SITE_URL's.
        feed.feed["feed_url"] = iri_to_uri(absolute_url(request.path))
        return feed

    def title(self, obj):
        return settings.SITE_NAME

    def link(self, obj):
        return absolute_url(reverse("articles:home"))

    def description(self, obj):
        return f"The latest stories from {settings.SITE_NAME}."

    def author_name(self, obj):
        # Atom needs an author for entries without a byline: the publication.
        return settings.SITE_NAME

    def items(self, obj):
        # The tags' names as an array in each row: a prefetch of taggit's
        # tags builds a queryset of four joins for every story (a third of
        # the feed's time).
        names = TaggedItem.objects.filter(
            content_type=ContentType.objects.get_for_model(Article),
            object_id=OuterRef("pk"),
        ).values("tag__name")
        stories = (
            Article.objects.published()
            .for_listing()
            .annotate(tag_names=ArraySubquery(names))
        )
        return self.select(stories, obj)[:ITEMS_PER_FEED]

    def select(self, stories, obj):
        """Narrow ``stories`` to this feed's (a section's, an author's…)."""
        return stories

    def item_title(self, item):
        return item.headline

    def item_description(self, item):
        # Plain text: escaped, so that readers rendering the description as
        # HTML show "<" and "&" as typed.
        return escape(item.dek) if item.dek else None

    def item_link(self, item):
        return absolute_url(item.get_absolute_url())

    def item_guid(self, item):
        # RFC 4151: tag:host,date:specific — stable for the story's life.
        host = site_host()
        day = item.first_published_at.astimezone(datetime.UTC).date()
        return f"tag:{host},{day.isoformat()}:article:{item.pk}"

    def item_pubdate(self, item):
        return item.first_published_at

    def item_updateddate(self, item):
        return item.last_modified

    def item_author_name(self, item):
        names = [author.name for author in item.authors]
        return get_text_list(names, "and") if names else None

    def item_categories(self, item):
        return [item.section.name, *sorted(item.tag_names)]

    def item_enclosures(self, item):
        photo = item.lead_photo
        rendition = photo.jpeg_rendition() if photo else None
        if rendition is None:
            return []
        # Renditions don't record their byte size yet, and asking the storage
        # would cost a request per item on S3; RSS practice accepts "0".
        return [
            Enclosure(
                url=absolute_url(photo.image.storage.url(rendition["name"])),
                length=str(rendition.get("size", 0)),
                mime_type="image/jpeg",
            )
        ]


class AtomFeedMixin:
    feed_type = AtomFeed

    def subtitle(self, obj):
        return self.description(obj)


class LatestAtomFeed(AtomFeedMixin, LatestFeed):
    """The latest stories from the whole site, as Atom 1.0."""


class SectionFeed(LatestFeed):
    """A section's latest stories, as RSS 2.0."""

    def get_object(self, request, slug):
        return get_object_or_404(Section, slug=slug)

    def title(self, section):
        return f"{section.name} — {settings.SITE_NAME}"

    def link(self, section):
        return absolute_url(section.get_absolute_url())

    def description(self, section):
        return section.description or (
            f"The latest {section.name} stories from {settings.SITE_NAME}."
        )

    def select(self, stories, section):
        return stories.filter(section=section)


class SectionAtomFeed(AtomFeedMixin, SectionFeed):
    """A section's latest stories, as Atom 1.0."""


class AuthorFeed(LatestFeed):
    """An author's latest stories (any byline position), as RSS 2.0."""

    def get_object(self, request, slug):
        return get_object_or_404(Author, slug=slug)

    def title(self, author):
        return f"{author.name} — {settings.SITE_NAME}"

    def link(self, author):
        return absolute_url(author.get_absolute_url())

    def description(self, author):
        return f"The latest stories by {author.name} for {settings.SITE_NAME}."

    def select(self, stories, author):
        return stories.by_author(author)


class AuthorAtomFeed(AtomFeedMixin, AuthorFeed):
    """An author's latest stories, as Atom 1.0."""


class TagFeed(LatestFeed):
    """The latest stories with a tag, as RSS 2.0."""

    def get_object(self, request, slug):
        # A tag used only on unpublished stories answers 404 like an unknown
        # one: its name alone could give a scheduled story away.
        published_with_tag = Article.objects.published().filter(tags=OuterRef("pk"))
        return get_object_or_404(
            Tag.objects.filter(Exists(published_with_tag)), slug=slug
        )

    def title(self, tag):
        return f"{tag.name} — {settings.SITE_NAME}"

    def link(self, tag):
        return absolute_url(reverse("articles:tag", kwargs={"slug": tag.slug}))

    def description(self, tag):
        return f"The latest stories about {tag.name} from {settings.SITE_NAME}."

    def select(self, stories, tag):
        return stories.tagged(tag)


class TagAtomFeed(AtomFeedMixin, TagFeed):
    """The latest stories with a tag, as Atom 1.0."""
