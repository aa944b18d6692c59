"""A record the store cannot write fails alone: the rest of its batch is committed."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from openkms.core.codes import ResultCode
from openkms.core.events import activation_request_event
from openkms.errors import StoreError
from openkms.store.base import RequestRecord
from openkms.store.sqlite import SqliteStore

NOW = 1_795_300_000


def _record(license_status: int) -> RequestRecord:
    cmid = str(uuid.uuid4())
    event = activation_request_event(
        NOW,
        result=ResultCode.OK,
        n_policy=5,
        machine_name="pc",
        cmid=cmid,
        client_time=NOW,
        vm=False,
        license_status=license_status,
        minutes_to_expiration=0,
        activation_id="act",
    )
    return RequestRecord(
        NOW, "host", "app", "act", cmid, "pc", license_status, 5, ResultCode.OK, event
    )


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_one_record_that_overflows_fails_alone_and_its_batch_is_committed(
    tmp_path: Path, writer: str
) -> None:
    async def scenario() -> tuple[list[object], int]:
        store = SqliteStore(tmp_path / "host.db", writer=writer)  # type: ignore[arg-type]
        await store.open()
        try:
            records = [_record(2) for _ in range(15)]
            records.insert(7, _record(2**64 - 1))  # more than SQLite's INTEGER holds
            # Submitted in one loop iteration: the writer takes them as one batch (or more).
            futures = [store.submit_record(record) for record in records]
            outcomes = await asyncio.gather(*futures, return_exceptions=True)
            counters = await store.counters("host")
            return outcomes, counters.total
        finally:
            await store.close()

    outcomes, total = asyncio.run(scenario())
    assert isinstance(outcomes[7], StoreError)
    others = outcomes[:7] + outcomes[8:]
    assert all(isinstance(count, int) for count in others), others
    assert total == 15
