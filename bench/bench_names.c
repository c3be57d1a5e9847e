/* bench_names -- the speed figures of issue 5, printed as key=value lines:
 *   training names/s for the tutorial's RNN at batch 1 and 64 and for the GRU at 64,
 *   allocations per training step after warm-up, peak memory (max RSS),
 *   GFLOP/s of the three matrix kernels at the batch-64 shapes of linear,
 *   and the machine's single-core float32 peak, measured with an FMA loop.
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

static void train_rate(const char *label, const names_data *d, names_kind kind, int batch, long iters, int epochs,
                       int adam, int threads)
{
    ag_rng rng;
    ag_rng_seed(&rng, 1);
    names_model m;
    if (names_model_init(&m, kind, 128, 1, 0, d->n_classes, d->classes, &rng) != 0) exit(1);
    names_train_opts o = {.optim = adam, .lr = adam ? 0.002 : 0.005, .clip = adam ? 3 : 0, .iters = iters,
                          .epochs = epochs, .batch = batch, .seed = 1, .threads = threads};
    nn_optim opt;
    names_train_result r;
    char err[512];
    if (names_optim_init(&opt, &m, &o, err, sizeof err) || names_train(&m, &opt, d, &o, &r, err, sizeof err)) {
        fprintf(stderr, "bench: %s\n", err);
        exit(1);
    }
    printf("%s_names_per_s=%.0f\n%s_names=%ld\n%s_seconds=%.3f\n", label, r.names_per_s, label, r.names_seen, label,
           r.seconds);
    fflush(stdout);
    names_train_result_free(&r);
    nn_optim_free(&opt);
    names_model_free(&m);
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
    const names_item **items = malloc((size_t)batch * sizeof *items);
    int *targets = malloc((size_t)batch * sizeof *targets);
    long before = 0, steps = 2000 / batch + 50;
    for (long s = 0; s < 2 * steps; s++) {
        if (s == steps) before = n_alloc; /* warm-up over: count from here */
        for (int b = 0; b < batch; b++) {
            items[b] = &d->train[ag_rng_below(&rng, d->n_train)];
            targets[b] = items[b]->label;
        }
        ag_tape_reset(t);
        nn_params_zero_grad(&m.ps);
        ag_tensor *loss = ag_nll_loss(t, names_model_forward(t, &m, items, batch), targets, AG_MEAN);
        if (!loss || ag_backward(t, loss) != AG_OK) exit(1);
        nn_optim_step(&opt);
    }
    printf("%s_allocs_per_step=%.4f\n%s_arena_bytes=%zu\n", label, (double)(n_alloc - before) / steps, label,
           ag_tape_bytes(t));
    free(items);
    free(targets);
    ag_tape_free(t);
    nn_optim_free(&opt);
    names_model_free(&m);
    ag_set_allocator(NULL);
}

/* ---- kernels ---- */

typedef void (*gemm)(int, int, int, const ag_float *, const ag_float *, ag_float *);

static void kernel(const char *name, gemm f, int N, int M, int K)
{
    ag_float *A = calloc((size_t)N * K + (size_t)K * N, sizeof *A), *B = calloc((size_t)M * K, sizeof *B);
    ag_float *C = calloc((size_t)N * M, sizeof *C);
    for (int i = 0; i < N * K; i++) A[i] = (ag_float)((i % 7) * 0.01);
    for (int i = 0; i < M * K; i++) B[i] = (ag_float)((i % 5) * 0.01);
    double flops = 2.0 * N * M * K, t0 = now(), t;
    long reps = 0;
    do {
        for (int r = 0; r < 100; r++) f(N, M, K, A, B, C);
        reps += 100;
        t = now() - t0;
    } while (t < 0.3);
    printf("kernel_%s_%dx%dx%d_gflops=%.2f\n", name, N, M, K, flops * reps / t / 1e9);
    free(A);
    free(B);
    free(C);
}

/* The single-core float32 peak: independent multiply-adds on 16 accumulators of 16
 * lanes, which the compiler turns into 512-bit FMAs (AVX-512 clone) or 256-bit ones. */
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

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : NULL;
    long b1 = argc > 2 ? atol(argv[2]) : 20000;
    names_data d;
    char err[512];
    if (!dir || names_load_dir(&d, dir, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "usage: bench_names DATA_DIR [BATCH1_NAMES]\n%s\n", dir ? err : "");
        return 2;
    }
    long n = 20000000;
    double t0 = now();
    volatile double sink = fma_loop(n);
    (void)sink;
    printf("peak_fp32_gflops=%.1f\n", 2.0 * 256 * n / (now() - t0) / 1e9);
    kernel("nt", ag__gemm_nt, 64, 128, 185); /* linear forward, i2h */
    kernel("nt", ag__gemm_nt, 64, 18, 185);  /* linear forward, i2o */
    kernel("nn", ag__gemm_nn, 64, 185, 128); /* dx = g W */
    kernel("tn", ag__gemm_tn, 128, 185, 64); /* dW = g^T x */
    kernel("nt", ag__gemm_nt, 1, 128, 185);  /* batch 1 */
    kernel("nt", ag__gemm_nt, 64, 384, 128); /* GRU: h W_hh^T */
    kernel("nt", ag__gemm_nt, 400, 384, 57); /* GRU: x W_ih^T over the live steps */
    allocations(&d, NAMES_TUTORIAL, 1, "tutorial_b1");
    allocations(&d, NAMES_GRU, 64, "gru_b64");
    train_rate("tutorial_b1", &d, NAMES_TUTORIAL, 1, b1, 0, 0, 1);
    /* a few seconds each, so a passing hiccup of the machine moves the rates little */
    train_rate("tutorial_b64", &d, NAMES_TUTORIAL, 64, 25 * b1, 0, 0, 1);
    train_rate("gru_b64", &d, NAMES_GRU, 64, 0, 3, 1, 1);
    train_rate("tutorial_b64_2threads", &d, NAMES_TUTORIAL, 64, 25 * b1, 0, 0, 2);
    train_rate("gru_b64_2threads", &d, NAMES_GRU, 64, 0, 3, 1, 2);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak_rss_mb=%.1f\n", ru.ru_maxrss / 1024.0);
    names_free(&d);
    return 0;
}
