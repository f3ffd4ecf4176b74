/* plugins.wasm._native_call: the statement guest's call path in C (optional accelerator).
 *
 * Does not link against libwasmtime: plugins/wasm/runtime.py hands setup() the addresses of the
 * wasmtime C API functions taken from wasmtime-py's already-loaded library, so both sides use the
 * one copy of wasmtime in the process. Per guest instance a Handle holds the raw store context,
 * the memory and the proxyd_alloc export; Handle.call() does in one foreign call what the ctypes
 * path does in several: set the fuel, set the epoch deadline, make the statement text readable by
 * the host function get_query, call the export unchecked, return its i32 result.
 *
 * get_query itself is a C host function (cb_get_query, defined on the engine's linker with
 * wasmtime_linker_define_func_unchecked): it finds the running call in a C thread-local, calls the
 * guest's proxyd_alloc and copies the statement into guest memory, without entering Python. The
 * other host functions stay Python (ctypes callbacks); they find the running call via current().
 *
 * The GIL is released for the guest call: the epoch ticker (a Python thread) must run while a guest
 * spins, and Python host functions take the GIL back through ctypes. A fault never raises here:
 * call() returns None and the Python side classifies the fault (take_fault() for one raised inside
 * get_query), so the sandbox's fault reporting stays in one place (runtime.py).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* wasmtime_val_raw_t: a 16-byte union; only i32 is used here. */
typedef union {
    int32_t i32;
    int64_t i64;
    uint8_t v128[16];
    void *funcref;
} val_raw_t;

typedef void *(*call_unchecked_t)(void *ctx, const void *func, val_raw_t *args, size_t n, void **trap);
typedef void *(*set_fuel_t)(void *ctx, uint64_t fuel);
typedef void (*set_epoch_deadline_t)(void *ctx, uint64_t ticks);
typedef uint8_t *(*memory_data_t)(const void *ctx, const void *mem);
typedef size_t (*memory_data_size_t)(const void *ctx, const void *mem);
typedef void *(*caller_context_t)(void *caller);
typedef void *(*trap_new_t)(const char *msg, size_t len);
typedef void (*delete_t)(void *);

static call_unchecked_t w_call;
static set_fuel_t w_set_fuel;
static set_epoch_deadline_t w_set_epoch_deadline;
static memory_data_t w_memory_data;
static memory_data_size_t w_memory_data_size;
static caller_context_t w_caller_context;
static trap_new_t w_trap_new;
static delete_t w_error_delete, w_trap_delete;
static int ready;

/* ABI v1 status codes (plugins/wasm/abi.py) */
enum { ST_OK = 0, ST_NOT_FOUND = 1, ST_TOO_LARGE = 4, ST_ALLOC_FAILED = 5 };
#define MAX_TO_GUEST (16u * 1024u * 1024u)

enum { FAULT_NONE = 0, FAULT_INVALID, FAULT_NESTED_TRAP, FAULT_NESTED_ERROR };

typedef struct Handle {
    PyObject_HEAD
    PyObject *owner;          /* the GuestInstance (strong; the cycle is broken by the GC) */
    void *ctx;                /* wasmtime_context_t* of the instance's store */
    void *mem;                /* wasmtime_memory_t* of its exported memory */
    void *alloc_func;         /* wasmtime_func_t* of proxyd_alloc, or NULL */
    void **trap_out;          /* the instance's trap slot (a ctypes c_void_p) */
    unsigned long long fuel, deadline;
    double timeout_ms, tick_ms;
    /* the running call */
    PyObject *state;          /* what Python host functions see (strong during a call) */
    PyObject *sql;            /* the statement text (str, strong during a call) or NULL */
    const char *sql_data;
    Py_ssize_t sql_len;
    int sql_bad;              /* the text cannot be encoded as UTF-8 (lone surrogates) */
    double started, host_started, host_time;
    struct Handle *prev;
    /* a fault raised inside get_query, reported by take_fault() */
    int fault;
    void *fault_ptr;
    char fault_msg[160];
    unsigned long long last_error; /* wasmtime_error_t* of the last call's fault, if it was an error */
    unsigned long long calls;      /* calls made through this handle (tests check the native path runs) */
    unsigned long long host_calls; /* get_query calls served in C */
    /* the export FastEvent calls, resolved once per handle */
    PyObject *ev_name;
    void *ev_func;
    val_raw_t *ev_raw;
    size_t ev_n;
} Handle;

