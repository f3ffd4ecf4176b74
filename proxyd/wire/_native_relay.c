/* The SQL port's fast path in C, for the statement every OLTP client sends most: a plain
 * SELECT/INSERT/UPDATE/DELETE/REPLACE as COM_QUERY, answered by a small plain reply.
 *
 * RelayCore is the base class of proxyd.wire.fast_path.FastPath (see that module's docstring for the
 * design; this file only makes its common case cheaper). Its data_received takes a command that
 * qualifies straight to the backend connection: the client's packet bytes are forwarded as they are.
 * Its set_result (it is the backend protocol's read waiter, as FastPath._Wake is on the Python path)
 * checks that the whole reply is in asyncmy's receive buffer and plain (one OK without insert id or
 * warnings, or one result set of rows ending in EOF/OK, autocommit on, no transaction), writes it to
 * the client (a result set as the server framed it, an OK re-encoded for the client) and then lets
 * Python settle the connection and count the statement (FastPath._native_done), after the client has
 * its answer.
 *
 * Anything else goes to the Python code, which does the same job for every case: before sending,
 * FastPath._py_data_received; after sending, FastPath._backend_data, which parses the same
 * unconsumed reply. So nothing here has to be complete, only right for what it accepts.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <string.h>
#include <time.h>

#define COM_QUERY 0x03
#define COM_STMT_EXECUTE 0x17
#define MAX_PAYLOAD 0xFFFFFF
#define FAST_LIMIT (1 << 16)     /* larger replies: the Python path (it streams them) */
#define STATUS_IN_TRANS 0x0001
#define STATUS_AUTOCOMMIT 0x0002
#define STATUS_MORE_RESULTS 0x0008

typedef struct {
    PyObject_HEAD
    /* the FastPath's state, shared with its Python code through these members */
    char parked;
    char native;         /* this connection may use the C path (FastPath.park decides) */
    char query_attrs;    /* the client sends query attributes (CLIENT_QUERY_ATTRIBUTES) */
    char binary;
    long long start_ns;
    PyObject *bc;        /* the backend connection of the statement in flight */
    PyObject *task;
    PyObject *buf;       /* bytearray: client bytes not consumed yet */
    PyObject *transport; /* the client's */
    PyObject *inner;     /* the StreamReaderProtocol of the command coroutine */
    PyObject *hooks;     /* the frontend's HookRunner: .skip_plain */
    PyObject *session;   /* the proxyd SqlSession (processlist fields, schema) */
    PyObject *take;      /* bound MysqlSession.fast_take */
    PyObject *seq;       /* the client stream's sequence counter (.value) */
    PyObject *backend;   /* the session's backend (MysqlSession) */
    PyObject *sql;
    PyObject *schema;
    PyObject *params;
    PyObject *statements; /* the connection's prepared statements: client statement id -> PreparedStatement */
    PyObject *types;      /* client statement id -> (its param_types list, as wire bytes) (FastPath._param_block) */
    PyObject *take_stmt;  /* bound MysqlSession.fast_take_stmt */
    PyObject *exec_data;  /* the COM_STMT_EXECUTE in flight (payload after the command byte) and its statement */
    PyObject *exec_stmt;
    unsigned long long native_queries;
} RelayCore;

static PyObject *s_skip_plain, *s_paused, *s_transport, *s_write, *s_proto, *s_raw, *s_read_waiter, *s_buffer,
    *s_pos, *s_length, *s_eof, *s_exc, *s_next_seq_id, *s_deprecate_eof, *s_value, *s_command, *s_info,
    *s_since, *s_schema, *s_query, *s_py_data_received, *s_backend_data, *s_native_done, *s_native_failed,
    *s_state, *s_long_data, *s_param_map, *s_num_params, *s_param_types;
static PyObject *monotonic;  /* time.monotonic */

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);  /* what time.perf_counter_ns reads on Linux */
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int is_blank(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static int word_is(const unsigned char *s, Py_ssize_t n, const char *word) {
    Py_ssize_t k = (Py_ssize_t)strlen(word);
    if (n <= k || !is_blank(s[k])) return 0;
    for (Py_ssize_t i = 0; i < k; i++)
        if ((s[i] & 0xDF) != (unsigned char)word[i]) return 0;
    return 1;
}

static int contains_ci(const unsigned char *s, Py_ssize_t n, const char *word) {
    Py_ssize_t k = (Py_ssize_t)strlen(word);
    for (Py_ssize_t i = 0; i + k <= n; i++) {
        Py_ssize_t j = 0;
        while (j < k && (s[i + j] & 0xDF) == (unsigned char)word[j]) j++;
        if (j == k) return 1;
    }
    return 0;
}

/* A statement with no effect on the session (proxyd.backends.mysql_state.classify says None) that the
 * session does not answer itself (SHOW WARNINGS, KILL). Conservative: any doubt says no, and the
 * Python path decides exactly. */
static int plain_statement(const unsigned char *s, Py_ssize_t n) {
    if (!(word_is(s, n, "SELECT") || word_is(s, n, "INSERT") || word_is(s, n, "UPDATE") ||
          word_is(s, n, "DELETE") || word_is(s, n, "REPLACE")))
        return 0;
    int underscore = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c == ';' || c == '@') return 0;  /* several statements; user variables */
        if (c == '_') underscore = 1;
    }
    if (underscore && (contains_ci(s, n, "GET_LOCK") || contains_ci(s, n, "SQL_CALC_FOUND_ROWS") ||
                       contains_ci(s, n, "LAST_INSERT_ID")))
        return 0;
    return 1;
}

