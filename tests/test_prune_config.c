/* test_prune_config: prune config parsing/validation (bad configs rejected with clear
 * messages), layer shape checks, target/exclude matching, hand-checked mask cases. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparsity_prune.h"

static int fails = 0;

#define CHECK(cond, ...)                                             \
    do {                                                             \
        if (!(cond)) {                                               \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);     \
            fprintf(stderr, __VA_ARGS__);                            \
            fprintf(stderr, "\n");                                   \
            fails++;                                                 \
        }                                                            \
    } while (0)

/* json must be rejected with a message containing want */
static void reject(const char *json, const char *want) {
    sp_prune_config c;
    int rc = sp_prune_config_parse(json, "cfg.json", &c);
    CHECK(rc < 0, "accepted bad config %s", json);
    if (rc < 0) {
        const char *msg = sp_last_error();
        CHECK(strstr(msg, want) != NULL, "message for %s is \"%s\", expected it to mention \"%s\"", json, msg, want);
        CHECK(strstr(msg, "cfg.json") != NULL, "message \"%s\" does not name the file", msg);
        printf("rejected ok: %-60s -> %s\n", json, msg);
    }
}

static void test_reject(void) {
    reject("{\"sparsity_ratio\": 1.0}", "sparsity_ratio");
    reject("{\"sparsity_ratio\": -0.1}", "sparsity_ratio");
    reject("{\"sparsity_ratio\": \"half\"}", "must be a number");
    reject("{\"pattern\": \"n:m\", \"n\": 4, \"m\": 4}", "n < m");
    reject("{\"pattern\": \"n:m\", \"n\": 5, \"m\": 4}", "n < m");
    reject("{\"pattern\": \"n:m\", \"n\": 0, \"m\": 4}", "1 <= n");
    reject("{\"pattern\": \"4:2\"}", "n < m");
    reject("{\"pruning_method\": \"optimal-brain-surgeon\"}", "unknown pruning_method \"optimal-brain-surgeon\"");
    reject("{\"pattern\": \"diagonal\"}", "unknown pattern \"diagonal\"");
    reject("{\"layerwise\": \"deep\"}", "unknown layerwise");
    reject("{\"pattern\": \"block\", \"block_size\": 0}", "block_size");
    reject("{\"n\": 2.5}", "integer");
    reject("{\"sparsity_rato\": 0.5}", "unknown key \"sparsity_rato\"");
    reject("{\"target_layers\": [1, 2]}", "target_layers");
    reject("{\"layerwise\": \"owl\", \"pattern\": \"2:4\"}", "owl");
    reject("{\"nsamples\": 0}", "nsamples");
    reject("[1, 2]", "object");
    reject("{\"sparsity_ratio\": 0.5,", "invalid JSON");
}