static _Thread_local Handle *current_handle;

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* the clock of time.perf_counter() on Linux */
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline uint64_t deadline_ticks(const Handle *h, double ms) {
    /* WasmEngine.deadline_ticks: ceil(ms / tick) + 1 */
    long long t = (long long)ms, tick = (long long)h->tick_ms;
    if (tick < 1) tick = 1;
    return (uint64_t)((t + tick - 1) / tick + 1);
}

/* GuestInstance.host_checkpoint: host work of more than 1 ms is not charged to the guest. */
static void checkpoint(Handle *h, void *ctx) {
    double now = now_s();
    double spent = now - h->host_started;
    h->host_started = now;
    if (spent > 0.001) {
        h->host_time += spent;
        double guest_ms = (now - h->started - h->host_time) * 1000.0;
        double left = h->timeout_ms - guest_ms;
        if (left < 0) left = 0;
        w_set_epoch_deadline(ctx, deadline_ticks(h, (double)((long long)left + 1)));
    }
}

static void clear_fault(Handle *h) {
    if (h->fault_ptr) {
        if (h->fault == FAULT_NESTED_TRAP) w_trap_delete(h->fault_ptr);
        else if (h->fault == FAULT_NESTED_ERROR) w_error_delete(h->fault_ptr);
    }
    h->fault = FAULT_NONE;
    h->fault_ptr = NULL;
    h->fault_msg[0] = 0;
}

static void *host_trap(const char *msg) {
    return w_trap_new(msg, strlen(msg));
}

/* get_query(ptr_out, len_out) -> status: the statement text, placed with the guest's proxyd_alloc. */
static void *cb_get_query(void *env, void *caller, val_raw_t *a, size_t n) {
    (void)env;
    (void)n;
    Handle *h = current_handle;
    if (h == NULL) /* only a guest call made through Handle.call reaches here on a native engine */
        return host_trap("host function get_query failed: no guest call on this thread");
    void *ctx = w_caller_context(caller);
    h->host_started = now_s();
    h->host_calls++;
    if (h->sql == NULL) { /* outside an event (e.g. the host-version requirement) */
        a[0].i32 = ST_NOT_FOUND;
        return NULL;
    }
    if (h->sql_bad)
        return host_trap("host function get_query failed: UnicodeEncodeError");
    uint32_t ptr_at = (uint32_t)a[0].i32, len_at = (uint32_t)a[1].i32;
    size_t len = (size_t)h->sql_len;
    if (len > MAX_TO_GUEST) {
        a[0].i32 = ST_TOO_LARGE;
        return NULL;
    }
    uint32_t ptr = 0;
    if (len) {
        checkpoint(h, ctx); /* host time so far is not the guest's */
        if (h->alloc_func == NULL)
            return host_trap("host function get_query failed: no proxyd_alloc");
        val_raw_t r[1];
        memset(r, 0, sizeof r);
        r[0].i32 = (int32_t)len;
        void *trap = NULL;
        void *err = w_call(ctx, h->alloc_func, r, 1, &trap);
        if (err || trap) {
            if (h->fault != FAULT_NONE) { /* a deeper get_query already recorded the cause: keep it */
                if (err) w_error_delete(err);
                if (trap) w_trap_delete(trap);
            } else if (trap) {
                if (err) w_error_delete(err);
                h->fault = FAULT_NESTED_TRAP;
                h->fault_ptr = trap;
            } else {
                h->fault = FAULT_NESTED_ERROR;
                h->fault_ptr = err;
            }
            return host_trap("host function get_query failed: proxyd_alloc faulted");
        }
        ptr = (uint32_t)r[0].i32;
        if (ptr == 0) {
            a[0].i32 = ST_ALLOC_FAILED;
            checkpoint(h, ctx);
            return NULL;
        }
    }
    size_t size = w_memory_data_size(ctx, h->mem);
    uint64_t end = (uint64_t)ptr + len;
    if ((uint64_t)ptr_at + 4 > end) end = (uint64_t)ptr_at + 4;
    if ((uint64_t)len_at + 4 > end) end = (uint64_t)len_at + 4;
    if (end > size) {
        clear_fault(h); /* nothing recorded can be pending here: a recorded fault aborts the call */
        h->fault = FAULT_INVALID;
        snprintf(h->fault_msg, sizeof h->fault_msg, "buffer out of bounds (memory is %zu bytes)", size);
        return host_trap("host function get_query failed: buffer out of bounds");
    }
    uint8_t *base = w_memory_data(ctx, h->mem);
    if (len) memcpy(base + ptr, h->sql_data, len);
    uint32_t le[2] = {ptr, (uint32_t)len}; /* little-endian host (x86-64, aarch64) */
    memcpy(base + ptr_at, &le[0], 4);
    memcpy(base + len_at, &le[1], 4);
    a[0].i32 = ST_OK;
    checkpoint(h, ctx);
    return NULL;
}

