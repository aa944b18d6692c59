"""Root key rotation: the chain of key transitions a trust document may carry.

A publisher that rotates its root key writes a *transition*: "key K(n) is succeeded by
K(n+1) from time T; the first catalog under K(n+1) has serial s". The old key signs it (the
publisher vouches for its successor) and the new key countersigns it (proof of possession:
nobody can name someone else's key as successor). ``trust.json`` carries every transition
since the publisher's first key, oldest first; documents without rotation carry none.

A holder pinned to any key of the chain accepts the document (the chain starts at its pin)
and then pins the newest key; the older keys stay *retired*: they verify certificates issued
before their transition, each until its own expiry, and nothing else. See docs/protocol.md,
section "Root key rotation".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from openkms.core.codes import ResultCode
from openkms.core.signing import Envelope, SigningKey, fingerprint, public_bytes, sign, verify
from openkms.errors import SignatureError
from openkms.i18n import _

__all__ = [
    "MAX_TRANSITIONS",
    "ROTATION_ACCEPT_DOMAIN",
    "ROTATION_DOMAIN",
    "RootKey",
    "RootTransition",
    "RotationLink",
    "make_link",
    "verify_chain",
]

ROTATION_DOMAIN = b"openkms/root-rotation/v1"
ROTATION_ACCEPT_DOMAIN = b"openkms/root-rotation-accept/v1"
# A publisher rotating every year for a century stays far below this; a hostile document
# cannot make a holder verify an unbounded number of signatures.
MAX_TRANSITIONS = 64


class RootTransition(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One transition: ``previous_key`` is succeeded by ``next_key`` from ``at``."""

    sequence: int  # 1 for the first rotation, then 2, 3, ...
    previous_key: bytes
    next_key: bytes
    at: int  # epoch seconds; certificates the previous key signed later are not honoured
    catalog_serial: int  # the first catalog serial signed by next_key
    previous_phone_key: bytes = b""  # the retired key's phone key (catalog.phone_key)


class RotationLink(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A transition as it travels: its encoded body, signed by both keys."""

    body: bytes  # msgpack of RootTransition
    signature: bytes  # by previous_key, domain ROTATION_DOMAIN
    countersignature: bytes  # by next_key, domain ROTATION_ACCEPT_DOMAIN


@dataclass(frozen=True, slots=True)
class RootKey:
    """A root key of the chain; a retired one verifies certificates issued before ``retired_at``.

    ``retired_at`` is None for the current key. ``phone_key`` is the phone-signing key the
    catalog named while this root key was current (empty: none).
    """

    public_key: bytes
    phone_key: bytes
    retired_at: int | None = None

    def honours(self, issued_at: int) -> bool:
        """True when a certificate issued at ``issued_at`` may be signed by this key."""
        return self.retired_at is None or issued_at < self.retired_at


def make_link(
    previous: SigningKey,
    successor: SigningKey,
    *,
    sequence: int,
    at: int,
    catalog_serial: int,
    previous_phone_key: bytes = b"",
) -> RotationLink:
    """The transition from ``previous`` to ``successor``, signed by both."""
    transition = RootTransition(
        sequence=sequence,
        previous_key=public_bytes(previous),
        next_key=public_bytes(successor),
        at=at,
        catalog_serial=catalog_serial,
        previous_phone_key=previous_phone_key,
    )
    body = msgspec.msgpack.encode(transition)
    signed = sign(previous, ROTATION_DOMAIN, body)
    accepted = sign(successor, ROTATION_ACCEPT_DOMAIN, body)
    return RotationLink(body, signed.signature, accepted.signature)


def _broken(number: int, reason: str) -> SignatureError:
    return SignatureError(
        _(
            "The root key chain of this trust document is broken at transition {number}: {reason}."
        ).format(number=number, reason=reason),
        code=ResultCode.PUBLISHER_MISMATCH,
        fix=_("Obtain trust.json again from the publisher; never edit its 'rotations'."),
    )


def _decode(number: int, link: RotationLink) -> RootTransition:
    try:
        transition = msgspec.msgpack.decode(link.body, type=RootTransition)
    except (msgspec.DecodeError, ValueError):
        raise _broken(number, _("it cannot be decoded")) from None
    if len(transition.previous_key) != 32 or len(transition.next_key) != 32:
        raise _broken(number, _("a key is not 32 bytes"))
    if not verify(transition.previous_key, ROTATION_DOMAIN, Envelope(link.body, link.signature)):
        raise _broken(number, _("the retiring key's signature does not verify"))
    accept = Envelope(link.body, link.countersignature)
    if not verify(transition.next_key, ROTATION_ACCEPT_DOMAIN, accept):
        raise _broken(number, _("the new key's countersignature does not verify"))
    return transition


def verify_chain(
    links: Sequence[RotationLink], current_key: bytes, catalog_serial: int
) -> tuple[RootTransition, ...]:
    """The transitions of ``links``, checked end to end; SignatureError naming the break.

    Every link is signed by its retiring key and countersigned by its new key; each starts
    where the previous one ended; numbers run 1, 2, 3...; times and catalog serials do not
    go back; no key comes back once retired; the last new key is ``current_key`` (the key
    that signed the catalog) and the catalog's serial is not below the last transition's.
    """
    if len(links) > MAX_TRANSITIONS:
        raise _broken(
            MAX_TRANSITIONS + 1,
            _("more than {max_transitions} transitions").format(max_transitions=MAX_TRANSITIONS),
        )
    chain: list[RootTransition] = []
    for number, link in enumerate(links, start=1):
        transition = _decode(number, link)
        _check_order(number, transition, chain)
        chain.append(transition)
    if chain and chain[-1].next_key != current_key:
        raise _broken(len(chain), _("it does not end at the key that signed the catalog"))
    if chain and catalog_serial < chain[-1].catalog_serial:
        raise _broken(len(chain), _("the catalog is older than the transition"))
    return tuple(chain)


def _check_order(number: int, transition: RootTransition, chain: list[RootTransition]) -> None:
    if transition.sequence != number:
        raise _broken(number, _("it is numbered {sequence}").format(sequence=transition.sequence))
    seen = {t.previous_key for t in chain}
    if transition.next_key in seen or transition.next_key == transition.previous_key:
        raise _broken(
            number,
            _("it returns to the retired key {fingerprint}").format(
                fingerprint=fingerprint(transition.next_key)
            ),
        )
    if not chain:
        return
    last = chain[-1]
    if transition.previous_key != last.next_key:
        raise _broken(number, _("it does not start at the key the previous one ended at"))
    if transition.at < last.at or transition.catalog_serial <= last.catalog_serial:
        raise _broken(number, _("its time or catalog serial goes back"))
