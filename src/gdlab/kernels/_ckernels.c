/* gdlab._ckernels: the kernels of gdlab._fast compiled ahead of time, in C.
 *
 * The same functions, arguments and floating-point operations as the numba kernels of
 * gdlab/_fast.py (read that file for what each one computes), built by `pip install .` when a C
 * compiler is present, so that they cost neither numba's import (about 140 MB and half a
 * second a process) nor a compile at run time. Each elementwise result is the same bits as the
 * NumPy reference: the build turns off fused multiply-add (-ffp-contract=off) and every other
 * licence to change the arithmetic; only the one dot product of bias_relu_dot_ is summed in
 * vector lanes (an OpenMP simd reduction), as numba's reassoc does, and softmax_xent_ calls the
 * C library's exp and log where NumPy has its own (equal to rounding, not to the bit).
 *
 * Arrays come through the buffer protocol (no NumPy headers needed): float32 or float64, all
 * of one call in the same type, 1-D ones contiguous, 2-D ones with contiguous rows.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__)
/* one build that runs everywhere and uses the widest vectors of the machine it runs on (the
 * clones are chosen at load time by glibc's ifunc resolver, hence the test for glibc) */
#define MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MULTIVERSION
#endif

/* ---- arrays ----------------------------------------------------------------------------- */

typedef struct {
    Py_buffer view;
    int got;
    char kind;            /* 'f' float32, 'd' float64 */
    Py_ssize_t rows, cols, stride;  /* stride: between rows, in elements */
} Arr;

static char format_kind(const char *format) {
    if (format == NULL) return 'B';
    if (*format == '<' || *format == '=' || *format == '@') format++;
    if ((format[0] == 'f' || format[0] == 'd') && format[1] == '\0') return format[0];
    return '?';
}

static int get_array(PyObject *obj, Arr *a, int writable, int ndim, const char *name) {
    int flags = PyBUF_STRIDES | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, &a->view, flags) < 0) return -1;
    a->got = 1;
    Py_buffer *v = &a->view;
    a->kind = format_kind(v->format);
    if (a->kind != 'f' && a->kind != 'd') {
        PyErr_Format(PyExc_TypeError, "%s must be float32 or float64, got format %s", name,
                     v->format ? v->format : "B");
        return -1;
    }
    if (v->ndim != ndim) {
        PyErr_Format(PyExc_ValueError, "%s must be %d-D, got %d-D", name, ndim, v->ndim);
        return -1;
    }
    Py_ssize_t item = v->itemsize;
    if (ndim == 1) {
        a->rows = 1;
        a->cols = v->shape[0];
        a->stride = a->cols;
        if (a->cols > 1 && v->strides[0] != item) {
            PyErr_Format(PyExc_ValueError, "%s must be contiguous", name);
            return -1;
        }
    } else {
        a->rows = v->shape[0];
        a->cols = v->shape[1];
        if ((a->cols > 1 && v->strides[1] != item) || v->strides[0] % item != 0) {
            PyErr_Format(PyExc_ValueError, "%s must have contiguous rows", name);
            return -1;
        }
        a->stride = v->strides[0] / item;
    }
    return 0;
}

static void release(Arr *arrays, int n) {
    for (int i = 0; i < n; i++)
        if (arrays[i].got) PyBuffer_Release(&arrays[i].view);
}

/* All of one call in one float type and, where named, of equal lengths. */
static int same_kind(Arr *arrays, int n) {
    for (int i = 1; i < n; i++)
        if (arrays[i].kind != arrays[0].kind) {
            PyErr_SetString(PyExc_TypeError, "all arrays must have the same dtype");
            return -1;
        }
    return 0;
}

static int check_len(Py_ssize_t got, Py_ssize_t want, const char *name) {
    if (got != want) {
        PyErr_Format(PyExc_ValueError, "%s has %zd elements, expected %zd", name, got, want);
        return -1;
    }
    return 0;
}

/* The arrays of one call: each fetched as its spec says, all of one float type; else every
 * buffer got so far is released and -1 returned with the error set. */
typedef struct {
    PyObject *obj;
    const char *name;
    int writable, ndim;
} Spec;