/* -- Handle ---------------------------------------------------------------------------------------- */
static int Handle_init(Handle *self, PyObject *args, PyObject *kw) {
    static char *names[] = {"owner", "ctx", "mem", "alloc_func", "trap_out", "fuel", "deadline", "timeout_ms",
                            "tick_ms", NULL};
    PyObject *owner;
    unsigned long long ctx, mem, alloc, trap_out;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OKKKKKKdd", names, &owner, &ctx, &mem, &alloc, &trap_out,
                                     &self->fuel, &self->deadline, &self->timeout_ms, &self->tick_ms))
        return -1;
    if (!ready) {
        PyErr_SetString(PyExc_RuntimeError, "_native_call.setup() was not called");
        return -1;
    }
    if (!ctx || !mem || !trap_out) {
        PyErr_SetString(PyExc_ValueError, "null context, memory or trap slot");
        return -1;
    }
    Py_INCREF(owner);
    Py_XSETREF(self->owner, owner);
    self->ctx = (void *)(uintptr_t)ctx;
    self->mem = (void *)(uintptr_t)mem;
    self->alloc_func = (void *)(uintptr_t)alloc;
    self->trap_out = (void **)(uintptr_t)trap_out;
    return 0;
}

static int Handle_traverse(Handle *self, visitproc visit, void *arg) {
    Py_VISIT(self->owner);
    Py_VISIT(self->state);
    Py_VISIT(self->sql);
    Py_VISIT(self->ev_name);
    return 0;
}

static int Handle_clear(Handle *self) {
    Py_CLEAR(self->owner);
    Py_CLEAR(self->state);
    Py_CLEAR(self->sql);
    Py_CLEAR(self->ev_name);
    return 0;
}

