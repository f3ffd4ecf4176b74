/* proxyd_fdw.h: the guest side of proxyd's foreign-table ABI v1 (docs/wasm-fdw.md), for C guests built with
 *   clang --target=wasm32 -O2 -nostdlib -ffreestanding -Wl,--no-entry -I include guest.c -o guest.wasm
 * Include it in exactly one .c file per module: it defines the allocator, the ABI marker and helpers.
 * Write routines with FDW_ROUTINE(fdw_begin_scan) { ... } : inside, `req`/`len` are the request JSON.
 * The heap is reset on entry to every routine, so data kept between routines lives in static storage
 * (or in the host's per-server store: fdw_kv_get / fdw_kv_set). No libc, no WASI. */
#ifndef PROXYD_FDW_H
#define PROXYD_FDW_H

#include <stddef.h>
#include <stdint.h>

#define FDW_IMPORT(name) __attribute__((import_module("proxyd_fdw_v1"), import_name(#name)))
#define FDW_EXPORT(name) __attribute__((export_name(#name)))

/* host functions; replies that carry data are packed (ptr << 32 | len) and belong to the guest */
FDW_IMPORT(http_request) uint64_t fdw_http_request(const char *req, uint32_t len);   /* JSON in, JSON out */
FDW_IMPORT(log)          void fdw_log(int32_t level, const char *text, uint32_t len);  /* 0 debug .. 3 error */
FDW_IMPORT(warn)         void fdw_warn(const char *text, uint32_t len);
FDW_IMPORT(now_ms)       int64_t fdw_now_ms(void);
FDW_IMPORT(stat_add)     void fdw_stat_add(const char *name, uint32_t len, int64_t delta);
FDW_IMPORT(kv_get)       uint64_t fdw_kv_get(const char *key, uint32_t len);          /* 0 = no value */
FDW_IMPORT(kv_set)       void fdw_kv_set(const char *key, uint32_t klen, const char *val, uint32_t vlen);

void *memcpy(void *dst, const void *src, size_t n) {
    uint8_t *d = dst; const uint8_t *s = src;
    while (n--) *d++ = *s++;
    return dst;
}
void *memmove(void *dst, const void *src, size_t n) {
    uint8_t *d = dst; const uint8_t *s = src;
    if (d < s) { while (n--) *d++ = *s++; }
    else { d += n; s += n; while (n--) *--d = *--s; }
    return dst;
}
void *memset(void *dst, int c, size_t n) {
    uint8_t *d = dst;
    while (n--) *d++ = (uint8_t)c;
    return dst;
}
static __attribute__((unused)) uint32_t fdw_strlen(const char *s) { uint32_t n = 0; while (s[n]) n++; return n; }

/* -- allocator: a bump heap over growable memory, reset when a routine starts --------------------- */
extern unsigned char __heap_base;
static uintptr_t fdw_top;

FDW_EXPORT(proxyd_alloc) void *proxyd_alloc(uint32_t n) {
    if (!fdw_top) fdw_top = (uintptr_t)&__heap_base;
    uintptr_t p = (fdw_top + 7) & ~(uintptr_t)7, end = p + n;
    uintptr_t have = __builtin_wasm_memory_size(0) * 65536;
    if (end > have && __builtin_wasm_memory_grow(0, (end - have + 65535) / 65536) == (size_t)-1) return 0;
    fdw_top = end;
    return (void *)p;
}
FDW_EXPORT(proxyd_free) void proxyd_free(void *p, uint32_t n) {
    if ((uintptr_t)p + n == fdw_top) fdw_top = (uintptr_t)p;  /* the last allocation only */
}
FDW_EXPORT(proxyd_fdw_abi_1) void proxyd_fdw_abi_1(void) {}

/* move the request to the bottom of the heap and drop everything else: one heap per routine */
static __attribute__((unused)) const char *fdw_enter(uint32_t p, uint32_t n) {
    uintptr_t base = ((uintptr_t)&__heap_base + 7) & ~(uintptr_t)7;
    if (p && n) memmove((void *)base, (void *)(uintptr_t)p, n);
    fdw_top = base + n;
    return (const char *)base;
}

