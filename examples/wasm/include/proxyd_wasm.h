/* proxyd_wasm.h: the guest side of proxyd's statement ABI v1, for C guests built with
 *   clang --target=wasm32 -O2 -nostdlib -ffreestanding -Wl,--no-entry -I include guest.c -o guest.wasm
 * Include it in exactly one .c file per module: it defines the allocator and the ABI exports.
 * Reference: docs/wasm-abi.md. No libc, no WASI: everything a guest can reach is declared here. */
#ifndef PROXYD_WASM_H
#define PROXYD_WASM_H

#include <stddef.h>
#include <stdint.h>

/* status codes returned by every host function */
enum {
    PROXYD_OK = 0,
    PROXYD_NOT_FOUND = 1,     /* no such value (no result yet, no error, unknown key) */
    PROXYD_BAD_ARGUMENT = 2,  /* malformed input (bad JSON result, bad log level, ...) */
    PROXYD_WRONG_STAGE = 3,   /* e.g. set_query after execution */
    PROXYD_TOO_LARGE = 4,     /* a size limit was hit */
    PROXYD_ALLOC_FAILED = 5,  /* proxyd_alloc returned 0 */
};

/* what an event function returns */
enum { PROXYD_CONTINUE = 0, PROXYD_FAIL = 1, PROXYD_ANSWER = 2 };

/* log levels */
enum { PROXYD_DEBUG = 0, PROXYD_INFO = 1, PROXYD_WARNING = 2, PROXYD_ERROR = 3 };

#define PROXYD_IMPORT(name) __attribute__((import_module("proxyd_v1"), import_name(#name)))
#define PROXYD_EXPORT(name) __attribute__((export_name(#name)))

/* Getters place a copy in guest memory (through proxyd_alloc) and store its address and length
 * in *ptr and *len. The copy belongs to the guest. Setters copy what they are given. */
PROXYD_IMPORT(get_query)   int32_t proxyd_get_query(uint8_t **ptr, uint32_t *len);
PROXYD_IMPORT(set_query)   int32_t proxyd_set_query(const uint8_t *ptr, uint32_t len);
PROXYD_IMPORT(get_context) int32_t proxyd_get_context(uint8_t **ptr, uint32_t *len);   /* JSON */
PROXYD_IMPORT(get_config)  int32_t proxyd_get_config(uint8_t **ptr, uint32_t *len);    /* action_args */
PROXYD_IMPORT(get_result)  int32_t proxyd_get_result(uint8_t **ptr, uint32_t *len);    /* JSON */
PROXYD_IMPORT(set_result)  int32_t proxyd_set_result(const uint8_t *ptr, uint32_t len);
PROXYD_IMPORT(get_error)   int32_t proxyd_get_error(uint8_t **ptr, uint32_t *len);
PROXYD_IMPORT(set_error)   int32_t proxyd_set_error(const uint8_t *ptr, uint32_t len);
PROXYD_IMPORT(log)         int32_t proxyd_log(int32_t level, const uint8_t *ptr, uint32_t len);
PROXYD_IMPORT(kv_get)      int32_t proxyd_kv_get(const uint8_t *key, uint32_t key_len, uint8_t **ptr, uint32_t *len);
PROXYD_IMPORT(kv_set)      int32_t proxyd_kv_set(const uint8_t *key, uint32_t key_len, const uint8_t *val, uint32_t val_len);
PROXYD_IMPORT(kv_add)      int32_t proxyd_kv_add(const uint8_t *key, uint32_t key_len, int64_t delta, int64_t *total);

/* -- small freestanding helpers (clang may also call memcpy/memset itself) --------------------- */
void *memcpy(void *dst, const void *src, size_t n) {
    uint8_t *d = dst; const uint8_t *s = src;
    while (n--) *d++ = *s++;
    return dst;
}
void *memset(void *dst, int c, size_t n) {
    uint8_t *d = dst;
    while (n--) *d++ = (uint8_t)c;
    return dst;
}
static inline uint32_t proxyd_strlen(const char *s) { uint32_t n = 0; while (s[n]) n++; return n; }
static inline uint8_t proxyd_lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? (uint8_t)(c | 32) : c; }

/* -- the allocator the host calls: a bump heap, reset at the start of every event -------------- */
extern unsigned char __heap_base;
static uintptr_t proxyd_heap_top;

PROXYD_EXPORT(proxyd_alloc) void *proxyd_alloc(uint32_t size) {
    if (!proxyd_heap_top) proxyd_heap_top = (uintptr_t)&__heap_base;
    uintptr_t p = (proxyd_heap_top + 7) & ~(uintptr_t)7;
    uintptr_t end = p + size;
    uintptr_t have = __builtin_wasm_memory_size(0) * 65536u;
    if (end > have && __builtin_wasm_memory_grow(0, (end - have + 65535) / 65536) == (size_t)-1) return 0;
    proxyd_heap_top = end;
    return (void *)p;
}

/* Call first in every event: nothing allocated by an earlier call is used again. */
static inline void proxyd_reset(void) { proxyd_heap_top = (uintptr_t)&__heap_base; }

/* Refuse the statement with a message (return its value from an event function). */
static inline int32_t proxyd_fail(const char *message) {
    proxyd_set_error((const uint8_t *)message, proxyd_strlen(message));
    return PROXYD_FAIL;
}

static inline void proxyd_info(const char *message) {
    proxyd_log(PROXYD_INFO, (const uint8_t *)message, proxyd_strlen(message));
}

/* The ABI marker and the host versions this guest accepts (semver requirement, e.g. "^1.0"). */
#define PROXYD_GUEST(requirement)                                                              \
    PROXYD_EXPORT(proxyd_abi_v1) void proxyd_abi_v1(void) {}                                   \
    PROXYD_EXPORT(proxyd_host_version_requirement) uint64_t proxyd_host_version_requirement(void) { \
        static const char req[] = requirement;                                                 \
        return ((uint64_t)(uintptr_t)req << 32) | (uint64_t)(sizeof(req) - 1);                 \
    }

#define PROXYD_BEFORE_EXECUTION PROXYD_EXPORT(proxyd_before_execution) int32_t proxyd_before_execution(void)
#define PROXYD_AFTER_EXECUTION PROXYD_EXPORT(proxyd_after_execution) int32_t proxyd_after_execution(void)

#endif
