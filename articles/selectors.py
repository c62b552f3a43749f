"""Read-only queries that other apps may call (DESIGN §2).

Other apps never reach into the articles app's views or admin; they call a
function here, which builds on ``Article.objects.published()``.
"""

from articles.models import Article


def featured_since(when=None):
    """Featured stories published after ``when`` (all of them if None), newest first.

    Only what readers can see now: ``published()`` leaves out drafts and
    stories scheduled for later.
    """
    stories = Article.objects.published().filter(is_featured=True)
    if when is not None:
        stories = stories.filter(publish_at__gt=when)
    return stories.for_listing().order_by("-publish_at", "-pk")
