/* verify.c: measured sparsity and pattern validity of a dense weight with zeros. */
#include "sparsity.h"

/* zeros = #{w_ij == 0}; n:m: each group of m consecutive inputs of a row has <= n
 * non-zeros; block: fraction of block x block tiles that are entirely zero (a block-
 * pruned layer at ratio r has at least r of its tiles all zero). */
void sp_layer_stats_compute(const float *w, int out, int in, int n, int m, int block, sp_layer_stats *st) {
    st->numel = (int64_t)out * in;
    st->zeros = 0;
    st->nm_bad_groups = 0;
    st->block_zero_frac = 0.0;
    for (int64_t i = 0; i < st->numel; i++) st->zeros += w[i] == 0.0f;
    st->sparsity = st->numel ? (double)st->zeros / (double)st->numel : 0.0;
    if (m > 0 && in % m == 0) {
        for (int r = 0; r < out; r++)
            for (int g = 0; g < in; g += m) {
                int nz = 0;
                for (int k = 0; k < m; k++) nz += w[(int64_t)r * in + g + k] != 0.0f;
                st->nm_bad_groups += nz > n;
            }
    } else if (m > 0) {
        st->nm_bad_groups = (int64_t)out * in; /* m does not divide the row: no valid grouping */
    }
    st->nm_ok = st->nm_bad_groups == 0;
    if (block > 0 && out % block == 0 && in % block == 0) {
        int64_t zb = 0, nb = (int64_t)(out / block) * (in / block);
        for (int br = 0; br < out; br += block)
            for (int bc = 0; bc < in; bc += block) {
                int all = 1;
                for (int r = br; r < br + block && all; r++)
                    for (int c = bc; c < bc + block; c++)
                        if (w[(int64_t)r * in + c] != 0.0f) { all = 0; break; }
                zb += all;
            }
        st->block_zero_frac = (double)zb / (double)nb;
    }
}
