/* delta_rows.cu: unstructured sparse decode, y (n, out) = x (n, in) W^T for 1-4 tokens per
 * launch, on CUDA cores, with 4-bit column deltas: 2.5 bytes a nonzero (2 in the 2-byte form
 * below) and ~9 instructions (SASS) a nonzero with every lane busy.
 *
 * Why a fourth unstructured kernel: the row bitmap (bitmap_rows.cu) moves the fewest bytes
 * at 50-70% but walks bits word by word in lockstep (~20 instructions a value pair, lanes
 * idle while the busiest one finishes a word; issue-bound, ncu runs 10-11); CSR16 does ~6
 * instructions a nonzero but needs 4 bytes for it. Here a lane owns a row and walks its own
 * nonzeros in order; the warp advances one nonzero per lane per step, whatever the words.
 *
 * Device format ("delta rows", made at upload). A row's entries in column order: value
 * (bf16) and delta (4 bits), column = previous column + delta; a gap over 15 takes filler
 * entries (value 0, delta 15). A block owns a row group (32 rows) and its P warps cut every
 * row's stream into P parts of E entries (E: the longest row over P, up to a multiple of 16);
 * task = (row group rg, part p): lane l walks part p of row 32rg + l (of row ord[32rg + l] where
 * the upload put the rows in length order, dr_sort), from the column before its first entry (base). So the 32 streams of a task are equally long,
 * except in a row group's last parts, padded with (0, 0) to its longest row (run 57: cutting by
 * columns instead padded every task to its longest stream, ~12% of the bytes at 50%). Block g
 * of a task holds group g (16 entries) of all 32 streams, so that a warp's three loads of a
 * group are each one contiguous run (run 55: lane-private streams, 32 lines a load, ran at
 * 1.2 TB/s):
 *   blk (bvals, DR_BLOCK uint4 a block): [0, 32) entries 0-7 of lane 0..31 (8 bf16 each),
 *     [32, 64) entries 8-15, [64, 80) deltas: lane l's uint2 at uint2 index l, entry i in
 *     bits 4(i%8).. of word i/8;
 *   task (boff, uint2 a task, rg * P + p): first block, blocks (not read with uniform tasks: every
 *     row group padded to P x E entries, task t's blocks start at t x E/16; with heads, task t's
 *     first H groups at t x H and the entry gives its tail; spdr_upload says which and when);
 *   base (bm): [task * 32 + lane] = column before the part's first entry (0 for part 0).
 * Bytes: 2.5 an entry (nonzeros and fillers: ~20% more entries at 90%, none at <= 70%) +
 * the last parts' pads + 136 a task.
 * The 2-byte form (dr_w16; blocks of 64 uint4, no delta words): entry = s | e4 m7 | delta (bits
 * 15, 14-4, 3-0), the value as f16 bits s | 0 e4 | m7 000 with e4 = e - emax + 15 (1..15; 0 for
 * fillers), emax the row's largest bf16 exponent, carried in the top byte of every part base; y
 * = sum x 2^(emax - 127), exact. It needs each row's nonzeros within 15 binades (no subnormal,
 * inf or NaN): SmolLM2 wanda 70% every row (at most 12), sparsegpt 90% all but 22 of 155,520
 * rows (21 of 210 weights keep 2.5 bytes). One more instruction an entry, so it is taken where
 * the kernel streams rather than waits, or where 5-bit deltas save many fillers (upload's rule).
 * Its 5-bit-delta variant (dr_db 5, by the rule since H200 run 156): entry = s | e3 m7 | delta (bits 15,
 * 14-5, 4-0), e3 = e - emax + 7 (1..7), the part base's top byte emax + 8 (the scale stays
 * 2^(top - 127)). Fillers only for gaps over 31: at 90% a gap passes 15 with p 0.9^15 = 0.21 and
 * 31 with 0.04, so 1.04 entries a nonzero instead of 1.26 (-17% entries, -35% bytes against
 * 2.5-byte entries); it needs each row's nonzeros within 7 binades (magnitude-pruned rows at
 * high sparsity are: they keep the row's largest values). dr_db 0 sets the width by row, bit 23
 * of the part bases saying which (SmolLM2-135M sparsegpt 90%: 96% of the rows fit,
 * but only 9 of 210 weights in every row).
 *
 * x of all tokens is staged once a block in shared memory; a warp loads its groups three ahead
 * straight into registers, and the P parts of a row are summed in shared memory. Until H200
 * run 61 the tasks were dealt to persistent blocks and a row's parts met in global memory
 * (atomic adds, a fence, a counter, the last part's read): that hand-over cost 0.9-1.5 us a
 * call (run 60), as every warp reached it at the end together.
 * Where a 1-token call's time goes (H200 runs 93-101, 4096x4096 at 90%): x reaches shared memory
 * 1.6-1.8 us after a block starts, behind the weight stream, whatever the order of the copies;
 * the same loads with no arithmetic take 3.8 of the call's 4.35 us; bank conflicts ~0.2 us. The
 * parts summed by mma.sync instead (fewer instructions) were slower: their gathers spread wider. */
#include <algorithm>
#include <stdlib.h>
#include <string.h>
#include <vector>

#include "common.cuh"

#define DR_BLOCK 80   /* uint4 a block: the group of each of a task's 32 streams */
#define DR16_BLOCK 64 /* the same in the 2-byte form */

/* The entry decode, shared by the kernel and the host check (spdr_upload's dry 2) so that CI
 * runs the kernel's own bit operations without a GPU. */
__host__ __device__ static inline uint32_t dr_prmt(uint32_t a, uint32_t b, uint32_t s) {
#ifdef __CUDA_ARCH__
    return __byte_perm(a, b, s);
#else
    const uint64_t x = (uint64_t)b << 32 | a; /* selectors here are 0..7 a nibble */
    uint32_t r = 0;
    for (int k = 0; k < 4; k++) r |= (uint32_t)(x >> (8 * ((s >> (4 * k)) & 7)) & 0xff) << (8 * k);
    return r;
#endif
}

/* The deltas of 8 entries as bytes, in their low bits (even entries 0, 2, 4, 6 in ev, odd ones in
 * od). W16: from the 4 words v, entry 2k / 2k+1 in the low / high half of word k (byte 0 / 2 of
 * each word, gathered); else from the 2.5-byte form's delta word dw, entry i in bits 4i.. */
template <bool W16> __host__ __device__ static inline void dr_deltas(const uint32_t *v, uint32_t dw, uint32_t &ev, uint32_t &od) {
    if (W16) {
        const uint32_t lo = dr_prmt(v[0], v[1], 0x6240), hi = dr_prmt(v[2], v[3], 0x6240);
        ev = dr_prmt(lo, hi, 0x5410), od = dr_prmt(lo, hi, 0x7632);
    } else {
        ev = dw, od = dw >> 4;
    }
}