static void Handle_dealloc(Handle *self) {
    PyObject_GC_UnTrack(self);
    Handle_clear(self);
    if (ready) clear_fault(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int set_sql(Handle *h, PyObject *sql) {
    if (sql == Py_None) {
        Py_CLEAR(h->sql);
        h->sql_data = NULL;
        h->sql_len = 0;
        h->sql_bad = 0;
        return 0;
    }
    if (!PyUnicode_Check(sql)) {
        PyErr_SetString(PyExc_TypeError, "sql must be str or None");
        return -1;
    }
    Py_INCREF(sql);
    Py_XSETREF(h->sql, sql);
    /* for an ASCII string this is the string's own storage: no copy, no allocation */
    h->sql_data = PyUnicode_AsUTF8AndSize(sql, &h->sql_len);
    h->sql_bad = h->sql_data == NULL;
    if (h->sql_bad) {
        PyErr_Clear();
        h->sql_len = 0;
    }
    return 0;
}

/* One guest call: 0 (the export returned; its i32 in *rc), 1 (a fault: the trap is in the instance's
 * slot, the error in last_error), -1 (a Python exception is set; nothing was called). */
static int run_call(Handle *self, void *func, val_raw_t *raw, size_t n, PyObject *sql, PyObject *state, int32_t *rc) {
    if (!func || !raw || n == 0) {
        PyErr_SetString(PyExc_ValueError, "null function or value array");
        return -1;
    }
    if (self->state != NULL || current_handle == self) {
        PyErr_SetString(PyExc_RuntimeError, "a guest instance serves one call at a time");
        return -1;
    }
    if (set_sql(self, sql) < 0) return -1;
    Py_INCREF(state);
    self->state = state;
    clear_fault(self);
    self->last_error = 0;
    void *ctx = self->ctx;
    void *err = w_set_fuel(ctx, self->fuel);
    if (err) w_error_delete(err); /* only if fuel were off in the engine's config: it is on */
    w_set_epoch_deadline(ctx, self->deadline);
    self->prev = current_handle;
    current_handle = self;
    self->started = self->host_started = now_s();
    self->host_time = 0.0;
    void *trap = NULL;
    Py_BEGIN_ALLOW_THREADS
    err = w_call(ctx, func, raw, n, &trap);
    Py_END_ALLOW_THREADS
    current_handle = self->prev;
    self->prev = NULL;
    self->calls++;
    Py_CLEAR(self->state);
    Py_CLEAR(self->sql);
    self->sql_data = NULL;
    if (err || trap) { /* the trap lands in the instance's slot, the error in last_error (the Python
                        * side takes ownership of either) */
        *self->trap_out = trap;
        self->last_error = (unsigned long long)(uintptr_t)err;
        return 1;
    }
    *rc = raw[0].i32;
    return 0;
}

/* call(func, raw, n, sql, state) -> int (the export's i32 result), or None on a fault.
 * func: address of the wasmtime_func_t; raw: address of its wasmtime_val_raw_t array of n values
 * (arguments already in place); sql: the statement text get_query serves (None: NOT_FOUND). */
static PyObject *Handle_call(Handle *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "call(func, raw, n, sql, state)");
        return NULL;
    }
    void *func = PyLong_AsVoidPtr(args[0]);
    val_raw_t *raw = (val_raw_t *)PyLong_AsVoidPtr(args[1]);
    size_t n = PyLong_AsSize_t(args[2]);
    if (PyErr_Occurred()) return NULL;
    int32_t rc = 0;
    int st = run_call(self, func, raw, n, args[3], args[4], &rc);
    if (st < 0) return NULL;
    if (st > 0) Py_RETURN_NONE;
    return PyLong_FromLong(rc);
}

/* The handle's (func, raw, n) of export ``name``, from its owner's ``funcs`` the first time. */
static int resolve_event(Handle *h, PyObject *name) {
    if (h->ev_name == name) return 0;
    PyObject *funcs = PyObject_GetAttrString(h->owner, "funcs");
    if (funcs == NULL) return -1;
    PyObject *entry = PyDict_GetItemWithError(funcs, name); /* borrowed */
    if (entry == NULL || !PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) < 4) {
        if (!PyErr_Occurred()) PyErr_Format(PyExc_KeyError, "instance has no export %R", name);
        Py_DECREF(funcs);
        return -1;
    }
    void *func = PyLong_AsVoidPtr(PyTuple_GET_ITEM(entry, 0));
    void *raw = PyLong_AsVoidPtr(PyTuple_GET_ITEM(entry, 2));
    size_t n = PyLong_AsSize_t(PyTuple_GET_ITEM(entry, 3));
    Py_DECREF(funcs); /* the owner keeps the entry (and the structs it points at) alive */
    if (PyErr_Occurred()) return -1;
    Py_INCREF(name);
    Py_XSETREF(h->ev_name, name);
    h->ev_func = func;
    h->ev_raw = (val_raw_t *)raw;
    h->ev_n = n;
    return 0;
}

