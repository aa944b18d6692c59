"""``doctor host``: every check that applies to a KMS host, from its store directory.

Reads the store directly (:class:`HostState` and the store's reader, ``open_reader``), so
it works whether the host process runs or not, and never writes to the store. Order, as the
guides: key and role, activation, listening, count against each N-policy in use, failed
requests and why, DNS publishing, events (duplicate CMIDs).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from openkms._address import parse_address
from openkms.core import settings
from openkms.core.codes import ResultCode
from openkms.core.trust import Trust
from openkms.doctor._i18n import Stamp, Text, built_in_english_async, error_words
from openkms.doctor.catalogue import CATALOGUE
from openkms.doctor.findings import Finding, Procedure, Severity
from openkms.doctor.network._findings import probe_findings
from openkms.doctor.network.probe import probe
from openkms.doctor.stores._hoststore import store_findings, store_problem
from openkms.errors import OpenKMSError
from openkms.host.state import HostActivation, HostState
from openkms.i18n import N_

__all__ = ["HostCheckOptions", "check_host_store", "store_problem"]

_DAY = 86400
_CERT_WARNING_DAYS = 30


@dataclass(frozen=True, slots=True)
class HostCheckOptions:
    """What ``doctor host`` needs besides the store directory."""

    address: str | None = None  # HOST[:PORT] to test; None: 127.0.0.1 on the set port
    timeout: float = 3.0
    days: int = settings.COUNT_WINDOW_DAYS  # how far back events are read
    clock: Callable[[], float] = time.time


def _when(epoch: int) -> Stamp:
    return Stamp.utc(epoch, "%Y-%m-%d %H:%M UTC")


def _role(directory: Path, state: HostState) -> list[Finding] | None:
    """The key: a host key must be installed. None means 'go on'."""
    if not directory.is_dir():
        return [store_problem(directory, "store-missing", Text(N_("no such directory")))]
    if not (directory / "host.json").exists():
        if (directory / "client.json").exists():
            return [
                store_problem(
                    directory,
                    "not-a-host-store",
                    Text(N_("this is a client store (client.json), not a host store")),
                    Text(N_("Run 'openkms doctor client --store DIR' for a client.")),
                )
            ]
        return [
            store_problem(
                directory,
                "not-a-host-store",
                Text(N_("no host.json: no host key was ever installed here")),
                Text(
                    N_(
                        "Install the host key: 'openkms host --store DIR ipk KEY "
                        "--trust trust.json'."
                    )
                ),
            )
        ]
    key = state.host_key()
    if key is None:
        code = ResultCode.NO_PRODUCT_KEY
        return [
            CATALOGUE["host-key"].finding(
                Severity.ERROR,
                Text(N_("{path}: no host key installed"), path=directory / "host.json"),
                meaning=Text(
                    N_("{message} Without a host key this machine is not a KMS host."),
                    message=Text(code.info.message),
                ),
                code=code.hex,
            )
        ]
    return None


def _key_ok(directory: Path, state: HostState) -> Finding:
    key = state.host_key()
    assert key is not None
    return CATALOGUE["host-key"].finding(
        Severity.OK,
        Text(
            N_("{path}: host key installed (partial product key {partial}), host {host}"),
            path=directory / "host.json",
            partial=key.partial,
            host=state.host_id,
        ),
        meaning=Text(N_("A host key (CSVLK analogue) makes this machine a KMS host.")),
    )


def _activation_findings(directory: Path, activation: HostActivation, now: int) -> list[Finding]:
    cert = activation.certificate
    where = directory / "certificate.json"
    if activation.problem is not None or cert is None:
        code = ResultCode.HOST_NOT_ACTIVATED
        if activation.problem and "another machine" in activation.problem:
            code = ResultCode.HARDWARE_OUT_OF_TOLERANCE
        return [
            CATALOGUE["host-activated"].finding(
                Severity.ERROR,
                Text(
                    N_("{where}: License Status Notification: {problem}"),
                    where=where,
                    problem=activation.problem,
                ),
                meaning=Text(
                    N_(
                        "{message} The host counts requests but refuses every "
                        "activation with {code}."
                    ),
                    message=Text(code.info.message),
                    code=ResultCode.HOST_NOT_ACTIVATED.hex,
                ),
                fix=Text(code.info.fix),
                code=code.hex,
            )
        ]
    left = (cert.expires_at - now) // _DAY
    evidence = Text(
        N_(
            "{where}: Licensed, license group {group}, certificate valid until "
            "{expires} ({left} day(s) left)"
        ),
        where=where,
        group=cert.group,
        expires=_when(cert.expires_at),
        left=left,
    )
    if left < _CERT_WARNING_DAYS:
        return [
            CATALOGUE["host-certificate-expiry"].finding(
                Severity.WARNING,
                evidence,
                meaning=Text(
                    N_("When the certificate expires the host stops activating clients ({code})."),
                    code=ResultCode.HOST_NOT_ACTIVATED.hex,
                ),
                fix=Text(
                    N_(
                        "Reactivate the host now: 'host activation-request', have the publisher "
                        "sign it, 'host install-certificate'."
                    )
                ),
            )
        ]
    return [
        CATALOGUE["host-activated"].finding(
            Severity.OK,
            evidence,
            meaning=Text(
                N_(
                    "The host is activated and may sign tickets for its license group and "
                    "the groups below it."
                )
            ),
        )
    ]


async def _listening(
    state: HostState, options: HostCheckOptions, trust: Trust | None
) -> list[Finding]:
    port = state.settings.port
    host, port = parse_address(options.address or f"127.0.0.1:{port}", port)
    app_id = trust.catalog.application_id if trust else ""
    result = await probe(host, port, options.timeout, application_id=app_id, clock=options.clock)
    if not result.connected:
        return [
            CATALOGUE["host-listening"].finding(
                Severity.ERROR,
                Text("{detail} ({code})", detail=result.detail, code=result.code.hex),
                meaning=Text(
                    N_(
                        "The host is not running, or listens on another address or port; "
                        "clients get 0x8007274D (refused) or 0x800705B4 (timeout), then "
                        "0xC004F074."
                    )
                ),
                fix=Text(
                    N_(
                        "Start it: 'openkms host --store {store} serve' (port {port}: "
                        "'Listening on Port' in 'host dli'); give the address it listens on "
                        "with --address."
                    ),
                    store=state.directory,
                    port=state.settings.port,
                ),
                code=result.code.hex,
            )
        ]
    findings = probe_findings(result, Procedure.PORT, activation=False, clock=False)
    response = result.response
    if response is not None and response.host_id != state.host_id:
        findings.append(
            CATALOGUE["host-listening"].finding(
                Severity.WARNING,
                Text(
                    N_("{where} is answered by host {other}, this store is host {host}"),
                    where=result.where,
                    other=response.host_id,
                    host=state.host_id,
                ),
                meaning=Text(
                    N_(
                        "Another OpenKMS host listens on this address: clients reaching it are "
                        "counted there, not here."
                    )
                ),
                fix=Text(N_("Give the address this host listens on with --address.")),
            )
        )
    return findings


@built_in_english_async
async def check_host_store(
    directory: Path, options: HostCheckOptions | None = None
) -> list[Finding]:
    """All host checks, in the guides' order; problems with the store become findings."""
    options = options or HostCheckOptions()
    state = HostState(directory)
    now = int(options.clock())
    try:
        stop = _role(directory, state)
        if stop is not None:
            return stop
        findings = [_key_ok(directory, state)]
        if not (directory / "host.key").exists():
            return [
                *findings,
                store_problem(
                    directory,
                    "host-identity-missing",
                    Text(
                        N_(
                            "host.key is missing: the host's identity (and its certificate) "
                            "are gone"
                        )
                    ),
                    Text(N_("Restore host.key from a backup, or reactivate the host.")),
                ),
            ]
        activation = state.activation(now)
        findings += _activation_findings(directory, activation, now)
        findings += await _listening(state, options, activation.trust)
    except OpenKMSError as exc:
        return [store_problem(directory, "host-state-unreadable", *error_words(exc))]
    return findings + await store_findings(state, activation.trust, now, options.days)
