"""newsroom.admin.NewsroomAdminSite: the desk's navigation, remembered."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from tests.factories import make_staff

pytestmark = pytest.mark.django_db

DESK = reverse("admin:articles_article_changelist")
SUBSCRIBERS = reverse("admin:newsletter_subscriber_changelist")


def test_the_sidebar_follows_each_users_permissions(client, admin_user):
    """Every desk page lists the models the user may open; the lists are
    remembered between pages, but never for someone with other
    permissions, nor past a change of the user's own."""
    reporter = make_staff("reporter", "Reporter")
    client.force_login(admin_user)
    assert SUBSCRIBERS in client.get(DESK).text

    client.force_login(reporter)
    assert SUBSCRIBERS not in client.get(DESK).text
    assert SUBSCRIBERS not in client.get(DESK).text

    reporter.user_permissions.add(
        Permission.objects.get(
            codename="view_subscriber", content_type__app_label="newsletter"
        )
    )
    assert SUBSCRIBERS in client.get(DESK).text

    colleague = make_staff("colleague", "Reporter")
    client.force_login(colleague)
    assert SUBSCRIBERS not in client.get(DESK).text
