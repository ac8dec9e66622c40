"""The difficulty of a work for a target, and whether it meets a threshold (docs/spec.md, Difficulty)."""

from __future__ import annotations

import hashlib


def difficulty(work: bytes, target: bytes) -> int:
    """BLAKE2b-8 of ``work || target`` read as an unsigned little-endian 64-bit integer.

    Lower is better. ``work`` is the 8 raw bytes (a nonce ``n`` is ``n.to_bytes(8, "little")``)
    and ``target`` the 32 raw bytes of the block's previous hash or public key.
    """
    if len(work) != 8 or len(target) != 32:
        raise ValueError("difficulty needs an 8-byte work and a 32-byte target")
    digest = hashlib.blake2b(work + target, digest_size=8).digest()
    return int.from_bytes(digest, "little")


def is_valid(work: bytes, target: bytes, threshold: int) -> bool:
    """Whether ``work`` meets ``threshold`` for ``target`` (difficulty <= threshold)."""
    return difficulty(work, target) <= threshold
