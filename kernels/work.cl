// Atto proof of work: BLAKE2b with an 8-byte digest over a 40-byte message (docs/spec.md, The hash).
//
// The message is work (8 bytes, message word m0 = the nonce) followed by the 32-byte target
// (m1..m4); m5..m15 are zero. Only one 128-byte block is compressed, and only word 0 of the
// result is needed, so the whole hash is one straight-line function of five words.
//
// Shape (docs/architecture.md, The kernel): PoCL's implicit vectoriser packs work items into SIMD lanes only for a
// straight-line body. So: rotations are written as shift/or (not rotate()), the 12 rounds are
// macro-expanded (no loops, no sigma tables in memory), one nonce per work item, and no atomics
// among the hashes (see `search`). The same shape suits GPUs.

#define ROTR(x, n) (((x) >> (n)) | ((x) << (64 - (n))))

#define G(a, b, c, d, x, y)          \
    a = a + b + (x);                 \
    d = ROTR(d ^ a, 32);             \
    c = c + d;                       \
    b = ROTR(b ^ c, 24);             \
    a = a + b + (y);                 \
    d = ROTR(d ^ a, 16);             \
    c = c + d;                       \
    b = ROTR(b ^ c, 63);

// One round with its sigma permutation written out; m[] holds compile-time indices only, so the
// compiler keeps the words in registers and folds away the additions of the zero words.
#define ROUND(s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15) \
    G(v0, v4, v8, v12, m[s0], m[s1]);                                                 \
    G(v1, v5, v9, v13, m[s2], m[s3]);                                                 \
    G(v2, v6, v10, v14, m[s4], m[s5]);                                                \
    G(v3, v7, v11, v15, m[s6], m[s7]);                                                \
    G(v0, v5, v10, v15, m[s8], m[s9]);                                                \
    G(v1, v6, v11, v12, m[s10], m[s11]);                                              \
    G(v2, v7, v8, v13, m[s12], m[s13]);                                               \
    G(v3, v4, v9, v14, m[s14], m[s15]);

// The message schedule: sigma row r lists the message words of round r's eight G calls.
#define S0 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
#define S1 14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3
#define S2 11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4
#define S3 7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8
#define S4 9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13
#define S5 2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9
#define S6 12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11
#define S7 13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10
#define S8 6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5
#define S9 10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0
// R(S3) expands S3 into ROUND's sixteen arguments.
#define R(s) ROUND_ARGS(s)
#define ROUND_ARGS(...) ROUND(__VA_ARGS__)

