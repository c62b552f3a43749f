from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    """A partial index on pending deliveries, in the order batches claim them.

    The claim (``newsletter.sending.send_batch``) takes a digest's first
    pending rows by ``available_at, id``; with the older index on
    ``(digest, status, available_at)`` PostgreSQL sorted every pending row of
    the digest (on disk at 200,000 recipients) to return a hundred. Built
    concurrently: the ledger may be large and busy when this is deployed.
    """

    atomic = False

    dependencies = [
        ("newsletter", "0002_editor_permissions"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("status", "pending")),
                fields=["digest", "available_at", "id"],
                name="newsletter_dlv_pending_idx",
            ),
        ),
    ]