static int get_arrays(Arr *a, const Spec *spec, int n) {
    for (int i = 0; i < n; i++)
        if (get_array(spec[i].obj, &a[i], spec[i].writable, spec[i].ndim, spec[i].name) < 0) {
            release(a, n);
            return -1;
        }
    if (same_kind(a, n) < 0) {
        release(a, n);
        return -1;
    }
    return 0;
}

/* The lengths of one call, checked after get_arrays: on a mismatch, release and fail. */
#define CHECK_OR_FAIL(a, n, cond)                                                              \
    if (!(cond)) {                                                                             \
        release(a, n);                                                                         \
        return NULL;                                                                           \
    }

#define DATA(a, T) ((T *)(a).view.buf)

/* ---- optimizer steps -------------------------------------------------------------------- */

#define DEFINE_SGD(T, SUF)                                                                     \
MULTIVERSION static void sgd_##SUF(Py_ssize_t n, T *restrict p, const T *restrict g,           \
                                   T *restrict buf, int has_momentum, T sign, T wd, T neg_lr,  \
                                   T momentum, T damp1, int first, int nesterov) {             \
    for (Py_ssize_t i = 0; i < n; i++) {                                                       \
        T gi = sign * g[i];                                                                    \
        if (wd != 0) gi = gi + wd * p[i];                                                      \
        if (has_momentum) {                                                                    \
            T b = first ? gi : momentum * buf[i] + damp1 * gi;                                 \
            buf[i] = b;                                                                        \
            gi = nesterov ? gi + momentum * b : b;                                             \
        }                                                                                      \
        p[i] = p[i] + neg_lr * gi;                                                             \
    }                                                                                          \
}
DEFINE_SGD(float, f)
DEFINE_SGD(double, d)

/* vmax is NULL without AMSGrad; -O3 unswitches the loop on it and on wd, so that each
 * variant vectorises free of branches. */
#define DEFINE_ADAM(T, SUF, SQRT)                                                              \
MULTIVERSION static void adam_##SUF(Py_ssize_t n, T *restrict p, const T *restrict g,          \
                                    T *restrict m, T *restrict v, T *restrict vmax, T sign,    \
                                    T wd, T decay, T omb1, T b2, T omb2, T eps_c2,             \
                                    T neg_step) {                                              \
    for (Py_ssize_t i = 0; i < n; i++) {                                                       \
        T pi = p[i];                                                                           \
        T gi = sign * g[i];                                                                    \
        if (wd != 0) gi = gi + wd * pi;                                                        \
        T mi = m[i] + omb1 * (gi - m[i]);                                                      \
        T vi = b2 * v[i] + omb2 * (gi * gi);                                                   \
        m[i] = mi;                                                                             \
        v[i] = vi;                                                                             \
        if (vmax != NULL) {                                                                    \
            T vm = vmax[i];                                                                    \
            vi = (vi > vm || vi != vi) ? vi : vm; /* np.maximum: NaN from either side */       \
            vmax[i] = vi;                                                                      \
        }                                                                                      \
        p[i] = pi * decay + neg_step * (mi / (SQRT(vi) + eps_c2));                             \
    }                                                                                          \
}
DEFINE_ADAM(float, f, sqrtf)
DEFINE_ADAM(double, d, sqrt)