/* A lane's row from its part base bw: the column before the part (bits 0-23; DB 0, delta widths a
 * row: bits 0-22, bit 23 set where the row has 5-bit deltas) and, for DB 0, that width's delta
 * mask (dr_cols) and value shift and mask (dr_f16x2) */
template <int DB> struct dr_lane {
    uint32_t col, dm, vs, vm;
    __host__ __device__ dr_lane(uint32_t bw) {
        const uint32_t f5 = DB == 0 ? bw >> 23 & 1 : 0;
        col = bw & (DB == 0 ? 0x7fffffu : 0xffffffu);
        dm = f5 ? 0x1F1F1F1Fu : 0x0F0F0F0Fu, vs = 1 + f5, vm = f5 ? 0x1FF81FF8u : 0x3FF83FF8u;
    }
};

/* The columns of 8 entries from their deltas, one a byte in its low DB bits (even entries 0, 2,
 * 4, 6 in ev, odd ones in od): running sums as bytes, times 0x01010101, not a chain of 8 adds
 * (a chain made each nonzero wait ~4 cycles for the one before, and with 16 warps an SM that was
 * the limit: ncu run 62, ~4 nonzeros a cycle an SM). S(2k+1) = E_k + O_k, S(2k) = E_k + O_(k-1).
 * 4-bit deltas are summed doubled, as byte offsets into bf16 x (<= 120 a byte); 5-bit ones, and
 * both widths where they vary by row (DB 0, the lane's mask dm), as columns (<= 248), the offset
 * doubled per entry. */
template <int DB> struct dr_cols {
    uint32_t even, odd;
    __host__ __device__ dr_cols(uint32_t ev, uint32_t od, uint32_t dm = 0) {
        const uint32_t m = DB == 4 ? 0x1E1E1E1Eu : DB == 5 ? 0x1F1F1F1Fu : dm, sh = DB == 4 ? 1 : 0;
        const uint32_t pe = ((ev << sh) & m) * 0x01010101u, po = ((od << sh) & m) * 0x01010101u;
        odd = pe + po, even = pe + (po << 8);
    }
    /* the byte offset into a token's x of entry i (0..7), from that of the column before the 8 */
    __host__ __device__ uint32_t off(uint32_t row0, int i) const {
        const uint32_t s = dr_prmt(i & 1 ? odd : even, 0, 0x4440 | (i >> 1));
        return row0 + (DB == 4 ? s : s << 1);
    }
    /* S(7), in columns */
    __host__ __device__ uint32_t last() const { return dr_prmt(odd, 0, 0x4443) >> (DB == 4 ? 1 : 0); }
};

/* The 2-byte form: the two entries of word u (low and high half) as f16 bits s | 0 e4 | m7 000
 * (DB 4) or s | 00 e3 | m7 000 (DB 5; DB 0: the lane's shift vs and mask vm say which), to be
 * scaled by the row's 2^(top - 127) */
template <int DB> __host__ __device__ static inline uint32_t dr_f16x2(uint32_t u, uint32_t vs = 0, uint32_t vm = 0) {
    if constexpr (DB == 0) return (u & 0x80008000u) | ((u >> vs) & vm);
    else return (u & 0x80008000u) | ((u >> (DB - 3)) & (DB == 4 ? 0x3FF83FF8u : 0x1FF81FF8u));
}

/* f16 bits as a double; NaN for what the 2-byte form never holds (subnormals, inf, NaN) */
static double dr_f16(uint32_t h) {
    const int e = (h >> 10) & 31, m = h & 0x3ff;
    if (e == 0 && m == 0) return 0.0;
    if (e == 0 || e == 31) return NAN;
    return (h & 0x8000 ? -1.0 : 1.0) * ldexp(1.0 + m / 1024.0, e - 15);
}

static double dr_bf16(uint16_t h) { /* the library's converter lives on a floor this file does not link */
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* spdr_upload's dry 2: walk the host layout as spdr_kernel does (its block addressing for the three
 * task layouts and the part bases, written again here; the entry decode through the kernel's own
 * dr_deltas, dr_cols and dr_f16x2), rebuild the weight and compare it with dense, bit for bit; ord:
 * the row of each slot (the identity in weight order, where the kernel writes slot = row without
 * reading it). 0, or SP_ERR_FORMAT naming the first difference. */
