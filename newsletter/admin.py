"""The newsletter desk: digests (compose, preview, test, send, follow) and
subscribers (list, export, import, erase, chart, bounces).

Editors hold every newsletter permission (migration 0002); sending needs
``newsletter.send_digest``, checked again in the services.
"""

import csv
import dataclasses
import json
from itertools import chain

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import (
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.csp import CSP
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csp import csp_override

from articles.models import Article
from newsletter import charts, emails, services
from newsletter.forms import ScheduleForm, SubscriberImportForm
from newsletter.models import Delivery, Digest, DigestItem, Subscriber
from newsroom.admin import AutocompleteFieldsMixin

# The email preview is the email itself: inline styles, remote images, no
# script, in a sandbox (a unique origin: it cannot act as the admin).
EMAIL_PREVIEW_CSP = {
    "default-src": [CSP.NONE],
    "style-src": [CSP.UNSAFE_INLINE],
    "img-src": ["https:", "http:", "data:"],
    "frame-ancestors": [CSP.SELF],
    "sandbox": True,
}


# Digests ---------------------------------------------------------------------


class DigestItemForm(forms.ModelForm):
    class Meta:
        model = DigestItem
        fields = ["position", "article"]

    def has_changed(self):
        # A row pre-filled with a featured story is kept even if untouched.
        return super().has_changed() or bool(self.initial.get("article"))


class DigestItemInline(AutocompleteFieldsMixin, admin.TabularInline):
    model = DigestItem
    form = DigestItemForm
    fields = ["position", "article"]
    autocomplete_fields = ["article"]
    ordering = ["position", "pk"]
    verbose_name = "story"
    verbose_name_plural = "stories (in order)"

    def get_extra(self, request, obj=None, **kwargs):
        if obj is None:
            return len(prefill(request)) or 3
        return 1


def prefill(request):
    """Featured stories since the last digest, once per request."""
    if not hasattr(request, "_newsletter_prefill"):
        request._newsletter_prefill = services.prefill_articles()
    return request._newsletter_prefill


@admin.register(Digest)
class DigestAdmin(admin.ModelAdmin):
    list_display = ["subject", "status_label", "send_at", "started_at", "progress"]
    list_filter = ["status"]
    search_fields = ["subject"]
    date_hierarchy = "created_at"
    fields = ["subject", "intro", "status_label", "send_at", "progress", "not_live"]
    readonly_fields = ["status_label", "send_at", "progress", "not_live"]
    inlines = [DigestItemInline]
    change_form_template = "admin/newsletter/digest/change_form.html"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_send_digest": services.can_send(request.user),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, DigestItemInline) and obj.pk is None:
            kwargs["initial"] = [
                {"article": article.pk, "position": position}
                for position, article in enumerate(prefill(request), start=1)
            ]
        return kwargs

    def has_change_permission(self, request, obj=None):
        # Once sending has begun, a digest is history.
        if obj is not None and not obj.is_editable:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.status != Digest.Status.DRAFT:
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(description="status", ordering="status")
    def status_label(self, obj):
        if obj.status == Digest.Status.SCHEDULED and obj.send_at:
            local = timezone.localtime(obj.send_at)
            return f"Scheduled for {local:%Y-%m-%d %H:%M}"
        return obj.get_status_display()

    @admin.display(description="progress")
    def progress(self, obj):
        if obj.pk is None:
            return "—"
        if obj.status == Digest.Status.SENT:
            return format_html(
                "{} sent, {} failed, {} skipped (of {})",
                obj.sent_count,
                obj.failed_count,
                obj.skipped_count,
                obj.recipients_count,
            )
        if obj.status != Digest.Status.SENDING:
            return "—"
        counts = services.delivery_counts(obj)
        total = sum(counts.values())
        return format_html(
            '<progress max="{}" value="{}"></progress> {} sent, {} failed, {} pending '
            "(of {})",
            total or 1,
            total - counts[Delivery.Status.PENDING],
            counts[Delivery.Status.SENT],
            counts[Delivery.Status.FAILED],
            counts[Delivery.Status.PENDING],
            total,
        )

    @admin.display(description="not live")
    def not_live(self, obj):
        if obj.pk is None:
            return "—"
        article_ids = obj.items.values_list("article_id", flat=True)
        waiting = Article.objects.filter(pk__in=article_ids).exclude(
            pk__in=Article.objects.published().values("pk")
        )
        if not waiting:
            return "Every story is published."
        return format_html(
            "Not published now, so left out unless live when the digest goes out: {}",
            ", ".join(article.headline for article in waiting),
        )

    # Extra pages ---------------------------------------------------------------

    def get_urls(self):
        wrap = self.admin_site.admin_view
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("<int:pk>/preview/", wrap(self.preview_view), name=f"{name}_preview"),
            path(
                "<int:pk>/preview/email/",
                wrap(self.preview_html_view),
                name=f"{name}_preview_html",
            ),
            path(
                "<int:pk>/preview/text/",
                wrap(self.preview_text_view),
                name=f"{name}_preview_text",
            ),
            path("<int:pk>/send-test/", wrap(self.send_test_view), name=f"{name}_test"),
            path("<int:pk>/send/", wrap(self.send_view), name=f"{name}_send"),
            path(
                "<int:pk>/schedule/", wrap(self.schedule_view), name=f"{name}_schedule"
            ),
            path("<int:pk>/cancel/", wrap(self.cancel_view), name=f"{name}_cancel"),
            path(
                "<int:pk>/progress/", wrap(self.progress_view), name=f"{name}_progress"
            ),
            *super().get_urls(),
        ]

    def _digest(self, request, pk, *, send=False):
        digest = get_object_or_404(Digest, pk=pk)
        if not self.has_view_permission(request, digest):
            raise PermissionDenied
        if send and not services.can_send(request.user):
            raise PermissionDenied
        return digest

    def _context(self, request, digest, **extra):
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "digest": digest,
            "original": digest,
            "title": digest.subject,
            "can_send": services.can_send(request.user),
            **extra,
        }

    def _change_url(self, digest):
        return reverse("admin:newsletter_digest_change", args=[digest.pk])

    def preview_view(self, request, pk):
        """The email in the browser (HTML in a sandboxed frame) and as text."""
        digest = self._digest(request, pk)
        _, text = emails.preview(digest)
        return TemplateResponse(
            request,
            "admin/newsletter/digest/preview.html",
            self._context(request, digest, text=text),
        )

    @method_decorator(csp_override(EMAIL_PREVIEW_CSP))
    @method_decorator(xframe_options_sameorigin)
    def preview_html_view(self, request, pk):
        digest = self._digest(request, pk)
        html, _ = emails.preview(digest)
        return HttpResponse(html)

    def preview_text_view(self, request, pk):
        digest = self._digest(request, pk)
        _, text = emails.preview(digest)
        return HttpResponse(text, content_type="text/plain; charset=utf-8")

    def send_test_view(self, request, pk):
        digest = self._digest(request, pk, send=True)
        if request.method == "POST":
            try:
                address = services.send_test(digest, user=request.user)
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.ERROR)
            except Exception as error:  # the mail server's refusal, shown to the editor
                self.message_user(
                    request, f"The test could not be sent: {error}", messages.ERROR
                )
            else:
                self.message_user(request, f"Test sent to {address}.", messages.SUCCESS)
        return HttpResponseRedirect(self._change_url(digest))

    def send_view(self, request, pk):
        """Confirm, then send now."""
        digest = self._digest(request, pk, send=True)
        if request.method == "POST":
            return self._schedule(request, digest, send_at=None)
        return TemplateResponse(
            request,
            "admin/newsletter/digest/send.html",
            self._context(
                request,
                digest,
                recipients=Subscriber.objects.confirmed().count(),
                title=f"Send “{digest.subject}” now?",
            ),
        )

    def schedule_view(self, request, pk):
        digest = self._digest(request, pk, send=True)
        form = ScheduleForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            send_at = form.cleaned_data["send_at"]
            if send_at <= timezone.now():
                form.add_error("send_at", "Choose a time in the future, or send now.")
            else:
                return self._schedule(request, digest, send_at=send_at)
        return TemplateResponse(
            request,
            "admin/newsletter/digest/schedule.html",
            self._context(
                request, digest, form=form, title=f"Schedule “{digest.subject}”"
            ),
        )

    def _schedule(self, request, digest, *, send_at):
        try:
            services.schedule_digest(digest, user=request.user, send_at=send_at)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return HttpResponseRedirect(self._change_url(digest))
        if send_at:
            local = timezone.localtime(send_at)
            self.message_user(
                request, f"Scheduled for {local:%Y-%m-%d %H:%M}.", messages.SUCCESS
            )
        else:
            self.message_user(request, "Sending has started.", messages.SUCCESS)
        return HttpResponseRedirect(
            reverse("admin:newsletter_digest_progress", args=[digest.pk])
        )

    def cancel_view(self, request, pk):
        digest = self._digest(request, pk, send=True)
        if request.method == "POST":
            if services.cancel_schedule(digest, user=request.user):
                self.message_user(
                    request, "The schedule is cancelled; the digest is a draft again."
                )
            else:
                self.message_user(
                    request, "Too late: sending has begun.", messages.WARNING
                )
        return HttpResponseRedirect(self._change_url(digest))

    def progress_view(self, request, pk):
        """Sent, failed and pending, refreshed every few seconds while sending."""
        digest = self._digest(request, pk)
        counts = services.delivery_counts(digest)
        total = sum(counts.values())
        return TemplateResponse(
            request,
            "admin/newsletter/digest/progress.html",
            self._context(
                request,
                digest,
                counts=counts,
                total=total,
                done=total - counts[Delivery.Status.PENDING],
                refresh=digest.status
                in (Digest.Status.SCHEDULED, Digest.Status.SENDING),
                title=f"Sending “{digest.subject}”",
            ),
        )


