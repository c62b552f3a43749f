from django.core.management.base import BaseCommand

from newsletter import services


class Command(BaseCommand):
    help = (
        "Mark addresses as bounced (or complained, with --complaint) so that no "
        "newsletter goes to them again. For bounce-processing scripts."
    )

    def add_arguments(self, parser):
        parser.add_argument("emails", nargs="+", metavar="EMAIL")
        parser.add_argument(
            "--complaint",
            action="store_true",
            help="The recipient reported the newsletter as spam.",
        )
        parser.add_argument("--reason", default="", help="Stored with the address.")

    def handle(self, *, emails, complaint, reason, **options):
        kind = "complained" if complaint else "bounced"
        for email in emails:
            if services.record_bounce(email=email, complaint=complaint, reason=reason):
                self.stdout.write(self.style.SUCCESS(f"{email}: marked {kind}"))
            else:
                self.stdout.write(self.style.WARNING(f"{email}: not a subscriber"))
