/* The loops of gdlab's C kernels for one float type, included twice by _ckernels.c: once with
 * T = float (SUF f) and once with T = double (SUF d), with SQRT, EXP and LOG the C library's
 * functions of that type. Read _ckernels.c first: it holds the contract every argument keeps
 * (checked before any of this runs) and the threading rules; gdlab/kernels/numba_loops.py holds
 * the same loops for numba.
 *
 * Each kernel is a driver that splits its work into FIXED blocks (CHUNK elements, ROWS rows,
 * COLS columns: constants, not a function of the thread count) and a MULTIVERSION function that
 * does one block. OpenMP hands the blocks to the threads; reductions keep one partial sum per
 * block and add the partials in block order afterwards, so that every result is the same bits
 * with any number of threads (and without OpenMP).
 */

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name, SUF)

/* ---- optimizer steps: elementwise ------------------------------------------------------- */

MULTIVERSION static void FN(sgd_block)(Py_ssize_t lo, Py_ssize_t hi, T *restrict p,
                                       const T *restrict g, T *restrict buf, int has_momentum,
                                       T sign, T wd, T neg_lr, T momentum, T damp1, int first,
                                       int nesterov) {
    for (Py_ssize_t i = lo; i < hi; i++) {
        T gi = sign * g[i];
        if (wd != 0) gi = gi + wd * p[i];
        if (has_momentum) {
            T b = first ? gi : momentum * buf[i] + damp1 * gi;
            buf[i] = b;
            gi = nesterov ? gi + momentum * b : b;
        }
        p[i] = p[i] + neg_lr * gi;
    }
}

static void FN(sgd)(Py_ssize_t n, T *p, const T *g, T *buf, int has_momentum, T sign, T wd,
                    T neg_lr, T momentum, T damp1, int first, int nesterov, int team) {
    if (team < 2) { /* elementwise: one block is the same as many */
        FN(sgd_block)(0, n, p, g, buf, has_momentum, sign, wd, neg_lr, momentum, damp1, first,
                      nesterov);
        return;
    }
    Py_ssize_t nb = n_blocks(n, CHUNK);
#pragma omp parallel for schedule(static) num_threads(team)
    for (Py_ssize_t b = 0; b < nb; b++)
        FN(sgd_block)(b * CHUNK, MIN(n, (b + 1) * CHUNK), p, g, buf, has_momentum, sign, wd,
                      neg_lr, momentum, damp1, first, nesterov);
}

/* vmax is NULL without AMSGrad; -O3 unswitches the loop on it and on wd, so that each
 * variant vectorises free of branches. */
MULTIVERSION static void FN(adam_block)(Py_ssize_t lo, Py_ssize_t hi, T *restrict p,
                                        const T *restrict g, T *restrict m, T *restrict v,
                                        T *restrict vmax, T sign, T wd, T decay, T omb1, T b2,
                                        T omb2, T eps_c2, T neg_step) {
    for (Py_ssize_t i = lo; i < hi; i++) {
        T pi = p[i];
        T gi = sign * g[i];
        if (wd != 0) gi = gi + wd * pi;
        T mi = m[i] + omb1 * (gi - m[i]);
        T vi = b2 * v[i] + omb2 * (gi * gi);
        m[i] = mi;
        v[i] = vi;
        if (vmax != NULL) {
            T vm = vmax[i];
            vi = (vi > vm || vi != vi) ? vi : vm; /* np.maximum: NaN from either side */
            vmax[i] = vi;
        }
        p[i] = pi * decay + neg_step * (mi / (SQRT(vi) + eps_c2));
    }
}

static void FN(adam)(Py_ssize_t n, T *p, const T *g, T *m, T *v, T *vmax, T sign, T wd,
                     T decay, T omb1, T b2, T omb2, T eps_c2, T neg_step, int team) {
    if (team < 2) { /* elementwise: one block is the same as many */
        FN(adam_block)(0, n, p, g, m, v, vmax, sign, wd, decay, omb1, b2, omb2, eps_c2,
                       neg_step);
        return;
    }
    Py_ssize_t nb = n_blocks(n, CHUNK);
#pragma omp parallel for schedule(static) num_threads(team)
    for (Py_ssize_t b = 0; b < nb; b++)
        FN(adam_block)(b * CHUNK, MIN(n, (b + 1) * CHUNK), p, g, m, v, vmax, sign, wd, decay,
                       omb1, b2, omb2, eps_c2, neg_step);
}

/* ---- the sum of squares (the gradient norm): float64 partial sums per CHUNK --------------- */

/* LANES running sums, element i into sum i % LANES (so that the loop vectorises without any
 * licence to reassociate), then the lanes added in order: a fixed order of operations. */
