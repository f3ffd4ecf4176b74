/* The wasm engine's epoch ticker as a plain POSIX thread.
 *
 * Guest deadlines are counted in engine epochs: something must call
 * wasmtime_engine_increment_epoch every tick (WasmEngine.tick_ms). A Python thread doing it needs the
 * GIL at every tick, 200 times a second, and so takes the interpreter from the event loop just as
 * often even when no guest runs. This thread never touches Python: it sleeps, increments (an atomic
 * add inside wasmtime, safe from any thread) and sleeps again. The function address and the engine
 * pointer come from runtime.py (wasmtime-py's own library and Engine); the ticker holds a reference
 * to that Engine object (``keep``), so the engine cannot go before the thread has ended.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

typedef void (*increment_epoch_t)(void *engine);

typedef struct {
    PyObject_HEAD
    pthread_t thread;
    int running;  /* the thread was started and not joined yet */
    atomic_int stop;
    increment_epoch_t increment;
    void *engine;
    long tick_ns;
    PyObject *keep;  /* the wasmtime-py Engine: alive at least as long as the thread */
    unsigned long long ticks;  /* read without a lock: approximate, for tests and stats */
} Ticker;

static void *run(void *arg) {
    Ticker *t = (Ticker *)arg;
    struct timespec pause = {t->tick_ns / 1000000000L, t->tick_ns % 1000000000L};
    while (!atomic_load(&t->stop)) {
        nanosleep(&pause, NULL);
        if (atomic_load(&t->stop)) break;
        t->increment(t->engine);
        t->ticks++;
    }
    return NULL;
}

static void ticker_stop(Ticker *t) {
    if (!t->running) return;
    atomic_store(&t->stop, 1);
    Py_BEGIN_ALLOW_THREADS
    pthread_join(t->thread, NULL);
    Py_END_ALLOW_THREADS
    t->running = 0;
}

static int Ticker_init(Ticker *self, PyObject *args, PyObject *kwds) {
    unsigned long long fn, engine;
    double tick_ms;
    PyObject *keep;
    static char *names[] = {"increment_epoch", "engine", "tick_ms", "keep", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "KKdO", names, &fn, &engine, &tick_ms, &keep)) return -1;
    if (!fn || !engine || !(tick_ms > 0)) {
        PyErr_SetString(PyExc_ValueError, "Ticker(increment_epoch address, engine pointer, tick_ms > 0)");
        return -1;
    }
    if (self->running) {
        PyErr_SetString(PyExc_RuntimeError, "this ticker runs already");
        return -1;
    }
    Py_INCREF(keep);
    Py_XSETREF(self->keep, keep);
    self->increment = (increment_epoch_t)(uintptr_t)fn;
    self->engine = (void *)(uintptr_t)engine;
    self->tick_ns = (long)(tick_ms * 1e6);
    atomic_store(&self->stop, 0);
    int rc = pthread_create(&self->thread, NULL, run, self);
    if (rc != 0) {
        PyErr_Format(PyExc_RuntimeError, "cannot start the epoch ticker thread (error %d)", rc);
        return -1;
    }
    self->running = 1;
    return 0;
}

static PyObject *Ticker_stop(Ticker *self, PyObject *unused) {
    (void)unused;
    ticker_stop(self);
    Py_RETURN_NONE;
}

static PyObject *Ticker_alive(Ticker *self, void *unused) {
    (void)unused;
    return PyBool_FromLong(self->running && !atomic_load(&self->stop));
}

static PyObject *Ticker_ticks(Ticker *self, void *unused) {
    (void)unused;
    return PyLong_FromUnsignedLongLong(self->ticks);
}

static void Ticker_dealloc(Ticker *self) {
    ticker_stop(self);  /* the thread reads this object and uses the engine: it must end first */
    Py_CLEAR(self->keep);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Ticker_methods[] = {
    {"stop", (PyCFunction)Ticker_stop, METH_NOARGS, "stop ticking and wait for the thread to end"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Ticker_getset[] = {
    {"alive", (getter)Ticker_alive, NULL, "the thread ticks", NULL},
    {"ticks", (getter)Ticker_ticks, NULL, "epochs added so far", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject TickerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "plugins.wasm._native_ticker.Ticker",
    .tp_basicsize = sizeof(Ticker),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Ticker(increment_epoch, engine, tick_ms, keep): a thread adding one epoch to the engine per tick",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Ticker_init,
    .tp_dealloc = (destructor)Ticker_dealloc,
    .tp_methods = Ticker_methods,
    .tp_getset = Ticker_getset,
};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "plugins.wasm._native_ticker", "the wasm engine's epoch ticker without the GIL", -1, NULL,
};

PyMODINIT_FUNC PyInit__native_ticker(void) {
    if (PyType_Ready(&TickerType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moddef);
    if (m == NULL) return NULL;
    Py_INCREF(&TickerType);
    if (PyModule_AddObject(m, "Ticker", (PyObject *)&TickerType) < 0) {
        Py_DECREF(&TickerType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
