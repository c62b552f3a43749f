"""The newsdesk: stories, authors, sections and photos in the Django admin.

Reporters write and submit for review; only editors (the
``articles.publish_article`` permission) publish, schedule, unpublish, feature
or change a published story. That rule is enforced here on the server — in
the form, in ``save_model``, in ``has_change_permission`` and in the bulk
actions — not only by hiding fields.
"""

import html

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME, ActionForm
from django.contrib.admin.utils import quote
from django.contrib.admin.views.main import ChangeList
from django.contrib.postgres.expressions import ArraySubquery
from django.contrib.postgres.search import SearchQuery
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, Min, OuterRef
from django.forms.renderers import Jinja2
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.text import Truncator, capfirst
from django.utils.translation import gettext as _
from reversion.admin import VersionAdmin
from taggit.admin import TagAdmin as TaggitTagAdmin
from taggit.forms import MergeTagsForm
from taggit.models import Tag, TaggedItem
from taggit.utils import parse_tags

from articles import images, services
from articles.caching import content_changed, for_content_version
from articles.forms import PhotoForm
from articles.models import (
    SEARCH_CONFIG,
    Article,
    ArticleRedirect,
    Author,
    Byline,
    Correction,
    Photo,
    Section,
)
from articles.paginators import EstimatedCountPaginator
from newsroom.admin import AutocompleteFieldsMixin, AutocompleteSelectMultiple

# Room left in a tag's slug for the suffix taggit adds when another tag
# has the same slug ("_1", up to "_999").
TAG_SLUG_SUFFIX_ROOM = 4


