"""The host's count over time: stuck at 1 (clones), and about to fall below an N-policy.

The count is the distinct CMIDs seen in the last ``COUNT_WINDOW_DAYS``. A client renews
every renewal interval (7 days by default); clients not seen for longer have stopped asking,
and leave the count when their last request leaves the window. From the last-seen times the
doctor says when the count falls below each N-policy in use if no other client renews.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from openkms.core import settings
from openkms.doctor._i18n import Stamp, Text
from openkms.doctor.catalogue import CATALOGUE
from openkms.doctor.events._analyzer import n_policy_label
from openkms.doctor.findings import Finding, Severity
from openkms.i18n import N_
from openkms.store.base import ClientQuery, HostStoreReader

__all__ = ["STUCK_MIN_REQUESTS", "falling_count", "stuck_at_one"]

_DAY = 86400
STUCK_MIN_REQUESTS = 10


def stuck_at_one(
    count: int, requests: int, cmids: Mapping[str, Mapping[str, object]]
) -> list[Finding]:
    """Count 1 after many requests: cloned machines sharing one CMID (issue: one name)."""
    if count != 1 or requests < STUCK_MIN_REQUESTS or len(cmids) != 1:
        return []
    cmid, names = next(iter(cmids.items()))
    return [
        CATALOGUE["count-stuck-at-1"].finding(
            Severity.ERROR,
            Text(
                N_(
                    "current count 1 after {requests} request(s) (12290), "
                    "all from CMID {cmid} ({names})"
                ),
                requests=requests,
                cmid=cmid,
                names=", ".join(sorted(names)) or "?",
            ),
            meaning=Text(
                N_(
                    "Every request carries the same CMID: the machines were cloned from an "
                    "image that was not generalized, and the host counts them as one machine."
                )
            ),
        )
    ]


def _when(epoch: int) -> Stamp:
    return Stamp.utc(epoch, "%Y-%m-%d", with_time=False)


async def falling_count(
    reader: HostStoreReader, application_id: str, count: int, policies: list[int], now: int
) -> list[Finding]:
    """For each N-policy the count meets today: when it falls below it, if nobody renews."""
    window = settings.COUNT_WINDOW_DAYS * _DAY
    renewal = settings.RENEWAL_INTERVAL_MIN * 60 + _DAY  # a day late is still renewing
    out: list[Finding] = []
    for n in sorted(set(policies)):
        if count < n:
            continue
        recent = await reader.clients(ClientQuery(application_id, seen_since=now - window, limit=n))
        if len(recent) < n or recent[n - 1].last_seen >= now - renewal:
            continue  # n clients renewed within the renewal interval: the count holds
        renewing = len(await reader.clients(ClientQuery(application_id, seen_since=now - renewal)))
        falls = recent[n - 1].last_seen + window
        days = max(0, math.ceil((falls - now) / _DAY))
        out.append(
            CATALOGUE["count-falls-below-n"].finding(
                Severity.WARNING,
                Text(
                    N_(
                        "current count {count} >= N-policy {label}, but only {renewing} "
                        "client(s) asked in the last {renewal} day(s): the count falls below {n} "
                        "in {days} day(s) ({date}) unless more clients renew"
                    ),
                    count=count,
                    label=n_policy_label(n),
                    renewing=renewing,
                    renewal=renewal // _DAY,
                    n=n,
                    days=days,
                    date=_when(falls),
                ),
                meaning=Text(
                    N_(
                        "Clients renew every 7 days; those not seen for longer have stopped "
                        "asking and leave the count {window} days after their last request. "
                        "Below N the host stops activating these clients (0xC004F038)."
                    ),
                    window=settings.COUNT_WINDOW_DAYS,
                ),
                fix=Text(
                    N_(
                        "Find why the clients stopped asking (moved to another host, DNS, the "
                        "port, machines retired) or add clients before that day."
                    )
                ),
            )
        )
    return out