static PyObject *Handle_set_sql(Handle *self, PyObject *sql) {
    /* set_query during a call: a later get_query in the same call reads the new text */
    if (self->state == NULL) Py_RETURN_NONE;
    if (set_sql(self, sql) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *Handle_checkpoint(Handle *self, PyObject *ctx) {
    void *c = PyLong_AsVoidPtr(ctx);
    if (c == NULL && PyErr_Occurred()) return NULL;
    checkpoint(self, c ? c : self->ctx);
    Py_RETURN_NONE;
}

static PyObject *Handle_host_enter(Handle *self, PyObject *unused) {
    (void)unused;
    self->host_started = now_s();
    Py_RETURN_NONE;
}

/* The fault raised inside get_query during the last call, once: None, ("invalid", message),
 * ("trap", trap address: the caller takes ownership) or ("error", error address: likewise). */
static PyObject *Handle_take_fault(Handle *self, PyObject *unused) {
    (void)unused;
    PyObject *out;
    switch (self->fault) {
    case FAULT_INVALID:
        out = Py_BuildValue("(ss)", "invalid", self->fault_msg);
        break;
    case FAULT_NESTED_TRAP:
        out = Py_BuildValue("(sK)", "trap", (unsigned long long)(uintptr_t)self->fault_ptr);
        self->fault_ptr = NULL;
        break;
    case FAULT_NESTED_ERROR:
        out = Py_BuildValue("(sK)", "error", (unsigned long long)(uintptr_t)self->fault_ptr);
        self->fault_ptr = NULL;
        break;
    default:
        Py_RETURN_NONE;
    }
    if (out == NULL) return NULL;
    clear_fault(self);
    return out;
}

static PyMethodDef Handle_methods[] = {
    {"call", (PyCFunction)(void (*)(void))Handle_call, METH_FASTCALL, "call an export (see the C source)"},
    {"set_sql", (PyCFunction)Handle_set_sql, METH_O, "replace the statement text of the running call"},
    {"checkpoint", (PyCFunction)Handle_checkpoint, METH_O, "host_checkpoint(ctx) of the running call"},
    {"host_enter", (PyCFunction)Handle_host_enter, METH_NOARGS, "a host function starts"},
    {"take_fault", (PyCFunction)Handle_take_fault, METH_NOARGS, "the fault raised inside get_query, once"},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef Handle_members[] = {
    {"owner", T_OBJECT, offsetof(Handle, owner), READONLY, "the GuestInstance"},
    {"state", T_OBJECT, offsetof(Handle, state), READONLY, "the running call's state (None between calls)"},
    {"calls", T_ULONGLONG, offsetof(Handle, calls), READONLY, "calls made through this handle"},
    {"host_calls", T_ULONGLONG, offsetof(Handle, host_calls), READONLY, "get_query calls served in C"},
    {"last_error", T_ULONGLONG, offsetof(Handle, last_error), READONLY,
     "address of the wasmtime_error_t of the last call's fault (0: none; the reader owns it)"},
    {"fuel", T_ULONGLONG, offsetof(Handle, fuel), READONLY, "fuel given to each call"},
    {"deadline", T_ULONGLONG, offsetof(Handle, deadline), READONLY, "epoch ticks given to each call"},
    {"started", T_DOUBLE, offsetof(Handle, started), READONLY, "when the running call started"},
    {"host_time", T_DOUBLE, offsetof(Handle, host_time), READONLY, "host time of the running call (s)"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject HandleType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "plugins.wasm._native_call.Handle",
    .tp_basicsize = sizeof(Handle),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "one guest instance's native call path",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Handle_init,
    .tp_traverse = (traverseproc)Handle_traverse,
    .tp_clear = (inquiry)Handle_clear,
    .tp_dealloc = (destructor)Handle_dealloc,
    .tp_methods = Handle_methods,
    .tp_members = Handle_members,
};

/* -- FastEvent: the usual event call of a guest whose imports are all in C -------------------------
 * One per loaded module and event (plugins/wasm/modules.py). Called with the statement text, it does
 * what plugins/wasm/action.py's call_guest does for the usual case, without a Python frame: take an
 * idle instance from the pool's deque, call the export through the instance's handle, and when the
 * verdict is 0 (CONTINUE) put the instance back (if the pool has room) and append the call's µs to
 * the module's stats deque. Returns None (settled), True (settled, and the stats want folding),
 * False (no idle instance: the caller takes the usual path), or (instance, rc, started_ns) for
 * anything else: rc is the export's result, or None for a fault (the caller classifies it, marks the
 * instance broken and settles the call; the instance is not back in the pool). */
typedef struct {
    PyObject_HEAD
    PyObject *idle;     /* InstancePool.idle (a deque) */
    PyObject *pending;  /* ModuleStats.pending (a deque) */
    PyObject *export;   /* the export's name */
    Py_ssize_t max_idle, fold;
    int reads_query;
    unsigned long long settled; /* calls settled here (tests check the fast path runs) */
} FastEvent;

static PyObject *str_pop, *str_append, *str_native;

static inline long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* time.perf_counter_ns() on Linux */
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int FastEvent_init(FastEvent *self, PyObject *args, PyObject *kw) {
    static char *names[] = {"idle", "max_idle", "pending", "fold", "export", "reads_query", NULL};
    PyObject *idle, *pending, *export;
    int reads_query;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OnOnUp", names, &idle, &self->max_idle, &pending, &self->fold,
                                     &export, &reads_query))
        return -1;
    Py_INCREF(idle);
    Py_XSETREF(self->idle, idle);
    Py_INCREF(pending);
    Py_XSETREF(self->pending, pending);
    Py_INCREF(export);
    Py_XSETREF(self->export, export);
    self->reads_query = reads_query;
    return 0;
}

static int FastEvent_traverse(FastEvent *self, visitproc visit, void *arg) {
    Py_VISIT(self->idle);
    Py_VISIT(self->pending);
    Py_VISIT(self->export);
    return 0;
}

static int FastEvent_clear(FastEvent *self) {
    Py_CLEAR(self->idle);
    Py_CLEAR(self->pending);
    Py_CLEAR(self->export);
    return 0;
}

static void FastEvent_dealloc(FastEvent *self) {
    PyObject_GC_UnTrack(self);
    FastEvent_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* put an instance back into the idle deque (it did not run, or ran soundly) */
static int give_back(FastEvent *self, PyObject *inst) {
    PyObject *r = PyObject_CallMethodOneArg(self->idle, str_append, inst);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

static PyObject *FastEvent_call(FastEvent *self, PyObject *args, PyObject *kw) {
    PyObject *sql;
    if (kw != NULL || !PyArg_UnpackTuple(args, "FastEvent", 1, 1, &sql)) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "FastEvent(sql)");
        return NULL;
    }
    if (self->idle == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "FastEvent not initialised");
        return NULL;
    }
    long long t0 = now_ns();
    PyObject *inst = PyObject_CallMethodNoArgs(self->idle, str_pop);
    if (inst == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_IndexError)) return NULL;
        PyErr_Clear();
        Py_RETURN_FALSE; /* no idle instance: the usual path instantiates one */
    }
    PyObject *hobj = PyObject_GetAttr(inst, str_native);
    if (hobj == NULL || !PyObject_TypeCheck(hobj, &HandleType) || resolve_event((Handle *)hobj, self->export) < 0) {
        if (hobj != NULL && !PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "instance without a native handle");
        Py_XDECREF(hobj);
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        give_back(self, inst); /* nothing ran: the instance is sound */
        PyErr_Restore(type, value, tb);
        Py_DECREF(inst);
        return NULL;
    }
    Handle *h = (Handle *)hobj;
    int32_t rc = 0;
    int st = run_call(h, h->ev_func, h->ev_raw, h->ev_n, self->reads_query ? sql : Py_None, Py_None, &rc);
    Py_DECREF(hobj);
    if (st < 0) { /* refused before calling: the instance is sound */
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        give_back(self, inst);
        PyErr_Restore(type, value, tb);
        Py_DECREF(inst);
        return NULL;
    }
    if (st == 0 && rc == 0) { /* CONTINUE: InstancePool.release + ModuleStats.record */
        Py_ssize_t idle_n = PyObject_Length(self->idle);
        if (idle_n < 0 || (idle_n < self->max_idle && give_back(self, inst) < 0)) {
            Py_DECREF(inst);
            return NULL;
        }
        Py_DECREF(inst);
        self->settled++;
        PyObject *us = PyLong_FromLongLong((now_ns() - t0) / 1000);
        if (us == NULL) return NULL;
        PyObject *r = PyObject_CallMethodOneArg(self->pending, str_append, us);
        Py_DECREF(us);
        if (r == NULL) return NULL;
        Py_DECREF(r);
        if (PyObject_Length(self->pending) > self->fold) Py_RETURN_TRUE;
        Py_RETURN_NONE;
    }
    PyObject *rc_obj = st == 0 ? PyLong_FromLong(rc) : Py_NewRef(Py_None);
    if (rc_obj == NULL) {
        Py_DECREF(inst);
        return NULL;
    }
    return Py_BuildValue("(NNL)", inst, rc_obj, t0);
}

