"""One license block of ``slmgr /dli`` or ``/dlv`` output, and the text parser that splits it.

Labels are matched after normalisation (case, accents, the space French puts before the
colon, German umlauts spelled out); unknown lines are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from openkms.core.license import LicenseState
from openkms.doctor._text import normalize_label
from openkms.doctor.slmgr._labels import field_of, flag_of, state_of

__all__ = ["SlmgrLicense", "parse_slmgr_text", "recognised_lines"]

_CHANNEL = re.compile(r"\b(VOLUME_[A-Z0-9_]+|MAK|RETAIL|OEM[A-Z0-9_:]*)\b")
_NUMBER = re.compile(r"-?\d+")
_HEX = re.compile(r"0x[0-9A-Fa-f]{8}")


@dataclass
class SlmgrLicense:
    """One license block of slmgr output, with the line of each field for evidence."""

    source_file: str
    first_line: int
    values: dict[str, str] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    requests_by_status: dict[str, int] = field(default_factory=dict)

    def text(self, name: str) -> str | None:
        """Raw value of a field, or None."""
        return self.values.get(name)

    def number(self, name: str) -> int | None:
        """First integer in a field's value, or None."""
        match = _NUMBER.search(self.values.get(name, ""))
        return int(match.group()) if match else None

    def flag(self, name: str) -> bool | None:
        """A yes/no line (KMS enabled, DNS publishing, host caching), or None if absent."""
        value = self.values.get(name)
        return None if value is None else value == "1"

    def where(self, name: str) -> str:
        """``file:line`` of a field (of the block when the field is absent)."""
        return f"{self.source_file}:{self.lines.get(name, self.first_line)}"

    @property
    def name(self) -> str | None:
        """Product name (``Name:``)."""
        return self.text("name")

    @property
    def channel(self) -> str | None:
        """VOLUME_KMSCLIENT, VOLUME_KMS_..., MAK, RETAIL, ... from Description or channel."""
        for source in (self.text("description"), self.text("product_key_channel")):
            match = _CHANNEL.search((source or "").upper())
            if match:
                return match.group(1)
        return None

    @property
    def partial_key(self) -> str | None:
        """Last five characters of the installed key."""
        return self.text("partial_key")

    @property
    def state(self) -> LicenseState | None:
        """License Status as a :class:`LicenseState`, None if absent or unknown."""
        return state_of(self.values.get("license_status", ""))

    @property
    def expiration_minutes(self) -> int | None:
        """Volume activation expiration or grace time remaining, in minutes."""
        return self.number("expiration")

    @property
    def notification_code(self) -> str | None:
        """HRESULT of ``Notification Reason``, if any."""
        match = _HEX.search(self.values.get("notification_reason", ""))
        return match.group().upper().replace("0X", "0x") if match else None

    @property
    def kms_machine(self) -> tuple[str | None, int | None]:
        """(KMS machine name, port) from DNS or registered by hand."""
        value = self.text("kms_registered") or self.text("kms_dns")
        if not value:
            return None, None
        head, sep, tail = value.strip().rpartition(":")
        if sep and tail.isdigit() and (head.endswith("]") or ":" not in head):
            return head.strip("[]") or None, int(tail)
        return value.strip(), None

    @property
    def is_host(self) -> bool:
        """True when the KMS host section is present."""
        return bool(self.flag("kms_enabled"))

    @property
    def is_client(self) -> bool:
        """True for a KMS client: client section, a CMID or the KMSCLIENT channel."""
        return bool(
            self.flag("client_section") or self.text("cmid") or self.channel == "VOLUME_KMSCLIENT"
        )

    @property
    def installed(self) -> bool:
        """True when a key is installed (``/dlv all`` also lists unused licenses)."""
        return bool(self.partial_key) or self.is_host or self.is_client

    def identity(self) -> str:
        """What tells two snapshots of the same machine apart from others."""
        return "|".join(
            self.values.get(k, "") for k in ("extended_pid", "activation_id", "partial_key")
        )


def _split(line: str) -> tuple[str, str] | None:
    label, sep, value = line.partition(":")
    if not sep:
        return None
    return normalize_label(label), value.strip()


def parse_slmgr_text(text: str, source_file: str = "<text>") -> list[SlmgrLicense]:
    """Split slmgr output into license blocks; only recognised lines are kept."""
    blocks: list[SlmgrLicense] = []
    preamble = SlmgrLicense(source_file, 1)
    current = preamble
    for number, line in enumerate(text.splitlines(), start=1):
        flag = flag_of(line)
        if flag:
            current.values[flag[0]] = flag[1]
            current.lines[flag[0]] = number
            continue
        pair = _split(line)
        name = field_of(pair[0]) if pair else None
        if pair is None or name is None:
            continue
        if name == "name":
            current = SlmgrLicense(source_file, number)
            blocks.append(current)
        if name.startswith("requests:"):
            count = _NUMBER.search(pair[1])
            current.requests_by_status[name[9:]] = int(count.group()) if count else 0
        current.values[name] = pair[1]
        current.lines[name] = number
    if not blocks and preamble.values:
        blocks.append(preamble)
    return blocks


def recognised_lines(text: str) -> int:
    """How many lines of ``text`` are known slmgr fields or flags: how well a decoding of a
    saved file reads (cp850 and cp1252 differ in their umlauts and accents)."""
    count = 0
    for line in text.splitlines():
        pair = _split(line)
        if flag_of(line) is not None or (pair is not None and field_of(pair[0]) is not None):
            count += 1
    return count