MULTIVERSION static double FN(sumsq_block)(Py_ssize_t lo, Py_ssize_t hi, const T *restrict x) {
    double lane[LANES] = {0.0};
    Py_ssize_t i = lo;
    for (; i + LANES <= hi; i += LANES)
        for (int k = 0; k < LANES; k++) {
            double xi = (double)x[i + k];
            lane[k] += xi * xi;
        }
    for (int k = 0; i < hi; i++, k++) {
        double xi = (double)x[i];
        lane[k] += xi * xi;
    }
    double s = 0.0;
    for (int k = 0; k < LANES; k++) s += lane[k];
    return s;
}

static double FN(sumsq)(Py_ssize_t n, const T *x, double *part, int team) {
    Py_ssize_t nb = n_blocks(n, CHUNK);
    if (team < 2)
        for (Py_ssize_t b = 0; b < nb; b++)
            part[b] = FN(sumsq_block)(b * CHUNK, MIN(n, (b + 1) * CHUNK), x);
    else {
#pragma omp parallel for schedule(static) num_threads(team)
        for (Py_ssize_t b = 0; b < nb; b++)
            part[b] = FN(sumsq_block)(b * CHUNK, MIN(n, (b + 1) * CHUNK), x);
    }
    double s = 0.0;
    for (Py_ssize_t b = 0; b < nb; b++) s += part[b];
    return s;
}

/* ---- Dense + ReLU, fused (gdlab.nn.fused) ----------------------------------------------- */

MULTIVERSION static void FN(bias_relu_rows)(Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t cols,
                                            T *Y, Py_ssize_t sy, const T *restrict b) {
    for (Py_ssize_t i = r0; i < r1; i++) {
        T *restrict y = Y + i * sy;
        for (Py_ssize_t j = 0; j < cols; j++) {
            T v = y[j] + b[j];
            y[j] = (v >= 0 || v != v) ? v : (T)0;
        }
    }
}

static void FN(bias_relu)(Py_ssize_t n, Py_ssize_t cols, T *Y, Py_ssize_t sy, const T *b,
                          int team) {
    if (team < 2) { /* row by row: one block is the same as many */
        FN(bias_relu_rows)(0, n, cols, Y, sy, b);
        return;
    }
    Py_ssize_t rows = rows_per_chunk(cols), nb = n_blocks(n, rows);
#pragma omp parallel for schedule(static) num_threads(team)
    for (Py_ssize_t k = 0; k < nb; k++)
        FN(bias_relu_rows)(k * rows, MIN(n, (k + 1) * rows), cols, Y, sy, b);
}

/* One tile (rows r0..r1, columns c0..c1): out <- grad * (out > 0), and the tile's column sums
 * added to acc (the partial sums of its block of rows). grad may be out itself (the contract
 * allows that identity here: each element is read before it is written), hence no restrict. */
MULTIVERSION static void FN(relu_backward_tile)(Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t c0,
                                                Py_ssize_t c1, const T *G, Py_ssize_t sg,
                                                T *O, Py_ssize_t so, double *restrict acc) {
    for (Py_ssize_t i = r0; i < r1; i++) {
        const T *g = G + i * sg;
        T *o = O + i * so;
        for (Py_ssize_t j = c0; j < c1; j++) {
            T d = g[j] * (o[j] > 0 ? (T)1 : (T)0);
            o[j] = d;
            acc[j] += d;
        }
    }
}

/* part: n_blocks(n, ROWS) x cols zeroed doubles, one row of partial sums per block of rows */
static void FN(relu_backward)(Py_ssize_t n, Py_ssize_t cols, const T *G, Py_ssize_t sg, T *O,
                              Py_ssize_t so, double *part, T *db, int team) {
    Py_ssize_t nrb = n_blocks(n, ROWS), ncb = n_blocks(cols, COLS), tiles = nrb * ncb;
    if (team < 2) { /* each block of rows over all columns: the tiles' sums, in their order */
        for (Py_ssize_t rb = 0; rb < nrb; rb++)
            FN(relu_backward_tile)(rb * ROWS, MIN(n, (rb + 1) * ROWS), 0, cols, G, sg, O, so,
                                   part + rb * cols);
    } else {
#pragma omp parallel for schedule(static) num_threads(team)
        for (Py_ssize_t t = 0; t < tiles; t++) {
            Py_ssize_t rb = t / ncb, cb = t % ncb;
            FN(relu_backward_tile)(rb * ROWS, MIN(n, (rb + 1) * ROWS), cb * COLS,
                                   MIN(cols, (cb + 1) * COLS), G, sg, O, so, part + rb * cols);
        }
    }
    for (Py_ssize_t j = 0; j < cols; j++) {
        double s = 0.0;
        for (Py_ssize_t rb = 0; rb < nrb; rb++) s += part[rb * cols + j];
        db[j] = (T)s;
    }
}

