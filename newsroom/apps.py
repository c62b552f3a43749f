from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class NewsroomConfig(AppConfig):
    name = "newsroom"
    verbose_name = "Newsroom"
    default = True

    def ready(self):
        # After the admin's autodiscovery (the admin app comes first in
        # INSTALLED_APPS), which registered django-axes' own admin.
        from newsroom import lockouts

        lockouts.register()


class NewsroomAdminConfig(admin_apps.AdminConfig):
    """``django.contrib.admin``, with the project's admin site as ``admin.site``
    (in ``INSTALLED_APPS`` in its place)."""

    default = False  # newsroom's own config is NewsroomConfig
    default_site = "newsroom.admin.NewsroomAdminSite"
