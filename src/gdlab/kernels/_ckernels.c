/* gdlab.kernels._ckernels: gdlab's kernels compiled ahead of time, in C.
 *
 * The same functions, arguments and floating-point operations as the numba build
 * (gdlab/kernels/numba_kernels.py, whose docstrings say what each one computes), built by
 * `pip install .` when a C compiler is present, so that they cost neither numba's import (about
 * 140 MB and half a second a process) nor a compile at run time. Each elementwise result is the
 * same bits as the NumPy reference: the build turns off fused multiply-add (-ffp-contract=off)
 * and every other licence to change the arithmetic; only the one dot product of bias_relu_dot_
 * is summed in vector lanes (an OpenMP simd reduction), as numba's reassoc does, and
 * softmax_xent_ calls the C library's exp and log where NumPy has its own (equal to rounding,
 * not to the bit).
 *
 * THE CONTRACT (gdlab/kernels/contract.py checks the same for the numba build, with the same
 * exceptions and messages). Arrays come through the buffer protocol (no NumPy headers needed),
 * and before any loop runs:
 *   - every float array is float32 or float64 in native byte order (TypeError), all of one
 *     call of one type (TypeError); labels and indices are int64 (TypeError);
 *   - each has the number of dimensions its kernel names; 1-D ones are contiguous, 2-D ones
 *     have contiguous rows (ValueError);
 *   - each is aligned to its item size (ValueError): the loops load whole items;
 *   - outputs are writable and their rows do not overlap one another (ValueError);
 *   - lengths and shapes agree as each kernel says (ValueError, naming the argument);
 *   - no output shares memory with any other argument (ValueError): the loops are compiled
 *     on that promise (restrict) and the threads split the work by output. The one identity
 *     allowed is relu_backward_bias_(grad, out) with grad the very array out (same start,
 *     shape and strides), an elementwise update that NumPy's path allows too (its loop
 *     declares no restrict on those two).
 * Overlap is judged by the bounds of each buffer, as numpy.may_share_memory does.
 *
 * THREADS. With OpenMP (setup.py adds -fopenmp where the compiler takes it), each kernel splits
 * its work into fixed blocks that the threads share (see _ckernels_loops.h): results are the
 * same bits at any thread count. The number of threads follows the BLAS's own setting, the one
 * that threadpoolctl (and OMP_NUM_THREADS / OPENBLAS_NUM_THREADS) controls: gdlab.kernels.threads
 * hands this module the BLAS's getter once (set_threads_source); without one, OpenMP's own
 * setting. Work too small to pay for a thread (GRAIN elements each) runs on fewer. The GIL is
 * released while a kernel runs, so kernels may run in several Python threads at once; in the
 * child of a fork() they run on one thread (GNU OpenMP's pool does not survive a fork).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define HAVE_ATFORK 1
#endif
#endif

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__) \
    && !defined(GDLAB_NO_CLONES)
/* one build that runs everywhere and uses the widest vectors of the machine it runs on (the
 * clones are chosen at load time by glibc's ifunc resolver, hence the test for glibc) */
#define MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MULTIVERSION
#endif

#if defined(_MSC_VER)
#define THREAD_LOCAL __declspec(thread)
#else
#define THREAD_LOCAL __thread
#endif

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* The fixed blocks (never a function of the thread count). */
#define CHUNK 8192      /* elements of a 1-D block; rows of a 2-D one hold about as many */
#define ROWS 256        /* rows of a block of a column-sum reduction */
#define COLS 64         /* columns of its tiles */
#define XENT_ROWS 64    /* rows of a block of the cross-entropy */
#define SUM_COLS 32     /* columns whose sums a loop keeps in registers over a block's rows */
#define LANES 32        /* running sums of a sum of squares, each over every LANES-th element */
#ifndef GRAIN
#define GRAIN 32768     /* elements of work that pay for one thread */
#endif

static Py_ssize_t n_blocks(Py_ssize_t n, Py_ssize_t size) { return n <= 0 ? 0 : (n - 1) / size + 1; }

static Py_ssize_t rows_per_chunk(Py_ssize_t cols) { return MAX(1, CHUNK / MAX(1, cols)); }

/* ---- threads ---------------------------------------------------------------------------- */

typedef int (*threads_getter)(void);
static threads_getter blas_threads = NULL;
static volatile int forked = 0;
static THREAD_LOCAL int last_team = 1;

#ifdef HAVE_ATFORK
static void in_child(void);
#endif

/* The thread setting now: the BLAS's, else OpenMP's; 1 without OpenMP or after a fork. */
static int setting(void) {
#ifdef _OPENMP
    if (forked) return 1;
    int n = blas_threads != NULL ? blas_threads() : omp_get_max_threads();
    return n < 1 ? 1 : n;
#else
    return 1;
#endif
}

