import datetime
import functools
import uuid
from pathlib import PurePosixPath

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.contrib.postgres.expressions import ArraySubquery
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models.functions import Now
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from taggit.managers import TaggableManager
from taggit.models import TaggedItem

from articles.fields import RichTextField
from newsroom.compiled import InArray
from newsroom.models import DirectLoadModel
from newsroom.site import PLAIN_SLUG, slug_reverse, url_context

SEARCH_CONFIG = "english"


def photo_upload_to(instance, filename):
    """Stored names are generated: a user's file name never reaches the disk."""
    suffix = PurePosixPath(filename).suffix.lower()
    today = timezone.localdate()
    return f"photos/{today:%Y/%m}/{uuid.uuid4().hex}{suffix}"


def article_path(url_date, slug):
    """A story's address: /yyyy/mm/dd/slug/.

    A page links dozens of stories, and ``reverse()`` costs more than the
    rest of a link's rendering: the part of the address before the date is
    reversed once per script prefix and URLconf, the rest filled in here.
    """
    prefix = _article_path_prefix(*url_context())
    if prefix is None or not PLAIN_SLUG.fullmatch(slug):
        return _reverse_article_path(url_date, slug)
    # yyyy/mm/dd from the ISO date (C), a third of formatting its parts.
    return f"{prefix}{url_date.isoformat().replace('-', '/')}/{slug}/"


_SAMPLE_DATE, _SAMPLE_SLUG = datetime.date(1111, 11, 11), "sample-slug"


@functools.lru_cache(maxsize=64)
def _article_path_prefix(script_prefix, urlconf):
    """What comes before the date in a story's address (None if the pattern
    is not the usual one, and reverse() must be asked every time)."""
    sample = _reverse_article_path(_SAMPLE_DATE, _SAMPLE_SLUG, urlconf)
    tail = f"1111/11/11/{_SAMPLE_SLUG}/"
    return sample.removesuffix(tail) if sample.endswith(tail) else None


def _reverse_article_path(url_date, slug, urlconf=None):
    return reverse(
        "articles:detail",
        kwargs={
            "year": f"{url_date.year:04d}",
            "month": f"{url_date.month:02d}",
            "day": f"{url_date.day:02d}",
            "slug": slug,
        },
        urlconf=urlconf,
    )


class Section(DirectLoadModel):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    position = models.PositiveSmallIntegerField(
        default=0, help_text="Order in the site's navigation (lowest first)."
    )

    class Meta:
        ordering = ["position", "name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return self.path

    @property
    def path(self):
        """The section's address (a property: templates read it without a
        call, which Jinja2 makes through its context)."""
        return slug_reverse("articles:section", self.slug)


class Photo(models.Model):
    image = models.ImageField(
        upload_to=photo_upload_to, width_field="width", height_field="height"
    )
    alt_text = models.CharField(
        max_length=250,
        help_text="What the photo shows, for readers who cannot see it.",
    )
    caption = models.TextField(blank=True)
    credit = models.CharField(max_length=200, blank=True)
    focal_x = models.FloatField(
        default=0.5, help_text="Horizontal focal point, 0 (left) to 1 (right)."
    )
    focal_y = models.FloatField(
        default=0.5, help_text="Vertical focal point, 0 (top) to 1 (bottom)."
    )
    width = models.PositiveIntegerField(editable=False, default=0)
    height = models.PositiveIntegerField(editable=False, default=0)
    # [{"width": 640, "height": 427, "format": "webp", "name": "photos/…"}, …]
    # kept on the row so that rendering a photo costs no extra query.
    renditions = models.JSONField(default=list, editable=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-uploaded_at"]
        get_latest_by = "uploaded_at"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(focal_x__gte=0, focal_x__lte=1)
                & models.Q(focal_y__gte=0, focal_y__lte=1),
                name="photo_focal_point_in_range",
            ),
        ]

    def __str__(self):
        return self.alt_text

    def jpeg_rendition(self, *, max_width=None, min_width=None):
        """A JPEG rendition (for feeds, emails, social cards, thumbnails).

        The widest up to ``max_width``, or the narrowest from ``min_width``;
        falling back to the nearest there is. None before renditions exist.
        """
        jpegs = sorted(
            (r for r in self.renditions or () if r.get("format") == "jpeg"),
            key=lambda r: r["width"],
        )
        if not jpegs:
            return None
        if min_width is not None:
            return next((r for r in jpegs if r["width"] >= min_width), jpegs[-1])
        if max_width is not None:
            fitting = [r for r in jpegs if r["width"] <= max_width]
            return fitting[-1] if fitting else jpegs[0]
        return jpegs[-1]


