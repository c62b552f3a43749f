"""RSS 2.0 and Atom 1.0 feeds (to be written)."""

from django.contrib.syndication.views import Feed
from django.utils.feedgenerator import Atom1Feed

from articles.models import Article


class LatestFeed(Feed):
    title = "Latest"
    link = "/"
    description = "Latest stories"

    def items(self):
        return Article.objects.published()[:20]


class LatestAtomFeed(LatestFeed):
    feed_type = Atom1Feed


SectionFeed = SectionAtomFeed = AuthorFeed = AuthorAtomFeed = LatestFeed
TagFeed = TagAtomFeed = LatestAtomFeed
