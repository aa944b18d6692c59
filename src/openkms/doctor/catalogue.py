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
        """A finding of this check with what was seen (meaning and fix default to ours)."""
        return Finding(
            procedure=procedure or self.procedure,
            severity=severity,
            check=self.id,
            evidence=evidence,
            meaning=self.meaning if meaning is None else meaning,
            fix=self.fix if fix is None else fix,
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
_CLONE_FIX = (
    "Run 'sysprep /generalize' on the image, or 'slmgr /rearm' on each clone, and give each "
    "clone its own name."
)

_CHECKS = (
    # the channel decides the procedure
    Check("not-kms-client", _P.KEY, (_S,), 5, "A MAK, retail or OEM machine never asks a KMS "
          "host: DNS, port and count advice does not apply.", "Activate online ('slmgr /ato') "
          "or by phone ('slui 4'); to use KMS, install the GVLK ('slmgr /ipk')."),
    Check("host-key-on-client", _P.KEY, (_S, _C), 8, "A KMS host key is installed on a "
          "machine meant to be a client.", "Install the edition's setup key ('slmgr /ipk')."),
    Check("channel", _P.KEY, (_S,), None, "The channel of the installed key."),
    Check("setup-key", _P.KEY, (_C,), None, "The client's setup key and its product."),
    Check("no-key", _P.KEY, (_C,), None, "No product key is installed.",
          "Install the edition's setup key."),
    Check("invalid-key", _P.KEY, (_C,), None, "The installed key is not valid for this "
          "publisher.", "Install the edition's setup key."),
    Check("trust-missing", _P.KEY, (_C,), None, "The publisher's trust is not pinned.",
          "Install the key with --trust."),
    # the host itself
    Check("host-key", _P.HOST, (_H,), None, "A host key makes this machine a KMS host.",
          "Install the host key bought from the publisher ('host ipk KEY')."),
    Check("host-activated", _P.HOST, (_H, _N), None, "The host's own activation: a host that "
          "is not activated refuses every client (0xC004F041)."),
    Check("license-status", _P.CLIENT, (_S, _C), 60, "License Status: Licensed, grace, "
          "Notification or Unlicensed (the host's ranks 15, a client's is the symptom)."),
    Check("host-certificate-expiry", _P.HOST, (_H,), 35, "The host's certificate expires soon.",
          "Reactivate the host now."),
    Check("host-listening", _P.PORT, (_H, _N), 17, "Nothing answers where the host should "
          "listen: it is not running, or listens elsewhere.", "Start it ('host serve')."),
    Check("host-identity-missing", _P.INPUT, (_H,), None, "host.key is missing."),
    Check("not-a-host-store", _P.INPUT, (_H,), None, "Not a host store."),
    Check("host-state-unreadable", _P.INPUT, (_H,), None, "host.json cannot be read."),
    Check("store-unreadable", _P.INPUT, (_H,), None, "host.db cannot be read."),
    Check("not-a-client-store", _P.INPUT, (_C,), None, "Not a client store."),
    Check("not-a-store", _P.INPUT, (_H, _C), None, "Neither a host nor a client store."),
    Check("client-state-unreadable", _P.INPUT, (_C,), None, "client.json cannot be read."),
    Check("store-missing", _P.COUNT, (_H,), None, "No host.db: the host never ran."),
    # clocks
    Check("clock-skew", _P.CLOCK, (_C, _N), None, "Client and host clocks more than 4 hours "
          "apart are refused (0xC004F06C).", "Synchronise the clocks (NTP)."),
    # clones
    Check("count-stuck-at-1", _P.CMID, (_S, _H), 24, "Every request carries one CMID: "
          "cloned machines counted as one.", _CLONE_FIX),
    Check("duplicate-cmid", _P.CMID, (_E, _H), 25, "One CMID under several machine names.",
          _CLONE_FIX),
    Check("cmid-clones-one-name", _P.CMID, (_E, _H), 25, "One CMID and one name, with "
          "requests one machine cannot make: a cloned image.", _CLONE_FIX),
    # the count
    Check("several-kms-hosts", _P.COUNT, (_E,), 30, "Clients activate against several hosts: "
          "the count is split.", "Keep the hosts you need; remove stale SRV records."),
    Check("several-hosts", _P.COUNT, (_D,), 30, "DNS lists several hosts: the count may be "
          "split.", "Keep the hosts you need; remove stale SRV records."),
    Check("hosts-share-count", _P.COUNT, (_D, _H), None, "Several hosts share one PostgreSQL "
          "store: one count, not a split count."),
    Check("expiry-soon", _P.CLIENT, (_S, _C), 35, "The 180-day cliff: activation or grace "
          "about to end.", "Make the client reach a host and renew."),
    Check("count-falls-below-n", _P.COUNT, (_H,), 35, "Fewer than N clients renew: the count "
          "falls below N when the others leave the 30-day window."),
    Check("count-below-n-policy", _P.COUNT, (_E,), 40, "The host's count is below the "
          "client's N (0xC004F038)."),
    Check("current-count", _P.COUNT, (_S, _H), 40, "The host's current count."),
    Check("count-vs-n-policy", _P.COUNT, (_H, _C), None, "The count against each N-policy."),
    # DNS
    Check("no-kms-from-dns", _P.DNS, (_S,), 45, "The client found no host in DNS."),
    Check("discovery", _P.DNS, (_C, _D), None, "The SRV lookup of the client."),
    Check("srv-records", _P.DNS, (_D,), None, "The SRV records of the service."),
    Check("srv-target", _P.DNS, (_D,), None, "Whether each SRV target resolves."),
    Check("dns-search-list", _P.DNS, (_D,), None, "The machine's DNS search list."),
    Check("dns-servers", _P.DNS, (_D,), None, "The DNS servers asked."),
    Check("dns-publishing", _P.DNS, (_E,), None, "12294: the host published its record."),
    Check("dns-publishing-failed", _P.DNS, (_E, _H), None, "12293: publishing failed."),
    Check("dns-publishing-status", _P.DNS, (_H,), None, "The host's last publishing result."),
    Check("dns-publishing-disabled", _P.DNS, (_S, _H), 62, "The host does not publish its SRV "
          "record.", "Enable it ('sdns') or create the record by hand."),
    Check("kms-set-by-hand", _P.DNS, (_S,), None, "A KMS host set with /skms."),
    # the network path: symptoms
    Check("tcp-connect", _P.PORT, (_N,), None, "The telnet test: does TCP connect?"),
    Check("openkms-host", _P.PORT, (_N,), None, "What the OpenKMS host answers to a probe."),
    Check("not-openkms", _P.PORT, (_N,), None, "The peer is not an OpenKMS host."),
    Check("kms-host", _P.PORT, (_C,), None, "The host the client would try."),
    Check("request-unanswered", _P.PORT, (_E,), 55, "12288 without 12289: no KMS could be "
          "contacted (a symptom of the causes above)."),
    Check("last-request-unanswered", _P.PORT, (_C,), 55, "The client's last request got no "
          "answer."),
    Check("last-request", _P.PORT, (_C,), None, "The client's last request and its answer."),
    Check("response-not-in-client-log", _P.EVENTS, (_E,), None, "The host logged requests the "
          "client's export shows unanswered."),
    Check("last-result", _P.EVENTS, (_C,), None, "The client's last result code (ranks with "
          "its code's procedure)."),
    # notes
    Check("failed-requests", _P.HOST, (_H,), 64, "Cumulative total and failed requests."),
    Check("failed-requests-why", _P.HOST, (_H,), None, "Failing 12290s by result code (ranks "
          "with its code's procedure)."),
    Check("failed-requests-high", _P.HOST, (_S,), 64, "10 % or more of the requests failed."),
    Check("failed-requests-rising", _P.HOST, (_S,), 64, "Failed requests rising over time."),
    Check("n-policy-unexpected", _P.COUNT, (_E, _H), 66, "An N-policy other than 25 or 5."),
    Check("n-policy-mix", _P.COUNT, (_E,), None, "The N-policies seen."),
    Check("non-default-port", _P.PORT, (_S,), 68, "The host listens on a port other than "
          "1688."),
    Check("host-caching", _P.CLIENT, (_S,), None, "KMS host caching."),
    Check("rearms-left", _P.CLIENT, (_C,), None, "Rearms left."),
    Check("events-read", _P.EVENTS, (_E, _H), None, "What was read."),
    Check("slmgr-error-code", _P.EVENTS, (_S,), None, "A code printed by 'slmgr /ato' (ranks "
          "with its code's procedure)."),
    Check("slmgr-labels-unknown", _P.INPUT, (_S,), 85, "Labels in a language not known."),
    Check("slmgr-unreadable", _P.INPUT, (_S,), None, "A file that is not slmgr output."),
    Check("events-unreadable", _P.INPUT, (_E, _C), None, "A file that is not an event log."),
    Check("no-kms-events", _P.INPUT, (_E,), None, "An export without KMS events."),
    Check("evtx-records-skipped", _P.INPUT, (_E,), None, "EVTX records the parser could not "
          "read (the others were read)."),
    Check("event-failed", _P.EVENTS, (_E,), None, "A failing HRESULT in a KMS event "
          "(event-NNNNN-failed; ranks with its code's procedure)."),
)  # fmt: skip

CATALOGUE: dict[str, Check] = {c.id: c for c in _CHECKS}


def check_of(check_id: str) -> Check | None:
    """The catalogue's entry of a check id (``event-12289-failed`` is ``event-failed``)."""
    if check_id.startswith("event-") and check_id.endswith("-failed"):
        return CATALOGUE["event-failed"]
    return CATALOGUE.get(check_id)