/* The threads for `work` elements: the setting, but at least GRAIN elements each. */
static int team_for(Py_ssize_t work) {
    int n = setting();
    Py_ssize_t most = MAX(1, work / GRAIN);
    last_team = n < most ? n : (int)most;
    return last_team;
}

/* ---- one thread pool for the BLAS and the kernels --------------------------------------- */

/* OpenBLAS (pthreads build) keeps a pool of its own, whose idle threads spin for a while after
 * each product: between two products they held the cores that the kernels' OpenMP threads
 * needed, and a step at 2 to 16 threads took longer than at 1. OpenBLAS lets a program run its
 * threaded jobs on the program's own threads (openblas_set_threads_callback_function, 0.3.27
 * and newer): share_blas_threads hands it blas_jobs_on_openmp, so that the products and the
 * kernels share OpenMP's one pool, as PyTorch's operators do. OpenBLAS still splits the work;
 * only the threads that run the parts change, so the results are the same bits. The parts of
 * one product wait for each other, so they must all run at once: where OpenMP cannot give one
 * thread per part (inside a parallel region, dynamic teams, a thread limit), they run on
 * threads started for the call. In the child of a fork() OpenBLAS gets its own pool back. */

typedef void (*blas_dojob)(int thread, void *job, int data);
typedef void (*blas_threads_callback)(int sync, blas_dojob dojob, int numjobs, size_t size,
                                      void *jobs, int data);
typedef void (*blas_callback_setter)(blas_threads_callback callback);

#ifdef HAVE_ATFORK
static blas_callback_setter blas_setter = NULL;
/* OpenBLAS's pthreads server runs one call's parts at a time; so do we */
static pthread_mutex_t blas_jobs_lock = PTHREAD_MUTEX_INITIALIZER;
static long blas_calls = 0;  /* threaded BLAS calls run here (the tests read it) */

typedef struct { blas_dojob dojob; int thread; void *job; int data; } BlasPart;

static void *run_blas_part(void *arg) {
    BlasPart *part = (BlasPart *)arg;
    part->dojob(part->thread, part->job, part->data);
    return NULL;
}

/* Each part on a thread of its own, started for this call (the rare case). */
static void blas_jobs_on_new_threads(blas_dojob dojob, int numjobs, size_t size, char *jobs,
                                     int data) {
    BlasPart parts[numjobs];
    pthread_t ids[numjobs];
    int started[numjobs];
    for (int i = 0; i < numjobs; i++) {
        parts[i] = (BlasPart){dojob, i, jobs + (size_t)i * size, data};
        started[i] = i > 0 && pthread_create(&ids[i], NULL, run_blas_part, &parts[i]) == 0;
    }
    /* a part whose thread could not start runs here, the last resort (it may wait for a part
     * that has not started) */
    for (int i = 1; i < numjobs; i++)
        if (!started[i]) run_blas_part(&parts[i]);
    run_blas_part(&parts[0]);
    for (int i = 1; i < numjobs; i++)
        if (started[i]) pthread_join(ids[i], NULL);
}

static void blas_jobs_on_openmp(int sync, blas_dojob dojob, int numjobs, size_t size,
                                void *jobs, int data) {
    (void)sync;  /* always waited for: OpenBLAS asks for sync=1 */
    char *base = (char *)jobs;
    pthread_mutex_lock(&blas_jobs_lock);
    blas_calls++;
    if (numjobs <= 1) {
        for (int i = 0; i < numjobs; i++) dojob(i, base + (size_t)i * size, data);
    } else if (omp_in_parallel() || omp_get_dynamic() || omp_get_thread_limit() < numjobs) {
        blas_jobs_on_new_threads(dojob, numjobs, size, base, data);
    } else {
#pragma omp parallel for schedule(static, 1) num_threads(numjobs)
        for (int i = 0; i < numjobs; i++) dojob(i, base + (size_t)i * size, data);
    }
    pthread_mutex_unlock(&blas_jobs_lock);
}
#endif

/* ---- the contract: arrays --------------------------------------------------------------- */

typedef struct {
    Py_buffer view;
    int got;
    char kind;                      /* 'f' float32, 'd' float64 */
    Py_ssize_t rows, cols, stride;  /* stride: between rows, in elements */
} Arr;

/* What a kernel asks of one argument. same_ok: the index of the one argument this output may
 * be identical to (-1: none). */
typedef struct {
    PyObject *obj;
    const char *name;
    int output, ndim, same_ok;
} Spec;

static char format_kind(const char *format) {
    if (format == NULL) return 'B';
    if (*format == '<' || *format == '=' || *format == '@') format++;
    if ((format[0] == 'f' || format[0] == 'd') && format[1] == '\0') return format[0];
    return '?';
}