template <int DB>
static int dr_check(const sp_cuda_weight *w, const uint4 *hb, const uint32_t *task, const uint32_t *base, const uint32_t *ord,
                    const uint16_t *dense) {
    const int M = w->out, K = w->in, RG = (M + 31) / 32, P = w->dr_p, W16 = w->dr_w16;
    const int BLK = W16 ? DR16_BLOCK : DR_BLOCK, D = 3, gt = w->dr_gt ? w->dr_gt : w->dr_h;
    std::vector<double> got((size_t)32 * K); /* a row group at a time: its P tasks are consecutive */
    std::vector<uint8_t> seen(M);            /* the row order (ord: the row of each slot): each row in one slot */
    for (size_t s = 0; s < (size_t)RG * 32; s++) {
        const uint32_t r = ord[s];
        if (r < (uint32_t)M && seen[r]++) return sp_error(SP_ERR_FORMAT, "delta-rows check: row %u in two slots", r);
        if (r >= (uint32_t)M && s < (size_t)M) return sp_error(SP_ERR_FORMAT, "delta-rows check: slot %zu holds no row", s);
    }
    for (size_t t = 0; t < (size_t)RG * P; t++) {
        if (t % P == 0) std::fill(got.begin(), got.end(), 0.0);
        for (int lane = 0; lane < 32; lane++) {
            const size_t r = ord[t / P * 32 + lane]; /* as the kernel writes it */
            const uint32_t bw = base[t * 32 + lane];
            const double scale = W16 ? ldexp(1.0, (int)(bw >> 24) - 127) : 1.0;
            const dr_lane<DB> ln(bw);
            uint32_t col = W16 ? ln.col : bw;
            const int it = w->dr_gt ? gt : (int)task[2 * t + 1];
            for (int g = 0; g < it; g++) {
                long b; /* the block of group g, -1: the kernel's zeros */
                if (w->dr_gt) b = (long)(t * gt + g);
                else if (w->dr_h) b = g < D ? (g < gt ? (long)(t * gt + g) : -1) : (long)task[2 * t] - gt + g;
                else b = (long)task[2 * t] + g;
                uint32_t v[8] = {0}, d[2] = {0};
                if (b >= 0) {
                    const uint32_t *pa = reinterpret_cast<const uint32_t *>(hb + (size_t)b * BLK + lane);
                    const uint32_t *pb = reinterpret_cast<const uint32_t *>(hb + (size_t)b * BLK + 32 + lane);
                    for (int k = 0; k < 4; k++) v[k] = pa[k], v[4 + k] = pb[k];
                    if (!W16) for (int k = 0; k < 2; k++) d[k] = reinterpret_cast<const uint32_t *>(hb + (size_t)b * BLK + 64)[2 * lane + k];
                }
                for (int h = 0; h < 2; h++) {
                    uint32_t ev, od;
                    if (W16) dr_deltas<true>(v + 4 * h, 0, ev, od);
                    else dr_deltas<false>(v + 4 * h, d[h], ev, od);
                    const dr_cols<DB> cs(ev, od, ln.dm);
                    for (int i = 0; i < 8; i++) {
                        const uint32_t u = v[4 * h + i / 2], c = cs.off(2 * col, i) / 2;
                        const double x = W16 ? dr_f16(dr_f16x2<DB>(u, ln.vs, ln.vm) >> (16 * (i & 1)) & 0xffff) * scale
                                             : dr_bf16((uint16_t)(u >> (16 * (i & 1))));
                        if (x == 0) continue; /* a filler or a pad */
                        if (r >= (size_t)M || c >= (uint32_t)K || got[(size_t)lane * K + c] != 0 || x != x)
                            return sp_error(SP_ERR_FORMAT, "delta-rows check: task %zu lane %d group %d entry %d: %g at row %zu "
                                            "column %u (%s)", t, lane, g, 8 * h + i, x, r, c,
                                            x != x ? "not a value the form holds" : r >= (size_t)M || c >= (uint32_t)K ? "outside the weight" : "twice");
                        got[(size_t)lane * K + c] = x;
                    }
                    col += cs.last();
                }
            }
        }
        if (t % P != (size_t)P - 1) continue;
        for (size_t lane = 0; lane < 32; lane++) { /* the row group, decoded */
            const size_t r = ord[t / P * 32 + lane];
            for (size_t c = 0; r < (size_t)M && c < (size_t)K; c++) {
                const uint16_t v = dense[r * K + c];
                const double want = v & 0x7fff ? dr_bf16(v) : 0.0;
                if (got[lane * K + c] != want)
                    return sp_error(SP_ERR_FORMAT, "delta-rows check: row %zu column %zu decodes to %g, the weight holds %g", r, c,
                                    got[lane * K + c], want);
            }
        }
    }
    return 0;
}