static void test_parse(void) {
    sp_prune_config c;
    int rc = sp_prune_config_parse(
        "{\"pattern\": \"n:m\", \"n\": 2, \"m\": 4, \"pruning_method\": \"sparsegpt\","
        " \"target_layers\": [\"self_attn.q_proj\", \"mlp.up_proj\"], \"exclude_layers\": \"layers.0., lm_head\","
        " \"calibration_data\": \"calib.txt\", \"nsamples\": 8, \"seqlen\": 256, \"layerwise\": \"none\"}",
        "cfg.json", &c);
    CHECK(rc == 0, "valid config rejected: %s", sp_last_error());
    CHECK(c.pattern == SP_PATTERN_NM && c.n == 2 && c.m == 4 && c.method == SP_PRUNE_SPARSEGPT, "fields");
    CHECK(!strcmp(c.target_layers, "self_attn.q_proj,mlp.up_proj"), "target list \"%s\"", c.target_layers);
    CHECK(c.nsamples == 8 && c.seqlen == 256 && !strcmp(c.calibration_data, "calib.txt"), "calib fields");
    CHECK(c.owl_lambda == 0.08 && c.owl_m == 5.0 && c.sparsegpt_blocksize == 128 && c.percdamp == 0.01, "defaults");
    /* shorthand "2:4" */
    rc = sp_prune_config_parse("{\"pattern\": \"1:4\", \"pruning_method\": \"magnitude\"}", NULL, &c);
    CHECK(rc == 0 && c.pattern == SP_PATTERN_NM && c.n == 1 && c.m == 4, "shorthand 1:4");

    /* name matching */
    rc = sp_prune_config_parse("{\"target_layers\": \"self_attn.q_proj, mlp.up_proj\", \"exclude_layers\": [\"layers.0.\"]}", NULL, &c);
    CHECK(rc == 0, "%s", sp_last_error());
    CHECK(sp_prune_layer_selected(&c, "model.layers.3.self_attn.q_proj") == 1, "target q_proj");
    CHECK(sp_prune_layer_selected(&c, "model.layers.3.mlp.up_proj") == 1, "target up_proj");
    CHECK(sp_prune_layer_selected(&c, "model.layers.3.mlp.down_proj") == 0, "not targeted");
    CHECK(sp_prune_layer_selected(&c, "model.layers.0.self_attn.q_proj") == 0, "excluded layer 0");
    CHECK(sp_prune_layer_selected(&c, "model.layers.10.self_attn.q_proj") == 1, "layers.10 is not layers.0.");
    sp_prune_config_default(&c);
    CHECK(sp_prune_layer_selected(&c, "model.layers.5.mlp.gate_proj") == 1, "default: all linears");
    CHECK(sp_prune_layer_selected(&c, "lm_head") == 0, "default: lm_head dense");
    CHECK(sp_prune_layer_selected(&c, "model.embed_tokens") == 0, "default: embeddings dense");
    snprintf(c.target_layers, sizeof c.target_layers, "lm_head");
    CHECK(sp_prune_layer_selected(&c, "lm_head") == 1, "explicit lm_head target");

    /* JSON out and back */
    sp_prune_config_default(&c);
    c.method = SP_PRUNE_MAGNITUDE, c.pattern = SP_PATTERN_BLOCK, c.block_size = 32, c.sparsity_ratio = 0.25;
    char *js = sp_prune_config_to_json(&c);
    CHECK(js != NULL, "to_json");
    sp_prune_config d;
    rc = sp_prune_config_parse(js, "roundtrip", &d);
    CHECK(rc == 0 && d.method == c.method && d.pattern == c.pattern && d.block_size == 32 && d.sparsity_ratio == 0.25,
          "roundtrip of %s: %s", js, rc ? sp_last_error() : "fields differ");
    free(js);

    rc = sp_prune_config_load("/nonexistent/prune.json", &c);
    CHECK(rc == SP_ERR_IO && strstr(sp_last_error(), "/nonexistent/prune.json"), "missing file message: %s", sp_last_error());
}

