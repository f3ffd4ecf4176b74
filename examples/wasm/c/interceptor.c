/* interceptor.c: refuse UPDATE and DELETE without a WHERE clause (WeScale's tutorial guest). */
#include "proxyd_wasm.h"

PROXYD_GUEST("^1.0")

static int is_ident(uint8_t c) {
    c = proxyd_lower(c);
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '$' || c >= 0x80;
}

/* the lower-case word w starts at p and is not followed by an identifier byte */
static int word_at(const uint8_t *p, const uint8_t *end, const char *w) {
    uint32_t n = proxyd_strlen(w);
    if ((uint32_t)(end - p) < n) return 0;
    for (uint32_t i = 0; i < n; i++)
        if (proxyd_lower(p[i]) != (uint8_t)w[i]) return 0;
    return p + n == end || !is_ident(p[n]);
}

PROXYD_BEFORE_EXECUTION {
    uint8_t *q; uint32_t len;
    proxyd_reset();
    if (proxyd_get_query(&q, &len) != PROXYD_OK) return PROXYD_CONTINUE;
    const uint8_t *p = q, *end = q + len;
    for (;;) {  /* blanks and comments before the first word */
        while (p < end && *p <= ' ') p++;
        if (end - p >= 2 && p[0] == '/' && p[1] == '*') {
            p += 2;
            while (end - p >= 2 && !(p[0] == '*' && p[1] == '/')) p++;
            p = end - p >= 2 ? p + 2 : end;
            continue;
        }
        break;
    }
    if (!word_at(p, end, "delete") && !word_at(p, end, "update")) return PROXYD_CONTINUE;
    while (p < end) {
        uint8_t c = *p;
        if (c == '\'' || c == '"' || c == '`') {  /* skip quoted text */
            for (p++; p < end && *p != c; p++)
                if (*p == '\\') p++;
            p++;
            continue;
        }
        if (word_at(p, end, "where") && (p == q || !is_ident(p[-1]))) return PROXYD_CONTINUE;
        p++;
    }
    return proxyd_fail("no where clause");
}
