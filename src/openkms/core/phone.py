"""Installation and confirmation IDs: activation by phone, for MAK clients and hosts.

A machine that cannot reach its publisher prints an *installation ID* (``dti``); the
operator reads it to the publisher, who answers with a *confirmation ID* (``publisher
confirm``); the machine installs it (``atp``) and verifies it offline against the phone key
of the pinned catalog. The full specification is docs/protocol.md, "Installation and
confirmation IDs"; in short:

* installation ID, MAK client: 7 groups (49 digits), 138 bits: version (3) | kind (1) |
  product tag (14) | key reference (48) | machine (40: the CMID hashed) | day (16) | check (16);
* installation ID, host: 11 groups (77 digits), 212 bits: version | kind | key reference (48)
  | machine (128: the host's public key and fingerprint hashed) | day | check;
* confirmation ID: 20 groups (140 digits): ``((grant * 2**128 + c) * L + s)`` where
  ``grant = group_rank * 4096 + days`` and ``(c, s)`` is a short Schnorr signature
  (:mod:`openkms.core.shortsig`, 128-bit security) over the :class:`PhoneStatement`.

The statement also binds what both sides know but nobody dictates: the application, the
product (MAK), the license group (host) and the key's ID, so the confirmation ID is worth
nothing for another machine, key, product or grant.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from openkms.core.codes import ResultCode
from openkms.core.keys import ALPHABET, ProductKey
from openkms.core.phone_digits import DATA_DIGITS, format_groups, parse_groups
from openkms.core.shortsig import (
    CHALLENGE_BITS,
    GROUP_ORDER,
    PhoneSigningKey,
    ShortSignature,
    verify_short,
)
from openkms.errors import OpenKMSError
from openkms.i18n import _

__all__ = [
    "CONFIRMATION_DOMAIN",
    "IID_MAX_AGE_DAYS",
    "MAX_GRANT_DAYS",
    "ConfirmationId",
    "InstallationId",
    "PhoneFacts",
    "PhoneKind",
    "PhoneStatement",
    "confirm",
    "confirmed_installation",
    "host_reference",
    "key_reference",
    "machine_reference",
    "product_tag_number",
    "statement_bytes",
    "verify_confirmation",
]

CONFIRMATION_DOMAIN = b"openkms/phone-confirmation/v1"
STATEMENT_FORMAT = "openkms-phone/1"
IID_VERSION = 1
IID_MAX_AGE_DAYS = 30  # the publisher refuses older installation IDs; atp looks this far back
MAX_GRANT_DAYS = 4095
MAX_GROUP_RANK = 63
_DAY_BITS = 16
_CHECK_BITS = 16
_CID_GROUPS = 20


class PhoneKind(enum.IntEnum):
    """What an installation ID asks for."""

    MAK = 0
    HOST = 1

    @property
    def groups(self) -> int:
        """Groups of digits of this kind's installation ID."""
        return 7 if self is PhoneKind.MAK else 11

    @property
    def machine_bits(self) -> int:
        """Bits of the machine reference (a hashed CMID, or a host's key and fingerprint)."""
        return 40 if self is PhoneKind.MAK else 128


_TAG_BITS = 14
_KEY_BITS = 48
_BY_GROUPS = {kind.groups: kind for kind in PhoneKind}


