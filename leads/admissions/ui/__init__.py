"""The admissions half of the lead page, and the pages of its own.

The lead page shows four cards (pre-screen, insurance, admission, consents and
disclosures); each module here builds its card's context and serves its actions.
"""

from typing import Any

from django.http import HttpRequest

from ...models import Lead


def cards_context(*, request: HttpRequest, lead: Lead) -> dict[str, Any]:
    """What the lead page's admissions cards show, a few queries per card."""
    from . import admission, part2, prescreen, verification

    return {
        **prescreen.card_context(request=request, lead=lead),
        **verification.card_context(request=request, lead=lead),
        **admission.card_context(request=request, lead=lead),
        **part2.card_context(request=request, lead=lead),
    }