/* -- the reply ----------------------------------------------------------------------------------- */

typedef struct {
    Py_ssize_t end;           /* just after the reply */
    unsigned status, next_seq;
    unsigned long long affected;
    Py_ssize_t rows;
    int is_ok;
    Py_ssize_t info_at, info_len;  /* an OK's info text */
} Reply;

static int lenenc(const unsigned char *b, Py_ssize_t *p, Py_ssize_t limit, unsigned long long *out) {
    Py_ssize_t i = *p;
    if (i >= limit) return -1;
    unsigned c = b[i];
    if (c < 0xFB) { *out = c; *p = i + 1; return 0; }
    if (c == 0xFC) { if (i + 3 > limit) return -1; *out = b[i + 1] | b[i + 2] << 8; *p = i + 3; return 0; }
    if (c == 0xFD) {
        if (i + 4 > limit) return -1;
        *out = b[i + 1] | b[i + 2] << 8 | (unsigned long long)b[i + 3] << 16; *p = i + 4; return 0;
    }
    if (c == 0xFE) {
        if (i + 9 > limit) return -1;
        unsigned long long v = 0;
        for (int k = 8; k >= 1; k--) v = v << 8 | b[i + k];
        *out = v; *p = i + 9; return 0;
    }
    return -1;
}

/* Plain session state after the statement: autocommit on, no transaction, nothing more to come. */
static int plain_status(unsigned status) {
    return (status & (STATUS_IN_TRANS | STATUS_AUTOCOMMIT)) == STATUS_AUTOCOMMIT && !(status & STATUS_MORE_RESULTS);
}

/* 1: the whole reply is at b[pos:end] and is plain (r filled); 0: not all there yet; -1: anything
 * else (the Python path handles it). */
static int scan_reply(const unsigned char *b, Py_ssize_t pos, Py_ssize_t end, int deprecate_eof, Reply *r) {
    unsigned seq = 1;
    Py_ssize_t n, body;
#define PACKET()                                                                   \
    do {                                                                           \
        if (end - pos < 4) return 0;                                               \
        n = b[pos] | b[pos + 1] << 8 | b[pos + 2] << 16;                           \
        if (end - pos - 4 < n) return 0;                                           \
        if (b[pos + 3] != (seq & 0xFF) || n == 0 || n >= MAX_PAYLOAD) return -1;   \
        body = pos + 4;                                                            \
    } while (0)
    PACKET();
    unsigned first = b[body];
    if (first == 0x00) {  /* OK */
        Py_ssize_t p = body + 1, lim = body + n;
        unsigned long long affected, insert_id;
        if (lenenc(b, &p, lim, &affected) || lenenc(b, &p, lim, &insert_id) || insert_id != 0 || p + 4 > lim)
            return -1;
        unsigned status = b[p] | b[p + 1] << 8, warnings = b[p + 2] | b[p + 3] << 8;
        if (warnings || !plain_status(status)) return -1;
        r->is_ok = 1;
        r->affected = affected;
        r->status = status;
        r->rows = 0;
        r->info_at = p + 4;
        r->info_len = lim - (p + 4);
        r->end = lim;
        r->next_seq = 2;
        return 1;
    }
    if (first >= 0xFB) return -1;  /* an error, LOCAL INFILE, or more than 250 columns */
    pos = body + n;
    seq++;
    for (unsigned i = 0; i < first; i++) {  /* column definitions */
        PACKET();
        pos = body + n;
        seq++;
    }
    if (!deprecate_eof) {  /* the EOF after them */
        PACKET();
        if (b[body] != 0xFE || n >= 9) return -1;
        pos = body + n;
        seq++;
    }
    Py_ssize_t rows = 0;
    for (;;) {
        PACKET();
        unsigned c = b[body];
        if (c == 0xFE && (n < 9 || deprecate_eof)) break;
        if (c == 0xFF) return -1;  /* an error after some rows */
        rows++;
        pos = body + n;
        seq++;
    }
    unsigned status, warnings;
    if (deprecate_eof) {  /* an OK packet with a 0xFE header */
        Py_ssize_t p = body + 1, lim = body + n;
        unsigned long long ignored;
        if (lenenc(b, &p, lim, &ignored) || lenenc(b, &p, lim, &ignored) || p + 4 > lim) return -1;
        status = b[p] | b[p + 1] << 8;
        warnings = b[p + 2] | b[p + 3] << 8;
    } else {
        if (n < 5) return -1;
        warnings = b[body + 1] | b[body + 2] << 8;
        status = b[body + 3] | b[body + 4] << 8;
    }
    if (warnings || !plain_status(status)) return -1;
    r->is_ok = 0;
    r->affected = 0;
    r->status = status;
    r->rows = rows;
    r->end = body + n;
    r->next_seq = (seq + 1) & 0xFF;
    return 1;
#undef PACKET
}

