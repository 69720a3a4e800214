"""What a voice backend does: place a call that Twilio drives with our TwiML."""


class VoiceError(Exception):
    """The call could not be placed; the message says why (no phone numbers)."""


class VoiceBackend:
    def create_call(
        self, *, to: str, from_: str, url: str, status_callback: str
    ) -> str:
        """Ring `to` from `from_`; when answered, Twilio fetches `url`. Return the
        call's SID."""
        raise NotImplementedError