int spdr_upload(sp_cuda_weight *w, const uint16_t *dense, int sms, int dry) {
    const int M = w->out, K = w->in, RG = (M + 31) / 32;
    std::vector<uint8_t> fits5(M); /* 1: row r's nonzeros fit 5-bit deltas (7 binades) */
    int db = 4;                    /* delta bits: 4, 5, 0 = fits5[r] ? 5 : 4 */
    auto five = [&](int r) { return db == 5 || (db == 0 && fits5[r]); };
    /* the entries of row r (nonzeros and fillers), in column order: put(value, delta, column) */
    auto walk = [&](int r, auto &&put) {
        const int gap = r < M && five(r) ? 31 : 15; /* the largest delta */
        for (int col = 0, prev = 0; r < M && col < K; col++) {
            const uint16_t v = dense[(size_t)r * K + col];
            if (!(v & 0x7fff)) continue; /* +0 and -0 dropped */
            for (; col - prev > gap; prev += gap) put(0, gap, prev + gap);
            put(v, col - prev, col);
            prev = col;
        }
    };
    /* One pass over the rows: each row's entries (len) and its exponent range. The 2-byte form
     * holds a row's nonzeros as f16 bits rebased to the row's largest exponent: it needs every
     * row's nonzeros within 15 binades of that exponent (no bf16 subnormal, inf or NaN) and
     * columns below 2^24 (the base carries the exponent in its top byte); with 5-bit deltas,
     * within 7 binades and the largest exponent under 247 (the top byte holds emax + 8). */
    uint8_t *emax = (uint8_t *)calloc((size_t)RG * 32, 1);
    size_t *len = (size_t *)calloc((size_t)RG * 32, sizeof(size_t));
    if (!emax || !len) { free(emax); free(len); return sp_error(SP_ERR_NOMEM, "delta-rows: out of host memory"); }
    w->dr_w16 = K < (1 << 24);
    w->dr_row = -1, w->dr_span = 0, w->dr_row5 = -1, w->dr_span5 = 0;
    size_t nnz = 0, ents = 0; /* nonzeros, entries with 4-bit deltas */
    int n5 = 0;               /* rows with nonzeros that fit 5-bit deltas */
    for (int r = 0; r < M; r++) {
        int hi = 0, lo = 255;
        walk(r, [&](uint16_t v, int, int) {
            len[r]++, ents++;
            if (!v) return; /* a filler */
            nnz++;
            const int e = (v >> 7) & 0xff;
            hi = std::max(hi, e), lo = std::min(lo, e);
        });
        emax[r] = (uint8_t)(hi == 255 ? 0 : hi);
        if (lo <= hi && (lo == 0 || hi == 255 || hi - lo > 14) && w->dr_row < 0) w->dr_row = r, w->dr_span = hi - lo + 1;
        fits5[r] = !(lo <= hi && (lo == 0 || hi > 246 || hi - lo > 6));
        if (!fits5[r] && w->dr_row5 < 0) w->dr_row5 = r, w->dr_span5 = hi - lo + 1;
        n5 += fits5[r] && lo <= hi; /* an empty row fits anything, and says nothing */
    }
    /* Where it fits, the 2-byte form is taken where the kernel streams (H200 run 65, 1 token,
     * A/B/A in one process): 448 row groups (two blocks an SM and more) 0.3-1.6 us faster at
     * 50-90%, 14336-column rows 0.2-0.3 us faster at 50% and 90% (0.1 slower at 70%); with one
     * block an SM or less and 4096-column rows it was 0-1.0 us slower (its ~1 more instruction
     * an entry, on warps that wait rather than stream). SP_DR_W16: 1 where it fits, 0 never,
     * -1 or unset the rule. */
    /* 5-bit deltas: by weight where every row fits them, else by row (the width in bit 23 of the
     * part bases: columns below 2^23). H200 run 156, 1 token, graphs, A/B three times in one
     * process: wherever the 2-byte form ran they were as fast or faster (14336x4096 and 4096x14336
     * at 70-90% 0.1-0.8 us faster, at 50% the same), and at 90% they make the 2-byte form pay
     * where one block an SM had waited on it (fillers 1.26 -> 1.04 entries a nonzero): 4096x4096
     * 4.16 -> 3.74 us, 6144x4096 4.99 -> 4.65. At 50-70% on those two shapes, with next to no
     * fillers, the 2-byte form stayed slower as run 65 found (4096x4096 70% 6.05 -> 6.21 us,
     * 6144x4096 50% 11.2 -> 11.6). By row ran within 0.1 us of by weight. So: 5-bit deltas wherever
     * the 2-byte form is taken, which is now also where 4-bit deltas would spend 10% of the entries
     * or more on fillers (~85% sparsity and up). SP_DR_D5: 1 by weight (where every row fits), 2 by
     * row, 0 never, -1 or unset the rule. */
    const char *we = getenv("SP_DR_W16"), *d5 = getenv("SP_DR_D5");
    const int a5 = w->dr_ask5 = d5 && *d5 && atoi(d5) >= 0 ? std::min(atoi(d5), 2) : -1;
    w->dr_n5 = n5;
    const int all5 = w->dr_row5 < 0 && n5 > 0, by5 = n5 > 0 && K < (1 << 23);
    const int can5 = a5 == 1 ? all5 : a5 == 2 ? by5 : a5 == 0 ? 0 : all5 || by5;
    const int fill = (ents - nnz) * 10 >= ents && ents > 0; /* fillers >= 10% of the 4-bit entries */
    const int want = we && *we && atoi(we) >= 0 ? atoi(we) > 0 : RG >= 2 * sms || K >= 8192 || (can5 && (a5 > 0 || fill));
    w->dr_w16 = w->dr_w16 && w->dr_row < 0 && want;
    db = w->dr_db = w->dr_w16 && can5 ? (a5 == 1 || (a5 < 0 && all5) ? 5 : 0) : 4;
    if (db != 4) { /* fewer fillers: count the rows again */
        for (int r = 0; r < M; r++) {
            len[r] = 0;
            walk(r, [&](uint16_t, int, int) { len[r]++; });
        }
    }
    const int BLK = w->dr_w16 ? DR16_BLOCK : DR_BLOCK;
    const size_t longest = *std::max_element(len, len + (size_t)RG * 32);
    /* P warps a block: H200 run 61 at 1 token, 50-90%: 16 where the row groups fit one block an
     * SM (4096 rows: 7-17% faster than 32 and 8), else 8 (6144 and 14336 rows: 16 and 32 slower
     * by up to 1.6x there). In the 2-byte form 32 where 16 would leave a warp 16 groups or more
     * (4096x14336, runs 66 and 67: 50% 22.2-22.4 -> 20.4-20.7 us, 70% 15.7-15.8 -> 14.9-15.0; at
     * 90%, 7 groups, 32 was slower; the 2.5-byte form was slower with 32 at every sparsity, run
     * 61). Not kept (run 69): 6144 rows as clusters of 2 blocks a row group, for 2.9 blocks an SM
     * instead of 1-2: +0.5..+1.3 us at 70-90%. In the 2.5-byte form with one block an SM, 18
     * warps, less those that would get no part: E rounds up to whole groups, and with 16 warps on
     * 4096x4096 only 14 (70%) or 12 (90%) had entries; 18 leaves 17 and 16 (H200 run 77, 1 token:
     * 70% 7.45 -> 7.16-7.20 us, 50% 0.1-0.4 us faster, 90% the same; 4 tokens -0.25..+0.5 us;
     * run 78, 17 warps against 16, three A/B pairs: 70% 7.55 -> 7.18-7.23, 90% the same at 1 token
     * and 0.26 us faster at 4). Those blocks take no uniform tasks (run 78: 50% at 4 tokens 16.0
     * -> 17.4 us with them, the same at 1). SP_DR_P (4..32) forces the warps (sp_gpu_bench
     * --delta-sweep). */
    const char *pe = getenv("SP_DR_P");
    int P = RG <= sms ? (w->dr_w16 ? 16 : 18) : 8;
    if (P == 16 && longest >= 16 * 16 * 16) P = 32;
    const int forced = pe && atoi(pe) >= 1, trim = P == 18 && !forced;
    if (forced) P = std::min(32, atoi(pe));
    auto part = [&](int parts) { /* the longest row over parts, up to whole groups */
        const size_t e = std::max<size_t>(16, (longest + parts - 1) / parts);
        return (e + 15) / 16 * 16;
    };
    size_t E = part(P); /* entries a part, whole groups */
    if (trim) { /* no empty parts; fewer parts never need a longer one; >= 4: a warp a token sums them */
        P = std::max<int>(4, (int)((longest + E - 1) / E));
        E = part(P);
    }
    w->dr_p = P;
    /* Early launch (programmatic dependence, where the caller asks: the device model's decode)
     * where one block an SM runs 2.5-byte entries. H200 run 82, rotated calls in a CUDA graph, two
     * processes: 4096x4096 1.0-1.2 us faster at 50-90% (90% 4.36 -> 3.24 us); elsewhere 0.4-1.9 us
     * slower (6144x4096 and 14336x4096 50-70%, 4096x14336 90% in the 2-byte form), or at most 0.5
     * faster (4096x14336 50-70%). SP_DR_PDL: 1 always, 0 never, -1 or unset the rule. */
    const char *de = getenv("SP_DR_PDL");
    w->dr_pdl = de && *de && atoi(de) >= 0 ? atoi(de) > 0 : RG <= sms && !w->dr_w16;
    /* Where a warp's first loads go out. Plain: after the wait for x and a read of the task table
     * (task t's first block and blocks), every row group at its exact blocks. Uniform tasks (dr_gt
     * > 0): every row group padded to P x E entries, task t's blocks at t x E/16, no table. Heads
     * (dr_h > 0): each task's first H = min(3, E/16) groups at t x H (padded where a task is
     * shorter), the rest in a tail per task through the table, read while the heads stream.
     * Both load the first groups as the kernel starts, with x's copies (ptxas issues them before
     * the wait for x), and pay in padding, which is bytes read. H200 runs 71-73, A/B/A/B at 1
     * token: uniform tasks at +2.4% bytes 1.3 us faster on 14336x4096 and 0.5 on 6144x4096 at 50%
     * (heads 0.25 us behind there); heads at +0..+8% bytes 0.3-0.8 us faster on those two shapes
     * at 70-90% (14336x4096 90%: 3.46 -> 3.60x), as fast on 4096x4096 at 50-70% (+2..+7%) and on
     * 4096x14336 (+1%), 0.3 us slower on 4096x4096 at 90% (+37%: 4 of 16 tasks a row group
     * empty, each padded to a head). The rule: uniform tasks where they add at most 3% to the
     * blocks, else heads where they add at most 10%, else plain. SP_DR_U=1 / SP_DR_HEAD=1 force
     * one (heads win), 0 rules one out. */
    const size_t T = (size_t)RG * P, padded = T * (E / 16), H = std::min<size_t>(3, E / 16); /* tasks */
    const char *ue = getenv("SP_DR_U"), *he = getenv("SP_DR_HEAD");
    const int fh = he && *he ? atoi(he) : -1; /* forced: 1 on, 0 off, -1 the rule */
    const int fu = ue && *ue && atoi(ue) >= 0 ? atoi(ue) : trim ? 0 : -1;
    /* The blocks of a row order, ord[slot] = the row lane slot % 32 of row group slot / 32 walks
     * (slots past the rows: themselves, empty): a row group's longest row (most), a task's groups
     * (tnb), and the task layout that the rule above picks (uni, heads), its blocks and bytes */
    struct lay {
        std::vector<size_t> most, tnb;
        size_t exact = 0, headed = 0, total = 0, bytes = 0;
        int uni = 0, heads = 0;
    };
    auto layout = [&](const std::vector<uint32_t> &ord) {
        lay L;
        L.most.assign(RG, 0), L.tnb.assign(T, 0);
        for (size_t s = 0; s < ord.size(); s++) L.most[s / 32] = std::max(L.most[s / 32], len[ord[s]]);
        for (size_t rg = 0, t = 0; rg < (size_t)RG; rg++, t += P) {
            const size_t m = L.most[rg];
            for (size_t p = 0; p < (size_t)P; p++) /* parts past the longest row: no blocks */
                L.tnb[t + p] = p * E < m ? (std::min(m, (p + 1) * E) - p * E + 15) / 16 : 0;
            L.exact += (m + 15) / 16;
        }
        L.headed = T * H;
        for (size_t t = 0; t < T; t++) L.headed += L.tnb[t] > H ? L.tnb[t] - H : 0;
        L.heads = fh > 0 || (fh < 0 && fu <= 0 && !(fu < 0 && padded * 100 <= L.exact * 103) && L.headed * 100 <= L.exact * 110);
        L.uni = !L.heads && (fu > 0 || (fu < 0 && padded * 100 <= L.exact * 103));
        L.total = L.uni ? padded : L.heads ? L.headed : L.exact;
        L.bytes = L.total * BLK * 16 + T * ((L.uni ? 0 : 8) + 32 * 4);
        return L;
    };
    /* Row order. A task pads its 32 streams to its row group's longest row, so rows of uneven
     * length (one threshold for a whole weight: magnitude, SparseGPT) waste blocks in the weight's
     * order: SmolLM2-135M at 90%, magnitude's layouts padded to 2.08x its nonzeros. Rows sorted by
     * length, longest first, pad next to nothing (that model's 210 linears by this rule, 2.5-byte
     * or 2-byte entries: magnitude 69.4 -> 51.5 MB, SparseGPT 65.6 -> 51.6; with 5-bit deltas by
     * row 57.2 -> 39.4 and 55.9 -> 41.8; wanda, every row alike, the same), and the longest row
     * groups launch first. The kernel then writes lane l's sums to row dr_ord[32 rg + l] (4
     * bytes a row more). A part stays the longest row over P, so no block gets more to do than in
     * the weight's order. Taken where it saves 20% of the bytes or more. H200 run 157, rows of 90%
     * +-9% sparsity each, 5-bit deltas, 1 token: 0.76x the weight-order time on 14336x4096 (the
     * call streams), 0.90-0.97x on the shapes of one block an SM (the longest row group keeps its
     * work). Random rows save 1-14% of the bytes (uniform and heads pad anyway; the plain layout
     * pads each row group to its longest row, ~10% at 90%), and run 156 found length order 0.1-0.2
     * us slower on them at 90% (4096x4096 and 6144x4096): the 0.8x line keeps them in weight order.
     * SP_DR_SORT: 1 always, 0 never, -1 or unset the rule. */
    std::vector<uint32_t> ord((size_t)RG * 32);
    for (size_t s = 0; s < ord.size(); s++) ord[s] = (uint32_t)s;
    lay L = layout(ord);
    const char *se = getenv("SP_DR_SORT");
    w->dr_ask_sort = se && *se && atoi(se) >= 0 ? atoi(se) > 0 : -1;
    w->dr_sort = 0, w->dr_bytes_alt = 0;
    if (w->dr_ask_sort) {
        std::vector<uint32_t> so(ord);
        std::stable_sort(so.begin(), so.begin() + M, [&](uint32_t a, uint32_t b) { return len[a] > len[b]; });
        lay S = layout(so);
        S.bytes += so.size() * 4;
        if (w->dr_ask_sort > 0 || S.bytes * 10 <= L.bytes * 8) {
            w->dr_sort = 1, w->dr_bytes_alt = L.bytes;
            ord.swap(so), L = std::move(S);
        } else {
            w->dr_bytes_alt = S.bytes;
        }
    }
    const std::vector<size_t> &most = L.most, &tnb = L.tnb;
    const size_t total = L.total;
    const int uni = L.uni, heads = L.heads;
    std::vector<size_t> tb(T); /* a task's first block (heads: its tail's) */
    w->dr_gt = uni ? (int)(E / 16) : 0;
    w->dr_h = heads ? (int)H : 0;
    w->bytes = L.bytes;
    if (dry == 1) { /* sp_cuda_delta_rows_plan: the choices and bytes, nothing built */
        free(emax);
        free(len);
        return 0;
    }
    if (heads)
        for (size_t t = 0, b = T * H; t < T; t++) tb[t] = b, b += tnb[t] > H ? tnb[t] - H : 0;
    else
        for (size_t rg = 0, t = 0, b = 0; rg < (size_t)RG; rg++, t += P) {
            for (size_t p = 0; p < (size_t)P; p++) tb[t + p] = b + p * (E / 16);
            b += uni ? P * E / 16 : (most[rg] + 15) / 16;
        }
    /* block of group gi of task tt */
    auto block_of = [&](size_t tt, size_t gi) { return heads ? (gi < H ? tt * H + gi : tb[tt] + gi - H) : tb[tt] + gi; };
    uint32_t *task = (uint32_t *)malloc(T * 8), *base = (uint32_t *)calloc(T * 32, 4);
    uint4 *hb = (uint4 *)calloc(std::max<size_t>(total, 1) * BLK, 16);
    if (!task || !base || !hb || total > 0xffffffffu) {
        free(emax); free(len); free(task); free(base); free(hb);
        return sp_error(SP_ERR_NOMEM, "delta-rows: out of host memory");
    }
    for (size_t t = 0; t < T; t++) task[2 * t] = (uint32_t)tb[t], task[2 * t + 1] = (uint32_t)tnb[t];
    for (size_t rg = 0, t = 0; rg < (size_t)RG; rg++) {
        for (int lane = 0; lane < 32; lane++) {
            const int r = (int)ord[rg * 32 + lane], em = r < M ? emax[r] : 0;
            const int f5 = r < M && five(r), bias = f5 ? 7 : 15; /* e4 = e - emax + 15, e3 = e - emax + 7 */
            const uint32_t top = w->dr_w16 ? (uint32_t)(em + 15 - bias) << 24 | (db == 0 && f5 ? 1u << 23 : 0) : 0; /* scale 2^(top - 127) */
            for (size_t p = 0; p < (size_t)P; p++) base[(t + p) * 32 + lane] = top;
            size_t e = 0;
            walk(r, [&](uint16_t v, int d, int col) {
                const size_t p = e / E, i = e % 16; /* E % 16 == 0 */
                if (e % E == 0 && p) base[(t + p) * 32 + lane] = top | (uint32_t)(col - d); /* the previous column */
                uint4 *blk = hb + block_of(t + p, (e % E) / 16) * BLK;
                uint32_t *vw = reinterpret_cast<uint32_t *>(blk + (i < 8 ? 0 : 32) + lane) + (i % 8) / 2;
                if (w->dr_w16) { /* s | e4 m7 | delta4 or s | e3 m7 | delta5; fillers 0 | delta */
                    const uint32_t m = v & 0x7fff ? (uint32_t)(((v >> 7) & 0xff) - em + bias) << 7 | (v & 0x7f) : 0;
                    *vw |= ((uint32_t)(v & 0x8000) | m << (f5 ? 5 : 4) | (uint32_t)d) << (16 * (i % 2));
                } else {
                    *vw |= (uint32_t)v << (16 * (i % 2));
                    uint32_t *dw = reinterpret_cast<uint32_t *>(blk + 64) + 2 * lane + i / 8;
                    *dw |= (uint32_t)d << (4 * (i % 8));
                }
                e++;
            });
        }
        t += P;
    }
    int rc = 0;
    if (dry == 2)
        rc = w->dr_db == 5 ? dr_check<5>(w, hb, task, base, ord.data(), dense)
             : w->dr_db == 0 ? dr_check<0>(w, hb, task, base, ord.data(), dense)
                             : dr_check<4>(w, hb, task, base, ord.data(), dense);
    else if (sp_dev_copy(&w->bvals, hb, std::max<size_t>(total, 1) * BLK * 16) || sp_dev_copy(&w->boff, task, T * 8) ||
             sp_dev_copy(&w->bm, base, T * 32 * 4) || (w->dr_sort && sp_dev_copy(&w->dr_ord, ord.data(), ord.size() * 4)))
        rc = sp_error(SP_ERR_NOMEM, "delta-rows: device allocation/copy failed");
    free(emax);
    free(len);
    free(task);
    free(base);
    free(hb);
    return rc;
}

