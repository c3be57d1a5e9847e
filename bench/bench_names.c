/* bench_names -- the speed figures of issue 5, printed as key=value lines:
 *   the kernel path and the machine's single-core float32 peak (an FMA loop),
 *   GFLOP/s of the three matrix kernels at the batch-64 shapes of linear and of the
 *   GRU at hidden 128 and 1024 (weights of 12 MB, far past L2),
 *   allocations per training step after warm-up,
 *   training names/s for the tutorial's RNN at batch 1 and 64 and for the GRU (hidden
 *   128 and 1024) at 64, on 1 thread and on 2, and peak memory (max RSS).
 * The machine may be shared: the short figures are the best of a few runs.
 * Run by bench/run.sh next to the PyTorch reference; see the README. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "ag_internal.h"
#include "names_train.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- training throughput ---- */

/* The best names/s of `reps` runs, each a fresh model of the given hidden size trained
 * as rnn_names train would (Adam with lr 0.002 and clipping at 3, or the tutorial's SGD). */
static void train_rate(const char *label, const names_data *d, names_kind kind, int hidden, int batch, long iters,
                       int epochs, int adam, int threads, int reps)
{
    double best = 0, secs = 0;
    long seen = 0;
    for (int rep = 0; rep < reps; rep++) {
        ag_rng rng;
        ag_rng_seed(&rng, 1);
        names_model m;
        if (names_model_init(&m, kind, hidden, 1, 0, d->n_classes, d->classes, &rng) != 0) exit(1);
        names_train_opts o = {.optim = adam, .lr = adam ? 0.002 : 0.005, .clip = adam ? 3 : 0, .iters = iters,
                              .epochs = epochs, .batch = batch, .seed = 1, .threads = threads};
        nn_optim opt;
        names_train_result r;
        char err[512];
        if (names_optim_init(&opt, &m, &o, err, sizeof err) || names_train(&m, &opt, d, &o, &r, err, sizeof err)) {
            fprintf(stderr, "bench: %s\n", err);
            exit(1);
        }
        if (r.names_per_s > best) {
            best = r.names_per_s;
            seen = r.names_seen;
            secs = r.seconds;
        }
        names_train_result_free(&r);
        nn_optim_free(&opt);
        names_model_free(&m);
    }
    printf("%s_names_per_s=%.0f\n%s_names=%ld\n%s_seconds=%.3f\n", label, best, label, seen, label, secs);
    fflush(stdout);
}

/* A data set holding n training names drawn at random (with replacement) from d's, so
 * that one epoch over it is a short run whose names are distributed as in an epoch over
 * d, as PyTorch's run draws them. Only for epochs: by_class is not rebuilt. */
static names_data subset(const names_data *d, int n)
{
    names_data s = *d;
    ag_rng rng;
    ag_rng_seed(&rng, 2);
    s.train = malloc((size_t)n * sizeof *s.train);
    if (!s.train) exit(1);
    for (int i = 0; i < n; i++) s.train[i] = d->train[ag_rng_below(&rng, d->n_train)];
    s.n_train = n;
    s.by_class = NULL;
    return s;
}

/* ---- allocations per step after warm-up ---- */

static long n_alloc;
static void *count_alloc(size_t n, void *ud)
{
    (void)ud;
    n_alloc++;
    return malloc(n);
}
static void count_free(void *p, void *ud)
{
    (void)ud;
    free(p);
}

