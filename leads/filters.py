import re

import django_filters
import phonenumbers
from django.db.models import Q, QuerySet

from .geo import USState
from .models import OPEN_STAGES, LevelOfCare, Stage

PHONE_LIKE = re.compile(r"^[\d\s().+-]{7,}$")


class LeadFilter(django_filters.FilterSet):
    # distinct=False: these filter columns of the lead itself, so no join can repeat
    # a row, and a DISTINCT over 100,000 leads costs more than the whole page.
    stage = django_filters.MultipleChoiceFilter(choices=Stage.choices, distinct=False)
    is_open = django_filters.BooleanFilter(
        method="filter_open", label="Open leads only"
    )
    owner = django_filters.NumberFilter(field_name="owner_id")
    unassigned = django_filters.BooleanFilter(
        field_name="owner", lookup_expr="isnull", label="Leads without an owner"
    )
    team = django_filters.NumberFilter(field_name="team_id")
    source = django_filters.CharFilter(field_name="source__slug")
    level_of_care = django_filters.MultipleChoiceFilter(
        choices=LevelOfCare.choices, distinct=False
    )
    state = django_filters.ChoiceFilter(choices=USState.choices)
    created_after = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte"
    )
    created_before = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt"
    )
    search = django_filters.CharFilter(
        method="filter_search", max_length=100, label="Name, phone or e-mail"
    )

    def filter_open(self, queryset: QuerySet, name: str, value: bool | None):
        if value is None:
            return queryset
        return (
            queryset.filter(stage__in=OPEN_STAGES)
            if value
            else queryset.exclude(stage__in=OPEN_STAGES)
        )

    def filter_search(self, queryset: QuerySet, name: str, value: str):
        value = value.strip()
        if not value:
            return queryset
        if PHONE_LIKE.match(value):
            return queryset.filter(_phone_matches(value))
        condition = Q()
        for term in value.split()[:4]:
            condition &= (
                Q(first_name__icontains=term)
                | Q(last_name__icontains=term)
                | Q(email__icontains=term)
                | Q(caller_first_name__icontains=term)
                | Q(caller_last_name__icontains=term)
            )
        return queryset.filter(condition)


def _phone_matches(value: str) -> Q:
    try:
        number = phonenumbers.parse(value, "US")
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and phonenumbers.is_valid_number(number):
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return Q(phone=e164) | Q(caller_phone=e164)
    digits = re.sub(r"\D", "", value)
    return Q(phone__contains=digits) | Q(caller_phone__contains=digits)
