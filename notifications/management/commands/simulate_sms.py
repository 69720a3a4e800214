"""Post a correctly signed inbound text to a running server, as Twilio would."""

import urllib.error
import urllib.parse
import urllib.request
import uuid

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from twilio.request_validator import RequestValidator

INCOMING_PATH = "/twilio/sms/incoming/"


class Command(BaseCommand):
    help = (
        "Send a fake inbound text to /twilio/sms/incoming/ of a running server, "
        "signed with TWILIO_AUTH_TOKEN, so two-way texting can be tried without "
        "Twilio. Example: simulate_sms --from +13055550142 --body STOP"
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="from_number", required=True)
        parser.add_argument("--body", required=True)
        parser.add_argument(
            "--to", default=None, help="the center's number (SMS_FROM_NUMBER)"
        )
        parser.add_argument(
            "--url",
            default=None,
            help="where the server listens (default PUBLIC_BASE_URL); the "
            "signature is always computed for PUBLIC_BASE_URL",
        )
        parser.add_argument(
            "--opt-out-type",
            default="",
            help="as Twilio Advanced Opt-Out sends it: STOP, START or HELP",
        )

    def handle(self, *args, from_number, body, to, url, opt_out_type, **options):
        token = settings.TWILIO_AUTH_TOKEN
        if not token:
            raise CommandError("TWILIO_AUTH_TOKEN is empty: nothing can be signed.")
        params = {
            "MessageSid": "SM" + uuid.uuid4().hex,
            "SmsSid": "",
            "AccountSid": settings.TWILIO_ACCOUNT_SID or "AC" + "0" * 32,
            "From": from_number,
            "To": to or settings.SMS_FROM_NUMBER,
            "Body": body,
            "NumMedia": "0",
            "ApiVersion": "2010-04-01",
        }
        params["SmsSid"] = params["MessageSid"]
        if opt_out_type:
            params["OptOutType"] = opt_out_type.upper()
        signed_url = settings.PUBLIC_BASE_URL.rstrip("/") + INCOMING_PATH
        target = (url or settings.PUBLIC_BASE_URL).rstrip("/") + INCOMING_PATH
        signature = RequestValidator(token).compute_signature(signed_url, params)
        request = urllib.request.Request(  # noqa: S310 - a URL the operator gives
            target,
            data=urllib.parse.urlencode(params).encode(),
            headers={
                "X-Twilio-Signature": signature,
                "Content-Type": "application/x-www-form-urlencoded",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                answer = response.read().decode()
                code = response.status
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:200]
            raise CommandError(f"The server answered {exc.code}: {detail}") from exc
        except urllib.error.URLError as exc:
            raise CommandError(f"Could not reach {target}: {exc.reason}") from exc
        self.stdout.write(f"{code} {params['MessageSid']}")
        self.stdout.write(answer)
