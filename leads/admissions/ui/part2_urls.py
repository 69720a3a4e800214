"""The Part 2 card's actions and pages: consents, the packet, referral, accounting."""

from django.urls import path

from . import part2

urlpatterns = [
    path(
        "leads/<int:pk>/consents/new/",
        part2.part2_consent_new,
        name="part2-consent-new",
    ),
    path(
        "leads/<int:pk>/consents/<int:consent_pk>/revoke/",
        part2.part2_consent_revoke_view,
        name="part2-consent-revoke",
    ),
    path(
        "leads/<int:pk>/intake-packet/",
        part2.part2_packet_export,
        name="part2-packet-export",
    ),
    path(
        "leads/<int:pk>/disclosures/",
        part2.part2_disclosures,
        name="part2-disclosures",
    ),
    path(
        "leads/<int:pk>/refer-out/",
        part2.part2_refer_out,
        name="part2-refer-out",
    ),
]
