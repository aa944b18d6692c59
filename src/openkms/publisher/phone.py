"""The publisher's side of phone activation: confirm an installation ID read out by phone.

:func:`confirm_installation` parses the installation ID, finds the key it names among the
keys this publisher issued (:func:`issued_keys`, the one place that reads the key records),
enforces that key's limits and blocks as online activation does, records the activation,
and signs the confirmation ID with the phone key derived from the root key.

Until the publisher's records database lands, MAKs live in ``mak-keys.json`` beside
``host-keys.json`` (:func:`issue_mak` adds one); host keys are those of ``host-keys.json``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import msgspec

from openkms._files import atomic_write, read_bytes
from openkms.core.catalog import Catalog
from openkms.core.codes import ResultCode
from openkms.core.keys import ProductKey
from openkms.core.phone import (
    IID_MAX_AGE_DAYS,
    MAX_GRANT_DAYS,
    ConfirmationId,
    InstallationId,
    PhoneFacts,
    PhoneKind,
    confirm,
    key_reference,
    product_tag_number,
)
from openkms.core.shortsig import PhoneSigningKey
from openkms.errors import KeyFormatError, OpenKMSError, StateError
from openkms.publisher.publisher import Publisher

__all__ = [
    "MAK_PHONE_DAYS",
    "Confirmation",
    "IssuedKey",
    "MakEntry",
    "confirm_installation",
    "issue_mak",
    "issued_keys",
]

MAK_PHONE_DAYS = 3650  # a MAK activated by phone: ten years (Windows: for good)


class MakEntry(msgspec.Struct):
    """One issued MAK: its product, its activations and whether it is blocked."""

    key: str
    activation_id: str
    max_activations: int
    issued_at: int
    blocked: bool = False
    activations: dict[str, int] = msgspec.field(default_factory=dict)


class _MakLedger(msgspec.Struct):
    maks: dict[str, MakEntry] = msgspec.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key this publisher issued, as phone activation needs it."""

    key: ProductKey
    kind: PhoneKind
    group: str | None = None  # a host key's license group
    mak: MakEntry | None = None


@dataclass(frozen=True, slots=True)
class Confirmation:
    """What ``publisher confirm`` prints."""

    installation_id: str
    confirmation_id: str
    kind: str
    partial_product_key: str
    product: str  # the MAK's activation ID, or the host key's license group
    days: int
    valid_until: str


def _mak_ledger(publisher: Publisher) -> _MakLedger:
    path = publisher.directory / "mak-keys.json"
    if not path.exists():
        return _MakLedger()
    try:
        return msgspec.json.decode(read_bytes(path, "MAK ledger"), type=_MakLedger)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise StateError(f"{path} is corrupt: {exc}") from None


def _save_mak_ledger(publisher: Publisher, ledger: _MakLedger) -> None:
    data = msgspec.json.format(msgspec.json.encode(ledger), indent=2) + b"\n"
    atomic_write(publisher.directory / "mak-keys.json", data, mode=0o600)


def issue_mak(publisher: Publisher, activation_id: str, activations: int) -> ProductKey:
    """A new MAK for the product ``activation_id``, good for ``activations`` machines."""
    if publisher.trust().catalog.product(activation_id) is None:
        raise OpenKMSError(
            f"no product has the activation ID {activation_id!r}",
            fix="Give an activation ID from 'openkms publisher setup-keys --json'.",
        )
    key = ProductKey.generate_mak(activation_id, secrets.token_bytes)
    ledger = _mak_ledger(publisher)
    now = int(publisher._clock())  # the publisher's injected clock
    ledger.maks[key.key_id] = MakEntry(str(key), activation_id, activations, now)
    _save_mak_ledger(publisher, ledger)
    return key


def issued_keys(publisher: Publisher) -> Iterator[IssuedKey]:
    """Every key this publisher issued (the one place phone activation reads key records)."""
    for entry in publisher.host_keys().values():
        yield IssuedKey(ProductKey.parse(entry.key), PhoneKind.HOST, group=entry.group)
    for mak in _mak_ledger(publisher).maks.values():
        yield IssuedKey(ProductKey.parse(mak.key), PhoneKind.MAK, mak=mak)