def _truncated(domain: bytes, data: bytes, bits: int) -> int:
    return int.from_bytes(hashlib.sha256(domain + data).digest()[: bits // 8], "big")


def key_reference(key: ProductKey) -> int:
    """48 bits that only a holder of ``key`` can compute (not derivable from its key ID)."""
    return _truncated(b"openkms-phone-key:", key.symbols.encode(), _KEY_BITS)


def machine_reference(cmid: bytes) -> int:
    """A MAK client's machine reference: its 16-byte CMID hashed to 40 bits."""
    return _truncated(b"openkms-phone-machine:", cmid, PhoneKind.MAK.machine_bits)


def host_reference(public_key: bytes, host_fingerprint: str) -> int:
    """A host's machine reference: its public key and fingerprint hashed to 128 bits."""
    data = public_key + host_fingerprint.encode()
    return _truncated(b"openkms-phone-host:", data, PhoneKind.HOST.machine_bits)


def product_tag_number(tag: str) -> int:
    """A MAK's three-symbol product tag as a number (base 24, 0..13823)."""
    value = 0
    for ch in tag:
        value = value * len(ALPHABET) + ALPHABET.index(ch)
    return value


@dataclass(frozen=True, slots=True)
class InstallationId:
    """What a machine asks its publisher to confirm."""

    kind: PhoneKind
    product_tag: int  # a MAK's product tag number; 0 for a host
    key_ref: int
    machine: int
    day: int  # days since 1970-01-01 (UTC)

    def _fields(self) -> list[tuple[int, int]]:
        fields = [(IID_VERSION, 3), (int(self.kind), 1)]
        if self.kind is PhoneKind.MAK:
            fields.append((self.product_tag, _TAG_BITS))
        fields += [(self.key_ref, _KEY_BITS), (self.machine, self.kind.machine_bits)]
        return [*fields, (self.day, _DAY_BITS)]

    def _body(self) -> tuple[int, int]:
        value, bits = 0, 0
        for field, width in self._fields():
            if not 0 <= field < 1 << width:
                raise ValueError(f"field {field} does not fit in {width} bits")
            value, bits = value << width | field, bits + width
        return value, bits

    @property
    def value(self) -> int:
        """The ID as one number: the fields, then a 16-bit check of them."""
        body, bits = self._body()
        return body << _CHECK_BITS | _iid_check(body, bits)

    @property
    def data_digits(self) -> str:
        """The ID's digits without check digits (what the statement signs)."""
        return str(self.value).zfill(self.kind.groups * DATA_DIGITS)

    def __str__(self) -> str:
        return format_groups(self.value, self.kind.groups)

    @classmethod
    def parse(cls, text: str) -> InstallationId:
        """Parse an installation ID as typed; OpenKMSError naming what is wrong."""
        value, groups = parse_groups(text, "installation ID", (7, 11))
        return cls.from_value(value, _BY_GROUPS[groups])

    @classmethod
    def from_data_digits(cls, text: str, kind: PhoneKind) -> InstallationId:
        """The ID whose data digits (no check digits) are ``text``, as a statement has them."""
        return cls.from_value(_data_value(text, kind.groups, _("installation ID")), kind)

    @classmethod
    def from_value(cls, value: int, kind: PhoneKind) -> InstallationId:
        """The ID whose number is ``value``; PHONE_ID_MISTYPED when it does not check."""
        bits = 4 + (_TAG_BITS if kind is PhoneKind.MAK else 0) + _KEY_BITS + kind.machine_bits
        bits += _DAY_BITS
        body, check = value >> _CHECK_BITS, value & ((1 << _CHECK_BITS) - 1)
        if body >> bits or check != _iid_check(body, bits):
            raise _not_checking(_("installation ID"))
        day, rest = body & 0xFFFF, body >> _DAY_BITS
        machine, rest = rest & ((1 << kind.machine_bits) - 1), rest >> kind.machine_bits
        key_ref, rest = rest & ((1 << _KEY_BITS) - 1), rest >> _KEY_BITS
        tag = 0
        if kind is PhoneKind.MAK:
            tag, rest = rest & ((1 << _TAG_BITS) - 1), rest >> _TAG_BITS
        if rest != IID_VERSION << 1 | int(kind):
            raise OpenKMSError(
                _("This installation ID is of another version ({rest}) or kind.").format(
                    rest=rest >> 1
                ),
                code=ResultCode.UNSUPPORTED_VERSION,
                fix=_("Make the installation ID with this version of OpenKMS (dti)."),
            )
        return cls(kind, tag, key_ref, machine, day)


def _iid_check(body: int, bits: int) -> int:
    data = body.to_bytes((bits + 7) // 8, "big")
    return _truncated(b"openkms-iid:", data, _CHECK_BITS)


def _data_value(text: str, groups: int, what: str) -> int:
    if len(text) != groups * DATA_DIGITS or not (text.isascii() and text.isdigit()):
        raise OpenKMSError(
            _("A stored {what} is not {groups} digits.").format(
                what=what, groups=groups * DATA_DIGITS
            ),
            code=ResultCode.PHONE_ID_MISTYPED,
        )
    return int(text)


def _check_grant(days: int, group_rank: int) -> None:
    if not (1 <= days <= MAX_GRANT_DAYS and 0 <= group_rank <= MAX_GROUP_RANK):
        raise ValueError(f"days must be 1..{MAX_GRANT_DAYS} and the group rank 0..63")


def _not_checking(what: str) -> OpenKMSError:
    return OpenKMSError(
        _("The {what} does not check as a whole: more than one digit of a group is wrong.").format(
            what=what
        ),
        code=ResultCode.PHONE_ID_MISTYPED,
        fix=_("Read the whole {what} again, digit by digit.").format(what=what),
    )


@dataclass(frozen=True, slots=True)
class ConfirmationId:
    """What the publisher answers: the grant and the short signature over the statement."""

    days: int  # valid for this many days from the installation ID's day
    group_rank: int  # a host's license group, as its position in the catalog; 0 for a MAK
    signature: ShortSignature

    @property
    def value(self) -> int:
        """The ID as one number: ``((grant * 2**128 + c) * L + s)``."""
        _check_grant(self.days, self.group_rank)
        grant = self.group_rank << 12 | self.days
        head = grant << CHALLENGE_BITS | self.signature.challenge
        return head * GROUP_ORDER + self.signature.response

    @property
    def data_digits(self) -> str:
        """The ID's digits without check digits."""
        return str(self.value).zfill(_CID_GROUPS * DATA_DIGITS)

    def __str__(self) -> str:
        return format_groups(self.value, _CID_GROUPS)

    @classmethod
    def parse(cls, text: str) -> ConfirmationId:
        """Parse a confirmation ID as typed; OpenKMSError naming what is wrong."""
        value, _groups = parse_groups(text, "confirmation ID", (_CID_GROUPS,))
        return cls.from_value(value)

    @classmethod
    def from_data_digits(cls, text: str) -> ConfirmationId:
        """The ID whose data digits (no check digits) are ``text``."""
        return cls.from_value(_data_value(text, _CID_GROUPS, _("confirmation ID")))

    @classmethod
    def from_value(cls, value: int) -> ConfirmationId:
        """The ID whose number is ``value``; PHONE_ID_MISTYPED when out of range."""
        head, response = divmod(value, GROUP_ORDER)
        grant, challenge = head >> CHALLENGE_BITS, head & ((1 << CHALLENGE_BITS) - 1)
        days, rank = grant & 0xFFF, grant >> 12
        if days == 0 or rank > MAX_GROUP_RANK or response == 0:
            raise _not_checking(_("confirmation ID"))
        return cls(days, rank, ShortSignature(challenge, response))


class PhoneStatement(msgspec.Struct, frozen=True, array_like=True):
    """What a confirmation ID's signature covers (a MessagePack array)."""

    format: str
    installation_id: str  # the installation ID's data digits
    days: int
    group_rank: int
    group: str  # a host's license group; "" for a MAK
    application_id: str
    activation_id: str  # a MAK's product; "" for a host
    key_id: str  # ProductKey.key_id of the MAK or host key


@dataclass(frozen=True, slots=True)
class PhoneFacts:
    """What both sides know without dictating it, bound by the confirmation's signature."""

    application_id: str
    key_id: str
    activation_id: str = ""  # a MAK's product
    group: str = ""  # a host's license group


def statement_bytes(iid: InstallationId, cid: ConfirmationId, facts: PhoneFacts) -> bytes:
    """The signed bytes of a confirmation (MessagePack of :class:`PhoneStatement`)."""
    statement = PhoneStatement(
        STATEMENT_FORMAT,
        iid.data_digits,
        cid.days,
        cid.group_rank,
        facts.group,
        facts.application_id,
        facts.activation_id,
        facts.key_id,
    )
    return msgspec.msgpack.encode(statement)


def confirm(
    key: PhoneSigningKey, iid: InstallationId, days: int, group_rank: int, facts: PhoneFacts
) -> ConfirmationId:
    """The confirmation ID granting ``days`` (and a host's ``group_rank``) to ``iid``."""
    _check_grant(days, group_rank)
    unsigned = ConfirmationId(days, group_rank, ShortSignature(0, 1))
    signature = key.sign(CONFIRMATION_DOMAIN, statement_bytes(iid, unsigned, facts))
    return ConfirmationId(days, group_rank, signature)


def verify_confirmation(
    phone_key: bytes, iid: InstallationId, cid: ConfirmationId, facts: PhoneFacts
) -> bool:
    """True when ``cid`` confirms ``iid`` with ``facts``, signed by the holder of ``phone_key``."""
    message = statement_bytes(iid, cid, facts)
    return verify_short(phone_key, CONFIRMATION_DOMAIN, message, cid.signature)


def confirmed_installation(
    phone_key: bytes,
    installation_on: Callable[[int], InstallationId],
    cid: ConfirmationId,
    facts: PhoneFacts,
    today: int,
) -> InstallationId | None:
    """The installation ID this machine made on some day that ``cid`` confirms, or None.

    ``installation_on(day)`` is the machine's installation ID of that day: the machine tries
    the days an installation ID stays good for, so it need not remember which it printed.
    """
    for day in range(today + 1, today - IID_MAX_AGE_DAYS - 1, -1):
        iid = installation_on(day)
        if verify_confirmation(phone_key, iid, cid, facts):
            return iid
    return None
