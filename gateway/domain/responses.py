"""Responses: what a post hears of the decisions on its items (docs/responses.md).

A response is the post's view of one accepted decision: which item and version, which ITMATT
message carried that version, the decision's code, when it was issued, and the questions of a
request. Nothing else crosses to the post: never the decision's note, its detection, the
deciding consumer's name or anyone's name. `Response` holds only what may be sent, so a store
query that builds one cannot leak the rest. Values only: no I/O.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from gateway.domain.decisions import DecisionCode, Question


@dataclass(frozen=True, slots=True)
class Response:
    """One decision as its post receives it; `position` is the decision's (the pull cursor)."""

    position: int
    partner: str
    item_id: str
    version: int
    message_id: str
    code: DecisionCode
    issued_at: datetime
    questions: tuple[Question, ...] = ()

    @property
    def response_id(self) -> str:
        return response_id(self.partner, self.item_id, self.position)


def response_id(partner: str, item_id: str, position: int) -> str:
    """The stable id of the response to the decision at `position` (the same on every pull and
    push; derived from nothing the post may not know)."""
    digest = hashlib.sha256(f"{partner}\x00{item_id}\x00{position}".encode()).hexdigest()
    return f"response-{digest[:32]}"