/* The entry form, why, and the task layout of w */
const char *spdr_path(const sp_cuda_weight *w) {
    static char buf[768];
    char tasks[320], order[128];
    const double alt = w->dr_bytes_alt ? (double)(w->dr_sort ? w->bytes : w->dr_bytes_alt) / (double)(w->dr_sort ? w->dr_bytes_alt : w->bytes) : 0;
    if (w->dr_sort) snprintf(order, sizeof order, "rows in length order (%.2fx the bytes in weight order%s)", alt, w->dr_ask_sort > 0 ? ", SP_DR_SORT=1" : "");
    else if (w->dr_ask_sort) snprintf(order, sizeof order, "rows in weight order (length order: %.2fx the bytes; it needs 0.8x)", alt);
    else snprintf(order, sizeof order, "rows in weight order (SP_DR_SORT=0)");
    snprintf(tasks, sizeof tasks, "%s, %d warps a row group, %s, %s", w->dr_gt ? ", uniform tasks" : w->dr_h ? ", heads" : "", w->dr_p,
             order, w->dr_pdl ? "early launch where the caller allows it"
                              : "no early launch (row groups above the SMs or 2-byte entries: slower so, H200 run 82)");
    char db[256] = "";
    const int a5 = w->dr_ask5;
    const char *by = a5 > 0 ? (a5 == 1 ? "SP_DR_D5=1" : "SP_DR_D5=2") : "the rule, H200 run 156";
    if (w->dr_db == 5) snprintf(db, sizeof db, ", 5-bit deltas (%s)", by);
    else if (w->dr_db == 0)
        snprintf(db, sizeof db, ", 5-bit deltas in %d of %d rows (%s; the others span over 7 binades, reach 2^120 or are empty)",
                 w->dr_n5, w->out, by);
    else if (a5 == 0) snprintf(db, sizeof db, ", 4-bit deltas (SP_DR_D5=0)");
    else if (a5 == 1 && w->dr_row5 >= 0)
        snprintf(db, sizeof db, ", 4-bit deltas (SP_DR_D5=1, but row %d's nonzeros span %d binades, or reach 2^120: 5-bit deltas "
                 "hold 7 below it)", w->dr_row5, w->dr_span5);
    else if (!w->dr_n5) snprintf(db, sizeof db, ", 4-bit deltas (no row fits 5-bit deltas: 7 binades, under 2^120)");
    else if (w->dr_w16) snprintf(db, sizeof db, ", 4-bit deltas (5-bit deltas by row need rows under 2^23 columns)");
    else if (a5 > 0)
        snprintf(db, sizeof db, ", 4-bit deltas (SP_DR_D5=%d, but 5-bit deltas need the 2-byte form)", a5);
    if (w->dr_w16) snprintf(buf, sizeof buf, "2-byte entries (f16 bits rebased a row)%s%s", db, tasks);
    else if (w->dr_row < 0)
        snprintf(buf, sizeof buf, "2.5-byte entries (the rule: under 2 row-group blocks an SM, rows under 8192 columns, fillers under "
                 "10%% of the entries; or SP_DR_W16=0; or 2^24 columns)%s%s", db, tasks);
    else
        snprintf(buf, sizeof buf, "2.5-byte entries (row %d's nonzeros span %d binades, or hold a subnormal, inf or NaN: the "
                 "2-byte form holds 15)%s%s", w->dr_row, w->dr_span, db, tasks);
    return buf;
}