static PyMemberDef FastEvent_members[] = {
    {"settled", T_ULONGLONG, offsetof(FastEvent, settled), READONLY, "calls settled in C (CONTINUE)"},
    {"export", T_OBJECT, offsetof(FastEvent, export), READONLY, "the export it calls"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject FastEventType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "plugins.wasm._native_call.FastEvent",
    .tp_basicsize = sizeof(FastEvent),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "the usual event call of a guest whose imports are all in C (see the C source)",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)FastEvent_init,
    .tp_traverse = (traverseproc)FastEvent_traverse,
    .tp_clear = (inquiry)FastEvent_clear,
    .tp_dealloc = (destructor)FastEvent_dealloc,
    .tp_call = (ternaryfunc)FastEvent_call,
    .tp_members = FastEvent_members,
};

/* -- module ------------------------------------------------------------------------------------------ */
static PyObject *mod_setup(PyObject *m, PyObject *const *args, Py_ssize_t nargs) {
    (void)m;
    void *p[9];
    if (nargs != 2 || !PyTuple_Check(args[0]) || PyTuple_GET_SIZE(args[0]) != 9) {
        PyErr_SetString(PyExc_TypeError, "setup(addresses: tuple of 9 function addresses, sizeof(wasmtime_val_raw_t))");
        return NULL;
    }
    PyObject *addrs = args[0];
    Py_ssize_t raw_size = PyLong_AsSsize_t(args[1]);
    if (raw_size == -1 && PyErr_Occurred()) return NULL;
    if (raw_size != (Py_ssize_t)sizeof(val_raw_t)) { /* a wasmtime whose values this file does not know */
        PyErr_Format(PyExc_RuntimeError, "wasmtime_val_raw_t is %zd bytes, this extension expects %zu", raw_size,
                     sizeof(val_raw_t));
        return NULL;
    }
    for (int i = 0; i < 9; i++) {
        p[i] = PyLong_AsVoidPtr(PyTuple_GET_ITEM(addrs, i));
        if (p[i] == NULL) {
            if (!PyErr_Occurred()) PyErr_Format(PyExc_ValueError, "function address %d is null", i);
            return NULL;
        }
    }
    w_call = (call_unchecked_t)p[0];
    w_set_fuel = (set_fuel_t)p[1];
    w_set_epoch_deadline = (set_epoch_deadline_t)p[2];
    w_memory_data = (memory_data_t)p[3];
    w_memory_data_size = (memory_data_size_t)p[4];
    w_caller_context = (caller_context_t)p[5];
    w_trap_new = (trap_new_t)p[6];
    w_error_delete = (delete_t)p[7];
    w_trap_delete = (delete_t)p[8];
    ready = 1;
    Py_RETURN_NONE;
}