static Py_ssize_t put_lenenc(unsigned char *o, unsigned long long v) {
    if (v < 0xFB) { o[0] = (unsigned char)v; return 1; }
    if (v <= 0xFFFF) { o[0] = 0xFC; o[1] = v & 0xFF; o[2] = v >> 8; return 3; }
    if (v <= 0xFFFFFF) { o[0] = 0xFD; o[1] = v & 0xFF; o[2] = (v >> 8) & 0xFF; o[3] = v >> 16; return 4; }
    o[0] = 0xFE;
    for (int k = 0; k < 8; k++) o[1 + k] = (v >> (8 * k)) & 0xFF;
    return 9;
}

/* The client's OK packet (sequence id 1), as proxyd.wire.packets.ok_packet encodes it. */
static PyObject *client_ok(const unsigned char *b, const Reply *r) {
    Py_ssize_t cap = 4 + 1 + 9 + 1 + 4 + 9 + r->info_len;
    PyObject *out = PyBytes_FromStringAndSize(NULL, cap);
    if (out == NULL) return NULL;
    unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out);
    Py_ssize_t p = 4;
    o[p++] = 0x00;
    p += put_lenenc(o + p, r->affected);
    o[p++] = 0x00;  /* insert id: only 0 comes here */
    o[p++] = r->status & 0xFF;
    o[p++] = (r->status >> 8) & 0xFF;
    o[p++] = 0;
    o[p++] = 0;  /* warnings: only 0 comes here */
    if (r->info_len) {
        p += put_lenenc(o + p, (unsigned long long)r->info_len);
        memcpy(o + p, b + r->info_at, r->info_len);
        p += r->info_len;
    }
    Py_ssize_t n = p - 4;
    o[0] = n & 0xFF; o[1] = (n >> 8) & 0xFF; o[2] = (n >> 16) & 0xFF; o[3] = 1;
    if (_PyBytes_Resize(&out, p) < 0) return NULL;
    return out;
}

/* -- helpers ---------------------------------------------------------------------------------- */

static int get_ssize(PyObject *obj, PyObject *name, Py_ssize_t *out) {
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v == NULL) return -1;
    *out = PyLong_AsSsize_t(v);
    Py_DECREF(v);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

static int set_ssize(PyObject *obj, PyObject *name, Py_ssize_t value) {
    PyObject *v = PyLong_FromSsize_t(value);
    if (v == NULL) return -1;
    int rc = PyObject_SetAttr(obj, name, v);
    Py_DECREF(v);
    return rc;
}

/* 1 if obj.name is truthy, 0 if not, -1 on error */
static int attr_true(PyObject *obj, PyObject *name) {
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v == NULL) return -1;
    int t = PyObject_IsTrue(v);
    Py_DECREF(v);
    return t;
}

static PyObject *call_slow(RelayCore *self, PyObject *name, PyObject *arg) {
    return arg ? PyObject_CallMethodOneArg((PyObject *)self, name, arg)
               : PyObject_CallMethodNoArgs((PyObject *)self, name);
}

static PyObject *RelayCore_set_result(RelayCore *self, PyObject *unused);

/* -- the client's bytes ----------------------------------------------------------------------- */

/* What a COM_STMT_EXECUTE needs to go out as the client sent it (see FastPath._param_block): its
 * PreparedStatement (borrowed), the SQL, and the parameter types as wire bytes when the client did not
 * bind them with this execute. 1 if the C path can take it, 0 if not, -1 on error. */
typedef struct {
    PyObject *stmt, *sql, *tbytes;
    Py_ssize_t count, at;  /* parameter count; offset of new_params_bound_flag in the payload after the command byte */
} Exec;

