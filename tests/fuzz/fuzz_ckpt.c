/* fuzz_ckpt.c -- libFuzzer target for the checkpoint reader: the bytes are a file; it
 * is opened, and when it opens, loaded into a small model with and without an Adam
 * optimizer. A refused file must leave the model untouched. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn.h"

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
    nn_optim o;
    if (!w || nn_adam_init(&o, &ps, 0.01, 0.9, 0.999, 1e-8, 0) != NN_OK) abort();
    ag_fill(w, 7);
    if (nn_ckpt_load(c, &ps, &o, err, sizeof err) != NN_OK && w->data[0] != 7) abort();
    nn_ckpt_load(c, &ps, NULL, err, sizeof err);
    char v[64];
    nn_meta_get(nn_ckpt_meta(c), "model", v, sizeof v);
    nn_ckpt_close(c);
    nn_optim_free(&o);
    nn_params_free(&ps);
    return 0;
}
