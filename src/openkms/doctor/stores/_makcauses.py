"""Why a MAK activation failed, in the words of a MAK client (the publisher, never a host).

A MAK client asks the publisher's activation service (``client ato``) or is activated by
phone (``client dti``/``atp``); a result code it records means something else than the same
code from a KMS host: 0x8007274D is the publisher's service not reached, not "start the
host". :func:`mak_cause` gives the meaning and the fix of a MAK client's code;
:func:`mak_event_findings` rewords the event analysis of its log with them and drops the
KMS count checks, which do not apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import msgspec

from openkms.client.state import ClientState
from openkms.core.codes import ResultCode, describe
from openkms.doctor._i18n import Stamp, Text
from openkms.doctor.catalogue import CATALOGUE
from openkms.doctor.findings import Finding, Procedure
from openkms.i18n import N_

__all__ = ["ACTIVATE_FIX", "MakCause", "cleared_activation", "mak_cause", "mak_event_findings"]

ACTIVATE_FIX = N_(
    "Activate online with the publisher's service: 'client ato' (give the service with "
    "'client --publisher-url URL ato' when the catalog names none); without a way to it, "
    "activate by phone: 'client dti', read the installation ID to the publisher, then "
    "'client atp CONFIRMATION-ID'."
)
_UNREACHABLE_FIX = N_(
    "Check the publisher's URL and the network path to it, then 'client ato' (or "
    "'client --publisher-url URL ato'); without a way to it, activate by phone: 'client dti', "
    "read the installation ID to the publisher, then 'client atp CONFIRMATION-ID'."
)
_UNREACHABLE = frozenset(
    {
        ResultCode.CONNECTION_REFUSED,
        ResultCode.TIMEOUT,
        ResultCode.RPC_SERVER_UNAVAILABLE,
        ResultCode.DNS_NAME_DOES_NOT_EXIST,
        ResultCode.DNS_SERVER_FAILURE,
        ResultCode.NO_DNS_SERVERS,
    }
)
# What a KMS host's count says about a site: nothing about a machine that never asks a host.
_KMS_ONLY_CHECKS = frozenset(
    {"count-below-n-policy", "n-policy-mix", "n-policy-unexpected", "several-kms-hosts"}
)


@dataclass(frozen=True, slots=True)
class MakCause:
    """What a MAK client's result code means, and what to do."""

    meaning: Text
    fix: Text
    procedure: Procedure | None = None  # None: the code's own (the network path, ...)


_CAUSES: dict[ResultCode, MakCause] = {
    ResultCode.HOST_KEY_LIMIT_EXCEEDED: MakCause(
        Text(
            N_(
                "The MAK's activations are used up: the publisher's service activates no "
                "further machine with it (a machine it already activated renews)."
            )
        ),
        Text(
            N_(
                "Ask the publisher to raise the MAK's limit, or for another MAK: 'client ipk "
                "NEW-MAK', then 'client ato'."
            )
        ),
        Procedure.KEY,
    ),
    ResultCode.KEY_BLOCKED: MakCause(
        Text(N_("The publisher has blocked this MAK: it activates and renews no machine.")),
        Text(
            N_("Install another MAK from the publisher: 'client ipk NEW-MAK', then 'client ato'.")
        ),
        Procedure.KEY,
    ),
    ResultCode.INVALID_ARGUMENT: MakCause(
        Text(N_("No publisher service was given: the catalog names none for MAK activation.")),
        Text(ACTIVATE_FIX),
        Procedure.KEY,
    ),
}


_KNOWN = {code.value: code for code in ResultCode}


def mak_cause(code: int) -> MakCause:
    """The meaning and fix of ``code`` recorded by a MAK client."""
    value = code & 0xFFFFFFFF
    known = _KNOWN.get(value)
    if known in _CAUSES:
        return _CAUSES[known]
    name, info = describe(value)
    if known in _UNREACHABLE:
        meaning = Text(
            N_("The publisher's activation service was not reached ({name})."), name=name
        )
        return MakCause(meaning, Text(_UNREACHABLE_FIX))
    return MakCause(
        Text(
            N_("{name}: {message} (the publisher's activation service answered so)."),
            name=name,
            message=Text(info.message),
        ),
        Text(ACTIVATE_FIX),
    )


def _reworded(finding: Finding) -> Finding:
    check = finding.check
    if check.startswith("event-") and check.endswith("-failed") and finding.code:
        cause = mak_cause(int(finding.code, 16))
        return msgspec.structs.replace(
            finding,
            meaning=cause.meaning,
            fix=cause.fix,
            procedure=cause.procedure or finding.procedure,
        )
    if check == "last-request":
        meaning = Text(N_("The last request reached the publisher's service and got an answer."))
        return msgspec.structs.replace(finding, meaning=meaning)
    if check == "last-request-unanswered":
        return msgspec.structs.replace(
            finding,
            meaning=Text(N_("The last request to the publisher's service got no answer.")),
            fix=Text(_UNREACHABLE_FIX),
        )
    return finding


def mak_event_findings(findings: list[Finding]) -> list[Finding]:
    """The client's event findings for a MAK client: the publisher's words, no KMS count.

    ``last-result`` is left out: the MAK activation finding reports the last attempt.
    """
    return [_reworded(f) for f in findings if f.check not in _KMS_ONLY_CHECKS | {"last-result"}]


def _utc(epoch: int) -> Stamp:
    return Stamp.utc(epoch, "%Y-%m-%d %H:%M UTC")


def _rearmed_after(state: ClientState) -> bool:
    """True when a rearm came after the last activation attempt: only a rearm restarts the
    grace period once a key is installed (``client ipk`` keeps the first start)."""
    return state.rearms_used > 0 and state.grace_started_at >= state.last_attempt_at


def cleared_activation(where: Path, state: ClientState) -> tuple[str, str]:
    """Evidence and meaning of a MAK whose last attempt succeeded but whose activation is
    gone: a rearm (new CMID, activation reset, grace restarted) or another key installed."""
    if _rearmed_after(state):
        evidence = Text(
            N_(
                "{where}: not activated since a rearm on {rearmed} reset the activation and "
                "restarted the grace period; the last successful activation was on {when}"
            ),
            where=where,
            rearmed=_utc(state.grace_started_at),
            when=_utc(state.last_attempt_at),
        )
        meaning = Text(
            N_(
                "A rearm clears the MAK's activation, gives the machine a new CMID and "
                "restarts the grace period; the MAK stays installed and must be activated "
                "again, online or by phone, before the grace ends."
            )
        )
        return evidence, meaning
    evidence = Text(
        N_(
            "{where}: not activated; the last successful activation ({when}) no longer "
            "applies (the key or the product was changed since)"
        ),
        where=where,
        when=_utc(state.last_attempt_at),
    )
    return evidence, Text(CATALOGUE["mak-not-activated"].meaning)
