/* fuzz_ckpt.c -- libFuzzer target for the checkpoint reader: the bytes are a file; it
 * is opened, and when it opens, loaded into a small model with and without an Adam
 * optimizer. A refused file must leave the model untouched. Its meta text then goes
 * through rnn_names' readers of a checkpoint's settings (names_settings_from_meta, the
 * table the command line uses) and model (names_model_from_meta): a refusal must say
 * why, and what they accept must be within the flags' ranges. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "names_cli.h"
#include "names_model.h"
#include "nn.h"

/* The meta text through rnn_names' readers. */
static void settings(const char *meta)
{
    char err[512] = "", *store = NULL;
    options o = {0};
    if (names_settings_from_meta(&o, meta, NAMES_SETTINGS_ALL, &store, err, sizeof err) != 0) {
        if (!err[0]) abort();
    } else if (o.batch < 1 || o.batch > 65536 || o.hidden < 1 || o.hidden > 4096 || o.threads < 1 || o.threads > 64 ||
               (o.iters != 0) == (o.epochs != 0) || o.iters < 0 || o.epochs < 0 || !(o.lr > 0) ||
               !(o.dropout >= 0 && o.dropout <= 0.95)) {
        abort(); /* accepted what the command line refuses */
    }
    free(store);
    store = NULL;
    options mo = {0};
    err[0] = 0;
    if (names_settings_from_meta(&mo, meta, NAMES_SETTINGS_MODEL, &store, err, sizeof err) == 0 && mo.hidden <= 16) {
        names_model m; /* (small models only: the fuzzer is not here to allocate 4096-wide LSTMs) */
        if (names_model_from_meta(&m, meta, err, sizeof err) == 0) {
            for (int c = 0; c < m.n_classes; c++)
                if (!m.classes[c][0] || strchr(m.classes[c], ',')) abort();
            names_model_free(&m);
        } else if (!err[0]) {
            abort();
        }
    }
    free(store);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/fuzz_ckpt_%d.ckpt", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    char err[512] = "";
    nn_ckpt *c;
    nn_status s = nn_ckpt_open(path, &c, err, sizeof err);
    if (s != NN_OK) {
        if (c || !err[0]) abort();
        return 0;
    }
    nn_params ps;
    nn_params_init(&ps);
    ag_tensor *w = nn_params_new(&ps, "fc.", "weight", 2, (int[]){2, 3});
    nn_params_new(&ps, "fc.", "bias", 1, (int[]){2});
    if (!w) abort();
    /* into a model with each kind of optimizer: a refusal changes nothing */
    for (int kind = 0; kind < 5; kind++) {
        nn_optim o;
        nn_status s = kind == 0 ? nn_sgd_init(&o, &ps, 0.1, 0.9, 0)
                    : kind == 1 ? nn_adam_init(&o, &ps, 0.01, 0.9, 0.999, 1e-8, 0)
                    : kind == 2 ? nn_adagrad_init(&o, &ps, 0.1, 0, 0, 0, 1e-10)
                    : kind == 3 ? nn_rmsprop_init(&o, &ps, 0.01, 0.99, 1e-8, 0, 0.9, 1)
                                : nn_adamw_init(&o, &ps, 0.001, 0.9, 0.999, 1e-8, 0.01);
        if (s != NN_OK) abort();
        ag_fill(w, 7);
        if (nn_ckpt_load(c, &ps, &o, err, sizeof err) != NN_OK && w->data[0] != 7) abort();
        nn_optim_free(&o);
    }
    nn_ckpt_load(c, &ps, NULL, err, sizeof err);
    /* and looked into without a model: every record's name, shape and values */
    for (int i = 0; i < nn_ckpt_count(c); i++) {
        int shape[AG_MAX_RANK];
        long n = nn_ckpt_numel(c, i);
        if (!nn_ckpt_name(c, i) || nn_ckpt_shape(c, i, shape) < 0 || n < 1) abort();
        ag_float *v = malloc((size_t)n * sizeof *v);
        if (v && nn_ckpt_values(c, i, v, n, err, sizeof err) != NN_OK) abort();
        free(v);
    }
    nn_optim any;
    nn_ckpt_optim(c, &any);
    char v[64];
    nn_meta_get(nn_ckpt_meta(c), "model", v, sizeof v);
    settings(nn_ckpt_meta(c));
    nn_ckpt_close(c);
    nn_params_free(&ps);
    return 0;
}
