"""Drive a whole inbound call through a running server, signed as Twilio signs it."""

import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from twilio.request_validator import RequestValidator

from crm.models import User
from telephony.models import Call

INCOMING_PATH = "/twilio/voice/incoming/"
# Configured on the number in Twilio's console, so it is in no TwiML.
STATUS_PATH = "/twilio/voice/status/"
API_VERSION = "2010-04-01"
TALK_SECONDS = 240
VOICEMAIL_SECONDS = 21
# A server that keeps answering <Dial> would otherwise ring forever.
MAX_DIALS = 25
DEFAULT_MESSAGE = (
    "Hi, this is a test voicemail. I am calling about the outpatient program for "
    "my brother. Please call me back."
)


def _sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


@dataclass
class Outcome:
    """What the simulated call went through, for the summary."""

    rung: list[str] = field(default_factory=list)
    answered_by: str = ""
    voicemail: bool = False
    seconds: int = 0


class Command(BaseCommand):
    help = (
        "Call one of your tracking numbers without Twilio: posts the incoming-call "
        "webhook of a running server (default PUBLIC_BASE_URL, e.g. `make run`), "
        "signed with TWILIO_AUTH_TOKEN, then follows the TwiML it answers as Twilio "
        "would: rings the counselors (whisper, press 1), the next ones, voicemail, "
        "recording, transcription, hang-up. Example: simulate_call --from "
        "+13055550142 --to +18885550142 --voicemail"
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--from", dest="from_number", required=True, help="the caller's number"
        )
        parser.add_argument(
            "--to", dest="to_number", required=True, help="the tracking number called"
        )
        outcome = parser.add_mutually_exclusive_group()
        for flag, const, text in [
            ("--answer", "answer", "the first counselor rung presses 1 (default)"),
            ("--no-answer", "no-answer", "nobody answers; the caller hangs up"),
            ("--voicemail", "voicemail", "nobody answers; the caller leaves a message"),
        ]:
            outcome.add_argument(
                flag, dest="outcome", action="store_const", const=const, help=text
            )
        parser.set_defaults(outcome="answer")
        parser.add_argument("--city", default="", help="FromCity, e.g. MIAMI")
        parser.add_argument("--state", default="", help="FromState, e.g. FL")
        parser.add_argument(
            "--message", default=DEFAULT_MESSAGE, help="the voicemail's transcription"
        )
        parser.add_argument(
            "--server",
            default=None,
            help="where the server listens (default PUBLIC_BASE_URL); signatures "
            "are always computed for the URLs Twilio would call",
        )

    def handle(self, *args, from_number, to_number, outcome, **options):
        token = settings.TWILIO_AUTH_TOKEN
        if not token:
            raise CommandError("TWILIO_AUTH_TOKEN is empty: nothing can be signed.")
        simulator = CallSimulator(
            token=token,
            public_base=settings.PUBLIC_BASE_URL.rstrip("/"),
            server=(options["server"] or settings.PUBLIC_BASE_URL).rstrip("/"),
            write=self.stdout.write,
        )
        sid, result = simulator.run(
            from_number=from_number,
            to_number=to_number,
            outcome=outcome,
            city=options["city"],
            state=options["state"],
            message=options["message"],
        )
        self.stdout.write("")
        self.stdout.write(self.summary(sid, result))

    def summary(self, sid: str, result: Outcome) -> str:
        if result.answered_by:
            happened = f"answered by {result.answered_by}"
        elif result.voicemail:
            happened = "nobody answered; the caller left a voicemail"
        else:
            happened = "nobody answered; the caller hung up"
        rung = ", ".join(result.rung) or "nobody"
        lines = [f"Call {sid}: {happened} ({result.seconds} s). Rung: {rung}."]
        try:
            call = Call.objects.select_related("lead", "counselor").get(sid=sid)
        except (Call.DoesNotExist, DatabaseError):
            call = None
        if call is None:
            lines.append(
                "Its lead is not in this process's database (the server uses "
                "another one): look it up there by the call's sid."
            )
            return "\n".join(lines)
        if call.lead_id is None:
            lines.append("No lead: the caller's number is withheld or not a real one.")
        else:
            lead = call.lead
            owner = f", owner {lead.owner}" if lead.owner_id else ", no owner yet"
            lines.append(f"Lead #{lead.pk} ({lead.phone}): stage {lead.stage}{owner}.")
        state = [f"status {call.status}"]
        if call.counselor_id:
            state.append(f"counselor {call.counselor}")
        if call.missed_at:
            due = (
                call.lead_id
                and call.lead.callbacks.filter(reason="missed_call").exists()
            )
            state.append("missed" + (", call-back due" if due else ""))
        if call.is_voicemail:
            state.append(f"voicemail {call.recording_duration} s")
        if call.transcription:
            state.append(f"transcription “{call.transcription[:60]}”")
        lines.append(f"Call #{call.pk}: " + "; ".join(state) + ".")
        return "\n".join(lines)


