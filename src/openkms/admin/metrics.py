"""Prometheus metrics of a host: a small in-process registry and the text exposition format.

The host's request path calls ``HostMetrics.observe_request`` once per activation request
(on the event loop, so no locking); the admin server adds the gauges it reads at scrape time
(current count, DNS publishing, certificate) and renders everything at ``/metrics``.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from openkms.core.license import LicenseState

__all__ = ["CONTENT_TYPE", "Gauge", "Histogram", "HostMetrics"]

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

# Seconds: an activation answers in about a millisecond plus the group commit's fsync.
_LATENCY_BUCKETS: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    text = ",".join(f'{name}="{_escape(value)}"' for name, value in pairs)
    return "{" + text + "}" if text else ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Histogram:
    """Cumulative buckets, sum and count of observed values (seconds)."""

    def __init__(self, buckets: Sequence[float] = _LATENCY_BUCKETS) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        """Add one observation."""
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str) -> list[str]:
        """The ``_bucket``, ``_sum`` and ``_count`` samples."""
        out, running = [], 0
        for bound, count in zip((*self.buckets, float("inf")), self.counts, strict=True):
            running += count
            le = "+Inf" if bound == float("inf") else repr(bound)
            out.append(f'{name}_bucket{{le="{le}"}} {running}')
        out += [f"{name}_sum {_number(self.sum)}", f"{name}_count {self.count}"]
        return out


@dataclass(frozen=True, slots=True)
class Gauge:
    """One gauge sample read at scrape time."""

    name: str
    help: str
    value: float
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class HostMetrics:
    """The host's in-process counters and histograms since it started."""

    activations: dict[str, int] = field(default_factory=dict)
    requests_by_status: dict[int, int] = field(default_factory=dict)
    request_seconds: Histogram = field(default_factory=Histogram)
    store_write_seconds: Histogram = field(default_factory=Histogram)

    def observe_request(
        self, result: int, license_status: int, seconds: float, store_seconds: float
    ) -> None:
        """Count one answered activation request (called by the host's request path)."""
        code = f"0x{result:X}" if result else "0x0"
        self.activations[code] = self.activations.get(code, 0) + 1
        self.requests_by_status[license_status] = self.requests_by_status.get(license_status, 0) + 1
        self.request_seconds.observe(seconds)
        self.store_write_seconds.observe(store_seconds)

    def render(self, gauges: Sequence[Gauge] = ()) -> str:
        """Everything in the Prometheus text exposition format."""
        lines = [
            "# HELP openkms_activations_total Activation requests answered, by outcome: 0x0 "
            "activated (a ticket issued), 0xC004F038 count below the N-policy, else the error.",
            "# TYPE openkms_activations_total counter",
        ]
        for code, total in sorted(self.activations.items()):
            lines.append(f"openkms_activations_total{_labels([('result', code)])} {total}")
        lines += [
            "# HELP openkms_requests_total Activation requests by the client's license status.",
            "# TYPE openkms_requests_total counter",
        ]
        for status, total in sorted(self.requests_by_status.items()):
            label = _status_name(status)
            lines.append(f"openkms_requests_total{_labels([('license_status', label)])} {total}")
        lines += _histogram(
            "openkms_request_duration_seconds",
            "Time to answer an activation request, store write included.",
            self.request_seconds,
        )
        lines += _histogram(
            "openkms_store_write_duration_seconds",
            "Time for a request's store write to become durable (group commit).",
            self.store_write_seconds,
        )
        lines += _gauges(gauges)
        return "\n".join(lines) + "\n"


def _status_name(status: int) -> str:
    try:
        return LicenseState(status).name.lower()
    except ValueError:
        return str(status)


def _histogram(name: str, help_text: str, histogram: Histogram) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} histogram", *histogram.lines(name)]


def _gauges(gauges: Sequence[Gauge]) -> list[str]:
    lines: list[str] = []
    seen: set[str] = set()
    for gauge in gauges:
        if gauge.name not in seen:
            seen.add(gauge.name)
            lines += [f"# HELP {gauge.name} {gauge.help}", f"# TYPE {gauge.name} gauge"]
        lines.append(f"{gauge.name}{_labels(gauge.labels)} {_number(gauge.value)}")
    return lines
