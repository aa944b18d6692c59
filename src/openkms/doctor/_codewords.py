"""How a result code reads in a finding: its name, meaning and cause, its fix and the
procedure it points to; on a Windows MAK machine, Microsoft's MAK wording instead.

One reading for every artefact that prints codes (``slmgr`` transcripts, event logs)."""

from __future__ import annotations

from openkms.doctor._i18n import Text
from openkms.doctor._mscodes import mak_fix, ms_code
from openkms.doctor.explain import Explanation
from openkms.doctor.findings import PROCEDURES, Procedure
from openkms.i18n import N_

__all__ = ["code_fix", "code_meaning", "code_procedure", "mak_words"]


def code_meaning(words: Explanation) -> str:
    """``name: meaning`` and the cause, if the code has one."""
    meaning = Text(N_("{name}: {meaning}"), name=Text(words.name), meaning=Text(words.meaning))
    if words.cause:
        meaning = Text("{meaning} {cause}", meaning=meaning, cause=Text(words.cause))
    return meaning


def code_fix(words: Explanation) -> str:
    """The code's fix, or where to look it up."""
    return Text(words.fix or N_("Look the code up with 'openkms doctor explain CODE'."))


def code_procedure(words: Explanation) -> Procedure:
    """The troubleshooting procedure the code points to first (events when none fits)."""
    return Procedure(words.procedure) if words.procedure in PROCEDURES else Procedure.EVENTS


def mak_words(code: int) -> tuple[str, str] | None:
    """Meaning and fix of a MAK cause (0xC004C003, 0xC004C008, 0xC004C020, ...) in
    Microsoft's MAK wording; None for a code that is not one."""
    entry, fix = ms_code(code), mak_fix(code)
    if entry is None or not fix:
        return None
    meaning = Text(
        N_("{name}: {meaning} {cause}"),
        name=Text(entry.name),
        meaning=Text(entry.meaning),
        cause=Text(entry.cause),
    )
    return meaning, Text(fix)