class Author(DirectLoadModel):
    name = models.CharField(max_length=150)
    slug = models.SlugField(max_length=150, unique=True)
    job_title = models.CharField(max_length=150, blank=True)
    bio = models.TextField(blank=True)
    photo = models.ForeignKey(
        Photo,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="portrait",
    )
    email = models.EmailField(blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="author",
        help_text="Only staff who log in need one; contributors don't.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return author_path(self.slug)


def author_path(slug):
    """A writer's address: /author/slug/ (bylines link it without an
    ``Author`` at hand)."""
    return slug_reverse("articles:author", slug)


class ArticleQuerySet(models.QuerySet):
    def published(self):
        """The one definition of what readers may see.

        Compared with the database's clock (``Now()``), not with a time taken
        in Python, so that a query can be compiled once and run again later
        (``newsroom.compiled``).
        """
        return self.filter(status=Article.Status.PUBLISHED, publish_at__lte=Now())

    def tagged(self, tag, content_type=None):
        """The stories with ``tag``: an ``IN`` over the tag's taggit items.

        ``filter(tags=tag)`` joins taggit's integer ``object_id``, cast to
        bigint, to the stories' key, and for a tag on thousands of stories
        PostgreSQL then hashes every published story to find its newest 20
        (about 20 ms at 100,000 stories). With ``IN`` the types are not
        cast, and the first pages of a popular tag walk the newest stories
        (about 1 ms), those of a rare one the tag's own items.
        ``content_type`` is taggit's for stories, looked up when not given.
        """
        if content_type is None:
            content_type = ContentType.objects.get_for_model(self.model)
        items = TaggedItem.objects.filter(tag=tag, content_type=content_type)
        return self.filter(pk__in=items.values("object_id"))

    def by_author(self, author):
        """The stories with a byline of ``author``.

        ``id = ANY(ARRAY(the author's article ids))``: PostgreSQL reads the
        author's bylines from their index, then looks up each story by key,
        whatever the size of the archive. With a join (``filter(bylines__
        author=author)``) it chose, for some writers, to hash every published
        story: at 100,000 stories, 9 ms for a writer with 663 (the page took
        20 ms in-process, 9 ms this way). The cost still grows with the
        writer's own stories, about 3 µs each.
        """
        ids = Byline.objects.filter(author=author).order_by().values("article_id")
        return self.filter(InArray(models.F("pk"), ArraySubquery(ids)))

    def for_listing(self):
        """What a list of stories needs, in a fixed number of queries.

        The body and the search vector are the big columns; lists use neither.
        (The reader's pages load stories through ``articles.loading``.)
        """
        return (
            self.defer("body", "search_vector")
            .select_related("section", "lead_photo")
            .prefetch_related(
                models.Prefetch(
                    "bylines", queryset=Byline.objects.select_related("author")
                )
            )
        )


class Article(DirectLoadModel):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        IN_REVIEW = "in_review", "In review"
        PUBLISHED = "published", "Published"

    headline = models.CharField(max_length=200)
    slug = models.SlugField(
        max_length=200,
        help_text="The last part of the story's address; unique for its date.",
    )
    dek = models.TextField(
        "standfirst", blank=True, help_text="One or two sentences under the headline."
    )
    body = RichTextField(blank=True)
    section = models.ForeignKey(
        Section, on_delete=models.PROTECT, related_name="articles"
    )
    tags = TaggableManager(blank=True)
    lead_photo = models.ForeignKey(
        Photo, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.DRAFT
    )
    publish_at = models.DateTimeField(
        "publish at",
        null=True,
        blank=True,
        help_text="Publication time. In the future, the story is scheduled.",
    )
    first_published_at = models.DateTimeField(null=True, blank=True, editable=False)
    url_date = models.DateField(
        null=True,
        blank=True,
        editable=False,
        help_text="The date in the story's address: its first publication, "
        "in the newsroom's time zone.",
    )
    updated_at = models.DateTimeField(
        "updated",
        null=True,
        blank=True,
        help_text="The editorial “Updated” time shown to readers.",
    )
    is_featured = models.BooleanField("featured", default=False)
    related = models.ManyToManyField(
        "self",
        symmetrical=False,
        blank=True,
        verbose_name="related stories",
        help_text="Editor's picks, shown first under the story.",
    )
    seo_title = models.CharField("SEO title", max_length=200, blank=True)
    seo_description = models.CharField("SEO description", max_length=300, blank=True)
    search_vector = models.GeneratedField(
        expression=(
            SearchVector("headline", weight="A", config=SEARCH_CONFIG)
            + SearchVector("dek", weight="B", config=SEARCH_CONFIG)
            + SearchVector(
                models.Func(
                    "body",
                    models.Value("<[^>]+>"),
                    models.Value(" "),
                    models.Value("g"),
                    function="regexp_replace",
                    output_field=models.TextField(),
                ),
                weight="C",
                config=SEARCH_CONFIG,
            )
        ),
        output_field=SearchVectorField(),
        db_persist=True,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    objects = ArticleQuerySet.as_manager()

    # Search results carry a highlighted excerpt (articles.reader.search);
    # other stories have none. A class default, so that a list's template
    # asking for it finds it (a failed lookup costs the template engine more
    # than the rest of a card).
    snippet = ""

    class Meta:
        ordering = ["-publish_at", "-pk"]
        get_latest_by = "publish_at"
        permissions = [
            ("publish_article", "Can publish, schedule and unpublish stories"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["url_date", "slug"], name="article_slug_unique_for_date"
            ),
            models.CheckConstraint(
                condition=~models.Q(status="published")
                | models.Q(publish_at__isnull=False),
                name="article_published_has_publish_at",
            ),
        ]
        indexes = [
            models.Index(
                fields=["status", "-publish_at"], name="article_status_pub_idx"
            ),
            models.Index(
                fields=["section", "-publish_at"], name="article_section_pub_idx"
            ),
            # Section archives walk this index alone, in its order (id breaks
            # ties, as in Meta.ordering), so a deep page is an index-only scan
            # with neither a heap walk nor a sort.
            models.Index(
                fields=["section", "-publish_at", "-id"],
                condition=models.Q(status="published"),
                name="article_live_section_ord_idx",
            ),
            models.Index(
                fields=["-publish_at"],
                condition=models.Q(is_featured=True),
                name="article_featured_idx",
            ),
            # The news sitemap: stories first published in the last two days.
            models.Index(
                fields=["-first_published_at"],
                condition=models.Q(status="published"),
                name="article_news_idx",
            ),
            # The desk's list and its searches, newest first: a walk of this
            # index stops after a page, where a sort would read every story.
            models.Index(fields=["-publish_at", "-id"], name="article_desk_idx"),
            GinIndex(fields=["search_vector"], name="article_search_idx"),
        ]

    def __str__(self):
        return self.headline

    def save(self, *args, **kwargs):
        self.derive_publication_dates()
        super().save(*args, **kwargs)
        # Old addresses keep working: a stored redirect is derived data,
        # like the URL date itself.
        stored = getattr(self, "_stored_address", None)
        if self.url_date:
            new_path = self.path
            stored_path = article_path(*stored) if stored else None
            if stored_path and stored_path != new_path:
                ArticleRedirect.objects.update_or_create(
                    old_path=stored_path, defaults={"article": self}
                )
            ArticleRedirect.objects.filter(old_path=new_path).delete()
            self._stored_address = (self.url_date, self.slug)

    def get_absolute_url(self):
        return self.path

    def clean(self):
        # Before constraint validation, so that it sees the stored values.
        self.derive_publication_dates()

    def derive_publication_dates(self):
        """publish_at, first_published_at and the URL date, from the status."""
        now = timezone.now()
        if self.status == self.Status.PUBLISHED:
            if self.publish_at is None:
                self.publish_at = now
            # Set once: while a scheduled story has not gone live its date
            # follows the schedule; once live it never moves.
            if self.first_published_at is None or self.first_published_at > now:
                self.first_published_at = self.publish_at
        if self.first_published_at:
            self.url_date = timezone.localdate(self.first_published_at)

    @classmethod
    def from_db(cls, db, field_names, values, *args, **kwargs):
        instance = super().from_db(db, field_names, values, *args, **kwargs)
        # Remember the stored address, so that a changed one leaves a
        # redirect (only when loaded: a deferred field would cost a query;
        # the path itself is worked out only if the story is saved).
        loaded = instance.__dict__
        if loaded.get("url_date") and "slug" in loaded:
            instance._stored_address = (instance.url_date, instance.slug)
        return instance

    @property
    def path(self):
        """The story's address; before publication, the one it would get."""
        url_date = self.url_date or timezone.localdate(
            self.publish_at or timezone.now()
        )
        # A card links its story twice or more: reverse() once per address.
        address = (url_date, self.slug)
        memo = self.__dict__.get("_path_memo")
        if memo is None or memo[0] != address:
            memo = self._path_memo = (address, article_path(*address))
        return memo[1]

    @property
    def is_live(self):
        return (
            self.status == self.Status.PUBLISHED
            and self.publish_at is not None
            and self.publish_at <= timezone.now()
        )

    @property
    def is_scheduled(self):
        return (
            self.status == self.Status.PUBLISHED
            and self.publish_at is not None
            and self.publish_at > timezone.now()
        )

    @cached_property
    def ordered_bylines(self):
        """Bylines in order, with their authors (uses a prefetch when present)."""
        return sorted(self.bylines.all(), key=lambda b: b.position)

    # articles.reader.story() loads ordered_bylines, correction_list and
    # tag_list with the story itself; otherwise they are queried when asked.

    @cached_property
    def correction_list(self):
        """Corrections and updates, oldest first."""
        return list(self.corrections.all())

    @cached_property
    def tag_list(self):
        """Tags, by name."""
        return sorted(self.tags.all(), key=lambda tag: tag.name)

    @property
    def authors(self):
        return [byline.author for byline in self.ordered_bylines]

    @property
    def last_modified(self):
        """Readers' "Updated" time, falling back to publication."""
        return max(
            filter(None, [self.updated_at, self.first_published_at]), default=None
        )


class Byline(DirectLoadModel):
    class Role(models.TextChoices):
        AUTHOR = "author", "Author"
        CONTRIBUTOR = "contributor", "Contributor"
        PHOTOGRAPHER = "photographer", "Photographer"

    article = models.ForeignKey(
        Article, on_delete=models.CASCADE, related_name="bylines"
    )
    # Indexed with the article (Meta.indexes), for an author's stories.
    author = models.ForeignKey(
        Author, on_delete=models.PROTECT, related_name="bylines", db_index=False
    )
    position = models.PositiveSmallIntegerField(default=0)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.AUTHOR)

    class Meta:
        ordering = ["position", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["article", "author"], name="byline_unique_author_per_article"
            ),
        ]
        indexes = [
            # An author's stories from the index alone (Article.objects.by_author).
            models.Index(
                fields=["author", "article"], name="byline_author_article_idx"
            ),
        ]

    def __str__(self):
        return f"{self.author} ({self.get_role_display()})"


