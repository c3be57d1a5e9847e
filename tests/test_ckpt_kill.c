/* test_ckpt_kill.c -- SIGKILL a process while it saves checkpoints, at many points: the
 * checkpoint on disk must always open, verify and load, holding either the previous
 * save or the new one whole, never a mixture. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "nn.h"

enum { ROUNDS = 60, VALUES = 1 << 20 }; /* a 4 MiB tensor: a save takes a few ms */

static void fill_all(nn_params *ps, float v)
{
    for (int i = 0; i < ps->n; i++) ag_fill(ps->p[i], v);
}

static void kill_during_saves(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_ckpt_kill_XXXXXX", path[64], tmp[80], err[512];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/m.ckpt", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    nn_params ps;
    nn_params_init(&ps);
    assert_non_null(nn_params_new(&ps, "", "big", 1, (int[]){VALUES}));
    assert_non_null(nn_params_new(&ps, "", "small", 1, (int[]){3}));
    fill_all(&ps, 1);
    assert_int_equal(nn_ckpt_save(path, "v=1\n", &ps, NULL, err, sizeof err), NN_OK);
    /* how long one save takes, to spread the kills over it */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(nn_ckpt_save(path, "v=1\n", &ps, NULL, err, sizeof err), NN_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long save_us = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
    srand(12345);
    int mid_write = 0;
    for (int round = 0; round < ROUNDS; round++) {
        remove(tmp); /* so a temporary file after the kill is this round's */
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) { /* the child saves new values over and over until it dies */
            for (float v = 2;; v++) {
                fill_all(&ps, v);
                char meta[32];
                snprintf(meta, sizeof meta, "v=%g\n", (double)v);
                nn_ckpt_save(path, meta, &ps, NULL, err, sizeof err);
            }
        }
        long wait_us = rand() % (3 * save_us + 1);
        nanosleep(&(struct timespec){wait_us / 1000000, (wait_us % 1000000) * 1000}, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        struct stat st;
        mid_write += stat(tmp, &st) == 0; /* it died with a temporary file open */
        /* the checkpoint must be whole: opens, verifies, loads, and holds one save */
        nn_ckpt *c;
        nn_status s = nn_ckpt_open(path, &c, err, sizeof err);
        if (s != NN_OK) fprintf(stderr, "round %d: %s\n", round, err);
        assert_int_equal(s, NN_OK);
        nn_params check;
        nn_params_init(&check);
        nn_params_new(&check, "", "big", 1, (int[]){VALUES});
        nn_params_new(&check, "", "small", 1, (int[]){3});
        assert_int_equal(nn_ckpt_load(c, &check, NULL, err, sizeof err), NN_OK);
        char v[32];
        assert_non_null(nn_meta_get(nn_ckpt_meta(c), "v", v, sizeof v));
        float want = (float)atof(v);
        for (int i = 0; i < check.n; i++)
            for (int k = 0; k < check.p[i]->size; k += 997) assert_true(check.p[i]->data[k] == want);
        nn_ckpt_close(c);
        nn_params_free(&check);
    }
    printf("  %d kills, %d of them while a temporary file was being written (a save takes ~%ld us)\n", ROUNDS,
           mid_write, save_us);
    assert_true(mid_write > ROUNDS / 4); /* the kills really did land inside saves */
    nn_params_free(&ps);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(kill_during_saves)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