class CallSimulator:
    """Play Twilio's part of one inbound call against a server's voice webhooks."""

    def __init__(self, *, token: str, public_base: str, server: str, write):
        self.validator = RequestValidator(token)
        self.public_base = public_base
        self.server = server
        self.write = write
        self.account_sid = settings.TWILIO_ACCOUNT_SID or "AC" + "0" * 32

    # --- HTTP -------------------------------------------------------------------

    def post(self, url: str, params: dict[str, str]) -> ET.Element | None:
        """POST `params` signed for `url` (as Twilio calls it) to the server."""
        parts = urllib.parse.urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        target = self.server + path
        request = urllib.request.Request(  # noqa: S310 - a URL the operator gives
            target,
            data=urllib.parse.urlencode(params).encode(),
            headers={
                "X-Twilio-Signature": self.validator.compute_signature(url, params),
                "Content-Type": "application/x-www-form-urlencoded",
                "User-Agent": "TwilioProxy/1.1 (simulate_call)",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                body = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 403:
                raise CommandError(
                    f"The server answered 403 to POST {parts.path}: the signature "
                    "did not match. TWILIO_AUTH_TOKEN here must be the server's, "
                    f"and the server's PUBLIC_BASE_URL must be {self.public_base} "
                    "(the URL signed here)."
                ) from exc
            detail = exc.read().decode(errors="replace")[:300]
            raise CommandError(
                f"The server answered {exc.code} to POST {parts.path}: {detail}"
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CommandError(
                f"Could not reach the server at {target}: {reason}. Start it with "
                "`make run`, or say where it listens with --server URL."
            ) from exc
        if not body.strip():
            return None
        try:
            # The TwiML of the server the operator named, not untrusted input.
            return ET.fromstring(body)  # noqa: S314
        except ET.ParseError as exc:
            raise CommandError(
                f"POST {parts.path} did not answer TwiML: {body[:200]!r}"
            ) from exc

    def public(self, path: str) -> str:
        return self.public_base + path

    # --- The call ---------------------------------------------------------------

    def run(
        self,
        *,
        from_number: str,
        to_number: str,
        outcome: str,
        city: str = "",
        state: str = "",
        message: str = DEFAULT_MESSAGE,
    ) -> tuple[str, Outcome]:
        """Call `to_number` from `from_number`; return the call's sid and outcome."""
        self.outcome = outcome
        self.message = message
        self.result = Outcome()
        self.sid = _sid("CA")
        self.call = {
            "CallSid": self.sid,
            "AccountSid": self.account_sid,
            "From": from_number,
            "To": to_number,
            "Called": to_number,
            "Caller": from_number,
            "CallStatus": "ringing",
            "Direction": "inbound",
            "ApiVersion": API_VERSION,
        }
        if city:
            self.call.update(FromCity=city.upper(), CallerCity=city.upper())
        if state:
            self.call.update(FromState=state.upper(), CallerState=state.upper())
        self.write(f"{from_number} calls {to_number} (CallSid {self.sid})")
        document = self.post(self.public(INCOMING_PATH), self.call)
        self.call["CallStatus"] = "in-progress"
        dials = 0
        while document is not None:
            document, dialled = self.execute(document)
            dials += dialled
            if dials > MAX_DIALS:
                raise CommandError(f"Still ringing after {MAX_DIALS} <Dial>s: gave up.")
        self.hang_up()
        return self.sid, self.result

    def execute(self, document: ET.Element) -> tuple[ET.Element | None, int]:
        """Play one TwiML document; return the next one (None: the call ended)."""
        dials = 0
        for verb in document:
            if verb.tag == "Say":
                self.write(f"  caller hears: “{(verb.text or '').strip()}”")
            elif verb.tag == "Dial":
                dials += 1
                answer = self.dial(verb)
                if verb.get("action"):
                    return answer, dials
            elif verb.tag == "Record":
                return self.record(verb), dials
            elif verb.tag == "Hangup":
                return None, dials
            else:
                self.write(f"  ({verb.tag} is not simulated; skipped)")
        return None, dials

    def dial(self, dial: ET.Element) -> ET.Element | None:
        """Ring the <Number>s; with --answer the first one takes the call."""
        numbers = dial.findall("Number")
        timeout = int(dial.get("timeout") or 30)
        rung = [self.who(number) for number in numbers]
        self.result.rung += rung
        together = " and ".join(rung) if rung else "nobody"
        self.write(
            f"  ringing {together}" + (" at once" if len(rung) > 1 else "") + " ..."
        )
        child = _sid("CA")
        if self.outcome == "answer" and numbers:
            answered = self.whisper(numbers[0], child, caller_id=dial.get("callerId"))
            if answered:
                self.result.answered_by = rung[0]
                self.result.seconds += 5
                self.write(f"  {rung[0]} is connected to the caller; they talk")
                self.result.seconds += TALK_SECONDS
                self.write(f"  ... {TALK_SECONDS} s later the caller hangs up")
                answer = self.post_dial_action(
                    dial,
                    child,
                    DialCallStatus="completed",
                    DialCallDuration=str(TALK_SECONDS),
                )
                self.recording(dial, child)
                return answer
        else:
            self.result.seconds += timeout
            self.write(f"  no answer after {timeout} s")
        return self.post_dial_action(dial, child, DialCallStatus="no-answer")

    def whisper(self, number: ET.Element, child: str, *, caller_id: str | None) -> bool:
        """The counselor's leg: the whisper, then 1 pressed; True when connected."""
        phone = (number.text or "").strip()
        url = number.get("url")
        if not url:
            return True
        leg = {
            "CallSid": child,
            "ParentCallSid": self.sid,
            "AccountSid": self.account_sid,
            "From": caller_id or self.call["From"],
            "To": phone,
            "Called": phone,
            "CallStatus": "in-progress",
            "Direction": "outbound-dial",
            "ApiVersion": API_VERSION,
        }
        name = self.who(number)
        self.write(f"  {name} picks up")
        document = self.post(url, leg)
        gather = document.find("Gather") if document is not None else None
        if gather is None or not gather.get("action"):
            self.write(f"  {name} is hung up on before hearing anything")
            return False
        for say in gather.iter("Say"):
            self.write(f"  counselor hears: “{(say.text or '').strip()}”")
        self.write(f"  {name} presses 1")
        document = self.post(gather.get("action"), {**leg, "Digits": "1"})
        if document is not None and len(document):
            for say in document.iter("Say"):
                self.write(f"  counselor hears: “{(say.text or '').strip()}”")
            self.write(f"  {name} is not connected")
            return False
        return True

    def post_dial_action(
        self, dial: ET.Element, child: str, **outcome: str
    ) -> ET.Element | None:
        if not dial.get("action"):
            return None
        return self.post(
            dial.get("action"), {**self.call, "DialCallSid": child, **outcome}
        )

    def recording(self, dial: ET.Element, child: str) -> None:
        """The recording of the answered call (record-from-answer) is ready."""
        url = dial.get("recordingStatusCallback")
        if not url:
            return
        recording = _sid("RE")
        self.post(
            url,
            {
                "AccountSid": self.account_sid,
                "CallSid": self.sid,
                "RecordingSid": recording,
                "RecordingUrl": self.recording_url(recording),
                "RecordingStatus": "completed",
                "RecordingDuration": str(TALK_SECONDS),
                "RecordingChannels": "2",
                "RecordingSource": "DialVerb",
            },
        )
        self.write(f"  the call's recording is stored ({recording})")

    def record(self, record: ET.Element) -> ET.Element | None:
        """<Record>: hang up at the beep, or leave a message with --voicemail."""
        if self.outcome != "voicemail":
            self.write("  the caller hangs up at the beep without a message")
            return None
        seconds = VOICEMAIL_SECONDS
        self.result.voicemail = True
        self.result.seconds += seconds
        self.write(f"  beep; the caller leaves a {seconds} s message")
        recording = _sid("RE")
        recorded = {
            "RecordingSid": recording,
            "RecordingUrl": self.recording_url(recording),
            "RecordingDuration": str(seconds),
        }
        if record.get("recordingStatusCallback"):
            self.post(
                record.get("recordingStatusCallback"),
                {
                    "AccountSid": self.account_sid,
                    "CallSid": self.sid,
                    **recorded,
                    "RecordingStatus": "completed",
                    "RecordingChannels": "1",
                    "RecordingSource": "RecordVerb",
                },
            )
            self.write(f"  the voicemail is stored ({recording})")
        answer = None
        if record.get("action"):
            answer = self.post(
                record.get("action"), {**self.call, **recorded, "Digits": "hangup"}
            )
        if record.get("transcribeCallback"):
            self.post(
                record.get("transcribeCallback"),
                {
                    **self.call,
                    **recorded,
                    "TranscriptionSid": _sid("TR"),
                    "TranscriptionStatus": "completed",
                    "TranscriptionText": self.message,
                },
            )
            self.write("  the transcription arrives")
        return answer

    def hang_up(self) -> None:
        self.write(f"  the call ends after {self.result.seconds} s")
        self.post(
            self.public(STATUS_PATH),
            {
                **self.call,
                "CallStatus": "completed",
                "CallDuration": str(self.result.seconds),
            },
        )

    def who(self, number: ET.Element) -> str:
        """The counselor a <Number> rings, by name when this database knows them."""
        phone = (number.text or "").strip()
        query = urllib.parse.parse_qs(
            urllib.parse.urlsplit(number.get("url", "")).query
        )
        counselor_id = query.get("counselor", [""])[0]
        try:
            user = User.objects.filter(pk=int(counselor_id)).first()
        except (ValueError, DatabaseError):
            user = None
        return f"{user.get_full_name() or user} ({phone})" if user else phone

    def recording_url(self, recording: str) -> str:
        return (
            f"https://api.twilio.com/{API_VERSION}/Accounts/{self.account_sid}"
            f"/Recordings/{recording}"
        )
