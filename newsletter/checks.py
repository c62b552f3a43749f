from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.compatibility, deploy=True)
def postal_address_check(app_configs, **kwargs):
    """Bulk email without the sender's postal address breaks anti-spam laws."""
    if settings.NEWSLETTER_POSTAL_ADDRESS.strip():
        return []
    return [
        checks.Warning(
            "NEWSLETTER_POSTAL_ADDRESS is empty: newsletters will go out without "
            "the publisher's postal address in the footer.",
            hint="Set NEWSLETTER_POSTAL_ADDRESS in the environment.",
            id="newsletter.W001",
        )
    ]
