/* mask_literals: the literal-shape key of proxyd.digest's cache in C.
 *
 * proxyd.digest caches digests by the statement's "shape": its text with every quoted string and
 * every free-standing number replaced by '?', so that statements differing only in literals share
 * one digest computation. In Python that is one regex substitution (digest._MASK) per statement
 * whose exact text was not seen before — the usual case for statements sent as text. This computes
 * exactly the same string for ASCII text (tests/test_native_digest.py checks it against the regex
 * on generated and real statements); for anything else it returns None and the regex runs.
 *
 * The regex, and how each part behaves under Python's backtracking (as reproduced below):
 *   '[^'\\]*(?:''[^'\\]*)*'   a string: runs of quotes after the opening one pair up ('' is an
 *                             escaped quote); an odd run closes the string; with no odd run before
 *                             the end, the match backtracks to the first quote of the last pair
 *                             (callers pass no text with backslashes: proxyd.digest._maskable).
 *   (?<![\w$.])[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?(?![\w$.])
 *                             a number not glued to a word, '$' or '.': its longest form must be
 *                             followed by such a boundary (no shorter form can be: what would
 *                             follow it is a digit, '.', 'e' or 'E').
 * A position where neither matches is copied and the scan goes on from the next character.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static int word_char(unsigned char c) {  /* [\w$.] for ASCII */
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' ||
           c == '.';
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* The end of the quoted string opened at s[i], or -1 if the regex would not match there. */
static Py_ssize_t string_end(const unsigned char *s, Py_ssize_t n, Py_ssize_t i) {
    Py_ssize_t p = i + 1, last_pair = -1;
    for (;;) {
        while (p < n && s[p] != '\'') p++;
        if (p >= n) return last_pair < 0 ? -1 : last_pair + 1;  /* backtrack: the last pair's first quote closes */
        Py_ssize_t run = p;
        while (p < n && s[p] == '\'') p++;
        Py_ssize_t k = p - run;
        if (k & 1) return p;  /* pairs, then the closing quote */
        last_pair = p - 2;
    }
}

/* The end of the number starting at s[i] (a digit not preceded by [\w$.]), or -1. */
static Py_ssize_t number_end(const unsigned char *s, Py_ssize_t n, Py_ssize_t i) {
    Py_ssize_t p = i;
    while (p < n && is_digit(s[p])) p++;
    if (p + 1 < n && s[p] == '.' && is_digit(s[p + 1])) {
        p += 1;
        while (p < n && is_digit(s[p])) p++;
    }
    if (p < n && (s[p] == 'e' || s[p] == 'E')) {
        Py_ssize_t q = p + 1;
        if (q < n && (s[q] == '+' || s[q] == '-')) q++;
        if (q < n && is_digit(s[q])) {
            while (q < n && is_digit(s[q])) q++;
            p = q;
        }
    }
    if (p < n && word_char(s[p])) return -1;
    return p;
}

static PyObject *mask_literals(PyObject *mod, PyObject *arg) {
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "mask_literals() takes a str");
        return NULL;
    }
    if (PyUnicode_READY(arg) < 0) return NULL;
    if (!PyUnicode_IS_ASCII(arg)) Py_RETURN_NONE;
    const unsigned char *s = PyUnicode_1BYTE_DATA(arg);
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg);
    PyObject *out = PyUnicode_New(n, 127);  /* the result is never longer */
    if (out == NULL) return NULL;
    unsigned char *o = PyUnicode_1BYTE_DATA(out);
    Py_ssize_t i = 0, w = 0;
    while (i < n) {
        unsigned char c = s[i];
        Py_ssize_t end = -1;
        if (c == '\'')
            end = string_end(s, n, i);
        else if (is_digit(c) && (i == 0 || !word_char(s[i - 1])))
            end = number_end(s, n, i);
        if (end >= 0) {
            o[w++] = '?';
            i = end;
        } else {
            o[w++] = c;
            i++;
        }
    }
    if (w == n) return out;
    PyObject *shorter = PyUnicode_Substring(out, 0, w);
    Py_DECREF(out);
    return shorter;
}

static PyMethodDef methods[] = {
    {"mask_literals", mask_literals, METH_O,
     "mask_literals(sql) -> sql with quoted strings and numbers as '?' (proxyd.digest._MASK), or None "
     "for non-ASCII text."},
    {NULL}};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_native_digest",
                                        "C helpers of proxyd.digest (optional; see setup.py).", -1, methods};

PyMODINIT_FUNC PyInit__native_digest(void) { return PyModule_Create(&module_def); }
