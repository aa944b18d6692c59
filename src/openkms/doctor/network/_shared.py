"""Several SRV hosts, one count: hosts that share one PostgreSQL store do not split it.

``doctor dns --store DIR`` reads the hosts that share the store of DIR (``peer_hosts()``, the
hosts that answered requests into one database) and compares them with the host IDs the SRV
targets gave in their probes. When every target is one of those peers the hosts count
together, so "several hosts" is information, not the split-count warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from openkms._address import format_address
from openkms.dns.srv import SrvRecord
from openkms.doctor._i18n import Text, error_words
from openkms.doctor.catalogue import CATALOGUE
from openkms.doctor.findings import Finding, Severity
from openkms.errors import OpenKMSError
from openkms.i18n import N_
from openkms.store import open_reader

__all__ = ["read_peers", "several_hosts_finding"]


async def read_peers(store_dir: Path, database: str | None) -> frozenset[str] | Finding:
    """The host IDs sharing the store of ``store_dir``, or a finding saying why they cannot
    be read; reads only (a store of its own has no peers)."""
    try:
        async with open_reader(store_dir, database, missing_ok=True) as reader:
            return frozenset(peer.host_id for peer in await reader.peer_hosts())
    except OpenKMSError as exc:
        message, fix = error_words(exc)
        return CATALOGUE["hosts-share-count"].finding(
            Severity.WARNING,
            Text(
                N_("{store}: cannot read the hosts sharing its store: {message}"),
                store=store_dir,
                message=message,
            ),
            meaning=Text(
                N_(
                    "Without them the doctor cannot tell hosts that share one count from "
                    "hosts that split it."
                )
            ),
            fix=fix,
            code=exc.code.hex,
        )


def several_hosts_finding(
    name: str,
    records: Sequence[SrvRecord],
    answered: dict[SrvRecord, set[str]],
    peers: frozenset[str] | None,
) -> Finding:
    """The finding about several SRV hosts: shared (every record's target answered the probe
    as a peer of the examined store) or possibly split. ``answered`` maps a record to the host
    IDs its target's addresses gave in the probe; ``peers`` is None when no store was read."""
    listed = ", ".join(_where(r) for r in records)
    shared = (
        peers is not None
        and len(peers) > 1
        and all(answered.get(r) and answered[r] <= peers for r in records)
    )
    if shared:
        hosts = sorted(set().union(*(answered[r] for r in records)))
        return CATALOGUE["hosts-share-count"].finding(
            Severity.OK,
            Text(
                N_("{name}: {count} hosts share one count (shared store): {listed} ({hosts})"),
                name=name,
                count=len(hosts),
                listed=listed,
                hosts=", ".join(hosts),
            ),
        )
    return CATALOGUE["several-hosts"].finding(
        Severity.WARNING,
        Text(
            "{seen}{why}",
            seen=Text(
                N_("{name}: {count} hosts ({listed})"),
                name=name,
                count=len(records),
                listed=listed,
            ),
            why=_not_peers(records, answered, peers),
        ),
        meaning=Text(
            N_(
                "Clients pick among several hosts, so the count may be split between them and "
                "stay below N on each; a retired host may still be published."
            )
        ),
        fix=Text(
            N_(
                "Keep only the hosts you need; remove stale SRV records. Hosts that share one "
                "PostgreSQL database count together: check with 'doctor dns --store DIR'."
            )
        ),
    )


def _where(record: SrvRecord) -> str:
    return format_address(record.target, record.port)


def _not_peers(
    records: Sequence[SrvRecord],
    answered: dict[SrvRecord, set[str]],
    peers: frozenset[str] | None,
) -> str:
    """Why the hosts are not taken as sharing the examined store (empty without a store)."""
    if peers is None:
        return ""
    if len(peers) < 2:
        return Text(N_("; the examined store is shared by no other host"))
    if not answered:
        return Text(
            N_("; no target answered a probe, so none could be matched to the examined store")
        )
    outside = [_where(r) for r in records if not answered.get(r) or not answered[r] <= peers]
    return Text(N_("; not hosts of the examined store: {hosts}"), hosts=", ".join(outside))