class ArticleAdminForm(forms.ModelForm):
    """The story form. ``can_publish`` is set per request by ``get_form``."""

    can_publish = False

    existing_tags = forms.ModelMultipleChoiceField(
        label="Tags",
        queryset=Tag.objects.all(),
        required=False,
        widget=AutocompleteSelectMultiple(Article._meta.get_field("tags"), admin.site),
    )
    new_tags = forms.CharField(
        label="New tags",
        required=False,
        help_text="Tags not used before, separated by commas.",
    )

    class Meta:
        model = Article
        # Tags are edited through existing_tags and new_tags instead.
        fields = [
            "headline",
            "slug",
            "dek",
            "body",
            "section",
            "lead_photo",
            "status",
            "publish_at",
            "is_featured",
            "related",
            "updated_at",
            "seo_title",
            "seo_description",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["existing_tags"].initial = list(self.instance.tags.all())
        if not self.can_publish and "status" in self.fields:
            self.fields["status"].choices = [
                (value, label)
                for value, label in Article.Status.choices
                if value != Article.Status.PUBLISHED
            ]

    def clean(self):
        cleaned = super().clean()
        status = cleaned.get("status")
        if status == Article.Status.PUBLISHED and not self.can_publish:
            raise forms.ValidationError("Only editors can publish a story.")
        slug = cleaned.get("slug")
        if status == Article.Status.PUBLISHED and slug:
            self._check_slug_free_for_date(slug, cleaned.get("publish_at"))
        return cleaned

    def clean_new_tags(self):
        """Each new tag becomes a page at /tag/<its slug>/: it needs a letter
        or a digit to have a slug, and must fit taggit's columns.

        Names that slugify alike ("Rivers & lakes", "Rivers, lakes") share
        a slug, so taggit adds "_1", "_2"... to the newer one's: the slug
        must leave room for that suffix in its column.
        """
        value = self.cleaned_data["new_tags"]
        limit = Tag._meta.get_field("name").max_length
        slug_limit = Tag._meta.get_field("slug").max_length - TAG_SLUG_SUFFIX_ROOM
        for name in parse_tags(value):
            if len(name) > limit:
                raise forms.ValidationError(
                    f"A tag can be at most {limit} characters long "
                    f"(this one has {len(name)})."
                )
            slug = Tag().slugify(name)
            if not slug:
                raise forms.ValidationError(
                    f"“{name}” cannot be a tag: it needs a letter or a digit."
                )
            if len(slug) > slug_limit:
                raise forms.ValidationError(
                    f"“{Truncator(name).chars(40)}” is too long for a tag: its "
                    f"address can have at most {slug_limit} letters, digits "
                    f"and hyphens (this one would have {len(slug)})."
                )
        return value

    def _check_slug_free_for_date(self, slug, publish_at):
        first = self.instance.first_published_at
        now = timezone.now()
        when = first if first and first <= now else (publish_at or now)
        url_date = timezone.localdate(when)
        clash = Article.objects.filter(url_date=url_date, slug=slug).exclude(
            pk=self.instance.pk
        )
        if clash.exists():
            self.add_error(
                "slug",
                f"Another story dated {url_date:%d %B %Y} already uses this slug.",
            )

    def _save_m2m(self):
        super()._save_m2m()
        tags = list(self.cleaned_data.get("existing_tags") or [])
        tags += parse_tags(self.cleaned_data.get("new_tags") or "")
        self.instance.tags.set(tags)


class BylineInline(AutocompleteFieldsMixin, admin.TabularInline):
    model = Byline
    extra = 0
    min_num = 1
    autocomplete_fields = ["author"]
    fields = ["position", "author", "role"]
    ordering = ["position"]


class CorrectionInline(admin.StackedInline):
    model = Correction
    extra = 0
    fields = [("date", "kind"), "text"]


class AuthorFilter(admin.SimpleListFilter):
    """Stories by a desk writer (authors with a login).

    Listing every contributor would put thousands of links on every page of
    the desk; a contributor's stories are one click away from their author
    page in the admin (``?author=<id>`` works for anyone).
    """

    title = "author"
    parameter_name = "author"

    def lookups(self, request, model_admin):
        desk = for_content_version("desk-writers", lambda: self._writers())
        selected = self.value()
        if not _is_id(selected) or any(pk == selected for pk, _ in desk):
            return desk
        # Someone else's stories, reached from their page: listed with them.
        return self._writers(Author.objects.filter(pk=selected))

    @staticmethod
    def _writers(also=None):
        authors = Author.objects.filter(user__isnull=False)
        if also is not None:
            authors = authors | also
        return [
            (str(pk), name)
            for pk, name in authors.order_by("name").values_list("pk", "name")
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if _is_id(value):
            return queryset.by_author(value)
        return queryset


class SectionFilter(admin.RelatedFieldListFilter):
    """Django's filter by section, its sections read once per content
    version."""

    def field_choices(self, field, request, model_admin):
        return for_content_version(
            "desk-sections",
            lambda: super(SectionFilter, self).field_choices(
                field, request, model_admin
            ),
        )


class TagFilter(admin.SimpleListFilter):
    """Stories with a tag, reached from the tag's "Stories" link.

    Only the chosen tag is listed: a newsroom has thousands of tags, which
    the story form's tag search reaches instead.
    """

    title = "tag"
    parameter_name = "tag"

    def lookups(self, request, model_admin):
        selected = self.value()
        if not _is_id(selected):
            return []
        # Listed even when no tag has that id: Django applies only the
        # filters it shows, and the desk would list every story instead.
        tag = Tag.objects.filter(pk=selected).first()
        return [(selected, tag.name if tag else "Unknown tag")]

    def queryset(self, request, queryset):
        value = self.value()
        if _is_id(value):
            return queryset.tagged(value)
        return queryset


def _is_id(value):
    # isdigit() alone accepts digits int() refuses, such as "²".
    return bool(value) and value.isascii() and value.isdigit()


class StatusFilter(admin.SimpleListFilter):
    """Status, with "scheduled" and "live" told apart."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [
            ("draft", "Draft"),
            ("in_review", "In review"),
            ("scheduled", "Scheduled"),
            ("live", "Published (live)"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        match self.value():
            case "draft" | "in_review":
                return queryset.filter(status=self.value())
            case "scheduled":
                return queryset.filter(
                    status=Article.Status.PUBLISHED, publish_at__gt=now
                )
            case "live":
                return queryset.published()
        return queryset


class DeskChangeList(ChangeList):
    """The desk's list: each row's link from one ``reverse()`` per page."""

    _PLACEHOLDER = "0"

    def url_for_result(self, result):
        if not hasattr(self, "_change_url"):
            opts = self.opts
            url = reverse(
                f"admin:{opts.app_label}_{opts.model_name}_change",
                args=(self._PLACEHOLDER,),
                current_app=self.model_admin.admin_site.name,
            )
            head, _, tail = url.rpartition(f"/{self._PLACEHOLDER}/")
            self._change_url = (f"{head}/", f"/{tail}")
        head, tail = self._change_url
        return f"{head}{quote(getattr(result, self.pk_attname))}{tail}"


class DeskActionForm(ActionForm):
    """Django's action form, drawn with Django's Jinja2 widget templates.

    Django keeps its Jinja2 widget templates writing the same HTML as its
    Django ones; the Django template engine took 2 ms of each desk page
    to draw this one select of four actions.
    """

    default_renderer = Jinja2()  # one instance: it keeps its template engine


@admin.register(Article)
class ArticleAdmin(AutocompleteFieldsMixin, VersionAdmin):
    form = ArticleAdminForm
    list_display = [
        "headline",
        "section",
        "byline_names",
        "status_label",
        "publish_at",
        "is_featured",
        "updated_at",
    ]
    list_filter = [
        StatusFilter,
        ("section", SectionFilter),
        "is_featured",
        AuthorFilter,
        TagFilter,
    ]
    list_select_related = ["section"]
    date_hierarchy = "publish_at"
    # django-reversion's list, with a cheaper date drill-down (templatetags/desk.py)
    change_list_template = "admin/articles/article/change_list.html"
    search_fields = ["headline"]  # replaced by full-text search below
    search_help_text = (
        'Searches headline, standfirst and body. Use "quotes" for phrases and '
        "-word to exclude."
    )
    autocomplete_fields = ["section", "lead_photo", "related"]
    prepopulated_fields = {"slug": ["headline"]}
    inlines = [BylineInline, CorrectionInline]
    actions = ["publish_selected", "unpublish_selected", "feature_selected"]
    action_form = DeskActionForm
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    history_latest_first = True
    readonly_fields = ["preview_link", "first_published_at"]
    fieldsets = [
        (None, {"fields": ["headline", "slug", "dek", "body"]}),
        ("Filing", {"fields": ["section", "existing_tags", "new_tags", "lead_photo"]}),
        (
            "Publishing",
            {
                "fields": [
                    "status",
                    "publish_at",
                    "is_featured",
                    "first_published_at",
                    "preview_link",
                ]
            },
        ),
        ("Related stories", {"fields": ["related"]}),
        (
            "Advanced",
            {
                "classes": ["collapse"],
                "fields": ["updated_at", "seo_title", "seo_description"],
            },
        ),
    ]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith(
            "_changelist"
        ):
            # The list shows neither the body nor the search vector, and of
            # the bylines only their names, in order: an array in each row,
            # not a prefetch of Byline and Author instances.
            names = (
                Byline.objects.filter(article=OuterRef("pk"))
                .order_by("position", "pk")
                .values("author__name")
            )
            queryset = queryset.defer("body", "search_vector").annotate(
                byline_name_list=ArraySubquery(names)
            )
        return queryset

    def get_changelist(self, request, **kwargs):
        return DeskChangeList

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.can_publish = services.can_publish(request.user)
        return form

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not services.can_publish(request.user):
            readonly += ["publish_at", "is_featured", "updated_at"]
        return readonly

    def has_change_permission(self, request, obj=None):
        if not super().has_change_permission(request, obj):
            return False
        # A published (or scheduled) story is the editors' alone.
        if obj is not None and obj.status == Article.Status.PUBLISHED:
            return services.can_publish(request.user)
        return True

    def has_publish_permission(self, request):
        return services.can_publish(request.user)

    def save_model(self, request, obj, form, change):
        if not services.can_publish(request.user):
            was_published = (
                change
                and Article.objects.filter(
                    pk=obj.pk, status=Article.Status.PUBLISHED
                ).exists()
            )
            if obj.status == Article.Status.PUBLISHED or was_published:
                raise PermissionDenied("Only editors can publish a story.")
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        article = form.instance
        latest = max((c.date for c in article.corrections.all()), default=None)
        if latest:
            services.bump_updated_at(article, latest)

    def view_on_site(self, obj):
        return obj.get_absolute_url() if obj.is_live else None

    def desk_row(self, obj):
        """Everything a row of the desk's list shows: each row's HTML is
        remembered by it (``desk_results()`` in templatetags/desk.py).

        A column added to ``list_display`` must add what it shows here, and
        its name to ``desk_row.columns``; until then the rows are not
        remembered.
        """
        names = getattr(obj, "byline_name_list", None)
        if names is None:
            return None
        return (
            obj.pk,
            obj.headline,  # also the checkbox's label
            obj.section_id,
            obj.section.name,
            tuple(names),
            obj.status,
            obj.is_scheduled,  # changes as time passes
            obj.publish_at,
            obj.is_featured,
            obj.updated_at,
        )

    desk_row.columns = (
        "headline",
        "section",
        "byline_names",
        "status_label",
        "publish_at",
        "is_featured",
        "updated_at",
    )

    @admin.display(description="Bylines")
    def byline_names(self, obj):
        names = getattr(obj, "byline_name_list", None)
        if names is None:
            names = [byline.author.name for byline in obj.ordered_bylines]
        return ", ".join(names)

    def action_checkbox(self, obj):
        """Django's row checkbox, written out.

        Django renders a ``CheckboxInput`` through the form templates for
        every row, which took a third of the desk's time for 50 rows; this is
        the same element (``tests/articles/test_admin_queries.py`` compares
        them).
        """
        # format_html(), written out, and the standard library's escape()
        # for Django's (which looks through its arguments for lazy strings):
        # they cost more than the rest of the cell.
        label = _("Select this object for an action - {}").format(html.escape(str(obj)))
        return mark_safe(  # noqa: S308 - the label and the key are escaped
            f'<input type="checkbox" name="{ACTION_CHECKBOX_NAME}" '
            f'value="{html.escape(str(obj.pk))}" class="action-select" '
            f'aria-label="{label}">'
        )

    @admin.display(description="Status", ordering="status")
    def status_label(self, obj):
        if obj.is_scheduled:
            local = timezone.localtime(obj.publish_at)
            return f"Scheduled for {date_format(local, 'DATETIME_FORMAT')}"
        # get_status_display() builds a dictionary of the choices per call.
        try:
            return Article.Status(obj.status).label
        except ValueError:
            return obj.status  # as get_status_display() shows a stray value

    @admin.display(description="Preview")
    def preview_link(self, obj):
        if not obj.pk:
            return "Save the story to get a preview link."
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">Preview</a> '
            "(a shareable link, valid for 7 days, no login needed)",
            services.preview_url(obj),
        )

    def changelist_view(self, request, extra_context=None):
        # django-reversion wraps the list in a revision (a transaction) for
        # what a POST saves: its actions and editable columns. Showing the
        # list saves nothing, and the transaction's two round trips are left
        # out.
        if request.method in ("GET", "HEAD"):
            context = {
                "has_change_permission": self.has_change_permission(request),
                **(extra_context or {}),
            }
            return super(VersionAdmin, self).changelist_view(request, context)
        return super().changelist_view(request, extra_context)

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        # The date drill-down over a search lists the years holding matches,
        # which reads every match: most of the archive for a common word. It
        # is left out while searching, unless the editor has drilled down
        # first (then it is bounded by the year or month chosen).
        drilled = any(
            name.startswith(f"{self.date_hierarchy}__") for name in changelist.params
        )
        if changelist.query and not drilled:
            changelist.date_hierarchy = None
        return changelist

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        query = SearchQuery(search_term, search_type="websearch", config=SEARCH_CONFIG)
        return queryset.filter(search_vector=query), False

    @admin.action(description="Publish selected stories now", permissions=["publish"])
    def publish_selected(self, request, queryset):
        count = 0
        for article in queryset:
            if not article.is_live:
                services.publish(article, user=request.user, at=timezone.now())
                count += 1
        self.message_user(request, f"Published {count} stories.", messages.SUCCESS)

    @admin.action(description="Unpublish selected stories", permissions=["publish"])
    def unpublish_selected(self, request, queryset):
        count = 0
        for article in queryset.filter(status=Article.Status.PUBLISHED):
            services.unpublish(article, user=request.user)
            count += 1
        self.message_user(request, f"Unpublished {count} stories.", messages.SUCCESS)

    @admin.action(description="Feature selected stories", permissions=["publish"])
    def feature_selected(self, request, queryset):
        count = services.set_featured(queryset, user=request.user, featured=True)
        self.message_user(request, f"Featured {count} stories.", messages.SUCCESS)


@admin.register(Section)
class SectionAdmin(VersionAdmin):
    list_display = ["name", "slug", "position"]
    list_editable = ["position"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Author)
class AuthorAdmin(AutocompleteFieldsMixin, VersionAdmin):
    list_display = ["name", "job_title", "email", "user", "stories_link"]
    search_fields = ["name", "job_title"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["photo", "user"]
    list_select_related = ["user"]

    @admin.display(description="Stories")
    def stories_link(self, obj):
        return _stories_link("author", obj.pk)


def _stories_link(filter_parameter, pk):
    """A link to the desk's stories, filtered by an author or a tag."""
    url = reverse("admin:articles_article_changelist") + f"?{filter_parameter}={pk}"
    return format_html('<a href="{}">Stories</a>', url)


admin.site.unregister(Tag)


@admin.register(Tag)
class TagAdmin(TaggitTagAdmin):
    """taggit's tag admin (search, merging tags) without its inline of tagged
    items: a form for each story carrying the tag, which for a tag on
    thousands of stories took minutes to render and could not be saved
    (more fields than ``DATA_UPLOAD_MAX_NUMBER_FIELDS``). A tag links to its
    stories in the desk instead."""

    inlines = []
    list_display = ["name", "slug", "stories_link"]
    fields = ["name", "slug", "stories_link"]
    readonly_fields = ["stories_link"]

    @admin.display(description="Stories")
    def stories_link(self, obj):
        return "—" if obj.pk is None else _stories_link("tag", obj.pk)

    def merge_tags_view(self, request):
        """taggit's "Merge selected tags", in a few statements and keeping
        every story's tags.

        taggit moves the tagged items one by one (a query, a save and a
        content bump each: minutes for a popular tag), and when the tag
        merged into is one of those selected (merging "politics" into
        "Politics"), it found each of that tag's own items already tagged
        and deleted it: the stories lost the tag.
        """
        selected = request.session.get("selected_tag_ids", "").split(",")
        selected = [int(pk) for pk in selected if _is_id(pk)]
        form = MergeTagsForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            with transaction.atomic():
                target, _ = Tag.objects.get_or_create(
                    name=form.cleaned_data["new_tag_name"]
                )
                _merge_tags([pk for pk in selected if pk != target.pk], target)
                content_changed()
            self.message_user(request, "Tags have been merged", level="success")
            request.session.pop("selected_tag_ids", None)
            return redirect("..")
        context = {"form": form, "selected_tag_ids": selected}
        return render(request, "admin/taggit/merge_tags_form.html", context)

    def get_deleted_objects(self, objs, request):
        """The tags, and how many stories lose them.

        Django names every object a deletion takes with it: here each tagged
        item, through its story (a query each). For a tag on thousands of
        stories that was a page of megabytes after a minute, longer than a
        worker may take. The stories themselves stay.
        """
        tags = list(objs)
        opts = self.model._meta
        deleted = [
            format_html(
                '{}: <a href="{}">{}</a>',
                capfirst(opts.verbose_name),
                reverse(
                    f"admin:{opts.app_label}_{opts.model_name}_change",
                    args=[quote(tag.pk)],
                    current_app=self.admin_site.name,
                ),
                tag,
            )
            for tag in tags
        ]
        items = TaggedItem.objects.filter(tag__in=tags).count()
        model_count = {opts.verbose_name_plural: len(tags)}
        if items:
            model_count[TaggedItem._meta.verbose_name_plural] = items
        perms_needed = {
            opts.verbose_name
            for tag in tags
            if not self.has_delete_permission(request, tag)
        }
        return deleted, model_count, perms_needed, []


def _merge_tags(tag_ids, target):
    """Move the items of tags ``tag_ids`` to ``target``: an object that
    would then carry ``target`` twice keeps one item."""
    items = TaggedItem.objects.filter(tag_id__in=tag_ids)
    has_target = TaggedItem.objects.filter(
        tag=target,
        content_type=OuterRef("content_type"),
        object_id=OuterRef("object_id"),
    )
    items.filter(Exists(has_target)).delete()
    first_per_object = (
        items.values("content_type", "object_id")
        .annotate(first=Min("pk"))
        .values("first")
    )
    items.exclude(pk__in=first_per_object).delete()
    items.update(tag=target)


@admin.register(Photo)
class PhotoAdmin(admin.ModelAdmin):
    form = PhotoForm
    list_display = ["thumbnail", "alt_text", "credit", "uploaded_at"]
    search_fields = ["alt_text", "caption", "credit"]
    readonly_fields = ["thumbnail", "dimensions"]
    fields = [
        "image",
        "thumbnail",
        "dimensions",
        "alt_text",
        "caption",
        "credit",
        ("focal_x", "focal_y"),
    ]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.uploaded_by = request.user
        super().save_model(request, obj, form, change)
        if "image" in form.changed_data:
            images.make_renditions(obj)

    @admin.display(description="Preview")
    def thumbnail(self, obj):
        if not obj.pk or not obj.image:
            return "—"
        smallest = obj.jpeg_rendition(max_width=0)
        name = smallest["name"] if smallest else obj.image.name
        return format_html(
            '<img src="{}" alt="{}" width="160">',
            obj.image.storage.url(name),
            obj.alt_text,
        )

    @admin.display(description="Size")
    def dimensions(self, obj):
        return f"{obj.width} × {obj.height} px" if obj.pk else "—"


@admin.register(ArticleRedirect)
class ArticleRedirectAdmin(admin.ModelAdmin):
    list_display = ["old_path", "article", "created_at"]
    search_fields = ["old_path"]
    raw_id_fields = ["article"]
