"""A read-only look at the publisher's records in PostgreSQL: check, never migrate."""

from __future__ import annotations

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from openkms.core.codes import ResultCode
from openkms.errors import StoreError
from openkms.i18n import _
from openkms.store._pg_db import redact

__all__ = ["check_read_only"]


async def check_read_only(
    conn: asyncpg.Connection | PoolConnectionProxy, dsn: str, version: int
) -> None:
    """StoreError unless the database holds the records at schema ``version`` exactly, and
    its transactions are read-only (a reading command never writes)."""
    if await conn.fetchval("SHOW transaction_read_only") != "on":
        raise StoreError(_("the database {dsn} did not open read-only").format(dsn=redact(dsn)))
    exists = await conn.fetchval("SELECT to_regclass('openkms_publisher_schema')")
    found = (
        0
        if exists is None
        else int(await conn.fetchval("SELECT version FROM openkms_publisher_schema"))
    )
    if found == version:
        return
    if found > version:
        raise StoreError(
            _(
                "the database {dsn} has publisher schema version {found}, newer than "
                "this OpenKMS supports ({count})"
            ).format(dsn=redact(dsn), found=found, count=version),
            code=ResultCode.UNSUPPORTED_VERSION,
            fix=_("Upgrade OpenKMS on this machine."),
        )
    raise StoreError(
        _("the database {dsn} holds no publisher records of this version ({found})").format(
            dsn=redact(dsn), found=found
        ),
        code=ResultCode.UNSUPPORTED_VERSION,
        fix=_(
            "Run a publisher command that writes (for example 'openkms publisher "
            "sign-catalog DIR --database DSN') once to create or upgrade the records."
        ),
    )