static PyObject *py_sgd_step(PyObject *self, PyObject *args) {
    PyObject *op, *og, *obuf;
    double sign, wd, neg_lr, momentum, damp1;
    int first, nesterov;
    if (!PyArg_ParseTuple(args, "OOOdddddpp:sgd_step", &op, &og, &obuf, &sign, &wd, &neg_lr,
                          &momentum, &damp1, &first, &nesterov))
        return NULL;
    Arr a[3] = {0};
    const Spec spec[3] = {{op, "p", 1, 1}, {og, "g", 0, 1}, {obuf, "buf", 1, 1}};
    if (get_arrays(a, spec, 3) < 0) return NULL;
    CHECK_OR_FAIL(a, 3, !check_len(a[1].cols, a[0].cols, "g")
                  && !(a[2].cols && check_len(a[2].cols, a[0].cols, "buf")))
    Py_ssize_t n = a[0].cols;
    int has_momentum = a[2].cols > 0;
    Py_BEGIN_ALLOW_THREADS
    if (a[0].kind == 'f')
        sgd_f(n, DATA(a[0], float), DATA(a[1], float), DATA(a[2], float), has_momentum,
              (float)sign, (float)wd, (float)neg_lr, (float)momentum, (float)damp1, first,
              nesterov);
    else
        sgd_d(n, DATA(a[0], double), DATA(a[1], double), DATA(a[2], double), has_momentum,
              sign, wd, neg_lr, momentum, damp1, first, nesterov);
    Py_END_ALLOW_THREADS
    release(a, 3);
    Py_RETURN_NONE;
}

static PyObject *py_adam_step(PyObject *self, PyObject *args) {
    PyObject *op, *og, *om, *ov, *ovmax;
    double sign, wd, decay, omb1, b2, omb2, eps_c2, neg_step;
    if (!PyArg_ParseTuple(args, "OOOOOdddddddd:adam_step", &op, &og, &om, &ov, &ovmax, &sign,
                          &wd, &decay, &omb1, &b2, &omb2, &eps_c2, &neg_step))
        return NULL;
    Arr a[5] = {0};
    const Spec spec[5] = {{op, "p", 1, 1}, {og, "g", 0, 1}, {om, "m", 1, 1}, {ov, "v", 1, 1},
                          {ovmax, "vmax", 1, 1}};
    if (get_arrays(a, spec, 5) < 0) return NULL;
    CHECK_OR_FAIL(a, 5, !check_len(a[1].cols, a[0].cols, "g")
                  && !check_len(a[2].cols, a[0].cols, "m")
                  && !check_len(a[3].cols, a[0].cols, "v")
                  && !(a[4].cols && check_len(a[4].cols, a[0].cols, "vmax")))
    Py_ssize_t n = a[0].cols;
    int ams = a[4].cols > 0;
    Py_BEGIN_ALLOW_THREADS
    if (a[0].kind == 'f')
        adam_f(n, DATA(a[0], float), DATA(a[1], float), DATA(a[2], float), DATA(a[3], float),
               ams ? DATA(a[4], float) : NULL, (float)sign, (float)wd, (float)decay,
               (float)omb1, (float)b2, (float)omb2, (float)eps_c2, (float)neg_step);
    else
        adam_d(n, DATA(a[0], double), DATA(a[1], double), DATA(a[2], double),
               DATA(a[3], double), ams ? DATA(a[4], double) : NULL, sign, wd, decay, omb1, b2,
               omb2, eps_c2, neg_step);
    Py_END_ALLOW_THREADS
    release(a, 5);
    Py_RETURN_NONE;
}

/* ---- Dense + ReLU, fused (gdlab.fusion) ------------------------------------------------- */

#define DEFINE_BIAS_RELU(T, SUF)                                                               \
MULTIVERSION static void bias_relu_##SUF(Py_ssize_t n, Py_ssize_t cols, T *Y, Py_ssize_t sy,   \
                                         const T *restrict b) {                                \
    for (Py_ssize_t i = 0; i < n; i++) {                                                       \
        T *restrict y = Y + i * sy;                                                            \
        for (Py_ssize_t j = 0; j < cols; j++) {                                                \
            T v = y[j] + b[j];                                                                 \
            y[j] = (v >= 0 || v != v) ? v : (T)0;                                              \
        }                                                                                      \
    }                                                                                          \
}
DEFINE_BIAS_RELU(float, f)
DEFINE_BIAS_RELU(double, d)