class BylineList(models.Model):
    """A story's bylines as the one JSON text its cards show, kept by
    PostgreSQL.

    Every list of stories shows each story's bylines; building them from
    ``Byline`` and ``Author`` rows for each card cost PostgreSQL 0.9 of the
    1.2 ms of the front page's query for 48 stories. Here they are built
    once per change, by triggers on ``articles_byline`` and
    ``articles_author`` (migration ``0011``), so they hold whatever wrote the
    rows: the admin, ``bulk_create()``, ``update()``, a revision revert, a
    COPY. Django never writes this table; a story without bylines has no
    row. The text is a JSON array, in byline order, of objects with
    ``Byline``'s columns and ``author`` (the author's ``id``, ``name`` and
    ``slug``), as ``articles.loading`` reads them.
    """

    # The triggers delete a story's list with its last byline, which goes
    # before the story: Django has nothing to collect here (and the admin's
    # "are you sure?" page nothing to list).
    article = models.OneToOneField(
        Article,
        on_delete=models.DO_NOTHING,
        primary_key=True,
        related_name="byline_list",
    )
    json = models.TextField()

    def __str__(self):
        return f"bylines of story {self.article_id}"


class Correction(DirectLoadModel):
    class Kind(models.TextChoices):
        CORRECTION = "correction", "Correction"
        UPDATE = "update", "Update"
        CLARIFICATION = "clarification", "Clarification"

    article = models.ForeignKey(
        Article, on_delete=models.CASCADE, related_name="corrections"
    )
    date = models.DateTimeField(default=timezone.now)
    kind = models.CharField(
        max_length=20, choices=Kind.choices, default=Kind.CORRECTION
    )
    text = models.TextField()

    class Meta:
        ordering = ["date", "pk"]
        get_latest_by = "date"

    def __str__(self):
        return f"{self.get_kind_display()} of {self.date:%Y-%m-%d}"


class ArticleRedirect(models.Model):
    """An address a published story used to have; answers 301 to its new one."""

    old_path = models.CharField(max_length=300, unique=True)
    article = models.ForeignKey(
        Article, on_delete=models.CASCADE, related_name="redirects"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.old_path


class ContentVersion(models.Model):
    """One row: a counter bumped whenever anything readers see changes.

    Cached pages are keyed by it, so a publish shows up at once on every web
    process and machine, whatever the cache backend. ``next_publish_at`` is
    the time the next scheduled story goes live: when it passes, the first
    reader to notice bumps the counter (scheduling needs no cron here either).
    """

    version = models.PositiveBigIntegerField(default=1)
    next_publish_at = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"content version {self.version}"