# Subscribers -----------------------------------------------------------------


class _Echo:
    """A file-like object that hands back what csv writes to it."""

    def write(self, value):
        return value


def _csv_safe(value):
    """Defuse spreadsheet formulas in user-supplied text."""
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    value = str(value)
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ["email", "status", "source", "signed_up_at", "confirmed_at"]
    list_filter = ["status", "signed_up_at", "confirmed_at"]
    search_fields = ["email"]
    date_hierarchy = "signed_up_at"
    show_full_result_count = False
    list_per_page = 100
    actions = ["unsubscribe_selected", "mark_bounced", "mark_complained"]
    fieldsets = [
        (None, {"fields": ["email", "status"]}),
        (
            "Consent record",
            {
                "fields": [
                    "signed_up_at",
                    "signup_ip",
                    "signup_user_agent",
                    "source",
                    "confirmed_at",
                    "consent_note",
                ]
            },
        ),
        (
            "Leaving",
            {"fields": ["unsubscribed_at", "bounced_at", "bounce_reason"]},
        ),
    ]
    readonly_fields = [
        "email",
        "status",
        "signed_up_at",
        "signup_ip",
        "signup_user_agent",
        "source",
        "confirmed_at",
        "unsubscribed_at",
        "bounced_at",
        "bounce_reason",
    ]
    change_list_template = "admin/newsletter/subscriber/change_list.html"
    change_form_template = "admin/newsletter/subscriber/change_form.html"
    delete_confirmation_template = (
        "admin/newsletter/subscriber/delete_confirmation.html"
    )
    delete_selected_confirmation_template = (
        "admin/newsletter/subscriber/delete_selected_confirmation.html"
    )

    def has_add_permission(self, request):
        # Addresses arrive through the signup form (double opt-in) or an import.
        return False

    # Erasure is deletion that leaves a hashed suppression entry.
    def delete_model(self, request, obj):
        services.erase_subscriber(obj)

    def delete_queryset(self, request, queryset):
        for subscriber in queryset.iterator():
            services.erase_subscriber(subscriber)

    def get_actions(self, request, action_location=admin.ActionLocation.CHANGE_LIST):
        actions = super().get_actions(request, action_location)
        if "delete_selected" in actions:
            label = (
                "Erase selected subscribers (keeps only a hash: no import re-adds them)"
            )
            actions["delete_selected"] = dataclasses.replace(
                actions["delete_selected"], description=label, plural_description=label
            )
        return actions

    @admin.action(
        description="Unsubscribe selected subscribers", permissions=["change"]
    )
    def unsubscribe_selected(self, request, queryset):
        now = timezone.now()
        changed = queryset.exclude(status=Subscriber.Status.UNSUBSCRIBED).update(
            status=Subscriber.Status.UNSUBSCRIBED, unsubscribed_at=now, updated_at=now
        )
        self.message_user(request, f"{changed} unsubscribed.")

    @admin.action(description="Mark as bounced (stop sending)", permissions=["change"])
    def mark_bounced(self, request, queryset):
        changed = services.mark_bounced(queryset, reason="marked in the admin")
        self.message_user(request, f"{changed} marked as bounced.")

    @admin.action(
        description="Mark as complained (spam report; stop sending)",
        permissions=["change"],
    )
    def mark_complained(self, request, queryset):
        changed = services.mark_bounced(
            queryset, status=Subscriber.Status.COMPLAINED, reason="marked in the admin"
        )
        self.message_user(request, f"{changed} marked as complained.")

    def get_urls(self):
        wrap = self.admin_site.admin_view
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("export/", wrap(self.export_view), name=f"{name}_export"),
            path("import/", wrap(self.import_view), name=f"{name}_import"),
            path("chart/", wrap(self.chart_view), name=f"{name}_chart"),
            path("<int:pk>/data/", wrap(self.data_view), name=f"{name}_data"),
            *super().get_urls(),
        ]

    def export_view(self, request):
        """The listed subscribers (filters and search applied), as streamed CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            # The list itself redirects such an address to its error page.
            return HttpResponseBadRequest(
                "The address filters the list by something it has no filter for.",
                content_type="text/plain",
            )
        queryset = changelist.get_queryset(request).order_by("pk")
        writer = csv.writer(_Echo())
        rows = (
            writer.writerow(
                [_csv_safe(getattr(s, field)) for field in services.CSV_FIELDS]
            )
            for s in queryset.iterator(chunk_size=2000)
        )
        response = StreamingHttpResponse(
            chain([writer.writerow(services.CSV_FIELDS)], rows),
            content_type="text/csv; charset=utf-8",
        )
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = (
            f'attachment; filename="subscribers-{stamp}.csv"'
        )
        return response

    def import_view(self, request):
        if not request.user.has_perm("newsletter.add_subscriber"):
            raise PermissionDenied
        form = SubscriberImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            result = services.import_subscribers(
                rows=services.read_import_file(form.cleaned_data["file"]),
                confirmed=form.cleaned_data["confirmed"],
                consent_note=form.cleaned_data["consent_note"],
            )
            self.message_user(
                request,
                f"Imported {result.created} new; {result.existing} already listed, "
                f"{result.suppressed} erased earlier (not re-added), "
                f"{result.invalid} not valid.",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(
                reverse("admin:newsletter_subscriber_changelist")
            )
        return TemplateResponse(
            request,
            "admin/newsletter/subscriber/import.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "form": form,
                "title": "Import subscribers",
            },
        )

    def data_view(self, request, pk):
        """Everything stored about one subscriber, as JSON (a data-access request)."""
        subscriber = get_object_or_404(Subscriber, pk=pk)
        if not self.has_view_permission(request, subscriber):
            raise PermissionDenied
        response = HttpResponse(
            json.dumps(services.subscriber_data(subscriber), indent=2),
            content_type="application/json",
        )
        response["Content-Disposition"] = f'attachment; filename="subscriber-{pk}.json"'
        return response

    def chart_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        growth = charts.confirmed_over_time()
        per_digest = charts.unsubscribes_per_digest()
        status_counts = dict(
            Subscriber.objects.order_by().values_list("status").annotate(n=Count("pk"))
        )
        return TemplateResponse(
            request,
            "admin/newsletter/subscriber/chart.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": "Subscribers over time",
                "growth_svg": charts.line_chart(
                    growth, title="Confirmed subscribers, last 90 days"
                ),
                "unsubscribes_svg": charts.bar_chart(
                    [(digest.subject, count) for digest, count in per_digest],
                    title="Unsubscribes after each digest",
                ),
                "per_digest": per_digest,
                "status_counts": [
                    (label, status_counts.get(value, 0))
                    for value, label in Subscriber.Status.choices
                ],
            },
        )