/* acc: cols zeroed doubles, the column sums */
#define DEFINE_RELU_BACKWARD(T, SUF)                                                           \
MULTIVERSION static void relu_backward_##SUF(Py_ssize_t n, Py_ssize_t cols, const T *G,        \
                                             Py_ssize_t sg, T *O, Py_ssize_t so,               \
                                             double *restrict acc, T *restrict db) {           \
    for (Py_ssize_t i = 0; i < n; i++) {                                                       \
        const T *g = G + i * sg;                                                               \
        T *o = O + i * so;                                                                     \
        for (Py_ssize_t j = 0; j < cols; j++) {                                                \
            T d = g[j] * (o[j] > 0 ? (T)1 : (T)0);                                             \
            o[j] = d;                                                                          \
            acc[j] += d;                                                                       \
        }                                                                                      \
    }                                                                                          \
    for (Py_ssize_t j = 0; j < cols; j++) db[j] = (T)acc[j];                                   \
}
DEFINE_RELU_BACKWARD(float, f)
DEFINE_RELU_BACKWARD(double, d)

#define DEFINE_BIAS_RELU_DOT(T, SUF)                                                           \
MULTIVERSION static void bias_relu_dot_##SUF(Py_ssize_t n, Py_ssize_t cols, T *Y,              \
                                             Py_ssize_t sy, const T *restrict b,               \
                                             const T *restrict w, T c, T *o, Py_ssize_t so) {  \
    for (Py_ssize_t i = 0; i < n; i++) {                                                       \
        T *restrict y = Y + i * sy;                                                            \
        T s = 0;                                                                               \
        _Pragma("omp simd reduction(+:s)")                                                     \
        for (Py_ssize_t j = 0; j < cols; j++) {                                                \
            T v = y[j] + b[j];                                                                 \
            v = (v >= 0 || v != v) ? v : (T)0;                                                 \
            y[j] = v;                                                                          \
            s += v * w[j];                                                                     \
        }                                                                                      \
        o[i * so] = s + c;                                                                     \
    }                                                                                          \
}
DEFINE_BIAS_RELU_DOT(float, f)
DEFINE_BIAS_RELU_DOT(double, d)

/* acc, acc_w: cols zeroed doubles */
#define DEFINE_OUTER_RELU_BACKWARD(T, SUF)                                                     \
MULTIVERSION static void outer_relu_backward_##SUF(                                            \
        Py_ssize_t n, Py_ssize_t cols, const T *D, Py_ssize_t sd, const T *restrict w, T *O,   \
        Py_ssize_t so, double *restrict acc, double *restrict acc_w, T *restrict db,           \
        T *restrict dw, T *restrict dc) {                                                      \
    double acc_c = 0.0;                                                                        \
    for (Py_ssize_t i = 0; i < n; i++) {                                                       \
        T di = D[i * sd];                                                                      \
        T *restrict o = O + i * so;                                                            \
        acc_c += di;                                                                           \
        for (Py_ssize_t j = 0; j < cols; j++) {                                                \
            T oj = o[j];                                                                       \
            acc_w[j] += oj * di;                                                               \
            T v = (di * w[j]) * (oj > 0 ? (T)1 : (T)0);                                        \
            o[j] = v;                                                                          \
            acc[j] += v;                                                                       \
        }                                                                                      \
    }                                                                                          \
    for (Py_ssize_t j = 0; j < cols; j++) {                                                    \
        db[j] = (T)acc[j];                                                                     \
        dw[j] = (T)acc_w[j];                                                                   \
    }                                                                                          \
    dc[0] = (T)acc_c;                                                                          \
}
DEFINE_OUTER_RELU_BACKWARD(float, f)
DEFINE_OUTER_RELU_BACKWARD(double, d)

static PyObject *py_bias_relu_(PyObject *self, PyObject *args) {
    PyObject *oY, *ob;
    if (!PyArg_ParseTuple(args, "OO:bias_relu_", &oY, &ob)) return NULL;
    Arr a[2] = {0};
    const Spec spec[2] = {{oY, "Y", 1, 2}, {ob, "b", 0, 1}};
    if (get_arrays(a, spec, 2) < 0) return NULL;
    CHECK_OR_FAIL(a, 2, !check_len(a[1].cols, a[0].cols, "b"))
    Py_BEGIN_ALLOW_THREADS
    if (a[0].kind == 'f')
        bias_relu_f(a[0].rows, a[0].cols, DATA(a[0], float), a[0].stride, DATA(a[1], float));
    else
        bias_relu_d(a[0].rows, a[0].cols, DATA(a[0], double), a[0].stride, DATA(a[1], double));
    Py_END_ALLOW_THREADS
    release(a, 2);
    Py_RETURN_NONE;
}