/* What a delta-rows upload of dense (out x in bf16) would choose on a device of sms SMs, host work
 * only: no device needed (tests of the rules in CI). */
extern "C" const char *sp_cuda_delta_rows_plan(int out, int in, const uint16_t *dense, int sms, int *warps, size_t *bytes) {
    if (out <= 0 || in <= 0 || in % 16 || !dense || sms <= 0) {
        sp_error(SP_ERR_ARG, "sp_cuda_delta_rows_plan: bad arguments (%d x %d, %d SMs)", out, in, sms);
        return NULL;
    }
    sp_cuda_weight w = {};
    w.kernel = SP_CUDA_KERNEL_DELTA_ROWS, w.out = out, w.in = in;
    if (spdr_upload(&w, dense, sms, 1)) return NULL;
    if (warps) *warps = w.dr_p;
    if (bytes) *bytes = w.bytes;
    return spdr_path(&w);
}

/* The same, then the layout built on the host and decoded back as the kernel reads it (dr_check):
 * 0 where it gives dense exactly. */
extern "C" int sp_cuda_delta_rows_check(int out, int in, const uint16_t *dense, int sms, const char **path) {
    if (out <= 0 || in <= 0 || in % 16 || !dense || sms <= 0)
        return sp_error(SP_ERR_ARG, "sp_cuda_delta_rows_check: bad arguments (%d x %d, %d SMs)", out, in, sms);
    sp_cuda_weight w = {};
    w.kernel = SP_CUDA_KERNEL_DELTA_ROWS, w.out = out, w.in = in;
    const int rc = spdr_upload(&w, dense, sms, 2);
    if (path) *path = spdr_path(&w);
    return rc;
}