static const char *kind_name(char kind) { return kind == 'f' ? "float32" : "float64"; }

static int get_array(Arr *a, const Spec *s) {
    if (PyObject_GetBuffer(s->obj, &a->view, PyBUF_STRIDES | PyBUF_FORMAT) < 0) return -1;
    a->got = 1;
    Py_buffer *v = &a->view;
    const char *name = s->name;
    a->kind = format_kind(v->format);
    if (a->kind != 'f' && a->kind != 'd') {
        PyErr_Format(PyExc_TypeError, "%s must be float32 or float64, got format %s", name,
                     v->format ? v->format : "B");
        return -1;
    }
    if (v->ndim != s->ndim) {
        PyErr_Format(PyExc_ValueError, "%s must be %d-D, got %d-D", name, s->ndim, v->ndim);
        return -1;
    }
    Py_ssize_t item = v->itemsize;
    if (s->ndim == 1) {
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
    if (a->rows * a->cols > 0 && (uintptr_t)v->buf % (uintptr_t)item != 0) {
        PyErr_Format(PyExc_ValueError, "%s is not aligned to its item size (%zd bytes)", name,
                     item);
        return -1;
    }
    if (s->output && v->readonly) {
        PyErr_Format(PyExc_ValueError, "%s is read-only; the kernel writes it", name);
        return -1;
    }
    if (s->output && a->rows > 1 && a->cols > 0
        && (a->stride < 0 ? -a->stride : a->stride) < a->cols) {
        PyErr_Format(PyExc_ValueError, "%s has rows that overlap one another", name);
        return -1;
    }
    return 0;
}

static void release(Arr *arrays, int n) {
    for (int i = 0; i < n; i++)
        if (arrays[i].got) PyBuffer_Release(&arrays[i].view);
}

/* The bytes an array spans: [*lo, *hi), empty for an empty array. */
static void extent(const Arr *a, char **lo, char **hi) {
    char *buf = (char *)a->view.buf;
    Py_ssize_t item = a->view.itemsize;
    if (a->rows == 0 || a->cols == 0) {
        *lo = *hi = buf;
        return;
    }
    Py_ssize_t last = (a->rows - 1) * a->stride;
    *lo = buf + MIN(0, last) * item;
    *hi = buf + (MAX(0, last) + a->cols) * item;
}

static int identical(const Arr *a, const Arr *b) {
    return a->view.buf == b->view.buf && a->rows == b->rows && a->cols == b->cols
        && a->stride == b->stride && a->kind == b->kind;
}

/* No output shares memory with another argument (pairs in argument order), but for the
 * identity an output's spec allows. */
static int check_overlap(const Arr *a, const Spec *spec, int n) {
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            if (!spec[i].output && !spec[j].output) continue;
            char *lo_i, *hi_i, *lo_j, *hi_j;
            extent(&a[i], &lo_i, &hi_i);
            extent(&a[j], &lo_j, &hi_j);
            if (lo_i == hi_i || lo_j == hi_j || !(lo_i < hi_j && lo_j < hi_i)) continue;
            if ((spec[i].same_ok == j || spec[j].same_ok == i) && identical(&a[i], &a[j]))
                continue;
            PyErr_Format(PyExc_ValueError,
                         "%s and %s overlap in memory; a kernel's output may share no memory "
                         "with its other arguments", spec[i].name, spec[j].name);
            return -1;
        }
    return 0;
}

/* The arrays of one call: each fetched and checked as its spec says, all of one float type;
 * else every buffer got so far is released and -1 returned with the error set. Lengths are
 * the kernel's to check next, then check_overlap. */
