"""BLAKE2b's compression function F over NumPy uint64 arrays: one lane per nonce.

``compress`` is the full F (any state, any block, counters, final flag, any number of rounds), so
it can be checked against ``blake2b-py``'s raw F; the search uses it with the Atto message, where
eleven of the sixteen message words are the constant 0 and their additions are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

IV = (
    0x6A09E667F3BCC908, 0xBB67AE8584CAA73B, 0x3C6EF372FE94F82B, 0xA54FF53A5F1D36F1,
    0x510E527FADE682D1, 0x9B05688C2B3E6C1F, 0x1F83D9ABFB41BD6B, 0x5BE0CD19137E2179,
)  # fmt: skip
SIGMA = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
    (14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3),
    (11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4),
    (7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8),
    (9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13),
    (2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9),
    (12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11),
    (13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10),
    (6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5),
    (10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0),
)
_MASK64 = (1 << 64) - 1
# The (a, b, c, d) state indices of the eight G calls of a round: four columns, four diagonals.
_G_LANES = (
    (0, 4, 8, 12), (1, 5, 9, 13), (2, 6, 10, 14), (3, 7, 11, 15),
    (0, 5, 10, 15), (1, 6, 11, 12), (2, 7, 8, 13), (3, 4, 9, 14),
)  # fmt: skip

Word = np.ndarray | int  # an array of lanes, or one value shared by every lane (0 = skipped)


def _rotr(x: np.ndarray, n: int, tmp: np.ndarray) -> None:
    """x = x >>> n in place (shift/or; NumPy has no rotate)."""
    np.left_shift(x, np.uint64(64 - n), out=tmp)
    np.right_shift(x, np.uint64(n), out=x)
    np.bitwise_or(x, tmp, out=x)


def _add(x: np.ndarray, word: Word) -> None:
    if isinstance(word, int):
        if word:  # a constant zero message word adds nothing: skip the pass over the lanes
            np.add(x, np.uint64(word), out=x)
    else:
        np.add(x, word, out=x)


def compress(
    h: Sequence[Word], m: Sequence[Word], t: tuple[int, int], last: bool, rounds: int = 12,
    lanes: int = 1,
) -> list[np.ndarray]:  # fmt: skip
    """BLAKE2b F: the new state h' (eight arrays of ``lanes`` words) for state ``h`` and block ``m``.

    ``h`` and ``m`` words may be arrays (one word per lane) or ints shared by all lanes. ``t`` is the
    128-bit byte counter as (low, high) and ``last`` the final-block flag.
    """
    v = [np.full(lanes, w, dtype=np.uint64) if isinstance(w, int) else w.astype(np.uint64)
         for w in (*h, *IV)]  # fmt: skip
    v[12] ^= np.uint64(t[0] & _MASK64)
    v[13] ^= np.uint64(t[1] & _MASK64)
    if last:
        v[14] ^= np.uint64(_MASK64)
    tmp = np.empty(lanes, dtype=np.uint64)
    for r in range(rounds):
        s = SIGMA[r % 10]
        for g, (ia, ib, ic, id_) in enumerate(_G_LANES):
            a, b, c, d = v[ia], v[ib], v[ic], v[id_]
            np.add(a, b, out=a)
            _add(a, m[s[2 * g]])
            np.bitwise_xor(d, a, out=d)
            _rotr(d, 32, tmp)
            np.add(c, d, out=c)
            np.bitwise_xor(b, c, out=b)
            _rotr(b, 24, tmp)
            np.add(a, b, out=a)
            _add(a, m[s[2 * g + 1]])
            np.bitwise_xor(d, a, out=d)
            _rotr(d, 16, tmp)
            np.add(c, d, out=c)
            np.bitwise_xor(b, c, out=b)
            _rotr(b, 63, tmp)
    out = []
    for i in range(8):
        word = v[i] ^ v[i + 8]
        out.append(word ^ (np.uint64(h[i]) if isinstance(h[i], int) else h[i]))
    return out


# Parameter block word 0 for an 8-byte digest, no key, fanout 1, depth 1 (docs/spec.md, The hash).
H0_DIGEST8 = IV[0] ^ 0x01010008


def work_difficulties(nonces: np.ndarray, target_words: Sequence[Word]) -> np.ndarray:
    """The difficulty (BLAKE2b-8 as a little-endian u64) of each nonce for one or many targets."""
    h = (H0_DIGEST8, *IV[1:])
    m = (nonces, *target_words, *([0] * 11))
    return compress(h, m, (40, 0), True, lanes=len(nonces))[0]