#define FDW_ROUTINE(name) \
    static uint64_t name##_body(const char *req, uint32_t len); \
    FDW_EXPORT(name) uint64_t name(uint32_t p, uint32_t n) { return name##_body(fdw_enter(p, n), n); } \
    static uint64_t name##_body(const char *req __attribute__((unused)), uint32_t len __attribute__((unused)))

static __attribute__((unused)) uint64_t fdw_pack(const char *p, uint32_t n) { return ((uint64_t)(uintptr_t)p << 32) | n; }

/* -- a reply under construction: grows at the top of the heap (keep no other allocation open) ------ */
typedef struct { char *p; uint32_t n; int failed; } fdw_buf;

static __attribute__((unused)) fdw_buf fdw_buf_new(void) { fdw_buf b = { proxyd_alloc(0), 0, 0 }; return b; }
/* extend the last allocation by n bytes (no alignment gap) */
static __attribute__((unused)) int fdw_extend(uint32_t n) {
    uintptr_t end = fdw_top + n, have = __builtin_wasm_memory_size(0) * 65536;
    if (end > have && __builtin_wasm_memory_grow(0, (end - have + 65535) / 65536) == (size_t)-1) return 0;
    fdw_top = end;
    return 1;
}
static __attribute__((unused)) void fdw_put(fdw_buf *b, const char *s, uint32_t n) {
    if (b->failed || !fdw_extend(n)) { b->failed = 1; return; }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}
static __attribute__((unused)) void fdw_puts(fdw_buf *b, const char *s) { fdw_put(b, s, fdw_strlen(s)); }
static __attribute__((unused)) void fdw_put_int(fdw_buf *b, int64_t v) {
    char tmp[24]; int i = 24; uint64_t u = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
    do { tmp[--i] = (char)('0' + u % 10); u /= 10; } while (u);
    if (v < 0) tmp[--i] = '-';
    fdw_put(b, tmp + i, (uint32_t)(24 - i));
}
/* a JSON string literal (quotes and escapes added) */
static __attribute__((unused)) void fdw_put_str(fdw_buf *b, const char *s, uint32_t n) {
    fdw_put(b, "\"", 1);
    for (uint32_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '"' || c == '\\') { fdw_put(b, "\\", 1); fdw_put(b, &c, 1); }
        else if ((unsigned char)c < 0x20) { fdw_put(b, "\\u00", 4); fdw_put(b, &"0123456789abcdef"[(c >> 4) & 15], 1);
                                            fdw_put(b, &"0123456789abcdef"[c & 15], 1); }
        else fdw_put(b, &c, 1);
    }
    fdw_put(b, "\"", 1);
}
/* the finished reply; out of memory traps (the host reports it with the memory limit) */
static __attribute__((unused)) uint64_t fdw_reply(fdw_buf *b) {
    if (b->failed) __builtin_trap();
    return fdw_pack(b->p, b->n);
}

static __attribute__((unused)) uint64_t fdw_ok(const char *json) {
    fdw_buf b = fdw_buf_new(); fdw_puts(&b, "{\"ok\":"); fdw_puts(&b, json); fdw_puts(&b, "}");
    return fdw_reply(&b);
}
static __attribute__((unused)) uint64_t fdw_err(const char *message) {
    fdw_buf b = fdw_buf_new(); fdw_puts(&b, "{\"err\":"); fdw_put_str(&b, message, fdw_strlen(message));
    fdw_puts(&b, "}");
    return fdw_reply(&b);
}

/* -- reading requests: enough JSON for the host's messages ----------------------------------------- */
/* the position just after the first occurrence of `needle`, or 0 */
static __attribute__((unused)) const char *fdw_after(const char *s, uint32_t n, const char *needle) {
    uint32_t k = fdw_strlen(needle);
    for (uint32_t i = 0; i + k <= n; i++) {
        uint32_t j = 0;
        while (j < k && s[i + j] == needle[j]) j++;
        if (j == k) return s + i + k;
    }
    return 0;
}
static __attribute__((unused)) int64_t fdw_atoi(const char *s) {
    int64_t v = 0, sign = 1;
    if (*s == '-') { sign = -1; s++; }
    while (*s >= '0' && *s <= '9') v = v * 10 + (*s++ - '0');
    return sign * v;
}
/* the end of the JSON value starting at s (a number, string, array, object or literal) */
static __attribute__((unused)) const char *fdw_skip_value(const char *s, const char *end) {
    int depth = 0, in_str = 0;
    for (; s < end; s++) {
        char c = *s;
        if (in_str) { if (c == '\\') s++; else if (c == '"') { in_str = 0; if (!depth) return s + 1; } continue; }
        if (c == '"') in_str = 1;
        else if (c == '[' || c == '{') depth++;
        else if (c == ']' || c == '}') { if (!depth) return s; if (!--depth) return s + 1; }
        else if (!depth && (c == ',')) return s;
    }
    return end;
}

#endif