static PyObject *mod_current(PyObject *m, PyObject *unused) {
    (void)m;
    (void)unused;
    Handle *h = current_handle;
    if (h == NULL) Py_RETURN_NONE;
    Py_INCREF(h);
    return (PyObject *)h;
}

static PyObject *mod_callbacks(PyObject *m, PyObject *unused) {
    (void)m;
    (void)unused;
    return Py_BuildValue("{sK}", "get_query", (unsigned long long)(uintptr_t)cb_get_query);
}

static PyMethodDef mod_methods[] = {
    {"setup", (PyCFunction)(void (*)(void))mod_setup, METH_FASTCALL,
     "setup(addresses, sizeof(wasmtime_val_raw_t)): the wasmtime C API functions (see runtime.py)"},
    {"current", mod_current, METH_NOARGS, "the Handle of the guest call running on this thread, or None"},
    {"callbacks", mod_callbacks, METH_NOARGS, "{host function name: address of its C implementation}"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "plugins.wasm._native_call", "native call path of statement guests", -1, mod_methods,
};

PyMODINIT_FUNC PyInit__native_call(void) {
    if (PyType_Ready(&HandleType) < 0 || PyType_Ready(&FastEventType) < 0) return NULL;
    str_pop = PyUnicode_InternFromString("pop");
    str_append = PyUnicode_InternFromString("append");
    str_native = PyUnicode_InternFromString("native");
    if (!str_pop || !str_append || !str_native) return NULL;
    PyObject *m = PyModule_Create(&moddef);
    if (m == NULL) return NULL;
    Py_INCREF(&HandleType);
    if (PyModule_AddObject(m, "Handle", (PyObject *)&HandleType) < 0) {
        Py_DECREF(&HandleType);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&FastEventType);
    if (PyModule_AddObject(m, "FastEvent", (PyObject *)&FastEventType) < 0) {
        Py_DECREF(&FastEventType);
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "MAX_TO_GUEST", MAX_TO_GUEST);
    return m;
}