MULTIVERSION static void FN(bias_relu_dot_rows)(Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t cols,
                                                T *Y, Py_ssize_t sy, const T *restrict b,
                                                const T *restrict w, T c, T *o, Py_ssize_t so) {
    for (Py_ssize_t i = r0; i < r1; i++) {
        T *restrict y = Y + i * sy;
        T s = 0;
        _Pragma("omp simd reduction(+:s)")
        for (Py_ssize_t j = 0; j < cols; j++) {
            T v = y[j] + b[j];
            v = (v >= 0 || v != v) ? v : (T)0;
            y[j] = v;
            s += v * w[j];
        }
        o[i * so] = s + c;
    }
}

static void FN(bias_relu_dot)(Py_ssize_t n, Py_ssize_t cols, T *Y, Py_ssize_t sy, const T *b,
                              const T *w, T c, T *o, Py_ssize_t so, int team) {
    if (team < 2) { /* row by row: one block is the same as many */
        FN(bias_relu_dot_rows)(0, n, cols, Y, sy, b, w, c, o, so);
        return;
    }
    Py_ssize_t rows = rows_per_chunk(cols), nb = n_blocks(n, rows);
#pragma omp parallel for schedule(static) num_threads(team)
    for (Py_ssize_t k = 0; k < nb; k++)
        FN(bias_relu_dot_rows)(k * rows, MIN(n, (k + 1) * rows), cols, Y, sy, b, w, c, o, so);
}

/* One tile of the backward of a pair whose head has one output: see outer_relu_backward.
 * acc, acc_w: the partial sums of the tile's block of rows; *acc_c too, in the first column
 * block only (every tile of a block of rows reads the same d). The columns go SUM_COLS at a time
 * over all the rows, so that their sums stay in registers: each sum still adds the rows in
 * their order, the same bits as a row-by-row loop. */
MULTIVERSION static void FN(outer_tile)(Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t c0,
                                        Py_ssize_t c1, const T *D, Py_ssize_t sd,
                                        const T *restrict w, T *O, Py_ssize_t so,
                                        double *restrict acc, double *restrict acc_w,
                                        double *restrict acc_c) {
    if (acc_c != NULL) {
        double sum_c = 0.0;
        for (Py_ssize_t i = r0; i < r1; i++) sum_c += D[i * sd];
        *acc_c = sum_c;
    }
    Py_ssize_t j0 = c0;
    for (; j0 + SUM_COLS <= c1; j0 += SUM_COLS) {
        double a[SUM_COLS], a_w[SUM_COLS];
        T wj[SUM_COLS];
        for (int k = 0; k < SUM_COLS; k++) {
            a[k] = acc[j0 + k];
            a_w[k] = acc_w[j0 + k];
            wj[k] = w[j0 + k];
        }
        for (Py_ssize_t i = r0; i < r1; i++) {
            T di = D[i * sd];
            T *restrict o = O + i * so + j0;
            _Pragma("omp simd")
            for (int k = 0; k < SUM_COLS; k++) {
                T ok = o[k];
                a_w[k] += ok * di;
                T v = (di * wj[k]) * (ok > 0 ? (T)1 : (T)0);
                o[k] = v;
                a[k] += v;
            }
        }
        for (int k = 0; k < SUM_COLS; k++) {
            acc[j0 + k] = a[k];
            acc_w[j0 + k] = a_w[k];
        }
    }
    for (Py_ssize_t i = r0; i < r1 && j0 < c1; i++) { /* the last columns, fewer than SUM_COLS */
        T di = D[i * sd];
        T *restrict o = O + i * so;
        for (Py_ssize_t j = j0; j < c1; j++) {
            T oj = o[j];
            acc_w[j] += oj * di;
            T v = (di * w[j]) * (oj > 0 ? (T)1 : (T)0);
            o[j] = v;
            acc[j] += v;
        }
    }
}

/* part: n_blocks(n, ROWS) x (2 cols + 1) zeroed doubles: per block of rows, the partial sums
 * of db, of dw and of dc */
