/* mask.c: after execution, replace every value of a result set with "****" (NULLs stay NULL).
 * The result arrives as JSON {"columns":[...],"rows":[[...],...]}; the guest rewrites the rows part
 * as it copies, without a JSON library. OK packets and errors pass through untouched. */
#include "proxyd_wasm.h"

PROXYD_GUEST("^1.0")

static const uint8_t MASK[] = "\"****\"";

PROXYD_AFTER_EXECUTION {
    uint8_t *in; uint32_t len;
    proxyd_reset();
    if (proxyd_get_result(&in, &len) != PROXYD_OK) return PROXYD_CONTINUE;  /* an error or no result */
    const uint8_t *p = in, *end = in + len;
    const char *key = "\"rows\":";
    uint32_t klen = proxyd_strlen(key);
    while (p + klen <= end) {  /* find "rows": (the columns part is copied as it is) */
        uint32_t i = 0;
        while (i < klen && p[i] == (uint8_t)key[i]) i++;
        if (i == klen) break;
        p++;
    }
    if (p + klen > end) return PROXYD_CONTINUE;  /* an OK packet: nothing to mask */
    p += klen;
    uint8_t *out = proxyd_alloc(len * 6 + 16), *o = out;
    if (!out) return proxyd_fail("mask: out of memory");
    memcpy(o, in, (size_t)(p - in));
    o += p - in;
    while (p < end) {
        uint8_t c = *p;
        if (c == '"') {  /* a string value: skip it, escapes included */
            for (p++; p < end && *p != '"'; p++)
                if (*p == '\\') p++;
            p++;
            memcpy(o, MASK, 6); o += 6;
        } else if (c == '-' || (c >= '0' && c <= '9')) {  /* a number */
            while (p < end && (*p == '-' || *p == '+' || *p == '.' || *p == 'e' || *p == 'E' || (*p >= '0' && *p <= '9'))) p++;
            memcpy(o, MASK, 6); o += 6;
        } else if (c == 't' || c == 'f') {  /* true / false */
            while (p < end && *p >= 'a' && *p <= 'z') p++;
            memcpy(o, MASK, 6); o += 6;
        } else {
            *o++ = c; p++;  /* brackets, commas, null */
        }
    }
    proxyd_set_result(out, (uint32_t)(o - out));
    return PROXYD_CONTINUE;
}