static int check_execute(RelayCore *self, const unsigned char *d, Py_ssize_t n, Exec *e) {
    /* payload: command, stmt id (4), flags, iteration count (4), then NULL bitmap, bound flag, types, values */
    if (self->query_attrs || n < 10 || !PyDict_Check(self->statements) || !PyDict_Check(self->types)) return 0;
    unsigned long id = d[5] | d[6] << 8 | d[7] << 16 | (unsigned long)d[8] << 24;
    PyObject *key = PyLong_FromUnsignedLong(id);
    if (key == NULL) return -1;
    e->stmt = PyDict_GetItemWithError(self->statements, key);
    if (e->stmt == NULL) { Py_DECREF(key); return PyErr_Occurred() ? -1 : 0; }
    int rc = 0;
    PyObject *sql = NULL, *long_data = NULL, *param_map = NULL, *num = NULL, *known = NULL;
    if ((sql = PyObject_GetAttr(e->stmt, s_state)) == NULL || (long_data = PyObject_GetAttr(e->stmt, s_long_data)) == NULL ||
        (param_map = PyObject_GetAttr(e->stmt, s_param_map)) == NULL ||
        (num = PyObject_GetAttr(e->stmt, s_num_params)) == NULL) { rc = -1; goto out; }
    if (!PyUnicode_CheckExact(sql) || param_map != Py_None || !PyDict_Check(long_data) || PyDict_GET_SIZE(long_data) ||
        !PyLong_CheckExact(num))
        goto out;
    e->count = PyLong_AsSsize_t(num);
    if (e->count < 0 || e->count > 0xFFFF) { PyErr_Clear(); goto out; }
    e->tbytes = NULL;
    if (e->count) {
        Py_ssize_t at = 9 + ((e->count + 7) >> 3);  /* in the payload after the command byte */
        if (n - 1 <= at || d[5 + at] > 1) goto out;
        PyObject *cached = PyDict_GetItemWithError(self->types, key);
        if (cached == NULL) { rc = PyErr_Occurred() ? -1 : 0; goto out; }
        if ((known = PyObject_GetAttr(e->stmt, s_param_types)) == NULL) { rc = -1; goto out; }
        if (!PyTuple_CheckExact(cached) || PyTuple_GET_SIZE(cached) != 2 || PyTuple_GET_ITEM(cached, 0) != known)
            goto out;
        PyObject *tb = PyTuple_GET_ITEM(cached, 1);
        if (!PyBytes_CheckExact(tb) || PyBytes_GET_SIZE(tb) != 2 * e->count) goto out;
        /* types bound with this execute: taken here only when they are the ones remembered (new ones are
         * remembered by the Python path) */
        if (d[5 + at] == 1 && (n - 1 < at + 1 + 2 * e->count || memcmp(d + 5 + at + 1, PyBytes_AS_STRING(tb), 2 * e->count)))
            goto out;
        e->tbytes = tb;
        e->at = at;
    }
    e->sql = sql;
    sql = NULL;
    rc = 1;
out:
    Py_DECREF(key);
    Py_XDECREF(sql); Py_XDECREF(long_data); Py_XDECREF(param_map); Py_XDECREF(num); Py_XDECREF(known);
    return rc;
}

static int try_send(RelayCore *self, PyObject *data, const unsigned char *d, Py_ssize_t len,
                    const unsigned char *sqlp, Py_ssize_t sqln, Py_ssize_t at, Exec *e);

/* 1: the command was sent to the backend here; 0: the Python path must take it; -1: error. */
static int try_start(RelayCore *self, PyObject *data) {
    if (!self->native || !self->parked || self->bc != Py_None || self->task != Py_None) return 0;
    if (!PyBytes_CheckExact(data) || !PyByteArray_Check(self->buf) || PyByteArray_GET_SIZE(self->buf) != 0) return 0;
    const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(data);
    Py_ssize_t len = PyBytes_GET_SIZE(data), n = len - 4;
    /* exactly one whole packet, sequence id 0 (the reply then starts at 1, as the server's does) */
    if (n <= 1 || n >= MAX_PAYLOAD || (d[0] | d[1] << 8 | d[2] << 16) != n || d[3] != 0) return 0;
    Exec e = {NULL, NULL, NULL, 0, 0};
    const unsigned char *sqlp;
    Py_ssize_t sqln, at = 5;
    if (d[4] == COM_QUERY) {
        if (self->query_attrs) {
            if (n < 3 || d[5] != 0x00 || d[6] != 0x01) return 0;  /* only "no attributes" here */
            at = 7;
        }
        sqlp = d + at;
        sqln = len - at;
    } else if (d[4] == COM_STMT_EXECUTE) {
        int rc = check_execute(self, d, n, &e);
        if (rc <= 0) return rc;
        sqlp = (const unsigned char *)PyUnicode_AsUTF8AndSize(e.sql, &sqln);  /* cached in the str */
        if (sqlp == NULL) { Py_DECREF(e.sql); return -1; }
    } else {
        return 0;
    }
    int rc = try_send(self, data, d, len, sqlp, sqln, at, &e);
    Py_XDECREF(e.sql);
    return rc;
}