def _find(publisher: Publisher, iid: InstallationId) -> IssuedKey:
    found = [
        issued
        for issued in issued_keys(publisher)
        if issued.kind is iid.kind and key_reference(issued.key) == iid.key_ref
    ]
    if len(found) != 1 or (
        iid.kind is PhoneKind.MAK
        and product_tag_number(found[0].key.product_tag) != iid.product_tag
    ):
        raise KeyFormatError(
            "The installation ID names no key this publisher issued.",
            fix="Check that the machine installed a key of this publisher (a MAK for a client, "
            "a host key for a host) and read the installation ID again.",
        )
    return found[0]


def _check_day(iid: InstallationId, today: int) -> None:
    if not today - IID_MAX_AGE_DAYS <= iid.day <= today + 1:
        made = dt.date(1970, 1, 1) + dt.timedelta(days=iid.day)
        raise OpenKMSError(
            f"The installation ID was made on {made.isoformat()}: more than "
            f"{IID_MAX_AGE_DAYS} days ago, or in the future.",
            code=ResultCode.CLOCK_SKEW,
            fix="Set the machine's clock right and make a new installation ID with 'dti'.",
        )


def _record_mak(publisher: Publisher, issued: IssuedKey, machine: str) -> None:
    """Enforce the MAK's block and limit and count this machine (once, however often)."""
    ledger = _mak_ledger(publisher)
    entry = ledger.maks[issued.key.key_id]
    if entry.blocked:
        raise OpenKMSError(code=ResultCode.KEY_BLOCKED)
    if machine not in entry.activations and len(entry.activations) >= entry.max_activations:
        raise OpenKMSError(
            f"this MAK has activated {len(entry.activations)} machines "
            f"(limit {entry.max_activations})",
            code=ResultCode.HOST_KEY_LIMIT_EXCEEDED,
        )
    entry.activations[machine] = entry.activations.get(machine, 0) + 1
    _save_mak_ledger(publisher, ledger)


def _record_host(publisher: Publisher, issued: IssuedKey, host: str, catalog: Catalog) -> None:
    """Enforce the host key's limits (as activate-host does) and count this host."""
    ledger = publisher._ledger()  # the host-key ledger, until the records DB
    entry = ledger.host_keys[issued.key.key_id]
    Publisher._enforce_limits(entry, host, catalog)
    entry.activations[host] = entry.activations.get(host, 0) + 1
    publisher._save_ledger(ledger)


def confirm_installation(publisher: Publisher, text: str, days: int | None = None) -> Confirmation:
    """The confirmation ID for the installation ID ``text``; the activation is recorded.

    OpenKMSError naming the mistyped group, an unknown key (0xC004F050), a key past its
    limit (0xC004C008) or blocked (0xC004C003), or an installation ID out of date.
    """
    iid = InstallationId.parse(text)
    now = int(publisher._clock())
    _check_day(iid, now // 86400)
    catalog = publisher.trust().catalog
    issued = _find(publisher, iid)
    machine = f"phone:{iid.machine:x}"
    if issued.kind is PhoneKind.MAK:
        assert issued.mak is not None
        granted = min(days or MAK_PHONE_DAYS, MAX_GRANT_DAYS)
        facts = PhoneFacts(catalog.application_id, issued.key.key_id, issued.mak.activation_id)
        rank, product = 0, issued.mak.activation_id
    else:
        assert issued.group is not None
        granted = min(days or catalog.certificate_days, MAX_GRANT_DAYS)
        facts = PhoneFacts(catalog.application_id, issued.key.key_id, group=issued.group)
        rank, product = catalog.group_rank(issued.group), issued.group
    phone = PhoneSigningKey.derive(publisher._root_key().private_bytes_raw())
    if phone.public_key != catalog.phone_key:
        raise StateError(
            "trust.json carries no phone key of this root key: clients could not verify a "
            "confirmation ID.",
            fix="Run 'openkms publisher sign-catalog DIR' and give the new trust.json to the "
            "hosts and clients.",
        )
    cid = confirm(phone, iid, granted, rank, facts)
    if issued.kind is PhoneKind.MAK:
        _record_mak(publisher, issued, machine)
    else:
        _record_host(publisher, issued, machine, catalog)
    return _confirmation(iid, cid, issued, product)


def _confirmation(
    iid: InstallationId, cid: ConfirmationId, issued: IssuedKey, product: str
) -> Confirmation:
    until = dt.date(1970, 1, 1) + dt.timedelta(days=iid.day + cid.days)
    return Confirmation(
        installation_id=str(iid),
        confirmation_id=str(cid),
        kind=issued.kind.name.lower(),
        partial_product_key=issued.key.partial,
        product=product,
        days=cid.days,
        valid_until=until.isoformat(),
    )
