"""The catalogue of the doctor's checks: id, procedure, what it reads, rank, meaning, fix.

Findings are made from a :class:`Check` with the evidence seen (``CATALOGUE[id].finding``);
the catalogue is also what :func:`openkms.doctor.findings.rank_of` ranks by and what
``docs/doctor.md`` lists. A check's *rank* says how likely it is the real cause (lower
first: causes before their symptoms, in the guides' order); ``None`` means "the rank of the
procedure the finding is filed under" (a TCP connect is a port check in ``doctor port`` and a
DNS check in ``doctor dns``). Meaning and fix are the catalogue's unless a finding says more.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from openkms.doctor._finding import Finding, Procedure, Severity
from openkms.doctor._i18n import Text
from openkms.i18n import N_

__all__ = ["CATALOGUE", "Check", "Reads", "check_of"]


class Reads(enum.StrEnum):
    """What a check reads."""

    SLMGR = "slmgr output"
    EVENTS = "event logs"
    HOST_STORE = "host store"
    CLIENT_STORE = "client store"
    DNS = "DNS"
    NETWORK = "TCP and the probe"


@dataclass(frozen=True, slots=True)
class Check:
    """One check of the doctor, as the troubleshooting guides describe it."""

    id: str
    procedure: Procedure
    reads: tuple[Reads, ...]
    rank: int | None
    meaning: str
    fix: str = ""

    def finding(
        self,
        severity: Severity,
        evidence: str,
        *,
        meaning: str | None = None,
        fix: str | None = None,
        code: str | None = None,
        procedure: Procedure | None = None,
    ) -> Finding:
        """A finding of this check with what was seen (meaning and fix default to ours).

        Pass :class:`~openkms.doctor._i18n.Text` for text a person reads in their language;
        plain ``str`` is shown as it is (quoted evidence)."""
        return Finding(
            procedure=procedure or self.procedure,
            severity=severity,
            check=self.id,
            evidence=evidence,
            meaning=Text(self.meaning) if meaning is None else meaning,
            fix=Text(self.fix) if fix is None else fix,
            code=code,
        )


_P = Procedure
_S, _E, _H, _C, _D, _N = (
    Reads.SLMGR,
    Reads.EVENTS,
    Reads.HOST_STORE,
    Reads.CLIENT_STORE,
    Reads.DNS,
    Reads.NETWORK,
)
_CLONE_FIX = N_(
    "Run 'sysprep /generalize' on the image, or 'slmgr /rearm' on each clone, and give each "
    "clone its own name."
)

_CHECKS = (
    # the channel decides the procedure
    Check("not-kms-client", _P.KEY, (_S, _C), 5, N_("A MAK, retail or OEM machine never asks a KMS "
          "host: DNS, port and count advice does not apply."), N_("Activate online ('slmgr /ato') "
          "or by phone ('slui 4'); to use KMS, install the GVLK ('slmgr /ipk').")),
    Check("mak-not-activated", _P.KEY, (_C, _E), 6, N_("A MAK is installed but not activated "
          "with the publisher: it licenses nothing until it is (online or by phone)."),
          N_("Activate online ('client ato') or by phone ('client dti', then 'client atp "
          "CONFIRMATION-ID').")),
    Check("host-key-on-client", _P.KEY, (_S, _C), 8, N_("A KMS host key is installed on a "
          "machine meant to be a client."), N_("Install the edition's setup key ('slmgr /ipk').")),
    Check("channel", _P.KEY, (_S,), None, N_("The channel of the installed key.")),
    Check("setup-key", _P.KEY, (_C,), None, N_("The client's setup key and its product.")),
    Check("no-key", _P.KEY, (_C,), None, N_("No product key is installed."),
          N_("Install the edition's setup key.")),
    Check("invalid-key", _P.KEY, (_C,), None, N_("The installed key is not valid for this "
          "publisher."), N_("Install the edition's setup key.")),
    Check("trust-missing", _P.KEY, (_C,), None, N_("The publisher's trust is not pinned."),
          N_("Install the key with --trust.")),
    # the host itself
    Check("host-key", _P.HOST, (_H,), None, N_("A host key makes this machine a KMS host."),
          N_("Install the host key bought from the publisher ('host ipk KEY').")),
    Check("host-activated", _P.HOST, (_H, _N), None, N_("The host's own activation: a host that "
          "is not activated refuses every client (0xC004F041).")),
    Check("license-status", _P.CLIENT, (_S, _C), 60, N_("License Status: Licensed, grace, "
          "Notification or Unlicensed (the host's ranks 15, a client's is the symptom).")),
    Check("host-certificate-expiry", _P.HOST, (_H,), 35, N_("The host's certificate expires soon."),
          N_("Reactivate the host now.")),
    Check("host-listening", _P.PORT, (_H, _N), 17, N_("Nothing answers where the host should "
          "listen: it is not running, or listens elsewhere."), N_("Start it ('host serve').")),
    Check("host-identity-missing", _P.INPUT, (_H,), None, N_("host.key is missing.")),
    Check("not-a-host-store", _P.INPUT, (_H,), None, N_("Not a host store.")),
    Check("host-state-unreadable", _P.INPUT, (_H,), None, N_("host.json cannot be read.")),
    Check("store-unreadable", _P.INPUT, (_H,), None, N_("host.db cannot be read.")),
    Check("not-a-client-store", _P.INPUT, (_C,), None, N_("Not a client store.")),
    Check("not-a-store", _P.INPUT, (_H, _C), None, N_("Neither a host nor a client store.")),
    Check("client-state-unreadable", _P.INPUT, (_C,), None, N_("client.json cannot be read.")),
    Check("store-missing", _P.COUNT, (_H,), None, N_("No host.db: the host never ran.")),
    # clocks
    Check("clock-skew", _P.CLOCK, (_C, _N), None, N_("Client and host clocks more than 4 hours "
          "apart are refused (0xC004F06C)."), N_("Synchronise the clocks (NTP).")),
    Check("clock-rollback", _P.CLOCK, (_C,), None, N_("The client's clock against its "
          "trusted time (the highest time it has seen): a clock set back gains nothing.")),
    Check("host-clock-jump", _P.CLOCK, (_H,), 20, N_("The host's clock jumped more than an hour "
          "against its monotonic clock (event 12321): the 30-day count window moved with it."),
          N_("Synchronise the host's clock (NTP) and find what set it. A clock set back: the "
          "clients seen before count again at their next request (renewal, or 'client ato').")),
    Check("clients-dated-in-future", _P.CLOCK, (_H,), 21, N_("Clients last seen later than the "
          "host's clock allows (it was ahead when they came, or is behind now): they are not "
          "counted until each comes back."), N_("Set the host's clock right (NTP); each client "
          "counts again at its next request (renewal within 7 days, or 'client ato').")),
    # clones
    Check("count-stuck-at-1", _P.CMID, (_S, _H), 24, N_("Every request carries one CMID: "
          "cloned machines counted as one."), _CLONE_FIX),
    Check("duplicate-cmid", _P.CMID, (_E, _H), 25, N_("One CMID under several machine names."),
          _CLONE_FIX),
    Check("cmid-clones-one-name", _P.CMID, (_E, _H), 25, N_("One CMID and one name, with "
          "requests one machine cannot make: a cloned image."), _CLONE_FIX),
    # the count
    Check("several-kms-hosts", _P.COUNT, (_E,), 30, N_("Clients activate against several hosts: "
          "the count is split."), N_("Keep the hosts you need; remove stale SRV records.")),
    Check("several-hosts", _P.COUNT, (_D,), 30, N_("DNS lists several hosts: the count may be "
          "split."), N_("Keep the hosts you need; remove stale SRV records.")),
    Check("hosts-share-count", _P.COUNT, (_D, _H), None, N_("Several hosts share one PostgreSQL "
          "store: one count, not a split count.")),
    Check("expiry-soon", _P.CLIENT, (_S, _C), 35, N_("The 180-day cliff: activation or grace "
          "about to end."), N_("Make the client reach a host and renew.")),
    Check("count-falls-below-n", _P.COUNT, (_H,), 35, N_("Fewer than N clients renew: the count "
          "falls below N when the others leave the 30-day window.")),
    Check("count-below-n-policy", _P.COUNT, (_E,), 40, N_("The host's count is below the "
          "client's N (0xC004F038).")),
    Check("current-count", _P.COUNT, (_S, _H), 40, N_("The host's current count.")),
    Check("count-vs-n-policy", _P.COUNT, (_H, _C), None, N_("The count against each N-policy.")),
    # DNS
    Check("no-kms-from-dns", _P.DNS, (_S,), 45, N_("The client found no host in DNS.")),
    Check("discovery", _P.DNS, (_C, _D), None, N_("The SRV lookup of the client.")),
    Check("srv-records", _P.DNS, (_D,), None, N_("The SRV records of the service.")),
    Check("srv-target", _P.DNS, (_D,), None, N_("Whether each SRV target resolves.")),
    Check("dns-search-list", _P.DNS, (_D,), None, N_("The machine's DNS search list.")),
    Check("dns-servers", _P.DNS, (_D,), None, N_("The DNS servers asked.")),
    Check("dns-publishing", _P.DNS, (_E,), None, N_("12294: the host published its record.")),
    Check("dns-publishing-failed", _P.DNS, (_E, _H), None, N_("12293: publishing failed.")),
    Check("dns-publishing-status", _P.DNS, (_H,), None, N_("The host's last publishing result.")),
    Check("dns-publishing-disabled", _P.DNS, (_S, _H), 62, N_("The host does not publish its SRV "
          "record."), N_("Enable it ('sdns') or create the record by hand.")),
    Check("kms-set-by-hand", _P.DNS, (_S,), None, N_("A KMS host set with /skms.")),
    # the network path: symptoms
    Check("tcp-connect", _P.PORT, (_N,), None, N_("The telnet test: does TCP connect?")),
    Check("openkms-host", _P.PORT, (_N,), None, N_("What the OpenKMS host answers to a probe.")),
    Check("not-openkms", _P.PORT, (_N,), None, N_("The peer is not an OpenKMS host.")),
    Check("kms-host", _P.PORT, (_C,), None, N_("The host the client would try.")),
    Check("request-unanswered", _P.PORT, (_E,), 55, N_("12288 without 12289: no KMS could be "
          "contacted (a symptom of the causes above).")),
    Check("last-request-unanswered", _P.PORT, (_C,), 55, N_("The client's last request got no "
          "answer.")),
    Check("last-request", _P.PORT, (_C,), None, N_("The client's last request and its answer.")),
    Check("response-not-in-client-log", _P.EVENTS, (_E,), None, N_("The host logged requests the "
          "client's export shows unanswered.")),
    Check("last-result", _P.EVENTS, (_C,), None, N_("The client's last result code (ranks with "
          "its code's procedure).")),
    # notes
    Check("failed-requests", _P.HOST, (_H,), 64, N_("Cumulative total and failed requests.")),
    Check("failed-requests-why", _P.HOST, (_H,), None, N_("Failing 12290s by result code (ranks "
          "with its code's procedure).")),
    Check("failed-requests-high", _P.HOST, (_S,), 64, N_("10 % or more of the requests failed.")),
    Check("failed-requests-rising", _P.HOST, (_S,), 64, N_("Failed requests rising over time.")),
    Check("n-policy-unexpected", _P.COUNT, (_E, _H), 66, N_("An N-policy other than 25 or 5.")),
    Check("n-policy-mix", _P.COUNT, (_E,), None, N_("The N-policies seen.")),
    Check("non-default-port", _P.PORT, (_S,), 68, N_("The host listens on a port other than "
          "1688.")),
    Check("host-caching", _P.CLIENT, (_S,), None, N_("KMS host caching.")),
    Check("rearms-left", _P.CLIENT, (_C,), None, N_("Rearms left.")),
    Check("events-read", _P.EVENTS, (_E, _H), None, N_("What was read.")),
    Check("slmgr-error-code", _P.EVENTS, (_S,), None, N_("A code printed by 'slmgr /ato' (ranks "
          "with its code's procedure).")),
    Check("slmgr-labels-unknown", _P.INPUT, (_S,), 85, N_("Labels in a language not known.")),
    Check("slmgr-unreadable", _P.INPUT, (_S,), None, N_("A file that is not slmgr output.")),
    Check("events-unreadable", _P.INPUT, (_E, _C), None, N_("A file that is not an event log.")),
    Check("no-kms-events", _P.INPUT, (_E,), None, N_("An export without KMS events.")),
    Check("evtx-records-skipped", _P.INPUT, (_E,), None, N_("EVTX records the parser could not "
          "read (the others were read).")),
    Check("event-failed", _P.EVENTS, (_E,), None, N_("A failing HRESULT in a KMS event or a "
          "licensing service's event (event-NNNNN-failed; ranks with its code's procedure).")),
)  # fmt: skip

CATALOGUE: dict[str, Check] = {c.id: c for c in _CHECKS}


def check_of(check_id: str) -> Check | None:
    """The catalogue's entry of a check id (``event-12289-failed`` is ``event-failed``)."""
    if check_id.startswith("event-") and check_id.endswith("-failed"):
        return CATALOGUE["event-failed"]
    return CATALOGUE.get(check_id)
