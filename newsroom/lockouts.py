"""The admin's list of failed logins (django-axes), with its clean-up action
working.

django-axes' "Clean up expired attempts" computes the cool-off threshold
from ``request.axes_attempt_time``, which only its login handler sets: from
the admin's list every use of the action was a 500 (django-axes 8.3). Here
the request says it is not a login attempt, and axes counts from now.
"""

from axes import admin as axes_admin
from axes.models import AccessAttempt
from django.contrib import admin


class AccessAttemptAdmin(axes_admin.AccessAttemptAdmin):
    @admin.action(
        description=axes_admin.AccessAttemptAdmin.cleanup_expired_attempts.short_description
    )
    def cleanup_expired_attempts(self, request, queryset):
        request.axes_attempt_time = None
        return super().cleanup_expired_attempts(request, queryset)


def register():
    """In place of axes' own registration, if it registered (it may be
    turned off with ``AXES_ENABLE_ADMIN``)."""
    if admin.site.is_registered(AccessAttempt):
        admin.site.unregister(AccessAttempt)
        admin.site.register(AccessAttempt, AccessAttemptAdmin)
