"""``explain(code)``: what ``slui 0x2a CODE`` tells, plus the cause, the fix and the checks to run.

OpenKMS's own result codes come from :class:`ResultCode`; Microsoft's published
volume-activation codes that OpenKMS does not produce come from the doctor's table
(:mod:`openkms.doctor._mscodes`), which also adds the published cause to codes both know.
"""

from __future__ import annotations

import msgspec

from openkms.core.codes import ResultCode, decode_hresult, describe
from openkms.doctor._mscodes import MsCode, ms_code
from openkms.doctor._text import ArtefactError
from openkms.doctor.findings import labelled
from openkms.i18n import DEFAULT_LANGUAGE, N_, _, language_scope, pgettext

__all__ = ["Explanation", "explain", "parse_code"]


class Explanation(msgspec.Struct, frozen=True, kw_only=True):
    """A result code in words."""

    code: str
    name: str
    known: bool
    meaning: str
    fix: str
    checks: tuple[str, ...]
    decoded: str
    cause: str = ""
    procedure: str = ""
    source: str = ""

    def render_text(self) -> str:
        """Human text in the current language, one fact per line (``--json`` stays English)."""
        pairs = [(pgettext("finding", "meaning:"), _(self.meaning))]
        if self.cause:
            pairs.append((pgettext("finding", "cause:"), _(self.cause)))
        if self.known:
            pairs.append((pgettext("finding", "fix:"), _(self.fix)))
        if self.checks:
            pairs.append((pgettext("finding", "checks:"), ", ".join(self.checks)))
        # Decoded again here: the field is English (JSON), the line in the reader's language.
        decoded = decode_hresult(parse_code(self.code))
        pairs.append((pgettext("finding", "decoded:"), decoded))
        return "\n".join([f"{self.code} {_(self.name)}", *labelled(pairs)])


def parse_code(text: str | int) -> int:
    """'0xC004F074', 'C004F074', '3221549172' or '-1073418124' as an unsigned 32-bit int."""
    if isinstance(text, int):
        value = text
    else:
        raw = text.strip().replace("_", "")
        try:
            if raw.lower().startswith(("0x", "-0x")):
                value = int(raw, 16)
            elif raw.lstrip("-").isdigit() and len(raw) != 8:
                # 8 digits is how HRESULTs are written without 0x (80070005), not decimal.
                value = int(raw, 10)
            else:
                value = int(raw, 16)
        except ValueError:
            raise ArtefactError(_("not a result code: {text}").format(text=repr(text))) from None
    if not -(2**31) <= value < 2**32:
        raise ArtefactError(_("not a 32-bit result code: {text}").format(text=repr(text)))
    return value & 0xFFFFFFFF


def _published(value: int, entry: MsCode) -> Explanation:
    return Explanation(
        code=entry.hex,
        name=entry.name,
        known=True,
        meaning=entry.meaning,
        fix=entry.fix,
        checks=(entry.procedure,),
        decoded=decode_hresult(value),
        cause=entry.cause,
        procedure=entry.procedure,
        source=entry.source,
    )


def explain(code: str | int) -> Explanation:
    """Name, meaning, cause, fix and checks of a result code; unknown codes are decoded.

    A code that cannot be read is an :class:`ArtefactError` in the reader's language; the
    explanation itself is English (``--json``), shown translated by :meth:`render_text`."""
    value = parse_code(code)
    with language_scope(DEFAULT_LANGUAGE):
        return _explained(value)


def _explained(value: int) -> Explanation:
    entry = ms_code(value)
    if value not in ResultCode._value2member_map_:
        if entry is not None:
            return _published(value, entry)
        name, info = describe(value)
        return Explanation(
            code=f"0x{value:08X}",
            name=N_("unknown code"),
            known=False,
            meaning=info.message,
            fix="",
            checks=info.checks,
            decoded=decode_hresult(value),
        )
    name, info = describe(value)
    procedure = entry.procedure if entry else (info.checks[0] if info.checks else "")
    return Explanation(
        code=f"0x{value:08X}",
        name=name,
        known=True,
        meaning=info.message,
        fix=info.fix,
        checks=info.checks or ((procedure,) if procedure else ()),
        decoded=decode_hresult(value),
        cause=entry.cause if entry else "",
        procedure=procedure,
        source=entry.source if entry else "",
    )