static double *zeroed(Py_ssize_t n) {
    double *p = PyMem_Calloc(n ? n : 1, sizeof(double));
    if (p == NULL) PyErr_NoMemory();
    return p;
}

static PyObject *py_relu_backward_bias_(PyObject *self, PyObject *args) {
    PyObject *og, *oo, *odb;
    if (!PyArg_ParseTuple(args, "OOO:relu_backward_bias_", &og, &oo, &odb)) return NULL;
    Arr a[3] = {0};
    const Spec spec[3] = {{og, "grad", 0, 2}, {oo, "out", 1, 2}, {odb, "db", 1, 1}};
    if (get_arrays(a, spec, 3) < 0) return NULL;
    CHECK_OR_FAIL(a, 3, !check_len(a[0].rows, a[1].rows, "grad's rows")
                  && !check_len(a[0].cols, a[1].cols, "grad's columns")
                  && !check_len(a[2].cols, a[1].cols, "db"))
    double *acc = zeroed(a[1].cols);
    CHECK_OR_FAIL(a, 3, acc != NULL)
    Py_BEGIN_ALLOW_THREADS
    if (a[0].kind == 'f')
        relu_backward_f(a[1].rows, a[1].cols, DATA(a[0], float), a[0].stride, DATA(a[1], float),
                        a[1].stride, acc, DATA(a[2], float));
    else
        relu_backward_d(a[1].rows, a[1].cols, DATA(a[0], double), a[0].stride,
                        DATA(a[1], double), a[1].stride, acc, DATA(a[2], double));
    Py_END_ALLOW_THREADS
    PyMem_Free(acc);
    release(a, 3);
    Py_RETURN_NONE;
}

static PyObject *py_bias_relu_dot_(PyObject *self, PyObject *args) {
    PyObject *oY, *ob, *ow, *oo;
    double c;
    if (!PyArg_ParseTuple(args, "OOOdO:bias_relu_dot_", &oY, &ob, &ow, &c, &oo)) return NULL;
    Arr a[4] = {0};
    const Spec spec[4] = {{oY, "Y", 1, 2}, {ob, "b", 0, 1}, {ow, "w", 0, 1}, {oo, "o", 1, 2}};
    if (get_arrays(a, spec, 4) < 0) return NULL;
    CHECK_OR_FAIL(a, 4, !check_len(a[1].cols, a[0].cols, "b")
                  && !check_len(a[2].cols, a[0].cols, "w")
                  && !check_len(a[3].rows, a[0].rows, "o")
                  && !check_len(a[3].cols, 1, "o's rows"))
    Py_BEGIN_ALLOW_THREADS
    if (a[0].kind == 'f')
        bias_relu_dot_f(a[0].rows, a[0].cols, DATA(a[0], float), a[0].stride, DATA(a[1], float),
                        DATA(a[2], float), (float)c, DATA(a[3], float), a[3].stride);
    else
        bias_relu_dot_d(a[0].rows, a[0].cols, DATA(a[0], double), a[0].stride,
                        DATA(a[1], double), DATA(a[2], double), c, DATA(a[3], double),
                        a[3].stride);
    Py_END_ALLOW_THREADS
    release(a, 4);
    Py_RETURN_NONE;
}

