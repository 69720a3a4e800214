"""Local development: print the call instead of placing it."""

import logging
import uuid

from .base import VoiceBackend

logger = logging.getLogger(__name__)


class ConsoleVoiceBackend(VoiceBackend):
    def create_call(
        self, *, to: str, from_: str, url: str, status_callback: str
    ) -> str:
        sid = "CA" + uuid.uuid4().hex
        logger.info("voice console call sid=%s to=***%s twiml=%s", sid, to[-4:], url)
        return sid
