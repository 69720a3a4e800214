import factory
import phonenumbers
from factory.django import DjangoModelFactory

from crm.models import Team, User
from leads import services as lead_services
from leads.models import Channel, Lead, LeadSource

TEST_PASSWORD = "correct-horse-battery-staple"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"counselor{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.org")
    role = User.Role.COUNSELOR
    presence = User.Presence.AVAILABLE
    password = factory.django.Password(TEST_PASSWORD)


class TeamFactory(DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


class LeadSourceFactory(DjangoModelFactory):
    class Meta:
        model = LeadSource
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Source {n}")
    slug = factory.Sequence(lambda n: f"source-{n}")
    kind = LeadSource.Kind.WEB_FORM


_phone_counter = iter(range(10**6))


def next_phone() -> str:
    """A distinct, valid, fictional US number (555-01xx over many area codes)."""
    while True:
        n = next(_phone_counter)
        number = f"+1{201 + n // 100}55501{n % 100:02d}"
        # Not every area code is in service (N11 codes, unassigned ones): the
        # suite makes thousands of leads and must never draw an invalid one.
        if phonenumbers.is_valid_number(phonenumbers.parse(number)):
            return number


def make_lead(
    *,
    team: Team | None,
    owner: User | None = None,
    by: User | None = None,
    channel: str = Channel.WEB_FORM,
    attribution: dict | None = None,
    **details,
) -> Lead:
    """Create a lead the way the product does: through `lead_create`."""
    details.setdefault("first_name", "Casey")
    details.setdefault("last_name", "Doe")
    details.setdefault("phone", next_phone())
    return lead_services.lead_create(
        by=by,
        channel=channel,
        team=team,
        owner=owner,
        attribution=attribution,
        **details,
    )