// BLAKE2b-8 of (nonce || target) as the little-endian u64 difficulty (lower is better).
// always_inline: PoCL defines `inline` away, and a call left in the work-item loop stops the
// vectoriser ("call instruction cannot be vectorized"); the body is just over LLVM's inline budget.
__attribute__((always_inline)) ulong work_difficulty(ulong nonce, ulong t0, ulong t1, ulong t2, ulong t3)
{
    const ulong m[16] = {nonce, t0, t1, t2, t3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    // h0 = IV0 ^ 0x01010008: digest length 8, fanout 1, depth 1.
    const ulong h0 = 0x6a09e667f2bdc900UL;
    ulong v0 = h0;
    ulong v1 = 0xbb67ae8584caa73bUL;
    ulong v2 = 0x3c6ef372fe94f82bUL;
    ulong v3 = 0xa54ff53a5f1d36f1UL;
    ulong v4 = 0x510e527fade682d1UL;
    ulong v5 = 0x9b05688c2b3e6c1fUL;
    ulong v6 = 0x1f83d9abfb41bd6bUL;
    ulong v7 = 0x5be0cd19137e2179UL;
    ulong v8 = 0x6a09e667f3bcc908UL;
    ulong v9 = 0xbb67ae8584caa73bUL;
    ulong v10 = 0x3c6ef372fe94f82bUL;
    ulong v11 = 0xa54ff53a5f1d36f1UL;
    ulong v12 = 0x510e527fade682d1UL ^ 40UL;  // byte counter: the 40-byte message
    ulong v13 = 0x9b05688c2b3e6c1fUL;
    ulong v14 = ~0x1f83d9abfb41bd6bUL;        // last-block flag
    ulong v15 = 0x5be0cd19137e2179UL;

    R(S0) R(S1) R(S2) R(S3) R(S4) R(S5) R(S6) R(S7) R(S8) R(S9) R(S0) R(S1)

    return h0 ^ v0 ^ v8;
}

// The work-group size the host launches `search` with (it passes -D GROUP_SIZE=n when the
// device allows fewer than 256 work-items a group).
#ifndef GROUP_SIZE
#define GROUP_SIZE 256
#endif

// Scan nonces start + gid for gid < count (mod 2^64: ulong addition wraps).
//
// A nonce hits when (difficulty ^ mask) <= bound: one comparison for both rules. Atto (valid when
// difficulty <= threshold) passes mask 0 and bound = threshold; Nano (valid when difficulty >=
// threshold) passes mask ~0 and bound = ~threshold, since d >= t exactly when ~d <= ~t. A uniform
// xor costs one instruction a hash, next to the thousands of the compression (bench/hashrate.py
// compares the rules).
//
// hits[gid >> shift] receives this launch's tag when that nonce is the lowest hit of its
// work-group. The host passes a new tag each launch and reads only slots carrying it, so the
// buffer never needs clearing; it takes the first such slot (the launch's lowest hit lies in it:
// that hit's group marked it) and resolves the hit inside that slot's 2^shift nonces.
//
// *first holds the highest (tag << 16 | 0xFFFF - group) stored by a work-group that hit (groups
// capped at 0xFFFF; tags are 16-bit and only grow, and the host clears the buffers when they
// wrap): the lowest hitting group of the newest launch. A later group of this launch has nothing
// to add (the lowest hit lies at or below that group's), so it skips its hashes. An easy job's
// launch (a LOCAL work) thus stops soon after its hit instead of scanning to its end.
//
// Memory model (OpenCL 1.2): every access to a word that other work-groups touch is a 32-bit
// atomic (atomic_or(p, 0) is the read), made by work-item 0 of a group outside the hashing; the
// group's work-items exchange the rest through local memory, between barriers. Racing groups may
// read *first before an earlier group's hit lands; they then merely hash in vain.
//
// Shape (measured on PoCL with AVX2): PoCL vectorises the hashing region between the barriers
// only when it is one straight line, which gave 3.7x the rate of the previous kernel (it returned
// early and stored hits conditionally, and ran as scalar code). So each work-item stores a flag
// (no branch, no atomic), and the skip is read through a restrict pointer (`hash_nonce`): the
// compiler then reads it once per group and branches outside the work-item loop. Read as a plain
// __local word it might alias the flags' stores, the branch stays in the loop: 1.2x, not 3.7x.
//
// Oclgrind (tests/kernel) cannot run the noalias-scope declarations that inlining a function with
// restrict parameters leaves behind, so its build passes -DINLINE_HASH= and keeps the call.
#ifndef INLINE_HASH
#define INLINE_HASH __attribute__((always_inline))
#endif
INLINE_HASH void hash_nonce(__local const uint *restrict skip, __local uchar *restrict hit,
                            uint lid, ulong gid, ulong start, ulong t0, ulong t1, ulong t2,
                            ulong t3, ulong bound, ulong mask, ulong count)
{
    if (!*skip) {
        hit[lid] = (work_difficulty(start + gid, t0, t1, t2, t3) ^ mask) <= bound && gid < count;
    }
}

__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1)))
void search(ulong start, ulong t0, ulong t1, ulong t2, ulong t3, ulong bound, ulong mask,
            ulong count, uint shift, uint tag, __global uint *hits, __global uint *first)
{
    __local uint skip;
    __local uchar hit[GROUP_SIZE];
    const uint lid = get_local_id(0);
    const ulong gid = get_global_id(0);
    const uint mark = (tag << 16) | (0xFFFFu - min((uint)get_group_id(0), 0xFFFFu));
    if (lid == 0) {
        skip = atomic_or(first, 0u) > mark;  // a lower group of this launch hit
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    hash_nonce(&skip, hit, lid, gid, start, t0, t1, t2, t3, bound, mask, count);
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid == 0 && !skip) {
        for (uint i = 0; i < GROUP_SIZE; i++) {
            if (hit[i]) {  // the group's lowest hit: mark its slot (slots may span groups)
                atomic_xchg(&hits[(gid + i) >> shift], tag);
                atomic_max(first, mark);
                break;
            }
        }
    }
}

// The difficulty of each given (nonce, target) pair: targets holds four words per pair. Used to
// check the compression against hashlib and to resolve the lowest hit of a slot on the device.
__kernel void difficulties(__global const ulong *nonces, __global const ulong *targets,
                           __global ulong *out)
{
    const size_t i = get_global_id(0);
    out[i] = work_difficulty(nonces[i], targets[4 * i], targets[4 * i + 1], targets[4 * i + 2],
                             targets[4 * i + 3]);
}
