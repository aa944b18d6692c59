"""``publisher report`` and ``list-keys`` as text: keys, activations used and left, machines."""

from __future__ import annotations

import datetime as dt

from openkms.core.catalog import Catalog
from openkms.publisher.records import KeyUsage

__all__ = ["report_text"]


def _day(when: int) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%d")


def _scope(usage: KeyUsage, catalog: Catalog) -> str:
    key = usage.key
    if key.group is not None:
        return f"group {key.group}"
    product = catalog.product(key.activation_id or "")
    return product.name if product is not None else f"product {key.activation_id}"


def report_text(keys: list[KeyUsage], catalog: Catalog, *, machines: bool) -> str:
    """One block per key (and, with ``machines``, a line per machine that activated)."""
    if not keys:
        return "No keys issued yet ('publisher issue-host-key' or 'publisher issue-mak')."
    lines: list[str] = []
    for usage in keys:
        key = usage.key
        state = f"blocked {_day(key.blocked_at)}" if key.blocked_at is not None else "active"
        lines.append(
            f"{key.key}  {key.kind.value.upper():<4}  {_scope(usage, catalog)}  issued "
            f"{_day(key.issued_at)}  used {usage.used} of {key.activations_allowed}, "
            f"{usage.left} left  {state}"
        )
        if machines:
            for m in usage.machines:
                name = f" ({m.machine_name})" if m.machine_name else ""
                lines.append(
                    f"    {m.machine}{name}  first {_day(m.first_at)}  last {_day(m.last_at)}  "
                    f"x{m.count}"
                )
    total = sum(u.used for u in keys)
    lines.append(f"{len(keys)} keys, {total} activations used.")
    return "\n".join(lines)
