"""The client's events 12288/12289: Info strings in Windows' field order, result code typed."""

from __future__ import annotations

from openkms.core.codes import ResultCode
from openkms.core.events import client_request_event, client_response_event

T = 1_800_000_000  # 2027/1/15 8:00 UTC


def test_a_request_event_lists_the_fields_in_windows_order() -> None:
    event = client_request_event(
        time=T,
        result=ResultCode.CONNECTION_REFUSED,
        server="kms.test:1688",
        cmid="0a0b0c0d-1111-2222-3333-444455556666",
        license_status=1,
        minutes_to_expiration=43200,
        activation_id="aid",
        n_policy=25,
    )
    assert (event.event_id, event.time, event.hresult) == (12288, T, 0x8007274D)
    assert event.info == (
        "0x8007274D,0x0,kms.test:1688,0a0b0c0d-1111-2222-3333-444455556666,"
        "2027/1/15 8:00,0,1,43200,aid,25"
    )
    assert event.fields()["server"] == "kms.test:1688"


def test_a_response_below_the_n_policy_sets_the_not_enough_count_flag() -> None:
    low = client_response_event(
        time=T,
        result=ResultCode.COUNT_TOO_LOW,
        activated=False,
        current_count=3,
        activation_interval=120,
        renewal_interval=10080,
    )
    assert low.hresult == 0xC004F038
    assert low.info == "0xC004F038,0x4000000,0,0,3,120,10080,2027/1/15 8:00"
    ok = client_response_event(time=T, result=ResultCode.OK, activated=True, current_count=25)
    assert (ok.hresult, ok.info) == (0, "0x0,0x0,1,0,25,0,0,2027/1/15 8:00")
    assert ok.level == "Information" and low.level == "Warning"