static void test_check_layer(void) {
    sp_prune_config c;
    sp_prune_config_default(&c);
    c.pattern = SP_PATTERN_NM, c.n = 2, c.m = 8;
    int rc = sp_prune_config_check_layer(&c, "model.layers.1.mlp.down_proj", 576, 1532);
    CHECK(rc == SP_ERR_ARG && strstr(sp_last_error(), "model.layers.1.mlp.down_proj") && strstr(sp_last_error(), "m=8"),
          "m not dividing in: %s", sp_last_error());
    CHECK(sp_prune_config_check_layer(&c, "ok", 576, 1536) == 0, "m divides");
    c.pattern = SP_PATTERN_BLOCK, c.block_size = 64;
    rc = sp_prune_config_check_layer(&c, "model.layers.2.self_attn.k_proj", 200, 576);
    CHECK(rc == SP_ERR_ARG && strstr(sp_last_error(), "k_proj") && strstr(sp_last_error(), "block_size 64"),
          "block not dividing out: %s", sp_last_error());
    rc = sp_prune_config_check_layer(&c, "x", 192, 500);
    CHECK(rc == SP_ERR_ARG, "block not dividing in");
    CHECK(sp_prune_config_check_layer(&c, "ok", 192, 576) == 0, "block divides");
    /* the pruner itself refuses too, and does not touch W */
    float W[6 * 10];
    for (int i = 0; i < 60; i++) W[i] = (float)(i + 1);
    c.pattern = SP_PATTERN_NM, c.m = 4, c.method = SP_PRUNE_MAGNITUDE;
    rc = sp_prune_layer(&c, W, 6, 10, NULL, -1.0, NULL);
    CHECK(rc == SP_ERR_ARG && W[0] == 1.0f, "prune_layer with m not dividing in: %s", sp_last_error());
    c.method = SP_PRUNE_WANDA, c.pattern = SP_PATTERN_UNSTRUCTURED;
    rc = sp_prune_layer(&c, W, 6, 10, NULL, -1.0, NULL);
    CHECK(rc == SP_ERR_ARG && strstr(sp_last_error(), "calibration"), "wanda without stats: %s", sp_last_error());
    c.method = SP_PRUNE_SPARSEGPT;
    sp_prune_stats *s = sp_prune_stats_new(10, 0);
    rc = sp_prune_layer(&c, W, 6, 10, s, -1.0, NULL);
    CHECK(rc == SP_ERR_ARG && strstr(sp_last_error(), "X^T X"), "sparsegpt without hessian: %s", sp_last_error());
    sp_prune_stats_free(s);
    s = sp_prune_stats_new(10, 1);
    sp_prune_stats_observe(s, W, 2, 12);
    CHECK(s->status == SP_ERR_ARG && strstr(sp_last_error(), "width 12"), "observer width mismatch");
    sp_prune_stats_free(s);
}

/* hand-checked masks: counts floor(ratio * count), ties keep the lower index */
static void test_mask_hand(void) {
    uint8_t k[16];
    const double s1[8] = {1, 3, 2, 0, 5, 5, 5, 5};
    CHECK(sp_mask_select(s1, 2, 4, SP_GROUP_ROW, 0.5, 0, 0, 0, k) == 0, "row");
    const uint8_t e1[8] = {0, 1, 1, 0, 1, 1, 0, 0};
    CHECK(!memcmp(k, e1, 8), "row mask / tie rule");
    CHECK(sp_mask_select(s1, 2, 4, SP_GROUP_LAYER, 0.6, 0, 0, 0, k) == 0, "layer");
    const uint8_t e2[8] = {0, 0, 0, 0, 1, 1, 1, 1}; /* floor(4.8) = 4 pruned: 0,1,2,3 */
    CHECK(!memcmp(k, e2, 8), "layer mask");
    CHECK(sp_mask_select(s1, 2, 4, SP_GROUP_NM, 0.0, 1, 4, 0, k) == 0, "nm");
    const uint8_t e3[8] = {0, 1, 0, 0, 1, 0, 0, 0};
    CHECK(!memcmp(k, e3, 8), "1:4 mask / tie rule");
    const double s4[16] = {1, 1, 9, 9, 1, 1, 9, 9, 4, 4, 0, 0, 4, 4, 0, 0};
    CHECK(sp_mask_select(s4, 4, 4, SP_GROUP_BLOCK, 0.5, 0, 0, 2, k) == 0, "block");
    const uint8_t e4[16] = {0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0};
    CHECK(!memcmp(k, e4, 16), "block mask");
    const double nan_s[4] = {1, 0.0 / 0.0, 2, 3};
    CHECK(sp_mask_select(nan_s, 1, 4, SP_GROUP_ROW, 0.5, 0, 0, 0, k) == SP_ERR_ARG && strstr(sp_last_error(), "NaN"), "NaN");
    CHECK(sp_mask_select(s1, 2, 4, SP_GROUP_ROW, 1.0, 0, 0, 0, k) == SP_ERR_ARG, "ratio 1");
}

int main(void) {
    test_reject();
    test_parse();
    test_check_layer();
    test_mask_hand();
    if (fails) {
        fprintf(stderr, "%d failures\n", fails);
        return 1;
    }
    printf("test_prune_config: ok\n");
    return 0;
}
