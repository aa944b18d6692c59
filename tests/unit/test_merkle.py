"""RFC 9162 Merkle trees: every audit path proves its leaf, and nothing else."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openkms.core.merkle import MAX_PATH, audit_paths, leaf_hash, node_hash, root_from_path


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH of RFC 9162 section 2.1.1, written as the RFC states it."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


def leaves(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def test_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"ab") == hashlib.sha256(b"\x00ab").digest()
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()


def test_rfc_6962_test_vector_for_the_empty_leaf() -> None:
    # The leaf hash of the empty string, as in RFC 6962's reference tests.
    expected = "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert leaf_hash(b"").hex() == expected


@pytest.mark.parametrize("size", [*range(1, 40), 64, 65, 127, 128, 129, 1000, 1024])
def test_every_leaf_proves_the_root(size: int) -> None:
    hashes = leaves(size)
    root, paths = audit_paths(hashes)
    assert root == reference_root(hashes)
    for index, (leaf, path) in enumerate(zip(hashes, paths, strict=True)):
        assert len(path) <= (size - 1).bit_length()
        assert root_from_path(leaf, index, size, path) == root


@given(st.integers(1, 200), st.data())
def test_a_leaf_does_not_prove_at_another_place(size: int, data: st.DataObject) -> None:
    hashes = leaves(size)
    root, paths = audit_paths(hashes)
    index = data.draw(st.integers(0, size - 1))
    other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index))
    # Another leaf on this leaf's path, or this path at another index, gives another root.
    assert root_from_path(hashes[other], index, size, paths[index]) != root
    assert root_from_path(hashes[index], other, size, paths[index]) != root
    # The tree size is not bound by a path (the leftmost leaf's path is the same in trees
    # of 129 and 130 leaves): tickets sign the size with the root for that reason.


def test_malformed_paths_prove_nothing() -> None:
    hashes = leaves(5)
    _, paths = audit_paths(hashes)
    assert root_from_path(hashes[0], 5, 5, paths[0]) is None  # index out of range
    assert root_from_path(hashes[0], -1, 5, paths[0]) is None
    assert root_from_path(hashes[0], 0, 5, paths[0][:-1]) is None  # too short
    assert root_from_path(hashes[0], 0, 5, [*paths[0], bytes(32)]) is None  # too long
    assert root_from_path(hashes[0], 0, 5, [b"short", *paths[0][1:]]) is None
    assert root_from_path(hashes[0], 0, 2**40, [bytes(32)] * (MAX_PATH + 1)) is None


def test_an_empty_tree_is_refused() -> None:
    with pytest.raises(ValueError):
        audit_paths([])