static void allocations(const names_data *d, names_kind kind, int batch, const char *label)
{
    ag_set_allocator(&(ag_allocator){count_alloc, count_free, NULL});
    ag_rng rng;
    ag_rng_seed(&rng, 1);
    names_model m;
    nn_optim opt;
    if (names_model_init(&m, kind, 128, 1, 0, d->n_classes, d->classes, &rng) != 0 ||
        nn_adam_init(&opt, &m.ps, 0.001, 0.9, 0.999, 1e-8, 0) != NN_OK)
        exit(1);
    ag_tape *t = ag_tape_new();
    ag_tape_release_grads(t, 1); /* as the training loops do */
    const names_item **items = malloc((size_t)batch * sizeof *items);
    int *targets = malloc((size_t)batch * sizeof *targets);
    long before = 0, steps = 2000 / batch + 50;
    size_t most = 0; /* the arena's most bytes in use after a step's backward */
    for (long s = 0; s < 2 * steps; s++) {
        if (s == steps) before = n_alloc; /* warm-up over: count from here */
        for (int b = 0; b < batch; b++) {
            items[b] = &d->train[ag_rng_below(&rng, d->n_train)];
            targets[b] = items[b]->label;
        }
        ag_tape_reset(t);
        ag_tensor *loss = ag_nll_loss(t, names_model_forward(t, &m, items, batch), targets, AG_MEAN);
        if (!loss || ag_backward(t, loss) != AG_OK) exit(1);
        if (ag_tape_bytes(t) > most) most = ag_tape_bytes(t);
        nn_optim_step_zero(&opt, 1);
    }
    printf("%s_allocs_per_step=%.4f\n%s_arena_bytes=%zu\n%s_arena_most_bytes=%zu\n", label,
           (double)(n_alloc - before) / steps, label, ag_tape_bytes(t), label, most);
    free(items);
    free(targets);
    ag_tape_free(t);
    nn_optim_free(&opt);
    names_model_free(&m);
    ag_set_allocator(NULL);
}

/* ---- kernels ---- */

typedef void (*gemm)(int, int, int, const ag_float *, const ag_float *, ag_float *);

/* GFLOP/s of C (N,M) += op(A) op(B) over K: the best of 10 stretches of 30 ms. A is
 * (N,K) or, for tn, (K,N); B is (M,K) for nt, (K,M) otherwise. */
static void kernel(const char *name, gemm f, int N, int M, int K)
{
    ag_float *A = calloc((size_t)N * K, sizeof *A), *B = calloc((size_t)M * K, sizeof *B);
    ag_float *C = calloc((size_t)N * M, sizeof *C);
    if (!A || !B || !C) exit(1);
    for (size_t i = 0; i < (size_t)N * K; i++) A[i] = (ag_float)((i % 7) * 0.01);
    for (size_t i = 0; i < (size_t)M * K; i++) B[i] = (ag_float)((i % 5) * 0.01);
    double flops = 2.0 * N * M * K, best = 0;
    int burst = (int)(5e7 / flops) + 1; /* calls between two looks at the clock */
    f(N, M, K, A, B, C);                /* C's pages touched, caches warm */
    for (int s = 0; s < 10; s++) {
        double t0 = now(), t;
        long reps = 0;
        do {
            for (int r = 0; r < burst; r++) f(N, M, K, A, B, C);
            reps += burst;
            t = now() - t0;
        } while (t < 0.03);
        if (flops * reps / t > best) best = flops * reps / t;
    }
    printf("kernel_%s_%dx%dx%d_gflops=%.2f\n", name, N, M, K, best / 1e9);
    free(A);
    free(B);
    free(C);
}

/* The single-core float32 peak: independent multiply-adds on 16 accumulators of 16
 * lanes, which the compiler turns into 512-bit FMAs (AVX-512 clone) or 256-bit ones
 * (this file is built with -ffp-contract=fast, as the kernels are: without it GCC in
 * ISO C mode keeps the multiply and the add apart, and the "peak" is half the real one). */
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
static double fma_loop(long n)
{
    float acc[16][16], m[16], a[16];
    for (int i = 0; i < 16; i++) {
        m[i] = 0.9999f;
        a[i] = 1e-7f;
        for (int j = 0; j < 16; j++) acc[i][j] = (float)j;
    }
    for (long k = 0; k < n; k++)
        for (int i = 0; i < 16; i++)
            for (int j = 0; j < 16; j++) acc[i][j] = acc[i][j] * m[j] + a[j];
    double s = 0;
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) s += acc[i][j];
    return s;
}