/* one group of a stream: 16 values, 16 deltas */
struct dr_group {
    uint4 a, b;
    uint2 d;
};

/* Block = row group blockIdx.x, warp = part. (H200 run 62: a warp's first groups loaded before
 * it waits for x, not after, was no faster: within +-0.1 us, 0.45 us slower once; they still
 * waited for the task table. U: uniform tasks, no table; HT: heads, the table read while the heads
 * stream; DB: delta bits, 5 only in the 2-byte form; SR: rows in length order, lane l's row ord[32
 * blockIdx.x + l]; see spdr_upload.) */
template <int N, bool W16, bool U = false, bool HT = false, int DB = 4, bool SR = false> /* DB 0: 4 or 5 bits by row */
__global__ void __launch_bounds__(1024)
spdr_kernel(const uint4 *__restrict__ blk, const uint2 *__restrict__ tinfo, const uint32_t *__restrict__ base,
            const __nv_bfloat16 *__restrict__ x, __nv_bfloat16 *__restrict__ y, int n, int M, int K, int gt,
            const uint32_t *__restrict__ ord) {
    extern __shared__ uint4 smem4[];
    const uint16_t *xs = reinterpret_cast<const uint16_t *>(smem4); /* (N, K) */
    float *red = reinterpret_cast<float *>(smem4 + N * K / 8);      /* (P, N, 32) the parts' sums */
    const int P = blockDim.x >> 5, warp = threadIdx.x >> 5, lane = threadIdx.x & 31, task = blockIdx.x * P + warp;
    constexpr int BLK = W16 ? DR16_BLOCK : DR_BLOCK;
    /* D groups in registers, each refilled D groups ahead once used (no copies). H200 run 17:
     * D = 4 5-10% slower than 3 at 1 token on every shape, tasks of 4 groups included; run 70
     * (blocks a row group, fewer threads a block for deeper): every D of 4-10 slower on every
     * shape and sparsity, +0.1..+6 us, the more the deeper */
    constexpr int D = 3;
    dr_group u0[U || HT ? D : 1]; /* uniform tasks, heads: the first D groups, loaded as the kernel
                                     starts, before the wait for x (SASS: uniform tasks after x's
                                     copies, heads before them; runs 75-76: that order and an SM's
                                     request order do not change the time) */
    sp_pdl_trigger(); /* launched with programmatic dependence (the device model): the next may start */
    const uint32_t bw0 = U || HT ? __ldg(base + (size_t)task * 32 + lane) : 0; /* the part's base, early too */
    const uint2 ti0 = HT ? __ldg(tinfo + task) : make_uint2(0, 0); /* heads: the tail's place, for later */
    /* the row this lane's sums go to; length order: read now, used at the end (warps < N write) */
    const int srow = SR && warp < N ? (int)__ldg(ord + blockIdx.x * 32 + lane) : M;
    if constexpr (U || HT)
#pragma unroll
        for (int g = 0; g < D; g++) { /* U: group min(g, gt - 1) (gt >= 1), zeroed past the task;
                                         HT: head g of gt (1..3), zeros past the head */
            const uint4 *p = blk + ((size_t)task * gt + min(g, gt - 1)) * BLK;
            if (HT && g >= gt) {
                u0[g].a = u0[g].b = make_uint4(0, 0, 0, 0), u0[g].d = make_uint2(0, 0);
                continue;
            }
            u0[g].a = sp_ld_stream(p + lane);
            u0[g].b = sp_ld_stream(p + 32 + lane);
            u0[g].d = W16 ? make_uint2(0, 0) : __ldg(reinterpret_cast<const uint2 *>(p + 64) + lane);
        }
    sp_pdl_wait(); /* x is the kernel before's output; the weight loads above may precede it */
    { /* 16-byte copies in flight together (in % 16 == 0); tokens >= n read 0 */
        const uint32_t sb = (uint32_t)__cvta_generic_to_shared(smem4);
        for (int i = threadIdx.x; i < N * K / 8; i += blockDim.x) {
            const bool in = i / (K / 8) < n;
            asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(sb + i * 16), "l"(in ? x + (size_t)i * 8 : x),
                         "r"(in ? 16 : 0));
        }
    }
    asm volatile("cp.async.wait_all;");
    __syncthreads();
    uint32_t b0; /* the task's first block */
    int it;      /* and its blocks */
    if constexpr (U) {
        b0 = (uint32_t)task * gt, it = gt;
    } else if constexpr (HT) {
        b0 = ti0.x - (uint32_t)gt, it = (int)ti0.y; /* group g >= gt at block b0 + g */
    } else {
        const uint2 ti = __ldg(tinfo + task);
        b0 = ti.x, it = (int)ti.y;
    }
    auto load = [&](dr_group &q, int g) { /* past the task: zeros (value 0, delta 0) */
        if (g < it) {
            const uint4 *p = blk + (size_t)(b0 + g) * BLK;
            q.a = sp_ld_stream(p + lane);
            q.b = sp_ld_stream(p + 32 + lane);
            if (!W16) q.d = __ldg(reinterpret_cast<const uint2 *>(p + 64) + lane);
        } else {
            q.a = q.b = make_uint4(0, 0, 0, 0);
            q.d = make_uint2(0, 0);
        }
    };
    float acc[N];
