"""``explain(code)``: what ``slui 0x2a CODE`` tells, plus the fix and the checks to run."""

from __future__ import annotations

import msgspec

from openkms.core.codes import ResultCode, decode_hresult, describe
from openkms.doctor._text import ArtefactError

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

    def render_text(self) -> str:
        """Human text, one fact per line."""
        lines = [f"{self.code} {self.name}", f"  meaning: {self.meaning}"]
        if self.known:
            lines.append(f"  fix:     {self.fix}")
        if self.checks:
            lines.append(f"  checks:  {', '.join(self.checks)}")
        lines.append(f"  decoded: {self.decoded}")
        return "\n".join(lines)


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
            raise ArtefactError(f"not a result code: {text!r}") from None
    if not -(2**31) <= value < 2**32:
        raise ArtefactError(f"not a 32-bit result code: {text!r}")
    return value & 0xFFFFFFFF


def explain(code: str | int) -> Explanation:
    """Name, meaning, fix and checks of a result code; unknown codes are decoded."""
    value = parse_code(code)
    name, info = describe(value)
    known = value in ResultCode._value2member_map_
    return Explanation(
        code=f"0x{value:08X}",
        name=name if known else "unknown code",
        known=known,
        meaning=info.message,
        fix=info.fix if known else "",
        checks=info.checks,
        decoded=decode_hresult(value),
    )