static PyObject *py_outer_relu_backward_bias_(PyObject *self, PyObject *args) {
    PyObject *od, *ow, *oo, *odb, *odw, *odc;
    if (!PyArg_ParseTuple(args, "OOOOOO:outer_relu_backward_bias_", &od, &ow, &oo, &odb, &odw,
                          &odc))
        return NULL;
    Arr a[6] = {0};
    const Spec spec[6] = {{od, "d", 0, 2}, {ow, "w", 0, 1}, {oo, "out", 1, 2},
                          {odb, "db", 1, 1}, {odw, "dw", 1, 1}, {odc, "dc", 1, 1}};
    if (get_arrays(a, spec, 6) < 0) return NULL;
    CHECK_OR_FAIL(a, 6, !check_len(a[0].rows, a[2].rows, "d")
                  && !check_len(a[0].cols, 1, "d's rows")
                  && !check_len(a[1].cols, a[2].cols, "w")
                  && !check_len(a[3].cols, a[2].cols, "db")
                  && !check_len(a[4].cols, a[2].cols, "dw")
                  && !check_len(a[5].cols, 1, "dc"))
    double *acc = zeroed(2 * a[2].cols);
    CHECK_OR_FAIL(a, 6, acc != NULL)
    Py_ssize_t n = a[2].rows, cols = a[2].cols;
    Py_BEGIN_ALLOW_THREADS
    if (a[0].kind == 'f')
        outer_relu_backward_f(n, cols, DATA(a[0], float), a[0].stride, DATA(a[1], float),
                              DATA(a[2], float), a[2].stride, acc, acc + cols,
                              DATA(a[3], float), DATA(a[4], float), DATA(a[5], float));
    else
        outer_relu_backward_d(n, cols, DATA(a[0], double), a[0].stride, DATA(a[1], double),
                              DATA(a[2], double), a[2].stride, acc, acc + cols,
                              DATA(a[3], double), DATA(a[4], double), DATA(a[5], double));
    Py_END_ALLOW_THREADS
    PyMem_Free(acc);
    release(a, 6);
    Py_RETURN_NONE;
}

/* ---- softmax cross-entropy (gdlab.losses.CrossEntropyLoss) ------------------------------- */

/* Rows of logits Z against int64 labels y: G = (softmax(Z) - onehot(y)) * scale, the summed
 * per-row losses log(sum exp(z - max)) - (z_y - max) in *total (a float64 sum), and the number
 * of rows whose first largest logit is the label (np.argmax's choice, NaN first) returned. */
#define DEFINE_XENT(T, SUF, EXP, LOG)                                                          \
MULTIVERSION static Py_ssize_t xent_##SUF(Py_ssize_t n, Py_ssize_t cols, const T *Z,           \
                                          Py_ssize_t sz, const int64_t *y, T *G,               \
                                          Py_ssize_t sg, T scale, double *total) {             \
    Py_ssize_t hits = 0;                                                                       \
    double sum = 0.0;                                                                          \
    for (Py_ssize_t i = 0; i < n; i++) {                                                       \
        const T *z = Z + i * sz;                                                               \
        T *g = G + i * sg;                                                                     \
        Py_ssize_t t = (Py_ssize_t)y[i], arg = 0;                                              \
        T top = z[0];                                                                          \
        for (Py_ssize_t j = 1; j < cols; j++)                                                  \
            if (z[j] > top || (z[j] != z[j] && top == top)) {                                  \
                top = z[j];                                                                    \
                arg = j;                                                                       \
            }                                                                                  \
        hits += arg == t;                                                                      \
        T picked = z[t] - top;                                                                 \
        T s = 0;                                                                               \
        for (Py_ssize_t j = 0; j < cols; j++) {                                                \
            T e = EXP(z[j] - top);                                                             \
            g[j] = e;                                                                          \
            s += e;                                                                            \
        }                                                                                      \
        sum += (double)(LOG(s) - picked);                                                      \
        for (Py_ssize_t j = 0; j < cols; j++) {                                                \
            T q = g[j] / s;                                                                    \
            if (j == t) q = q - 1;                                                             \
            g[j] = q * scale;                                                                  \
        }                                                                                      \
    }                                                                                          \
    *total = sum;                                                                              \
    return hits;                                                                               \
}
DEFINE_XENT(float, f, expf, logf)
DEFINE_XENT(double, d, exp, log)

