"""Building admin POSTs for the story form."""

from django.utils import timezone


def article_form_data(*, section, authors, **overrides):
    data = {
        "headline": "A story from the desk",
        "slug": "a-story-from-the-desk",
        "dek": "",
        "body": "<p>Words.</p>",
        "section": section.pk,
        "lead_photo": "",
        "status": "draft",
        "publish_at_0": "",
        "publish_at_1": "",
        "new_tags": "",
        "updated_at_0": "",
        "updated_at_1": "",
        "seo_title": "",
        "seo_description": "",
        "bylines-TOTAL_FORMS": str(len(authors)),
        "bylines-INITIAL_FORMS": "0",
        "bylines-MIN_NUM_FORMS": "1",
        "bylines-MAX_NUM_FORMS": "1000",
        "corrections-TOTAL_FORMS": "0",
        "corrections-INITIAL_FORMS": "0",
        "corrections-MIN_NUM_FORMS": "0",
        "corrections-MAX_NUM_FORMS": "1000",
    }
    for i, author in enumerate(authors):
        data[f"bylines-{i}-position"] = str(i)
        data[f"bylines-{i}-author"] = str(author.pk)
        data[f"bylines-{i}-role"] = "author"
    data.update(overrides)
    return data


def split_datetime(value):
    local = timezone.localtime(value)
    return {"publish_at_0": f"{local:%Y-%m-%d}", "publish_at_1": f"{local:%H:%M:%S}"}


def change_form_data(article, **overrides):
    """The change form as the admin would post it back, for an existing story."""
    bylines = list(article.bylines.all())
    data = article_form_data(
        section=article.section,
        authors=[],
        headline=article.headline,
        slug=article.slug,
        dek=article.dek,
        body=article.body,
        status=article.status,
    )
    if article.publish_at:
        data.update(split_datetime(article.publish_at))
    data["bylines-TOTAL_FORMS"] = str(len(bylines))
    data["bylines-INITIAL_FORMS"] = str(len(bylines))
    for i, byline in enumerate(bylines):
        data[f"bylines-{i}-id"] = str(byline.pk)
        data[f"bylines-{i}-article"] = str(article.pk)
        data[f"bylines-{i}-position"] = str(byline.position)
        data[f"bylines-{i}-author"] = str(byline.author_id)
        data[f"bylines-{i}-role"] = byline.role
    data.update(overrides)
    return data
