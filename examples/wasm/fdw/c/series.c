/* series.c: a generated read-only table (id BIGINT, name VARCHAR(32), bucket INT) of `count` rows
 * (table option, else server option, default 1000), served in batches of max_rows. It honours the
 * limit hint (stops after count + offset rows) and nothing else; used by bench/wasm_fdw_bench.py.
 * IMPORT WASM FDW SCHEMA offers two tables: `nums` and `nums_hundred` (count 100). */
#include "proxyd_fdw.h"

static int64_t total = 1000, next_id, stop_at;

FDW_ROUTINE(fdw_host_version_requirement) { return fdw_ok("\"^1.0\""); }

FDW_ROUTINE(fdw_init) {
    const char *t = fdw_after(req, len, "\"table\":{");
    const char *c = t ? fdw_after(t, (uint32_t)(req + len - t), "\"count\":\"") : 0;
    if (!c) c = fdw_after(req, len, "\"count\":\"");
    total = c ? fdw_atoi(c) : 1000;
    return 0;
}

/* the host applies LIMIT TO / EXCEPT itself as well, so a guest may ignore the list */
FDW_ROUTINE(fdw_import_foreign_schema) {
    return fdw_ok("[{\"table_name\":\"nums\",\"columns\":\"id BIGINT, name VARCHAR(32), bucket INT\",\"options\":{}},"
                  "{\"table_name\":\"nums_hundred\",\"columns\":\"id BIGINT, name VARCHAR(32), bucket INT\","
                  "\"options\":{\"count\":\"100\"}}]");
}

FDW_ROUTINE(fdw_begin_scan) {
    next_id = 1;
    stop_at = total;
    const char *lim = fdw_after(req, len, "\"limit\":{\"count\":");
    if (lim) {
        int64_t n = fdw_atoi(lim);
        const char *off = fdw_after(req, len, "\"offset\":");
        if (off) n += fdw_atoi(off);
        if (n < stop_at) stop_at = n;
    }
    return 0;
}

FDW_ROUTINE(fdw_iter_scan) {
    const char *m = fdw_after(req, len, "\"max_rows\":");
    int64_t batch = m ? fdw_atoi(m) : 256;
    fdw_buf b = fdw_buf_new();
    fdw_puts(&b, "{\"ok\":[");
    for (int64_t i = 0; i < batch && next_id <= stop_at; i++, next_id++) {
        if (i) fdw_puts(&b, ",");
        fdw_puts(&b, "[");
        fdw_put_int(&b, next_id);
        fdw_puts(&b, ",\"row-");
        fdw_put_int(&b, next_id);
        fdw_puts(&b, "\",");
        fdw_put_int(&b, next_id % 100);
        fdw_puts(&b, "]");
    }
    fdw_puts(&b, "]}");
    return fdw_reply(&b);
}

FDW_ROUTINE(fdw_end_scan) { return 0; }
