"""Create a lead source with an intake key; the key is the last line printed."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from crm.models import Team
from leads.models import LeadSource
from leads.services.sources import source_create


class Command(BaseCommand):
    help = (
        "Create a lead source (a web form, a partner, ...) and print its intake key "
        "on the last line. The key is stored hashed: copy it now."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help='e.g. "IOP landing page"')
        parser.add_argument(
            "--kind", choices=LeadSource.Kind.values, default=LeadSource.Kind.WEB_FORM
        )
        parser.add_argument("--slug", default="", help="default: from the name")
        parser.add_argument("--team", default="", help="slug of the default team")
        parser.add_argument(
            "--sla-minutes", type=int, default=5, help="first-response SLA"
        )

    def handle(self, *args, **options) -> None:
        team = None
        if options["team"]:
            team = Team.objects.filter(slug=options["team"]).first()
            if team is None:
                raise CommandError(f"No team with slug {options['team']!r}.")
        try:
            source, key = source_create(
                name=options["name"],
                kind=options["kind"],
                slug=options["slug"],
                team=team,
                sla_minutes=options["sla_minutes"],
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{field}: {' '.join(messages)}"
                for field, messages in exc.message_dict.items()
            )
            raise CommandError(problems) from exc
        self.stdout.write(
            f"Created source {source.name!r} (slug {source.slug}, kind {source.kind})."
        )
        self.stdout.write(
            f"Post inquiries to /api/v1/intake/ with the header X-Intake-Key; the "
            f"hosted form is /request-a-call/{source.slug}/."
        )
        self.stdout.write(key)
