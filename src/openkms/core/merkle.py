"""Merkle trees of RFC 9162 (Certificate Transparency 2.0), for batch-signed tickets.

A host signs one tree head for all the tickets it issues together; each ticket carries its
audit path, so a client verifies it alone and offline. Leaves and interior nodes are hashed
with different prefixes (``0x00`` and ``0x01``), so no leaf can pass for a node.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final

__all__ = ["MAX_PATH", "audit_paths", "leaf_hash", "node_hash", "root_from_path"]

# A path this long covers 2**32 leaves; anything longer is malformed.
MAX_PATH: Final = 32

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """The hash of one leaf: SHA-256(0x00 || data)."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


def audit_paths(leaves: Sequence[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """The root of the tree over ``leaves`` (leaf hashes) and each leaf's audit path.

    The tree splits ``n`` leaves at the largest power of two below ``n``, as RFC 9162
    section 2.1.1 does; a path lists sibling hashes from the leaf up to the root.
    """
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf")
    paths: list[list[bytes]] = [[] for _ in leaves]
    root = _build(leaves, 0, len(leaves), paths)
    return root, paths


def _build(leaves: Sequence[bytes], start: int, end: int, paths: list[list[bytes]]) -> bytes:
    size = end - start
    if size == 1:
        return leaves[start]
    split = 1 << ((size - 1).bit_length() - 1)  # largest power of two < size
    left = _build(leaves, start, start + split, paths)
    right = _build(leaves, start + split, end, paths)
    for i in range(start, start + split):
        paths[i].append(right)
    for i in range(start + split, end):
        paths[i].append(left)
    return node_hash(left, right)


def root_from_path(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes | None:
    """The root that ``path`` proves for leaf hash ``leaf`` at ``index`` of ``size`` leaves.

    RFC 9162 section 2.1.3.2. None when the path cannot belong to such a tree (wrong length,
    index out of range, a hash that is not 32 bytes): the caller then rejects the proof.
    """
    if not 0 <= index < size or len(path) > MAX_PATH:
        return None
    fn, sn, root = index, size - 1, leaf
    for sibling in path:
        if sn == 0 or len(sibling) != 32:
            return None
        if fn & 1 or fn == sn:
            root = node_hash(sibling, root)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            root = node_hash(root, sibling)
        fn >>= 1
        sn >>= 1
    return root if sn == 0 else None
