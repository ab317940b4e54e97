"""Immutable records the timeline produces."""
from __future__ import annotations

from typing import NamedTuple

EVENT_KINDS = ("staff_leave", "staff_join", "session", "disband", "transfer", "lost", "dropout",
               "staff_move_out", "staff_move_in", "merge")


class Event(NamedTuple):
    """One thing that happened, at ``month`` since randomisation.

    ``subject`` is a patient index for patient events (transfer, lost, dropout), else -1.
    ``value``: staff in post after a staff event (a leaver, newcomer, or a mover leaving or
    joining the team); number attending a session; receiving team of a transfer, or the team a
    merging ``team`` merges into; -1 otherwise.
    """

    month: float
    kind: str
    team: int
    subject: int
    value: int
