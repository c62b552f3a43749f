"""Server-rendered SVG charts for the admin: no script, no external file."""

from datetime import datetime, time, timedelta

from django.db.models import Count
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from newsletter.models import Digest, Subscriber

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 36


def confirmed_over_time(days=90):
    """(day, confirmed subscribers at the end of that day) for the last ``days``."""
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    start = timezone.make_aware(datetime.combine(first, time.min))
    was_confirmed = Subscriber.objects.filter(confirmed_at__isnull=False)
    lost = was_confirmed.exclude(status=Subscriber.Status.CONFIRMED).annotate(
        lost_at=Coalesce("unsubscribed_at", "bounced_at")
    )
    running = (
        was_confirmed.filter(confirmed_at__lt=start).count()
        - lost.filter(lost_at__lt=start).count()
    )
    gains = _per_day(was_confirmed.filter(confirmed_at__gte=start), "confirmed_at")
    losses = _per_day(lost.filter(lost_at__gte=start), "lost_at")
    points = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        running += gains.get(day, 0) - losses.get(day, 0)
        points.append((day, running))
    return points


def _per_day(queryset, field):
    return dict(
        queryset.annotate(day=TruncDate(field))
        .order_by()
        .values_list("day")
        .annotate(n=Count("pk"))
    )


def unsubscribes_per_digest(limit=12):
    """(digest, unsubscribes between it going out and the next one), oldest first."""
    digests = list(
        Digest.objects.filter(
            status=Digest.Status.SENT, started_at__isnull=False
        ).order_by("-started_at")[:limit]
    )[::-1]
    rows = []
    for index, digest in enumerate(digests):
        window = Subscriber.objects.filter(unsubscribed_at__gte=digest.started_at)
        if index + 1 < len(digests):
            window = window.filter(unsubscribed_at__lt=digests[index + 1].started_at)
        rows.append((digest, window.count()))
    return rows


def _frame(title, description, body, y_max):
    plot_bottom = HEIGHT - BOTTOM
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" '
        'height="{h}" role="img" aria-label="{title}" class="newsletter-chart">'
        "<title>{title}</title><desc>{description}</desc>"
        '<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#767676"/>'
        '<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#767676"/>'
        '<text x="{label_x}" y="{top_label}" text-anchor="end" font-size="12" '
        'fill="#333">{y_max}</text>'
        '<text x="{label_x}" y="{bottom}" text-anchor="end" font-size="12" '
        'fill="#333">0</text>{body}</svg>',
        w=WIDTH,
        h=HEIGHT,
        title=title,
        description=description,
        left=LEFT,
        right=WIDTH - RIGHT,
        top=TOP,
        bottom=plot_bottom,
        label_x=LEFT - 6,
        top_label=TOP + 4,
        y_max=y_max,
        body=body,
    )


def line_chart(points, *, title):
    """A line of (date, value) points."""
    if not points:
        return ""
    y_max = max(max(value for _, value in points), 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(points) - 1, 1)
    coordinates = " ".join(
        f"{LEFT + i * step:.1f},{TOP + plot_h - value / y_max * plot_h:.1f}"
        for i, (_, value) in enumerate(points)
    )
    first, last = points[0], points[-1]
    body = format_html(
        '<polyline points="{}" fill="none" stroke="#b00020" stroke-width="2"/>'
        '<text x="{}" y="{}" font-size="12" fill="#333">{}</text>'
        '<text x="{}" y="{}" text-anchor="end" font-size="12" fill="#333">{}</text>',
        coordinates,
        LEFT,
        HEIGHT - 12,
        first[0].isoformat(),
        WIDTH - RIGHT,
        HEIGHT - 12,
        last[0].isoformat(),
    )
    description = (
        f"From {first[1]} on {first[0].isoformat()} "
        f"to {last[1]} on {last[0].isoformat()}."
    )
    return _frame(title, description, body, y_max)


def bar_chart(bars, *, title):
    """Bars of (label, value), labelled with their values."""
    if not bars:
        return ""
    y_max = max(max(value for _, value in bars), 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(bars)
    parts = []
    for i, (label, value) in enumerate(bars):
        bar_h = value / y_max * plot_h
        x = LEFT + i * slot + slot * 0.15
        parts.append(
            format_html(
                "<g><title>{label}: {value}</title>"
                '<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="#b00020"/>'
                '<text x="{cx}" y="{ty}" text-anchor="middle" font-size="11" '
                'fill="#333">'
                "{value}</text></g>",
                label=label,
                value=value,
                x=f"{x:.1f}",
                y=f"{TOP + plot_h - bar_h:.1f}",
                w=f"{slot * 0.7:.1f}",
                h=f"{bar_h:.1f}",
                cx=f"{x + slot * 0.35:.1f}",
                ty=HEIGHT - 18,
            )
        )
    description = "; ".join(f"{label}: {value}" for label, value in bars)
    return _frame(title, description, mark_safe("".join(parts)), y_max)  # noqa: S308 (parts built with format_html)
