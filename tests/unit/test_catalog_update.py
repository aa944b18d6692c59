"""The catalog a host passes on (``Trust.catalog_update``): the envelope's bytes without a
rotation; with one, the chain travels along so a client pinned to the retired key follows it
(the rule of ``Trust.check_newer_than``), and hostile bytes are a clear error."""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent.parent / "vectors"))

from rotation_vectors import forger_key, original_trust, rotated_trust

from openkms.client.state import ClientState
from openkms.client.updates import take_updates
from openkms.core.codes import ResultCode
from openkms.core.trust import Trust
from openkms.errors import OpenKMSError
from openkms.protocol import ActivationResponse

RESPONSE = ActivationResponse(b"r" * 16, 0, 25, 120, 10080, 1688, 1795300000, "OKMS-1")


def test_without_rotation_the_update_is_the_catalog_envelope_exactly() -> None:
    trust = original_trust()
    assert trust.catalog_update() == msgspec.msgpack.encode(trust.catalog_envelope)
    assert Trust.from_catalog_update(trust.catalog_update(), trust) == trust


def test_a_client_pinned_to_the_old_key_follows_the_rotation_from_its_host() -> None:
    old, rotated = original_trust(), rotated_trust()
    update = msgspec.structs.replace(RESPONSE, catalog=rotated.catalog_update())
    taken = take_updates(ClientState(cmid="c"), old, update)
    assert taken is not None and taken.publisher_key == rotated.publisher_key
    assert taken.rotations == rotated.rotations


def test_a_forked_chain_or_the_catalog_without_its_chain_is_not_taken() -> None:
    old, rotated = original_trust(), rotated_trust()
    forked = rotated_trust(successor=forger_key())
    state = ClientState(cmid="c")
    with pytest.raises(OpenKMSError) as caught:
        Trust.from_catalog_update(forked.catalog_update(), rotated).check_newer_than(rotated)
    assert caught.value.code is ResultCode.PUBLISHER_MISMATCH
    bare = msgspec.msgpack.encode(rotated.catalog_envelope)  # the new key's, no chain
    assert take_updates(state, old, msgspec.structs.replace(RESPONSE, catalog=bare)) is None


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_hostile_update_bytes_are_a_clear_error(data: bytes) -> None:
    with pytest.raises(OpenKMSError):
        Trust.from_catalog_update(data, original_trust())
