from __future__ import annotations

from django.core.management.base import BaseCommand

from studio.services import admin_ensure


class Command(BaseCommand):
    help = "Create the admin account if no superuser exists; print its password once."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options):
        password = admin_ensure(username=username)
        if password is None:
            self.stdout.write("Admin account: exists (its password is unchanged).")
        else:
            self.stdout.write(
                self.style.WARNING(
                    f"Admin account created: user {username!r}, password {password!r}\n"
                    "  This password is shown only once: note it, then change it at "
                    "/accounts/password/."
                )
            )