/* int64 labels, 1-D and contiguous, each in [0, classes) */
static int get_labels(PyObject *obj, Py_buffer *view, Py_ssize_t n, Py_ssize_t classes) {
    if (PyObject_GetBuffer(obj, view, PyBUF_STRIDES | PyBUF_FORMAT) < 0) return -1;
    const char *f = view->format ? view->format : "B";
    if (*f == '<' || *f == '=' || *f == '@') f++;
    int ok = 1;
    if (view->itemsize != 8 || !(f[0] == 'l' || f[0] == 'q') || f[1] != '\0') {
        PyErr_SetString(PyExc_TypeError, "y must hold int64 labels");
        ok = 0;
    } else if (view->ndim != 1 || view->shape[0] != n) {
        PyErr_Format(PyExc_ValueError, "y must be 1-D with %zd labels", n);
        ok = 0;
    } else if (n > 1 && view->strides[0] != 8) {
        PyErr_SetString(PyExc_ValueError, "y must be contiguous");
        ok = 0;
    } else {
        const int64_t *y = (const int64_t *)view->buf;
        for (Py_ssize_t i = 0; i < n && ok; i++)
            if (y[i] < 0 || y[i] >= classes) {
                PyErr_Format(PyExc_ValueError, "label %lld is outside [0, %zd)",
                             (long long)y[i], classes);
                ok = 0;
            }
    }
    if (!ok) PyBuffer_Release(view);
    return ok ? 0 : -1;
}

static PyObject *py_softmax_xent_(PyObject *self, PyObject *args) {
    PyObject *oz, *oy, *og;
    double scale;
    if (!PyArg_ParseTuple(args, "OOOd:softmax_xent_", &oz, &oy, &og, &scale)) return NULL;
    Arr a[2] = {0};
    const Spec spec[2] = {{oz, "z", 0, 2}, {og, "g", 1, 2}};
    if (get_arrays(a, spec, 2) < 0) return NULL;
    CHECK_OR_FAIL(a, 2, !check_len(a[1].rows, a[0].rows, "g's rows")
                  && !check_len(a[1].cols, a[0].cols, "g's columns"))
    if (a[0].cols < 1) {
        PyErr_SetString(PyExc_ValueError, "z must have at least one column");
        release(a, 2);
        return NULL;
    }
    Py_buffer labels;
    CHECK_OR_FAIL(a, 2, get_labels(oy, &labels, a[0].rows, a[0].cols) == 0)
    const int64_t *y = (const int64_t *)labels.buf;
    Py_ssize_t hits;
    double total;
    Py_BEGIN_ALLOW_THREADS
    if (a[0].kind == 'f')
        hits = xent_f(a[0].rows, a[0].cols, DATA(a[0], float), a[0].stride, y,
                      DATA(a[1], float), a[1].stride, (float)scale, &total);
    else
        hits = xent_d(a[0].rows, a[0].cols, DATA(a[0], double), a[0].stride, y,
                      DATA(a[1], double), a[1].stride, scale, &total);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&labels);
    release(a, 2);
    return Py_BuildValue("dn", total, hits);
}

static PyMethodDef methods[] = {
    {"sgd_step", py_sgd_step, METH_VARARGS,
     "sgd_step(p, g, buf, sign, wd, neg_lr, momentum, damp1, first, nesterov)"},
    {"adam_step", py_adam_step, METH_VARARGS,
     "adam_step(p, g, m, v, vmax, sign, wd, decay, omb1, b2, omb2, eps_c2, neg_step)"},
    {"bias_relu_", py_bias_relu_, METH_VARARGS, "bias_relu_(Y, b)"},
    {"relu_backward_bias_", py_relu_backward_bias_, METH_VARARGS,
     "relu_backward_bias_(grad, out, db)"},
    {"bias_relu_dot_", py_bias_relu_dot_, METH_VARARGS, "bias_relu_dot_(Y, b, w, c, o)"},
    {"outer_relu_backward_bias_", py_outer_relu_backward_bias_, METH_VARARGS,
     "outer_relu_backward_bias_(d, w, out, db, dw, dc)"},
    {"softmax_xent_", py_softmax_xent_, METH_VARARGS,
     "softmax_xent_(z, y, g, scale) -> (summed loss, correct predictions)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_ckernels",
    "gdlab's kernels compiled ahead of time: the functions of gdlab._fast, in C.", -1, methods,
};

PyMODINIT_FUNC PyInit__ckernels(void) { return PyModule_Create(&module); }