static int try_send(RelayCore *self, PyObject *data, const unsigned char *d, Py_ssize_t len,
                    const unsigned char *sqlp, Py_ssize_t sqln, Py_ssize_t at, Exec *e) {
    if (!plain_statement(sqlp, sqln)) return 0;
    int t = attr_true(self->hooks, s_skip_plain);  /* false while a plugin's pipeline hooks want plain statements */
    if (t != 1) return t < 0 ? -1 : 0;
    t = attr_true(self->inner, s_paused);  /* the client reads slowly: let the coroutine's drain() wait */
    if (t != 0) return t < 0 ? -1 : 0;

    /* the statement starts: what the Python code reads about it, set before a connection is taken so
     * that nothing below can fail while one is held (the Python path sets the same if it takes over) */
    PyObject *sql = e->sql ? Py_NewRef(e->sql) : PyUnicode_DecodeUTF8((const char *)sqlp, sqln, "replace");
    if (sql == NULL) return -1;
    Py_SETREF(self->sql, sql);
    Py_SETREF(self->params, Py_NewRef(Py_None));
    self->binary = e->sql != NULL;
    if (e->sql) {  /* what FastPath._finish_slow needs to decode the values, should it execute again */
        PyObject *payload = PyBytes_FromStringAndSize((const char *)d + 5, len - 5);
        if (payload == NULL) return -1;
        Py_SETREF(self->exec_data, payload);
        Py_SETREF(self->exec_stmt, Py_NewRef(e->stmt));
    }
    PyObject *one = PyLong_FromLong(1);
    if (one == NULL || PyObject_SetAttr(self->seq, s_value, one) < 0) { Py_XDECREF(one); return -1; }
    Py_DECREF(one);
    PyObject *since = PyObject_CallNoArgs(monotonic);  /* the processlist shows it (SqlFrontend.fast_begin) */
    PyObject *schema = PyObject_GetAttr(self->session, s_schema);
    if (since == NULL || schema == NULL || PyObject_SetAttr(self->session, s_command, s_query) < 0 ||
        PyObject_SetAttr(self->session, s_info, sql) < 0 || PyObject_SetAttr(self->session, s_since, since) < 0) {
        Py_XDECREF(since); Py_XDECREF(schema);
        return -1;
    }
    Py_DECREF(since);
    Py_SETREF(self->schema, schema);

    PyObject *packet, *bc;
    if (e->sql == NULL) {
        packet = Py_NewRef(data);
        if (at != 5) {  /* drop the attribute prefix: the server was not asked for attributes */
            Py_DECREF(packet);
            packet = PyBytes_FromStringAndSize(NULL, 5 + sqln);
            if (packet == NULL) return -1;
            unsigned char *o = (unsigned char *)PyBytes_AS_STRING(packet);
            Py_ssize_t m = sqln + 1;
            o[0] = m & 0xFF; o[1] = (m >> 8) & 0xFF; o[2] = (m >> 16) & 0xFF; o[3] = 0; o[4] = COM_QUERY;
            memcpy(o + 5, sqlp, sqln);
        }
        PyObject *nbytes = PyLong_FromSsize_t(sqln + 1);
        if (nbytes == NULL) { Py_DECREF(packet); return -1; }
        /* an idle connection in the session's state (MysqlSession.fast_take), or None */
        bc = PyObject_CallOneArg(self->take, nbytes);
        Py_DECREF(nbytes);
        if (bc == NULL || bc == Py_None) { Py_DECREF(packet); Py_XDECREF(bc); return bc ? 0 : -1; }
    } else {
        /* the backend's statement header (its id, no cursor, one iteration), then the client's block:
         * NULL bitmap, "types bound" forced on with the remembered types (a pooled connection may not
         * have seen them), values as the client encoded them */
        const unsigned char *p = d + 5;  /* payload after the command byte */
        Py_ssize_t plen = len - 5;
        Py_ssize_t block = e->count ? (e->at - 9) + 1 + 2 * e->count + (plen - e->at - 1 - (p[e->at] ? 2 * e->count : 0)) : 0;
        PyObject *nbytes = PyLong_FromSsize_t(1 + 9 + block);
        PyObject *count = PyLong_FromSsize_t(e->count);
        PyObject *got = (nbytes && count) ? PyObject_CallFunctionObjArgs(self->take_stmt, e->sql, count, nbytes, NULL) : NULL;
        Py_XDECREF(nbytes); Py_XDECREF(count);
        if (got == NULL) return -1;
        if (got == Py_None) { Py_DECREF(got); return 0; }
        PyObject *header;
        if (!PyTuple_CheckExact(got) || PyTuple_GET_SIZE(got) != 2 || !PyBytes_CheckExact(header = PyTuple_GET_ITEM(got, 1)) ||
            PyBytes_GET_SIZE(header) != 9) {
            Py_DECREF(got);
            PyErr_SetString(PyExc_TypeError, "fast_take_stmt must return (connection, 9-byte header) or None");
            return -1;  /* (a connection would stay taken: only a programming error gets here) */
        }
        bc = Py_NewRef(PyTuple_GET_ITEM(got, 0));
        Py_ssize_t m = 1 + 9 + block;
        packet = PyBytes_FromStringAndSize(NULL, 4 + m);
        if (packet == NULL) { Py_DECREF(got); Py_DECREF(bc); return -1; }
        unsigned char *o = (unsigned char *)PyBytes_AS_STRING(packet);
        o[0] = m & 0xFF; o[1] = (m >> 8) & 0xFF; o[2] = (m >> 16) & 0xFF; o[3] = 0; o[4] = COM_STMT_EXECUTE;
        memcpy(o + 5, PyBytes_AS_STRING(header), 9);
        Py_DECREF(got);
        if (e->count) {
            Py_ssize_t q = 14, nulls = e->at - 9;
            memcpy(o + q, p + 9, nulls); q += nulls;
            o[q++] = 1;
            memcpy(o + q, PyBytes_AS_STRING(e->tbytes), 2 * e->count); q += 2 * e->count;
            Py_ssize_t values = e->at + 1 + (p[e->at] ? 2 * e->count : 0);  /* (bound types skipped: just copied) */
            memcpy(o + q, p + values, plen - values);
        }
    }

    self->start_ns = now_ns();
    PyObject *btransport = PyObject_GetAttr(bc, s_transport);
    PyObject *res = btransport ? PyObject_CallMethodOneArg(btransport, s_write, packet) : NULL;
    Py_XDECREF(btransport);
    Py_DECREF(packet);
    if (res == NULL) {  /* the connection broke as we wrote: Python reports the statement's error */
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        PyObject *r = PyObject_CallMethodObjArgs((PyObject *)self, s_native_failed, bc, value ? value : Py_None, NULL);
        Py_XDECREF(type); Py_XDECREF(value); Py_XDECREF(tb);
        Py_DECREF(bc);
        Py_XDECREF(r);
        return r ? 1 : -1;
    }
    Py_DECREF(res);
    Py_SETREF(self->bc, bc);
    PyObject *proto = PyObject_GetAttr(bc, s_proto);
    if (proto == NULL || PyObject_SetAttr(proto, s_read_waiter, (PyObject *)self) < 0) { Py_XDECREF(proto); return -1; }
    Py_ssize_t pos, length;
    int rc = get_ssize(proto, s_pos, &pos) || get_ssize(proto, s_length, &length);
    Py_DECREF(proto);
    if (rc) return -1;
    if (pos != length) {  /* hardly possible: the reply is already there */
        PyObject *r = RelayCore_set_result(self, Py_None);
        Py_XDECREF(r);
        if (r == NULL) return -1;
    }
    return 1;
}

