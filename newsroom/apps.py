from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class NewsroomConfig(AppConfig):
    name = "newsroom"
    verbose_name = "Newsroom"
    default = True


class NewsroomAdminConfig(admin_apps.AdminConfig):
    """``django.contrib.admin``, with the project's admin site as ``admin.site``
    (in ``INSTALLED_APPS`` in its place)."""

    default = False  # newsroom's own config is NewsroomConfig
    default_site = "newsroom.admin.NewsroomAdminSite"
