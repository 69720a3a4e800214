"""Local default: print the text instead of sending it, and call it delivered."""

import logging
import uuid

from .base import SendResult, SmsBackend

logger = logging.getLogger(__name__)


class ConsoleBackend(SmsBackend):
    def send(
        self,
        *,
        to: str,
        body: str,
        from_number: str,
        messaging_service_sid: str,
        status_callback: str,
    ) -> SendResult:
        sid = "SM" + uuid.uuid4().hex
        # Local development only: the body is shown so a newcomer sees what a lead
        # would receive. Never the default outside DEBUG-style setups.
        logger.info(
            "sms (console backend) sid=%s to=%s from=%s\n%s",
            sid,
            to,
            messaging_service_sid or from_number,
            body,
        )
        return SendResult(sid=sid, status="delivered")