#pragma unroll
    for (int t = 0; t < N; t++) acc[t] = 0.f;
    const uint32_t bw = U || HT ? bw0 : __ldg(base + (size_t)task * 32 + lane);
    const dr_lane<DB> ln(bw);
    uint32_t col = W16 ? ln.col : bw; /* column of the last entry */
    /* The 16 entries of a group, 8 at a time: their columns from dr_cols, their values bf16 bits
     * or (W16) dr_f16x2's f16 bits */
    auto step = [&](const dr_group &q) {
        const uint32_t v[8] = {q.a.x, q.a.y, q.a.z, q.a.w, q.b.x, q.b.y, q.b.z, q.b.w};
#pragma unroll
        for (int h = 0; h < 2; h++) {
            uint32_t ev, od;
            dr_deltas<W16>(v + 4 * h, h ? q.d.y : q.d.x, ev, od);
            const dr_cols<DB> cs(ev, od, ln.dm);
            const uint32_t row0 = 2 * col; /* byte offset of the last column before these 8 */
            float2 f[4];                   /* W16: the values of the 4 words */
            if (W16)
#pragma unroll
                for (int k = 0; k < 4; k++) {
                    const uint32_t hb = dr_f16x2<DB>(v[4 * h + k], ln.vs, ln.vm);
                    f[k] = __half22float2(*reinterpret_cast<const __half2 *>(&hb));
                }
#pragma unroll
            for (int i = 0; i < 8; i++) {
                const uint32_t off = cs.off(row0, i);
                const uint32_t u = v[4 * h + i / 2];
                const float wv = W16 ? (i & 1 ? f[i / 2].y : f[i / 2].x) : __uint_as_float(i & 1 ? u & 0xffff0000u : u << 16);
#pragma unroll
                for (int t = 0; t < N; t++)
                    acc[t] = fmaf(wv, __uint_as_float((uint32_t)*reinterpret_cast<const uint16_t *>(
                                                          reinterpret_cast<const char *>(xs + t * K) + off) << 16),
                                  acc[t]);
            }
            col += cs.last();
        }
    };
    dr_group q[D];
#pragma unroll
    for (int k = 0; k < D; k++) {
        if constexpr (U) {
            q[k] = u0[k];
            if (k >= it) q[k].a = q[k].b = make_uint4(0, 0, 0, 0), q[k].d = make_uint2(0, 0);
        } else if constexpr (HT) {
            q[k] = u0[k]; /* a head past the task is zero-filled */
        } else {
            load(q[k], k);
        }
    }
    for (int g = 0; g < it; g += D) {
#pragma unroll
        for (int k = 0; k < D; k++) {
            if (g + k >= it) break;
            step(q[k]);
            load(q[k], g + k + D);
        }
    }
    /* W16: the row's scale 2^(emax - 127) (exact; 0 for an empty row) */
    const float scale = W16 ? __uint_as_float((bw >> 24) << 23) : 1.f;
#pragma unroll
    for (int t = 0; t < N; t++) red[(warp * N + t) * 32 + lane] = acc[t] * scale;
    __syncthreads();
    const int row = SR ? srow : blockIdx.x * 32 + lane;
    if (warp < N && warp < n && row < M) { /* warp t sums token t over the parts */
        float v = 0.f;
        for (int p = 0; p < P; p++) v += red[(p * N + warp) * 32 + lane];
        y[(size_t)warp * M + row] = __float2bfloat16(v);
    }
}

/* A block a row group: grid = row groups, P warps a block; x and the parts' sums in shared memory. */
template <int N>
static int spdr_launch(const sp_cuda_weight *w, const __nv_bfloat16 *x, int n, __nv_bfloat16 *y, sp_cuda_ctx *c) {
    const int RG = (w->out + 31) / 32;
    const size_t smem = (size_t)N * w->in * 2 + (size_t)w->dr_p * N * 32 * 4;
    if (smem > 227 * 1024) return sp_error(SP_ERR_UNSUPPORTED, "delta-rows: x of %d tokens x %d columns exceeds shared memory", N, w->in);
    const int u = w->dr_gt > 0 ? 1 : w->dr_h > 0 ? 2 : 0;
    /* entry form: 2.5 bytes, 2 bytes, 2 bytes with 5-bit deltas, 2 bytes with 4 or 5 by row */
    const int f = w->dr_w16 ? (w->dr_db == 5 ? 2 : w->dr_db == 0 ? 3 : 1) : 0;
    using kfn = decltype(&spdr_kernel<N, false>);
#define SPDR_KS(W16, DB, SR) \
    { spdr_kernel<N, W16, false, false, DB, SR>, spdr_kernel<N, W16, true, false, DB, SR>, spdr_kernel<N, W16, false, true, DB, SR> }
    static const kfn ks[2][4][3] = { /* [rows in length order][entry form][task layout] */
        {SPDR_KS(false, 4, false), SPDR_KS(true, 4, false), SPDR_KS(true, 5, false), SPDR_KS(true, 0, false)},
        {SPDR_KS(false, 4, true), SPDR_KS(true, 4, true), SPDR_KS(true, 5, true), SPDR_KS(true, 0, true)}};
#undef SPDR_KS
    const int o = w->dr_sort != 0;
    const kfn k = ks[o][f][u];
    static size_t allowed[2][4][3]; /* per template instance */
    SP_CHK(sp_allow_smem(k, smem, &allowed[o][f][u]));
    SP_CU(sp_launch(k, RG, w->dr_p * 32, smem, c->stream, c->pdl && w->dr_pdl, w->bvals, (const uint2 *)w->boff, w->bm, x, y, n, w->out,
                    w->in, u == 1 ? w->dr_gt : w->dr_h, (const uint32_t *)w->dr_ord));
    return 0;
}

int spdr_run(const sp_cuda_weight *w, const __nv_bfloat16 *x, int n, __nv_bfloat16 *y, sp_cuda_ctx *c) {
    return sp_run_by4(w, x, n, y, [&](int m, const __nv_bfloat16 *xi, __nv_bfloat16 *yi) {
        return m == 1 ? spdr_launch<1>(w, xi, m, yi, c) : m == 2 ? spdr_launch<2>(w, xi, m, yi, c) : spdr_launch<4>(w, xi, m, yi, c);
    });
}