static int get_arrays(Arr *a, const Spec *spec, int n) {
    for (int i = 0; i < n; i++)
        if (get_array(&a[i], &spec[i]) < 0) {
            release(a, n);
            return -1;
        }
    for (int i = 1; i < n; i++)
        if (a[i].kind != a[0].kind) {
            PyErr_Format(PyExc_TypeError, "%s is %s but %s is %s: all arrays of one call must "
                         "have the same dtype", spec[i].name, kind_name(a[i].kind),
                         spec[0].name, kind_name(a[0].kind));
            release(a, n);
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

/* Lengths, then overlap, checked after get_arrays: on a failure, release and fail. */
#define CHECK_OR_FAIL(a, spec, n, cond)                                                        \
    if (!(cond) || check_overlap(a, spec, n) < 0) {                                            \
        release(a, n);                                                                         \
        return NULL;                                                                           \
    }

#define DATA(a, T) ((T *)(a).view.buf)

/* ---- the loops, for float and for double ------------------------------------------------ */

typedef struct {
    double sum;
    Py_ssize_t hits, bad;
    long long label;
} XentPart;

#define T float
#define SUF f
#define SQRT sqrtf
#define EXP expf
#define LOG logf
#include "_ckernels_loops.h"
#undef T
#undef SUF
#undef SQRT
#undef EXP
#undef LOG
#define T double
#define SUF d
#define SQRT sqrt
#define EXP exp
#define LOG log
#include "_ckernels_loops.h"
#undef T
#undef SUF
#undef SQRT
#undef EXP
#undef LOG

/* ---- optimizer steps -------------------------------------------------------------------- */

static PyObject *py_sgd_step(PyObject *self, PyObject *args) {
    PyObject *op, *og, *obuf;
    double sign, wd, neg_lr, momentum, damp1;
    int first, nesterov;
    if (!PyArg_ParseTuple(args, "OOOdddddpp:sgd_step", &op, &og, &obuf, &sign, &wd, &neg_lr,
                          &momentum, &damp1, &first, &nesterov))
        return NULL;
    Arr a[3] = {0};
    const Spec spec[3] = {{op, "p", 1, 1, -1}, {og, "g", 0, 1, -1}, {obuf, "buf", 1, 1, -1}};
    if (get_arrays(a, spec, 3) < 0) return NULL;
    CHECK_OR_FAIL(a, spec, 3, !check_len(a[1].cols, a[0].cols, "g")
                  && !(a[2].cols && check_len(a[2].cols, a[0].cols, "buf")))
    Py_ssize_t n = a[0].cols;
    int has_momentum = a[2].cols > 0, team = team_for(n);
    Py_BEGIN_ALLOW_THREADS
    if (a[0].kind == 'f')
        sgd_f(n, DATA(a[0], float), DATA(a[1], float), DATA(a[2], float), has_momentum,
              (float)sign, (float)wd, (float)neg_lr, (float)momentum, (float)damp1, first,
              nesterov, team);
    else
        sgd_d(n, DATA(a[0], double), DATA(a[1], double), DATA(a[2], double), has_momentum,
              sign, wd, neg_lr, momentum, damp1, first, nesterov, team);
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
    const Spec spec[5] = {{op, "p", 1, 1, -1}, {og, "g", 0, 1, -1}, {om, "m", 1, 1, -1},
                          {ov, "v", 1, 1, -1}, {ovmax, "vmax", 1, 1, -1}};
    if (get_arrays(a, spec, 5) < 0) return NULL;
    CHECK_OR_FAIL(a, spec, 5, !check_len(a[1].cols, a[0].cols, "g")
                  && !check_len(a[2].cols, a[0].cols, "m")
                  && !check_len(a[3].cols, a[0].cols, "v")
                  && !(a[4].cols && check_len(a[4].cols, a[0].cols, "vmax")))
    Py_ssize_t n = a[0].cols;
    int ams = a[4].cols > 0, team = team_for(n);
    Py_BEGIN_ALLOW_THREADS
    if (a[0].kind == 'f')
        adam_f(n, DATA(a[0], float), DATA(a[1], float), DATA(a[2], float), DATA(a[3], float),
               ams ? DATA(a[4], float) : NULL, (float)sign, (float)wd, (float)decay,
               (float)omb1, (float)b2, (float)omb2, (float)eps_c2, (float)neg_step, team);
    else
        adam_d(n, DATA(a[0], double), DATA(a[1], double), DATA(a[2], double),
               DATA(a[3], double), ams ? DATA(a[4], double) : NULL, sign, wd, decay, omb1, b2,
               omb2, eps_c2, neg_step, team);
    Py_END_ALLOW_THREADS
    release(a, 5);
    Py_RETURN_NONE;
}

static double *zeroed(Py_ssize_t n) {
    double *p = PyMem_Calloc(n ? n : 1, sizeof(double));
    if (p == NULL) PyErr_NoMemory();
    return p;
}

static PyObject *py_sum_squares(PyObject *self, PyObject *args) {
    PyObject *ox;
    if (!PyArg_ParseTuple(args, "O:sum_squares", &ox)) return NULL;
    Arr a[1] = {0};
    const Spec spec[1] = {{ox, "x", 0, 1, -1}};
    if (get_arrays(a, spec, 1) < 0) return NULL;
    Py_ssize_t n = a[0].cols;
    double *part = zeroed(n_blocks(n, CHUNK));
    if (part == NULL) {
        release(a, 1);
        return NULL;
    }
    int team = team_for(n);
    double s;
    Py_BEGIN_ALLOW_THREADS
    s = a[0].kind == 'f' ? sumsq_f(n, DATA(a[0], float), part, team)
                         : sumsq_d(n, DATA(a[0], double), part, team);
    Py_END_ALLOW_THREADS
    PyMem_Free(part);
    release(a, 1);
    return PyFloat_FromDouble(s);
}

/* ---- Dense + ReLU, fused (gdlab.nn.fused) ----------------------------------------------- */

static PyObject *py_bias_relu_(PyObject *self, PyObject *args) {
    PyObject *oY, *ob;
    if (!PyArg_ParseTuple(args, "OO:bias_relu_", &oY, &ob)) return NULL;
    Arr a[2] = {0};
    const Spec spec[2] = {{oY, "Y", 1, 2, -1}, {ob, "b", 0, 1, -1}};
    if (get_arrays(a, spec, 2) < 0) return NULL;
    CHECK_OR_FAIL(a, spec, 2, !check_len(a[1].cols, a[0].cols, "b"))
    int team = team_for(a[0].rows * a[0].cols);
    Py_BEGIN_ALLOW_THREADS
    if (a[0].kind == 'f')
        bias_relu_f(a[0].rows, a[0].cols, DATA(a[0], float), a[0].stride, DATA(a[1], float),
                    team);
    else
        bias_relu_d(a[0].rows, a[0].cols, DATA(a[0], double), a[0].stride, DATA(a[1], double),
                    team);
    Py_END_ALLOW_THREADS
    release(a, 2);
    Py_RETURN_NONE;
}

static PyObject *py_relu_backward_bias_(PyObject *self, PyObject *args) {
    PyObject *og, *oo, *odb;
    if (!PyArg_ParseTuple(args, "OOO:relu_backward_bias_", &og, &oo, &odb)) return NULL;
    Arr a[3] = {0};
    const Spec spec[3] = {{og, "grad", 0, 2, -1}, {oo, "out", 1, 2, 0}, {odb, "db", 1, 1, -1}};
    if (get_arrays(a, spec, 3) < 0) return NULL;
    CHECK_OR_FAIL(a, spec, 3, !check_len(a[0].rows, a[1].rows, "grad's rows")
                  && !check_len(a[0].cols, a[1].cols, "grad's columns")
                  && !check_len(a[2].cols, a[1].cols, "db"))
    Py_ssize_t n = a[1].rows, cols = a[1].cols;
    double *part = zeroed(n_blocks(n, ROWS) * cols);
    if (part == NULL) {
        release(a, 3);
        return NULL;
    }
    int team = team_for(n * cols);
    Py_BEGIN_ALLOW_THREADS
    if (a[0].kind == 'f')
        relu_backward_f(n, cols, DATA(a[0], float), a[0].stride, DATA(a[1], float),
                        a[1].stride, part, DATA(a[2], float), team);
    else
        relu_backward_d(n, cols, DATA(a[0], double), a[0].stride, DATA(a[1], double),
                        a[1].stride, part, DATA(a[2], double), team);
    Py_END_ALLOW_THREADS
    PyMem_Free(part);
    release(a, 3);
    Py_RETURN_NONE;
}

static PyObject *py_bias_relu_dot_(PyObject *self, PyObject *args) {
    PyObject *oY, *ob, *ow, *oo;
    double c;
    if (!PyArg_ParseTuple(args, "OOOdO:bias_relu_dot_", &oY, &ob, &ow, &c, &oo)) return NULL;
    Arr a[4] = {0};
    const Spec spec[4] = {{oY, "Y", 1, 2, -1}, {ob, "b", 0, 1, -1}, {ow, "w", 0, 1, -1},
                          {oo, "o", 1, 2, -1}};
    if (get_arrays(a, spec, 4) < 0) return NULL;
    CHECK_OR_FAIL(a, spec, 4, !check_len(a[1].cols, a[0].cols, "b")
                  && !check_len(a[2].cols, a[0].cols, "w")
                  && !check_len(a[3].rows, a[0].rows, "o's rows")
                  && !check_len(a[3].cols, 1, "o's columns"))
    int team = team_for(a[0].rows * a[0].cols);
    Py_BEGIN_ALLOW_THREADS
    if (a[0].kind == 'f')
        bias_relu_dot_f(a[0].rows, a[0].cols, DATA(a[0], float), a[0].stride, DATA(a[1], float),
                        DATA(a[2], float), (float)c, DATA(a[3], float), a[3].stride, team);
    else
        bias_relu_dot_d(a[0].rows, a[0].cols, DATA(a[0], double), a[0].stride,
                        DATA(a[1], double), DATA(a[2], double), c, DATA(a[3], double),
                        a[3].stride, team);
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
    const Spec spec[6] = {{od, "d", 0, 2, -1}, {ow, "w", 0, 1, -1}, {oo, "out", 1, 2, -1},
                          {odb, "db", 1, 1, -1}, {odw, "dw", 1, 1, -1}, {odc, "dc", 1, 1, -1}};
    if (get_arrays(a, spec, 6) < 0) return NULL;
    CHECK_OR_FAIL(a, spec, 6, !check_len(a[0].rows, a[2].rows, "d's rows")
                  && !check_len(a[0].cols, 1, "d's columns")
                  && !check_len(a[1].cols, a[2].cols, "w")
                  && !check_len(a[3].cols, a[2].cols, "db")
                  && !check_len(a[4].cols, a[2].cols, "dw")
                  && !check_len(a[5].cols, 1, "dc"))
    Py_ssize_t n = a[2].rows, cols = a[2].cols;
    double *part = zeroed(n_blocks(n, ROWS) * (2 * cols + 1));
    if (part == NULL) {
        release(a, 6);
        return NULL;
    }
    int team = team_for(n * cols);
    Py_BEGIN_ALLOW_THREADS
    if (a[0].kind == 'f')
        outer_relu_backward_f(n, cols, DATA(a[0], float), a[0].stride, DATA(a[1], float),
                              DATA(a[2], float), a[2].stride, part, DATA(a[3], float),
                              DATA(a[4], float), DATA(a[5], float), team);
    else
        outer_relu_backward_d(n, cols, DATA(a[0], double), a[0].stride, DATA(a[1], double),
                              DATA(a[2], double), a[2].stride, part, DATA(a[3], double),
                              DATA(a[4], double), DATA(a[5], double), team);
    Py_END_ALLOW_THREADS
    PyMem_Free(part);
    release(a, 6);
    Py_RETURN_NONE;
}

/* ---- softmax cross-entropy (gdlab.nn.losses.CrossEntropyLoss) --------------------------- */

/* Labels or indices, as one more Arr (1-D, int64, contiguous, aligned): `n` of them, called
 * `name`, each `what`; their bounds are checked by the loop that uses each one. */
static int get_int64s(PyObject *obj, Arr *a, Py_ssize_t n, const char *name, const char *what) {
    if (PyObject_GetBuffer(obj, &a->view, PyBUF_STRIDES | PyBUF_FORMAT) < 0) return -1;
    a->got = 1;
    Py_buffer *v = &a->view;
    const char *f = v->format ? v->format : "B";
    if (*f == '<' || *f == '=' || *f == '@') f++;
    if (v->itemsize != 8 || !(f[0] == 'l' || f[0] == 'q') || f[1] != '\0') {
        PyErr_Format(PyExc_TypeError, "%s must hold int64 %s", name, what);
        return -1;
    }
    if (v->ndim != 1 || v->shape[0] != n) {
        PyErr_Format(PyExc_ValueError, "%s must be 1-D with %zd %s", name, n, what);
        return -1;
    }
    if (n > 1 && v->strides[0] != 8) {
        PyErr_Format(PyExc_ValueError, "%s must be contiguous", name);
        return -1;
    }
    if (n > 0 && (uintptr_t)v->buf % 8 != 0) {
        PyErr_Format(PyExc_ValueError, "%s is not aligned to its item size (8 bytes)", name);
        return -1;
    }
    a->kind = 'q';
    a->rows = 1;
    a->cols = a->stride = n;
    return 0;
}

static PyObject *py_softmax_xent_(PyObject *self, PyObject *args) {
    PyObject *oz, *oy, *og;
    double scale;
    if (!PyArg_ParseTuple(args, "OOOd:softmax_xent_", &oz, &oy, &og, &scale)) return NULL;
    /* a[1] is filled by get_int64s: the specs' order is the arguments' order, for messages */
    Arr a[3] = {0};
    const Spec spec[3] = {{oz, "z", 0, 2, -1}, {oy, "y", 0, 1, -1}, {og, "g", 1, 2, -1}};
    if (get_array(&a[0], &spec[0]) < 0 || get_array(&a[2], &spec[2]) < 0) {
        release(a, 3);
        return NULL;
    }
    if (a[2].kind != a[0].kind) {
        PyErr_Format(PyExc_TypeError, "g is %s but z is %s: all arrays of one call must have "
                     "the same dtype", kind_name(a[2].kind), kind_name(a[0].kind));
        release(a, 3);
        return NULL;
    }
    if (check_len(a[2].rows, a[0].rows, "g's rows") < 0
        || check_len(a[2].cols, a[0].cols, "g's columns") < 0) {
        release(a, 3);
        return NULL;
    }
    if (a[0].cols < 1) {
        PyErr_SetString(PyExc_ValueError, "z must have at least one column");
        release(a, 3);
        return NULL;
    }
    CHECK_OR_FAIL(a, spec, 3, get_int64s(oy, &a[1], a[0].rows, "y", "labels") == 0)
    Py_ssize_t n = a[0].rows, cols = a[0].cols, nb = n_blocks(n, XENT_ROWS);
    XentPart *parts = PyMem_Calloc(nb ? nb : 1, sizeof(XentPart));
    if (parts == NULL) {
        PyErr_NoMemory();
        release(a, 3);
        return NULL;
    }
    for (Py_ssize_t k = 0; k < nb; k++) parts[k].bad = -1;
    const int64_t *y = (const int64_t *)a[1].view.buf;
    int team = team_for(n * cols);
    Py_BEGIN_ALLOW_THREADS
    if (a[0].kind == 'f')
        xent_f(n, cols, DATA(a[0], float), a[0].stride, y, DATA(a[2], float), a[2].stride,
               (float)scale, parts, team);
    else
        xent_d(n, cols, DATA(a[0], double), a[0].stride, y, DATA(a[2], double), a[2].stride,
               scale, parts, team);
    Py_END_ALLOW_THREADS
    double total = 0.0;
    Py_ssize_t hits = 0, bad = -1;
    long long label = 0;
    for (Py_ssize_t k = 0; k < nb && bad < 0; k++) {
        total += parts[k].sum;
        hits += parts[k].hits;
        bad = parts[k].bad;
        label = parts[k].label;
    }
    PyMem_Free(parts);
    release(a, 3);
    if (bad >= 0)
        return PyErr_Format(PyExc_ValueError, "label y[%zd] = %lld is outside [0, %zd)", bad,
                            label, cols);
    return Py_BuildValue("dn", total, hits);
}

/* ---- the rows of a batch (gdlab.training.epoch) ----------------------------------------- */

/* out[i] = X[idx[i]] for the n rows of out, `row` bytes each, shared by the team; each index is
 * read once, into a local, and checked there, where it is used. Returns the first position
 * whose index is outside [0, n_src) (its index in *value), else -1; its row is left as it was. */
static Py_ssize_t take_rows(Py_ssize_t n, Py_ssize_t n_src, size_t row, const char *X,
                            Py_ssize_t sx, const int64_t *idx, char *out, Py_ssize_t so,
                            long long *value, int team) {
    Py_ssize_t bad = -1;
#pragma omp parallel for schedule(static) num_threads(team) if (team > 1)
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t r = ((const volatile int64_t *)idx)[i];
        if (r < 0 || r >= (int64_t)n_src) {
#pragma omp critical(gdlab_take_rows_bad)
            if (bad < 0 || i < bad) {
                bad = i;
                *value = (long long)r;
            }
            continue;
        }
        memcpy(out + i * so, X + (Py_ssize_t)r * sx, row);
    }
    return bad;
}

static PyObject *py_take_rows_(PyObject *self, PyObject *args) {
    PyObject *oX, *oi, *oo;
    if (!PyArg_ParseTuple(args, "OOO:take_rows_", &oX, &oi, &oo)) return NULL;
    /* a[1] is filled by get_int64s: the specs' order is the arguments' order, for messages */
    Arr a[3] = {0};
    const Spec spec[3] = {{oX, "X", 0, 2, -1}, {oi, "idx", 0, 1, -1}, {oo, "out", 1, 2, -1}};
    if (get_array(&a[0], &spec[0]) < 0 || get_array(&a[2], &spec[2]) < 0) {
        release(a, 3);
        return NULL;
    }
    if (a[2].kind != a[0].kind) {
        PyErr_Format(PyExc_TypeError, "out is %s but X is %s: all arrays of one call must have "
                     "the same dtype", kind_name(a[2].kind), kind_name(a[0].kind));
        release(a, 3);
        return NULL;
    }
    if (check_len(a[2].cols, a[0].cols, "out's columns") < 0) {
        release(a, 3);
        return NULL;
    }
    CHECK_OR_FAIL(a, spec, 3, get_int64s(oi, &a[1], a[2].rows, "idx", "indices") == 0)
    Py_ssize_t item = a[0].view.itemsize, n = a[2].rows;
    long long value = 0;
    int team = team_for(n * a[0].cols);
    Py_ssize_t bad;
    Py_BEGIN_ALLOW_THREADS
    bad = take_rows(n, a[0].rows, (size_t)(a[0].cols * item), (const char *)a[0].view.buf,
                    a[0].stride * item, (const int64_t *)a[1].view.buf, (char *)a[2].view.buf,
                    a[2].stride * item, &value, team);
    Py_END_ALLOW_THREADS
    Py_ssize_t n_src = a[0].rows;
    release(a, 3);
    if (bad >= 0)
        return PyErr_Format(PyExc_ValueError, "index idx[%zd] = %lld is outside [0, %zd)", bad,
                            value, n_src);
    Py_RETURN_NONE;
}

/* ---- the module ------------------------------------------------------------------------- */

static PyObject *py_set_threads_source(PyObject *self, PyObject *arg) {
    void *address = PyLong_AsVoidPtr(arg);
    if (address == NULL && PyErr_Occurred()) return NULL;
    blas_threads = (threads_getter)address;
    Py_RETURN_NONE;
}

#ifdef HAVE_ATFORK
static void in_child(void) {
    forked = 1;
    if (blas_setter != NULL) blas_setter(NULL);  /* GNU OpenMP's pool does not survive a fork */
}
#endif

static PyObject *py_share_blas_threads(PyObject *self, PyObject *arg) {
    void *address = PyLong_AsVoidPtr(arg);
    if (address == NULL && PyErr_Occurred()) return NULL;
#ifdef HAVE_ATFORK
    if (forked) Py_RETURN_FALSE;
    blas_callback_setter setter = (blas_callback_setter)address;
    if (blas_setter != NULL && blas_setter != setter) blas_setter(NULL);
    blas_setter = setter;
    if (setter != NULL) setter(blas_jobs_on_openmp);
    return PyBool_FromLong(setter != NULL);
#else
    Py_RETURN_FALSE;
#endif
}

static PyObject *py_blas_calls_shared(PyObject *self, PyObject *unused) {
#ifdef HAVE_ATFORK
    pthread_mutex_lock(&blas_jobs_lock);
    long n = blas_calls;
    pthread_mutex_unlock(&blas_jobs_lock);
    return PyLong_FromLong(n);
#else
    return PyLong_FromLong(0);
#endif
}

static PyObject *py_threads(PyObject *self, PyObject *unused) { return PyLong_FromLong(setting()); }

static PyObject *py_threads_used(PyObject *self, PyObject *unused) {
    return PyLong_FromLong(last_team);
}

static PyMethodDef methods[] = {
    {"sgd_step", py_sgd_step, METH_VARARGS,
     "sgd_step(p, g, buf, sign, wd, neg_lr, momentum, damp1, first, nesterov)"},
    {"adam_step", py_adam_step, METH_VARARGS,
     "adam_step(p, g, m, v, vmax, sign, wd, decay, omb1, b2, omb2, eps_c2, neg_step)"},
    {"sum_squares", py_sum_squares, METH_VARARGS,
     "sum_squares(x) -> the sum of x**2, in float64, the same bits at any thread count"},
    {"bias_relu_", py_bias_relu_, METH_VARARGS, "bias_relu_(Y, b)"},
    {"relu_backward_bias_", py_relu_backward_bias_, METH_VARARGS,
     "relu_backward_bias_(grad, out, db)"},
    {"bias_relu_dot_", py_bias_relu_dot_, METH_VARARGS, "bias_relu_dot_(Y, b, w, c, o)"},
    {"outer_relu_backward_bias_", py_outer_relu_backward_bias_, METH_VARARGS,
     "outer_relu_backward_bias_(d, w, out, db, dw, dc)"},
    {"softmax_xent_", py_softmax_xent_, METH_VARARGS,
     "softmax_xent_(z, y, g, scale) -> (summed loss, correct predictions)"},
    {"take_rows_", py_take_rows_, METH_VARARGS,
     "take_rows_(X, idx, out): out[i] = X[idx[i]], each index checked where it is used"},
    {"set_threads_source", py_set_threads_source, METH_O,
     "set_threads_source(address): the address of a C function int(void) that gives the "
     "thread count (the BLAS's getter), or 0 for OpenMP's own setting"},
    {"share_blas_threads", py_share_blas_threads, METH_O,
     "share_blas_threads(address) -> whether the BLAS now runs its threaded parts on the "
     "kernels' OpenMP threads: the address of OpenBLAS's "
     "openblas_set_threads_callback_function, or 0 to give the BLAS its own threads back"},
    {"blas_calls_shared", py_blas_calls_shared, METH_NOARGS,
     "blas_calls_shared() -> how many threaded BLAS calls have run on the kernels' threads"},
    {"threads", py_threads, METH_NOARGS,
     "threads() -> the thread setting the kernels follow now (1 without OpenMP)"},
    {"threads_used", py_threads_used, METH_NOARGS,
     "threads_used() -> the threads that this thread's last kernel call ran on"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_ckernels",
    "gdlab's kernels compiled ahead of time, in C (see gdlab.kernels).", -1, methods,
};

PyMODINIT_FUNC PyInit__ckernels(void) {
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
#ifdef _OPENMP
    int openmp = 1;
#else
    int openmp = 0;
#endif
    if (PyModule_AddIntConstant(m, "OPENMP", openmp) < 0 ||
        PyModule_AddIntConstant(m, "GRAIN", GRAIN) < 0) {
        Py_DECREF(m);
        return NULL;
    }
#ifdef HAVE_ATFORK
    static int registered = 0;
    if (!registered) {
        pthread_atfork(NULL, NULL, in_child);
        registered = 1;
    }
#endif
    return m;
}
