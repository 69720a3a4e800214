"""The lead page's admission card and its actions (being built for issue 7)."""

from typing import Any

from django.http import HttpRequest

from ...models import Lead


def card_context(*, request: HttpRequest, lead: Lead) -> dict[str, Any]:
    return {}
