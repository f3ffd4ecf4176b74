/* counter.c: count statements, and statements per kind, in the module's shared key-value store
 * (keys "statements" and "kind:SELECT", "kind:INSERT", ...). Every instance sees the same store. */
#include "proxyd_wasm.h"

PROXYD_GUEST("^1.0")

PROXYD_BEFORE_EXECUTION {
    uint8_t *ctx; uint32_t len; int64_t total;
    proxyd_reset();
    proxyd_kv_add((const uint8_t *)"statements", 10, 1, &total);
    if (proxyd_get_context(&ctx, &len) != PROXYD_OK) return PROXYD_CONTINUE;
    const char *tag = "\"kind\":\"";
    uint32_t tlen = proxyd_strlen(tag);
    for (uint32_t i = 0; i + tlen <= len; i++) {
        uint32_t j = 0;
        while (j < tlen && ctx[i + j] == (uint8_t)tag[j]) j++;
        if (j < tlen) continue;
        uint8_t key[64] = "kind:";
        uint32_t k = 5;
        for (uint32_t at = i + tlen; at < len && ctx[at] != '"' && k < sizeof key; at++) key[k++] = ctx[at];
        proxyd_kv_add(key, k, 1, &total);
        break;
    }
    return PROXYD_CONTINUE;
}