/* The kernel build in use (AG_KERNELS may pick a lower one), the core's peak and the
 * kernels at the shapes the models use. */
static void kernels(void)
{
    printf("kernel_path=%s\n", ag__kernel_path());
    double peak = 0;
    for (int r = 0; r < 50; r++) { /* short stretches (about 6 ms), so that some fall between the
                                      machine's other work */
        long n = 2000000;
        double t0 = now();
        volatile double sink = fma_loop(n);
        (void)sink;
        double g = 2.0 * 256 * n / (now() - t0) / 1e9;
        if (g > peak) peak = g;
    }
    printf("peak_fp32_gflops=%.1f\n", peak);
    kernel("nt", ag__gemm_nt, 64, 128, 185);    /* linear forward, i2h */
    kernel("nt", ag__gemm_nt, 64, 18, 185);     /* linear forward, i2o */
    kernel("nn", ag__gemm_nn, 64, 185, 128);    /* dx = g W */
    kernel("tn", ag__gemm_tn, 128, 185, 64);    /* dW = g^T x */
    kernel("nt", ag__gemm_nt, 1, 128, 185);     /* batch 1 */
    kernel("nt", ag__gemm_nt, 64, 384, 128);    /* GRU: h W_hh^T */
    kernel("nt", ag__gemm_nt, 400, 384, 57);    /* GRU: x W_ih^T over the live steps */
    /* GRU hidden 1024, batch 64, per step: W_hh is (3H, H) = 12 MB */
    kernel("nt", ag__gemm_nt, 64, 3072, 1024);  /* h W_hh^T:  (N,H) (3H,H)^T -> (N,3H) */
    kernel("nn", ag__gemm_nn, 64, 1024, 3072);  /* dh += g W_hh:  (N,3H) (3H,H) -> (N,H) */
    kernel("tn", ag__gemm_tn, 3072, 1024, 64);  /* dW_hh += g^T h:  (N,3H)^T (N,H) -> (3H,H) */
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : NULL;
    long b1 = argc > 2 ? atol(argv[2]) : 20000;
    names_data d;
    char err[512];
    if (!dir || b1 < 64 || names_load_dir(&d, dir, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "usage: bench_names DATA_DIR [BATCH1_NAMES (>= 64)]\n%s\n", dir && b1 >= 64 ? err : "");
        return 2;
    }
    if (getenv("BENCH_KERNELS")) { /* only the kernels (run.sh: the lower builds) */
        kernels();
        names_free(&d);
        return 0;
    }
    allocations(&d, NAMES_TUTORIAL, 1, "tutorial_b1");
    allocations(&d, NAMES_TUTORIAL, 64, "tutorial_b64");
    allocations(&d, NAMES_GRU, 64, "gru_b64");
    if (getenv("BENCH_ARENA")) { /* only the allocation and arena figures (seconds) */
        names_free(&d);
        return 0;
    }
    kernels();
    /* about a second each, best of 3 */
    train_rate("tutorial_b1", &d, NAMES_TUTORIAL, 128, 1, b1, 0, 0, 1, 3);
    train_rate("tutorial_b64", &d, NAMES_TUTORIAL, 128, 64, 5 * b1, 0, 0, 1, 3);
    train_rate("gru_b64", &d, NAMES_GRU, 128, 64, 0, 1, 1, 1, 3);
    train_rate("tutorial_b64_2threads", &d, NAMES_TUTORIAL, 128, 64, 5 * b1, 0, 0, 2, 3);
    train_rate("gru_b64_2threads", &d, NAMES_GRU, 128, 64, 0, 1, 1, 2, 3);
    /* hidden 1024: one epoch over 1024 names (16 steps, a few seconds), once */
    names_data few = subset(&d, 1024);
    train_rate("gru_h1024_b64", &few, NAMES_GRU, 1024, 64, 0, 1, 1, 1, 1);
    free(few.train);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak_rss_mb=%.1f\n", ru.ru_maxrss / 1024.0);
    names_free(&d);
    return 0;
}
