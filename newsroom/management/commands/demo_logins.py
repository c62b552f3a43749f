import json
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

CREDENTIALS_FILE = settings.BASE_DIR / ".local" / "demo-logins.json"

# username -> (group, full name). The groups come from the articles app's
# migration; an editor can do everything on the desk, a reporter only write.
DEMO_USERS = {
    "editor": ("Editor", "Erin Editor"),
    "reporter": ("Reporter", "Riley Reporter"),
}


class Command(BaseCommand):
    help = (
        "Create (or reset) the demo editor and reporter logins and print them. "
        "Development only: refuses to run with DEBUG off."
    )

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("demo_logins is for development (DEBUG=true) only.")
        passwords = self._load_passwords()
        with transaction.atomic():
            for username, (group_name, full_name) in DEMO_USERS.items():
                password = passwords.setdefault(username, secrets.token_urlsafe(12))
                first, last = full_name.split(" ", 1)
                user, _ = get_user_model().objects.get_or_create(
                    username=username,
                    defaults={"first_name": first, "last_name": last},
                )
                user.email = f"{username}@example.com"
                user.is_staff = True
                user.is_active = True
                user.set_password(password)
                user.save()
                group = Group.objects.filter(name=group_name).first()
                if group:
                    user.groups.add(group)
        CREDENTIALS_FILE.parent.mkdir(parents=True, exist_ok=True)
        CREDENTIALS_FILE.write_text(json.dumps(passwords, indent=2))
        CREDENTIALS_FILE.chmod(0o600)
        self.stdout.write(self.style.SUCCESS("Demo logins for /admin/:"))
        for username in DEMO_USERS:
            self.stdout.write(f"  {username:<9} password: {passwords[username]}")

    def _load_passwords(self):
        try:
            return json.loads(CREDENTIALS_FILE.read_text())
        except (FileNotFoundError, ValueError):
            return {}