static PyObject *RelayCore_data_received(RelayCore *self, PyObject *data) {
    int rc = try_start(self, data);
    if (rc < 0) {
        /* a bug or a broken object here must cost this statement, never the event loop: the Python path
         * (which logs and closes the connection if it too fails) gets the bytes only if nothing was sent */
        if (self->bc != Py_None) return NULL;
        PyErr_WriteUnraisable((PyObject *)self);
        rc = 0;
    }
    if (rc == 0) return call_slow(self, s_py_data_received, data);
    Py_RETURN_NONE;
}

/* -- the backend's bytes ---------------------------------------------------------------------- */

/* 1: answered here; 0: not all there, waiting again; -1 Python path; -2 error */
static int try_reply(RelayCore *self) {
    PyObject *bc = self->bc;
    PyObject *proto = PyObject_GetAttr(bc, s_proto);
    if (proto == NULL) return -2;
    int rc = -1;
    PyObject *raw = NULL, *buffer = NULL, *out = NULL, *wres = NULL;
    int t = attr_true(proto, s_eof);
    if (t != 0) { rc = t < 0 ? -2 : -1; goto done; }
    PyObject *exc = PyObject_GetAttr(proto, s_exc);
    if (exc == NULL) { rc = -2; goto done; }
    t = exc != Py_None;
    Py_DECREF(exc);
    if (t) goto done;
    Py_ssize_t pos, length;
    if (get_ssize(proto, s_pos, &pos) || get_ssize(proto, s_length, &length)) { rc = -2; goto done; }
    if (length - pos >= FAST_LIMIT) goto done;
    buffer = PyObject_GetAttr(proto, s_buffer);
    if (buffer == NULL) { rc = -2; goto done; }
    if (!PyByteArray_Check(buffer) || length > PyByteArray_GET_SIZE(buffer) || pos < 0 || pos > length) goto done;
    raw = PyObject_GetAttr(bc, s_raw);
    if (raw == NULL) { rc = -2; goto done; }
    t = attr_true(raw, s_deprecate_eof);
    if (t < 0) { rc = -2; goto done; }
    const unsigned char *b = (const unsigned char *)PyByteArray_AS_STRING(buffer);
    Reply r;
    int s = scan_reply(b, pos, length, t, &r);
    if (s == 0) {  /* part of the reply: wait for the rest */
        rc = PyObject_SetAttr(proto, s_read_waiter, (PyObject *)self) < 0 ? -2 : 0;
        goto done;
    }
    if (s < 0) goto done;
    out = r.is_ok ? client_ok(b, &r) : PyBytes_FromStringAndSize((const char *)b + pos, r.end - pos);
    if (out == NULL) { rc = -2; goto done; }
    long long end_ns = now_ns();
    /* consumed: the backend connection is in sync again before anything else runs */
    if (set_ssize(proto, s_pos, r.end) < 0 || set_ssize(raw, s_next_seq_id, r.next_seq) < 0) { rc = -2; goto done; }
    PyObject *bcref = Py_NewRef(bc);
    Py_SETREF(self->bc, Py_NewRef(Py_None));
    wres = PyObject_CallMethodOneArg(self->transport, s_write, out);
    if (wres == NULL)  /* the client is gone: its connection_lost does the rest */
        PyErr_WriteUnraisable((PyObject *)self);
    self->native_queries++;
    PyObject *done_res = PyObject_CallMethod((PyObject *)self, "_native_done", "NIKnnL", bcref, r.status,
                                             r.affected, r.rows, r.end - pos, end_ns);
    rc = done_res ? 1 : -2;
    Py_XDECREF(done_res);
done:
    Py_DECREF(proto);
    Py_XDECREF(raw);
    Py_XDECREF(buffer);
    Py_XDECREF(out);
    Py_XDECREF(wres);
    return rc;
}

