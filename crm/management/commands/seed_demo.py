import logging

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from crm.demo import (
    DEMO_USERS,
    seed_admissions,
    seed_leads,
    seed_programs,
    seed_routing,
    seed_sources,
    seed_tracking_numbers,
    seed_users,
)
from crm.models import User
from leads.models import Lead

NOISY_WHILE_SEEDING = ("leads.services", "notifications.services")

# Published on purpose (README); refused outside DEBUG unless --password is given.
DEFAULT_DEMO_PASSWORD = "demo-admissions-2026"  # noqa: S105


class Command(BaseCommand):
    help = (
        "Create demo users, teams, sources, programs and partner facilities, and "
        "about 500 leads over the last 60 days with their pre-screens, insurance "
        "verifications, admissions and Part 2 consents. "
        "Idempotent: users and sources are reused; leads are added only to an empty "
        "database."
    )

    def add_arguments(self, parser):
        parser.add_argument("--password", help="Password for every demo user.")
        parser.add_argument("--leads", type=int, default=500, help="How many leads.")
        parser.add_argument("--seed", type=int, default=2026, help="Random seed.")
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Seed only a database with no users yet (used by `make run`, so a "
            "changed password is never reset); otherwise just print the logins.",
        )

    def handle(
        self, *args, password=None, leads=500, seed=2026, if_empty=False, **options
    ):
        if if_empty and User.objects.exists():
            self.stdout.write("Database already has users: demo data not loaded.")
            self._print_logins(
                password or DEFAULT_DEMO_PASSWORD, note=" unless changed"
            )
            return
        if password is None:
            if not settings.DEBUG:
                raise CommandError(
                    "Outside DEBUG, give --password: demo users must not get the "
                    "published default password."
                )
            password = DEFAULT_DEMO_PASSWORD
        if leads < 0:
            raise CommandError("--leads must be 0 or more.")
        users = seed_users(password=password)
        sources = seed_sources()
        seed_routing()
        seed_tracking_numbers()
        seed_programs()
        if Lead.objects.exists():
            self.stdout.write("Leads already present: no demo leads added.")
        else:
            # One INFO line per lead is noise here; the count below says it all.
            chatty = [logging.getLogger(n) for n in NOISY_WHILE_SEEDING]
            levels = [log.level for log in chatty]
            for log in chatty:
                log.setLevel(logging.WARNING)
            try:
                created = seed_leads(
                    users=users, sources=sources, count=leads, seed=seed
                )
                records = seed_admissions(users=users, seed=seed)
            finally:
                for log, level in zip(chatty, levels, strict=True):
                    log.setLevel(level)
            self.stdout.write(
                f"Created {created} demo leads, {records['prescreens']} pre-screens, "
                f"{records['verifications']} insurance verifications, "
                f"{records['admissions']} admissions and {records['consents']} "
                "Part 2 consents."
            )
        self._print_logins(password)

    def _print_logins(self, password: str, note: str = "") -> None:
        self.stdout.write("")
        self.stdout.write(f"Demo logins (password: {password}{note}):")
        for username, first, last, role, member_of, supervises in DEMO_USERS:
            teams = ", ".join(member_of or supervises) or "all teams"
            self.stdout.write(
                f"  {username:<12} {role.label:<22} {first} {last} ({teams})"
            )
