"""Content for the scale test, made by the app's own code.

Run by the scale test as ``manage.py shell -c`` against the test's own
database; prints one JSON line: the URLs, ids and the editor's login.
"""

import json
import secrets
from datetime import timedelta

from django.contrib.auth.models import Group, User
from django.utils import timezone

from articles.models import Article, Author, Byline, Section
from newsletter import services as newsletter
from newsletter.models import Digest

now = timezone.now()
sections = [
    Section.objects.create(name=name, slug=name.lower(), position=position)
    for position, name in enumerate(["News", "Business", "Sport", "Culture"])
]
author = Author.objects.create(name="Sam Scale", slug="sam-scale")
published = []
for number in range(40):
    article = Article.objects.create(
        headline=f"Scale story number {number}",
        slug=f"scale-story-{number}",
        dek="A story for the scale test.",
        body="<p>" + "Words of the story. " * 80 + "</p>",
        section=sections[number % len(sections)],
        status=Article.Status.PUBLISHED,
        publish_at=now - timedelta(hours=number + 1),
        is_featured=number < 6,
    )
    Byline.objects.create(article=article, author=author)
    article.tags.add("scale", f"topic-{number % 5}")
    published.append(article)

draft = Article.objects.create(
    headline="Breaking: published through instance A",
    slug="breaking-published-through-a",
    dek="Seen on instance B within a second.",
    body="<p>Published in the admin of one web instance.</p>",
    section=sections[0],
    status=Article.Status.DRAFT,
    is_featured=True,
)
Byline.objects.create(article=draft, author=author)

password = secrets.token_urlsafe(18)
editor = User.objects.create_user(
    "scale-editor", "editor@desk.scale.example", password, is_staff=True
)
editor.groups.add(Group.objects.get(name="Editor"))

digest = Digest.objects.create(
    subject="Scale Daily: the day's stories",
    intro="Good morning.\n\nThe stories our editors picked.",
    created_by=editor,
)
newsletter.set_digest_items(digest, published[:4])

print(
    json.dumps(
        {
            "article_urls": [a.get_absolute_url() for a in published],
            "section_urls": [s.get_absolute_url() for s in sections],
            "draft_id": draft.pk,
            "draft_headline": draft.headline,
            "digest_id": digest.pk,
            "editor": {"username": editor.username, "password": password},
        }
    )
)
