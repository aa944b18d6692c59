"""Result codes (HRESULTs): each with a name, a message and the documented fix.

Codes in the 0xC004xxxx and 0x8007xxxx ranges mean what they mean on Windows volume
activation. Codes with the customer bit set (0xE004xxxx) are OpenKMS's own, for conditions
Windows has no code for (a malformed frame, a corrupt state file, a forged ticket, ...).

Messages and fixes are written in English and translated where they are shown:
:attr:`ResultCode.info` and :func:`describe` give them in the current language (French and
German in the words of Microsoft's localised activation documentation), and
:attr:`ResultCode.english_info` gives the English of docs/result-codes.md for machine output.
Names, hex codes and ``checks`` are never translated.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from openkms.i18n import N_, _, pgettext

__all__ = ["CodeInfo", "ResultCode", "decode_hresult", "describe"]


class ResultCode(enum.IntEnum):
    """Every result code OpenKMS produces or explains."""

    OK = 0x00000000
    # Activation (Software Licensing facility, 0xC004F...)
    NO_KMS_HOST_CONTACTED = 0xC004F074
    COUNT_TOO_LOW = 0xC004F038
    KMS_NOT_RESPONDING = 0xC004F039
    HOST_NOT_ACTIVATED = 0xC004F041
    PRODUCT_NOT_COVERED = 0xC004F042
    CLOCK_SKEW = 0xC004F06C
    INVALID_PRODUCT_KEY = 0xC004F050
    NO_PRODUCT_KEY = 0xC004F014
    GRACE_EXPIRED = 0xC004F009
    HARDWARE_OUT_OF_TOLERANCE = 0xC004F00F
    HOST_KEY_LIMIT_EXCEEDED = 0xC004C008  # also a MAK past its activations
    KEY_BLOCKED = 0xC004C003
    MAX_REARMS_EXCEEDED = 0xC004D307
    STATE_TAMPERED = 0xC004D301  # SL_REMAPPING_SP_PUB_TS_TAMPERED
    # Win32 errors as HRESULTs (0x8007...)
    DNS_NAME_DOES_NOT_EXIST = 0x8007232B
    DNS_SERVER_FAILURE = 0x8007232A
    DNS_UPDATE_REFUSED = 0x8007232D
    DNS_NOT_AUTHORITATIVE = 0x80072331
    DNS_BAD_SIGNATURE = 0x80072338
    DNS_BAD_KEY = 0x80072339
    NO_DNS_SERVERS = 0x8007267C
    RPC_SERVER_UNAVAILABLE = 0x800706BA
    ACCESS_DENIED = 0x80070005
    CONNECTION_REFUSED = 0x8007274D
    TIMEOUT = 0x800705B4
    INVALID_ARGUMENT = 0x80070057
    DISK_FULL = 0x80070070
    INTERNAL_ERROR = 0x8007054F
    # OpenKMS's own (customer bit set)
    TICKET_INVALID = 0xE0040001
    PROTOCOL_ERROR = 0xE0040002
    UNSUPPORTED_VERSION = 0xE0040003
    STATE_CORRUPT = 0xE0040004
    STORE_UNAVAILABLE = 0xE0040005
    CATALOG_INVALID = 0xE0040006
    TRUST_MISSING = 0xE0040007
    HOST_BUSY = 0xE0040008
    REQUEST_INVALID = 0xE0040009
    CERTIFICATE_INVALID = 0xE004000A
    REVOCATIONS_INVALID = 0xE004000B
    RATE_LIMITED = 0xE004000C
    # The client's trust and state (0xE004002x)
    PUBLISHER_MISMATCH = 0xE0040021
    CATALOG_NOT_NEWER = 0xE0040022
    CLOCK_ROLLBACK = 0xE0040023
    REVOCATIONS_NOT_NEWER = 0xE0040024
    # Phone activation (0xE004003x)
    PHONE_ID_MISTYPED = 0xE0040030
    CONFIRMATION_INVALID = 0xE0040031

    @classmethod
    def from_wire(cls, value: int) -> ResultCode:
        """The code a peer sent; a value OpenKMS does not know is a protocol error."""
        try:
            return cls(value)
        except ValueError:
            return cls.PROTOCOL_ERROR

    @property
    def hex(self) -> str:
        """The code as Windows prints it: ``0xC004F038``."""
        return f"0x{self.value:08X}"

    @property
    def info(self) -> CodeInfo:
        """Message and fix of this code, in the current language (for people)."""
        return _INFO[self].translated()

    @property
    def english_info(self) -> CodeInfo:
        """Message and fix of this code in English, whatever the language (machine output)."""
        return _INFO[self]

    @property
    def failed(self) -> bool:
        """True for an error HRESULT (severity bit set)."""
        return bool(self.value & 0x80000000)


@dataclass(frozen=True, slots=True)
class CodeInfo:
    """What a result code means and what to do about it."""

    message: str
    fix: str
    checks: tuple[str, ...] = ()

    def translated(self) -> CodeInfo:
        """The same info with its message and fix in the current language."""
        return CodeInfo(_(self.message), _(self.fix), self.checks)


_INFO: dict[ResultCode, CodeInfo] = {
    ResultCode.OK: CodeInfo(N_("The operation completed successfully."), N_("Nothing to do.")),
    ResultCode.NO_KMS_HOST_CONTACTED: CodeInfo(
        N_("No Key Management Service (KMS) could be contacted."),
        N_(
            "Read the client's 12288 events to see which hosts were tried; check that the host "
            "service is running, that TCP 1688 (or the configured port) is open, that the SRV "
            "records are not stale, and that the clocks agree."
        ),
        ("dns", "port", "events", "clock"),
    ),
    ResultCode.COUNT_TOO_LOW: CodeInfo(
        N_("The count reported by your Key Management Service (KMS) is insufficient."),
        N_(
            "Add unique clients until the count reaches this product's N-policy (25 desktop, "
            "5 server); check the count with 'dli' on the host and look for cloned machines "
            "sharing one CMID."
        ),
        ("count", "cmid"),
    ),
    ResultCode.KMS_NOT_RESPONDING: CodeInfo(
        N_("The Key Management Service (KMS) did not respond or is not enabled."),
        N_("Check the network path and that the host listens on its port (TCP 1688 by default)."),
        ("port",),
    ),
    ResultCode.HOST_NOT_ACTIVATED: CodeInfo(
        N_("The Key Management Service (KMS) host is not activated."),
        N_(
            "Activate the host: 'openkms host activation-request', have the publisher sign it, "
            "then 'openkms host install-certificate'."
        ),
        ("host",),
    ),
    ResultCode.PRODUCT_NOT_COVERED: CodeInfo(
        N_("The specified Key Management Service (KMS) host cannot be used for this product."),
        N_(
            "Point the client at a host whose host key covers the product's license group, or "
            "install a host key of a higher group on the host."
        ),
        ("host",),
    ),
    ResultCode.CLOCK_SKEW: CodeInfo(
        N_(
            "The activation request timestamp is invalid: client and host clocks differ by more "
            "than 4 hours."
        ),
        N_("Synchronise the clocks of the client and the host (NTP)."),
        ("clock",),
    ),
    ResultCode.INVALID_PRODUCT_KEY: CodeInfo(
        N_("The product key is invalid."),
        N_(
            "Check the key for typos; install the setup key of this edition on a client and a "
            "host key only on the host."
        ),
        ("key",),
    ),
    ResultCode.NO_PRODUCT_KEY: CodeInfo(
        N_("No product key is installed."),
        N_("Install the edition's setup key with 'ipk'."),
        ("key",),
    ),
    ResultCode.GRACE_EXPIRED: CodeInfo(
        N_("The grace period has expired."),
        N_("Activate the product ('ato')."),
        ("count", "dns", "port"),
    ),
    ResultCode.HARDWARE_OUT_OF_TOLERANCE: CodeInfo(
        N_("The hardware has changed beyond tolerance; the activation no longer applies."),
        N_("Reactivate: on a host, send a new activation request to the publisher."),
        ("host",),
    ),
    ResultCode.HOST_KEY_LIMIT_EXCEEDED: CodeInfo(
        N_(
            "The product key has been used up: a host key on too many hosts or activated too "
            "many times, or a MAK past its number of activations."
        ),
        N_("Contact the publisher to raise the limit or obtain another key."),
    ),
    ResultCode.KEY_BLOCKED: CodeInfo(
        N_(
            "The activation server determined that the product key is blocked, or that the "
            "host's certificate was revoked by the publisher."
        ),
        N_(
            "Obtain a new key (or, on a host, a new host key and certificate) from the publisher; "
            "clients fail over to another host meanwhile."
        ),
    ),
    ResultCode.MAX_REARMS_EXCEEDED: CodeInfo(
        N_("The maximum allowed number of re-arms has been exceeded."),
        N_("Reinstall the product or activate it; no further rearm is possible."),
    ),
    ResultCode.STATE_TAMPERED: CodeInfo(
        N_(
            "The security processor reported that the trusted data store was tampered: the "
            "client's state file does not match its seal."
        ),
        N_(
            "Activate again against a genuine host ('ato'); the product stays in Notification "
            "until then. Restore client.json only from a backup of this same machine."
        ),
        ("client",),
    ),
    ResultCode.DNS_NAME_DOES_NOT_EXIST: CodeInfo(
        N_("DNS name does not exist: no SRV record for the activation service was found."),
        N_(
            "Check that a host publishes its SRV record (DNS publishing enabled, dynamic updates "
            "allowed), or set the host by hand with 'skms'."
        ),
        ("dns",),
    ),
    ResultCode.DNS_SERVER_FAILURE: CodeInfo(
        N_("The DNS server failed to answer (SERVFAIL)."),
        N_("Check the DNS server's logs and its zone configuration."),
        ("dns",),
    ),
    ResultCode.DNS_UPDATE_REFUSED: CodeInfo(
        N_("The DNS server refused the dynamic update."),
        N_(
            "Allow dynamic updates for the zone (BIND: allow-update) or give this host write "
            "permission on the SRV record another host created."
        ),
        ("dns",),
    ),
    ResultCode.DNS_NOT_AUTHORITATIVE: CodeInfo(
        N_("The DNS server is not authoritative for the zone, or refused the update's key."),
        N_("Send updates to the zone's primary server; check the zone name and the TSIG key."),
        ("dns",),
    ),
    ResultCode.DNS_BAD_SIGNATURE: CodeInfo(
        N_("The DNS server rejected the update's TSIG signature."),
        N_("Check the TSIG secret and the clocks of the host and the DNS server."),
        ("dns", "clock"),
    ),
    ResultCode.DNS_BAD_KEY: CodeInfo(
        N_("The DNS server does not know the update's TSIG key."),
        N_("Check the TSIG key name and algorithm configured on both sides."),
        ("dns",),
    ),
    ResultCode.NO_DNS_SERVERS: CodeInfo(
        N_("No DNS servers are configured for this machine."),
        N_("Configure a DNS server (resolv.conf, DHCP) or set the host by hand with 'skms'."),
        ("dns",),
    ),
    ResultCode.RPC_SERVER_UNAVAILABLE: CodeInfo(
        N_("The RPC server is unavailable: the host could not be reached."),
        N_("Open the host's port in the firewalls; remove stale SRV records of retired hosts."),
        ("port", "dns"),
    ),
    ResultCode.ACCESS_DENIED: CodeInfo(
        N_("Access denied."),
        N_("Run the command with the rights needed on the store directory (elevate)."),
    ),
    ResultCode.CONNECTION_REFUSED: CodeInfo(
        N_("The host refused the connection: nothing listens on that port."),
        N_("Start the host service, or check the port the client uses ('skms host:port')."),
        ("port",),
    ),
    ResultCode.TIMEOUT: CodeInfo(
        N_("The operation timed out."),
        N_("Check the network path and firewalls between the two machines."),
        ("port",),
    ),
    ResultCode.INVALID_ARGUMENT: CodeInfo(
        N_("A parameter is invalid."),
        N_("Check the value against the documented range."),
    ),
    ResultCode.DISK_FULL: CodeInfo(
        N_("There is not enough space on the disk."),
        N_("Free space on the volume holding the store; nothing acknowledged has been lost."),
    ),
    ResultCode.INTERNAL_ERROR: CodeInfo(
        N_("An internal error occurred."),
        N_("Look at the host's log for the cause and report it with 'openkms doctor bundle'."),
    ),
    ResultCode.TICKET_INVALID: CodeInfo(
        N_("The activation ticket does not verify against the pinned publisher key."),
        N_(
            "Activate again against a genuine host ('ato'); if it persists, the host's "
            "certificate is not from this publisher."
        ),
        ("host",),
    ),
    ResultCode.PROTOCOL_ERROR: CodeInfo(
        N_("The peer sent data that is not a valid OpenKMS frame."),
        N_("Check that the address and port belong to an OpenKMS host, not another service."),
        ("port",),
    ),
    ResultCode.UNSUPPORTED_VERSION: CodeInfo(
        N_("The peer speaks a protocol version this program does not support."),
        N_("Upgrade the older of the two programs."),
    ),
    ResultCode.STATE_CORRUPT: CodeInfo(
        N_("The state file is corrupt or not an OpenKMS state file."),
        N_("Restore the file from a backup, or move it aside and install the key again."),
    ),
    ResultCode.STORE_UNAVAILABLE: CodeInfo(
        N_("The store cannot be opened or written."),
        N_("Check the store directory's permissions and free space; see the log for the cause."),
    ),
    ResultCode.CATALOG_INVALID: CodeInfo(
        N_("The catalog is invalid."),
        N_("Fix the line named in the message, then sign the catalog again."),
    ),
    ResultCode.TRUST_MISSING: CodeInfo(
        N_("No publisher trust file is installed in this store."),
        N_("Pass --trust with the publisher's trust.json the first time you install a key."),
    ),
    ResultCode.HOST_BUSY: CodeInfo(
        N_("The host is at its connection limit."),
        N_("Retry later; if it persists, raise the host's max_connections."),
    ),
    ResultCode.REQUEST_INVALID: CodeInfo(
        N_("The request is invalid for this host."),
        N_("Check that the client's product belongs to this host's application."),
    ),
    ResultCode.CERTIFICATE_INVALID: CodeInfo(
        N_("The host certificate does not verify or is not for this host."),
        N_("Install the certificate issued for this host's activation request."),
        ("host",),
    ),
    ResultCode.REVOCATIONS_INVALID: CodeInfo(
        N_("The revocation list is malformed, too large, or not signed by the pinned publisher."),
        N_(
            "Install the revocations.json that 'openkms publisher block-key' or 'revoke-host' "
            "wrote (or fetch it from the publisher's service again); never edit it by hand."
        ),
    ),
    ResultCode.RATE_LIMITED: CodeInfo(
        N_("Too many requests from this address: the service asks for a pause."),
        N_(
            "Retry after the seconds its Retry-After gives; when a whole site shares one "
            "address, the publisher raises the service's --rate-limit and --rate-burst."
        ),
    ),
    ResultCode.PUBLISHER_MISMATCH: CodeInfo(
        N_(
            "The trust document is signed by another publisher than the one this store or "
            "application is pinned to."
        ),
        N_(
            "Use the trust.json of the pinned publisher ('openkms publisher key DIR' prints its "
            "key); to move a store to another publisher, uninstall it and remove its trust.json."
        ),
        ("client",),
    ),
    ResultCode.CATALOG_NOT_NEWER: CodeInfo(
        N_(
            "The publisher's catalog is not newer than the installed one (its serial is not "
            "higher)."
        ),
        N_(
            "Install the latest trust.json from the publisher ('openkms publisher sign-catalog' "
            "raises the serial)."
        ),
        ("client",),
    ),
    ResultCode.REVOCATIONS_NOT_NEWER: CodeInfo(
        N_("The revocation list is not newer than the installed one (its serial is not higher)."),
        N_(
            "Install the publisher's latest revocations.json; an older list never replaces a "
            "newer one."
        ),
    ),
    ResultCode.CLOCK_ROLLBACK: CodeInfo(
        N_("The system clock is behind the client's trusted time: it was set back."),
        N_(
            "Set the clock right (NTP). Licence timers keep counting from the trusted time, so "
            "setting the clock back gains nothing."
        ),
        ("clock",),
    ),
    ResultCode.PHONE_ID_MISTYPED: CodeInfo(
        N_("The installation or confirmation ID is mistyped."),
        N_("Read the ID again; the message names the group whose check digit does not match."),
    ),
    ResultCode.CONFIRMATION_INVALID: CodeInfo(
        N_("The confirmation ID does not confirm this installation."),
        N_(
            "Make a new installation ID with 'dti' on this machine, have the publisher confirm "
            "it, and install the confirmation ID it reads back with 'atp' on the same machine."
        ),
    ),
}


def describe(value: int) -> tuple[str, CodeInfo]:
    """Name and info (in the current language) for any HRESULT; unknown codes are decoded,
    never refused. Inside ``language_scope("en")`` it gives the English for machine output."""
    try:
        code = ResultCode(value)
    except ValueError:
        return f"0x{value & 0xFFFFFFFF:08X}", CodeInfo(decode_hresult(value), _("Unknown code."))
    return code.name, code.info


# The facility names are Windows' identifiers; only "licensing" is a word for people.
_FACILITIES = {0: "NULL", 4: "ITF ({licensing})", 7: "WIN32", 0xC: "RPC"}


def decode_hresult(value: int) -> str:
    """Severity, customer bit, facility and code of an HRESULT, in words (current language)."""
    value &= 0xFFFFFFFF
    severity = (
        pgettext("hresult", "failure") if value & 0x80000000 else pgettext("hresult", "success")
    )
    customer = _(" (customer-defined)") if value & 0x20000000 else ""
    facility = (value >> 16) & 0x7FF
    code = value & 0xFFFF
    known = _FACILITIES.get(facility)
    if known is None:
        name = pgettext("hresult", "unknown")
    else:
        name = known.format(licensing=pgettext("hresult", "licensing"))
    return _("{severity}{customer}, facility {name} ({facility}), code {code} (0x{hex})").format(
        severity=severity,
        customer=customer,
        name=name,
        facility=facility,
        code=code,
        hex=f"{code:04X}",
    )