static PyObject *RelayCore_set_result(RelayCore *self, PyObject *unused) {
    if (self->bc == Py_None) Py_RETURN_NONE;
    int rc = try_reply(self);
    if (rc == -2) {  /* a bug or a broken object: never let it reach the backend's protocol */
        PyErr_WriteUnraisable((PyObject *)self);
        if (self->bc == Py_None) Py_RETURN_NONE;  /* answered already: only the bookkeeping failed */
        rc = -1;
    }
    if (rc == -1) return call_slow(self, s_backend_data, NULL);
    Py_RETURN_NONE;
}

static PyObject *RelayCore_done(RelayCore *self, PyObject *unused) { Py_RETURN_FALSE; }

/* -- the type ------------------------------------------------------------------------------------ */

static int RelayCore_init(RelayCore *self, PyObject *args, PyObject *kwds) { return 0; }

static PyObject *RelayCore_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    RelayCore *self = (RelayCore *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    PyObject **fields[] = {&self->bc, &self->task, &self->buf, &self->transport, &self->inner, &self->hooks,
                           &self->session, &self->take, &self->seq, &self->backend, &self->sql, &self->schema,
                           &self->params, &self->statements, &self->types, &self->take_stmt, &self->exec_data,
                           &self->exec_stmt};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) *fields[i] = Py_NewRef(Py_None);
    return (PyObject *)self;
}

#define EACH_OBJECT(X) X(bc) X(task) X(buf) X(transport) X(inner) X(hooks) X(session) X(take) X(seq) \
    X(backend) X(sql) X(schema) X(params) X(statements) X(types) X(take_stmt) X(exec_data) X(exec_stmt)

static int RelayCore_traverse(RelayCore *self, visitproc visit, void *arg) {
#define VISIT(f) Py_VISIT(self->f);
    EACH_OBJECT(VISIT)
#undef VISIT
    return 0;
}

static int RelayCore_clear(RelayCore *self) {
#define CLEAR(f) Py_CLEAR(self->f);
    EACH_OBJECT(CLEAR)
#undef CLEAR
    return 0;
}

static void RelayCore_dealloc(RelayCore *self) {
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    RelayCore_clear(self);
    tp->tp_free((PyObject *)self);
}

static PyMethodDef RelayCore_methods[] = {
    {"data_received", (PyCFunction)RelayCore_data_received, METH_O,
     "Transport callback: a plain COM_QUERY goes to the backend here, anything else to _py_data_received."},
    {"set_result", (PyCFunction)RelayCore_set_result, METH_O,
     "Backend read-waiter callback: a small plain reply is answered here, anything else by _backend_data."},
    {"done", (PyCFunction)RelayCore_done, METH_NOARGS, "Read-waiter protocol: never done."},
    {NULL}};

