/* memtable.c: an in-memory writable table. Rows live in the host's per-server store (kv_get/kv_set),
 * so every instance of the server sees the same rows and they survive LOAD WASM FDW TO RUNTIME (not a
 * restart). The table's rowid_column must be its first column: UPDATE and DELETE find rows by it.
 * INSERT appends (no uniqueness check), UPDATE replaces, DELETE removes. Quals are ignored. */
#include "proxyd_fdw.h"

static char key[80];
static uint32_t key_len;
static int sent;

FDW_ROUTINE(fdw_host_version_requirement) { return fdw_ok("\"^1.0\""); }

/* the store key: "rows:" + the table's name */
FDW_ROUTINE(fdw_init) {
    const char *t = fdw_after(req, len, "\"table\":{");
    const char *n = t ? fdw_after(t, (uint32_t)(req + len - t), "\"name\":\"") : 0;
    memcpy(key, "rows:", 5);
    key_len = 5;
    while (n && *n != '"' && key_len < sizeof key) key[key_len++] = *n++;
    return 0;
}

/* the stored rows as a JSON array text ("[]" when empty) */
static const char *rows(uint32_t *n) {
    uint64_t r = fdw_kv_get(key, key_len);
    if (!r) { *n = 2; return "[]"; }
    *n = (uint32_t)r;
    return (const char *)(uintptr_t)(r >> 32);
}

FDW_ROUTINE(fdw_begin_scan) { sent = 0; return 0; }
FDW_ROUTINE(fdw_re_scan) { sent = 0; return 0; }
FDW_ROUTINE(fdw_end_scan) { return 0; }

FDW_ROUTINE(fdw_iter_scan) {
    if (sent) return fdw_ok("[]");
    sent = 1;
    uint32_t n;
    const char *all = rows(&n);
    fdw_buf b = fdw_buf_new();
    fdw_puts(&b, "{\"ok\":");
    fdw_put(&b, all, n);
    fdw_puts(&b, "}");
    return fdw_reply(&b);
}

/* a log line with the host's clock: "modify begins at <ms since the epoch>" */
FDW_ROUTINE(fdw_begin_modify) {
    fdw_buf b = fdw_buf_new();
    fdw_puts(&b, "modify begins at ");
    fdw_put_int(&b, fdw_now_ms());
    fdw_log(1, b.p, b.n);
    return 0;
}
FDW_ROUTINE(fdw_end_modify) { return 0; }

/* the JSON value after `field` in the request, as (start, length) */
static const char *field(const char *req, uint32_t len, const char *name, uint32_t *n) {
    const char *v = fdw_after(req, len, name);
    if (!v) return 0;
    *n = (uint32_t)(fdw_skip_value(v, req + len) - v);
    return v;
}

static int same(const char *a, uint32_t an, const char *b, uint32_t bn) {
    if (an != bn) return 0;
    for (uint32_t i = 0; i < an; i++) if (a[i] != b[i]) return 0;
    return 1;
}

/* rewrite the stored rows: drop the row whose first cell is `rowid`, or put `row` in its place */
static uint64_t rewrite(const char *rowid, uint32_t idn, const char *row, uint32_t rown, int append) {
    uint32_t n;
    const char *all = rows(&n), *end = all + n, *p = all + 1;
    fdw_buf b = fdw_buf_new();
    int first = 1, found = 0;
    fdw_puts(&b, "[");
    while (p < end && *p != ']') {
        const char *e = fdw_skip_value(p, end);
        const char *cell = p + 1;
        uint32_t celln = (uint32_t)(fdw_skip_value(cell, e) - cell);
        const char *keep = p;
        uint32_t keepn = (uint32_t)(e - p);
        if (!append && same(cell, celln, rowid, idn)) {
            found = 1;
            keep = row;
            keepn = rown;
        }
        if (keep) {
            if (!first) fdw_puts(&b, ",");
            fdw_put(&b, keep, keepn);
            first = 0;
        }
        p = e < end && *e == ',' ? e + 1 : e;
    }
    if (append) {
        if (!first) fdw_puts(&b, ",");
        fdw_put(&b, row, rown);
        found = 1;
    }
    fdw_puts(&b, "]");
    if (b.failed) __builtin_trap();
    if (!found) return fdw_err("no row has that rowid");
    fdw_kv_set(key, key_len, b.p, b.n);
    if (append) fdw_stat_add("rows_inserted", 13, 1);
    else if (!row) fdw_stat_add("rows_deleted", 12, 1);
    return 0;
}

FDW_ROUTINE(fdw_insert) {
    uint32_t rn;
    const char *row = field(req, len, "\"row\":", &rn);
    return row ? rewrite(0, 0, row, rn, 1) : fdw_err("insert without a row");
}

FDW_ROUTINE(fdw_update) {
    uint32_t idn, rn;
    const char *id = field(req, len, "\"rowid\":", &idn), *row = field(req, len, "\"row\":", &rn);
    return id && row ? rewrite(id, idn, row, rn, 0) : fdw_err("update without rowid and row");
}

FDW_ROUTINE(fdw_delete) {
    uint32_t idn;
    const char *id = field(req, len, "\"rowid\":", &idn);
    return id ? rewrite(id, idn, 0, 0, 0) : fdw_err("delete without a rowid");
}