static void FN(outer_relu_backward)(Py_ssize_t n, Py_ssize_t cols, const T *D, Py_ssize_t sd,
                                    const T *w, T *O, Py_ssize_t so, double *part, T *db,
                                    T *dw, T *dc, int team) {
    Py_ssize_t nrb = n_blocks(n, ROWS), ncb = MAX(1, n_blocks(cols, COLS)), tiles = nrb * ncb;
    Py_ssize_t width = 2 * cols + 1;
    if (team < 2) { /* each block of rows over all columns: the tiles' sums, in their order */
        for (Py_ssize_t rb = 0; rb < nrb; rb++) {
            double *row = part + rb * width;
            FN(outer_tile)(rb * ROWS, MIN(n, (rb + 1) * ROWS), 0, cols, D, sd, w, O, so, row,
                           row + cols, row + 2 * cols);
        }
    } else {
#pragma omp parallel for schedule(static) num_threads(team)
        for (Py_ssize_t t = 0; t < tiles; t++) {
            Py_ssize_t rb = t / ncb, cb = t % ncb;
            double *row = part + rb * width;
            FN(outer_tile)(rb * ROWS, MIN(n, (rb + 1) * ROWS), cb * COLS,
                           MIN(cols, (cb + 1) * COLS), D, sd, w, O, so, row, row + cols,
                           cb == 0 ? row + 2 * cols : NULL);
        }
    }
    for (Py_ssize_t j = 0; j < cols; j++) {
        double s = 0.0, s_w = 0.0;
        for (Py_ssize_t rb = 0; rb < nrb; rb++) {
            s += part[rb * width + j];
            s_w += part[rb * width + cols + j];
        }
        db[j] = (T)s;
        dw[j] = (T)s_w;
    }
    double s_c = 0.0;
    for (Py_ssize_t rb = 0; rb < nrb; rb++) s_c += part[rb * width + 2 * cols];
    dc[0] = (T)s_c;
}

/* ---- softmax cross-entropy (gdlab.nn.losses.CrossEntropyLoss) --------------------------- */

/* Rows r0..r1 of logits Z against int64 labels y: G = (softmax(Z) - onehot(y)) * scale, the
 * block's summed per-row losses log(sum exp(z - max)) - (z_y - max) (float64) and its number of
 * rows whose first largest logit is the label (np.argmax's choice, NaN first). Each label is
 * read once, into a local, and checked there, where it is used: memory that changes after the
 * caller's checks (another thread writing y) cannot send the loop out of bounds. A bad label
 * stops the block and is reported in part->bad (its row) and part->label. */
MULTIVERSION static void FN(xent_rows)(Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t cols,
                                       const T *Z, Py_ssize_t sz, const int64_t *y, T *G,
                                       Py_ssize_t sg, T scale, XentPart *part) {
    Py_ssize_t hits = 0;
    double sum = 0.0;
    for (Py_ssize_t i = r0; i < r1; i++) {
        int64_t label = ((const volatile int64_t *)y)[i];
        if (label < 0 || label >= (int64_t)cols) {
            part->bad = i;
            part->label = (long long)label;
            break;
        }
        Py_ssize_t t = (Py_ssize_t)label, arg = 0;
        const T *z = Z + i * sz;
        T *g = G + i * sg;
        T top = z[0];
        for (Py_ssize_t j = 1; j < cols; j++)
            if (z[j] > top || (z[j] != z[j] && top == top)) {
                top = z[j];
                arg = j;
            }
        hits += arg == t;
        T picked = z[t] - top;
        T s = 0;
        for (Py_ssize_t j = 0; j < cols; j++) {
            T e = EXP(z[j] - top);
            g[j] = e;
            s += e;
        }
        sum += (double)(LOG(s) - picked);
        for (Py_ssize_t j = 0; j < cols; j++) {
            T q = g[j] / s;
            if (j == t) q = q - 1;
            g[j] = q * scale;
        }
    }
    part->sum = sum;
    part->hits = hits;
}

/* parts: n_blocks(n, XENT_ROWS) blocks, each with bad = -1 */
static void FN(xent)(Py_ssize_t n, Py_ssize_t cols, const T *Z, Py_ssize_t sz, const int64_t *y,
                     T *G, Py_ssize_t sg, T scale, XentPart *parts, int team) {
    Py_ssize_t nb = n_blocks(n, XENT_ROWS);
    if (team < 2)
        for (Py_ssize_t k = 0; k < nb; k++)
            FN(xent_rows)(k * XENT_ROWS, MIN(n, (k + 1) * XENT_ROWS), cols, Z, sz, y, G, sg,
                          scale, &parts[k]);
    else {
#pragma omp parallel for schedule(static) num_threads(team)
        for (Py_ssize_t k = 0; k < nb; k++)
            FN(xent_rows)(k * XENT_ROWS, MIN(n, (k + 1) * XENT_ROWS), cols, Z, sz, y, G, sg,
                          scale, &parts[k]);
    }
}

#undef FN
#undef CAT
#undef CAT_