static PyMemberDef RelayCore_members[] = {
    {"parked", T_BOOL, offsetof(RelayCore, parked), 0, NULL},
    {"native", T_BOOL, offsetof(RelayCore, native), 0, NULL},
    {"query_attrs", T_BOOL, offsetof(RelayCore, query_attrs), 0, NULL},
    {"binary", T_BOOL, offsetof(RelayCore, binary), 0, NULL},
    {"start_ns", T_LONGLONG, offsetof(RelayCore, start_ns), 0, NULL},
    {"native_queries", T_ULONGLONG, offsetof(RelayCore, native_queries), READONLY, NULL},
#define MEMBER(f) {#f, T_OBJECT, offsetof(RelayCore, f), 0, NULL},
    EACH_OBJECT(MEMBER)
#undef MEMBER
    {NULL}};

static PyTypeObject RelayCoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "proxyd.wire._native_relay.RelayCore",
    .tp_basicsize = sizeof(RelayCore),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The C half of proxyd.wire.fast_path.FastPath (its base class).",
    .tp_new = RelayCore_new,
    .tp_init = (initproc)RelayCore_init,
    .tp_dealloc = (destructor)RelayCore_dealloc,
    .tp_traverse = (traverseproc)RelayCore_traverse,
    .tp_clear = (inquiry)RelayCore_clear,
    .tp_methods = RelayCore_methods,
    .tp_members = RelayCore_members,
};

/* scan_reply for tests: (kind, end, status, affected, rows, next_seq) or 0 / -1 */
static PyObject *py_scan_reply(PyObject *mod, PyObject *args) {
    Py_buffer view;
    int deprecate_eof;
    if (!PyArg_ParseTuple(args, "y*p", &view, &deprecate_eof)) return NULL;
    Reply r;
    int s = scan_reply((const unsigned char *)view.buf, 0, view.len, deprecate_eof, &r);
    PyBuffer_Release(&view);
    if (s <= 0) return PyLong_FromLong(s);
    return Py_BuildValue("(snIKnI)", r.is_ok ? "ok" : "rows", r.end, r.status, r.affected, r.rows, r.next_seq);
}

static PyObject *py_plain_statement(PyObject *mod, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    int ok = plain_statement((const unsigned char *)view.buf, view.len);
    PyBuffer_Release(&view);
    return PyBool_FromLong(ok);
}

static PyMethodDef module_methods[] = {
    {"scan_reply", py_scan_reply, METH_VARARGS, "scan_reply(reply_bytes, deprecate_eof): what the relay sees."},
    {"plain_statement", py_plain_statement, METH_O, "plain_statement(sql_bytes): may the C path take it?"},
    {NULL}};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_native_relay",
                                        "C half of the SQL port's fast path (see proxyd/wire/fast_path.py).", -1,
                                        module_methods};

PyMODINIT_FUNC PyInit__native_relay(void) {
#define INTERN(var, text) if ((var = PyUnicode_InternFromString(text)) == NULL) return NULL;
    INTERN(s_skip_plain, "skip_plain") INTERN(s_paused, "_paused") INTERN(s_transport, "transport") INTERN(s_write, "write")
    INTERN(s_proto, "proto") INTERN(s_raw, "raw") INTERN(s_read_waiter, "_read_waiter") INTERN(s_buffer, "buffer")
    INTERN(s_pos, "pos") INTERN(s_length, "length") INTERN(s_eof, "eof") INTERN(s_exc, "exc")
    INTERN(s_next_seq_id, "_next_seq_id") INTERN(s_deprecate_eof, "_deprecate_eof") INTERN(s_value, "value")
    INTERN(s_command, "command") INTERN(s_info, "info") INTERN(s_since, "since") INTERN(s_schema, "schema")
    INTERN(s_query, "Query") INTERN(s_py_data_received, "_py_data_received") INTERN(s_backend_data, "_backend_data")
    INTERN(s_native_done, "_native_done") INTERN(s_native_failed, "_native_failed")
    INTERN(s_state, "state") INTERN(s_long_data, "long_data") INTERN(s_param_map, "param_map")
    INTERN(s_num_params, "num_params") INTERN(s_param_types, "param_types")
#undef INTERN
    PyObject *time_mod = PyImport_ImportModule("time");
    if (time_mod == NULL) return NULL;
    monotonic = PyObject_GetAttrString(time_mod, "monotonic");
    Py_DECREF(time_mod);
    if (monotonic == NULL) return NULL;
    if (PyType_Ready(&RelayCoreType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "RelayCore", (PyObject *)&RelayCoreType) < 0) { Py_DECREF(m); return NULL; }
    return m;
}
