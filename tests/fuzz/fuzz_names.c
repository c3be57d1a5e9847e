/* fuzz_names.c -- libFuzzer target for rnn_names' data loader: the bytes are a names
 * file (first byte 0..127: loaded from a real directory, next to a good file) or the
 * built-in TSV format (128..255), and also go straight through the ASCII folding. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "names_data.h"

static char dir[64];

static void write_file(const char *name, const uint8_t *p, size_t n)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(p, 1, n, f) != n) abort();
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        strcpy(dir, "/tmp/fuzz_names_XXXXXX");
        if (!mkdtemp(dir)) abort();
        write_file("Good.txt", (const uint8_t *)"Abbott\nZed\nOrr\nKeane\n", 21);
    }
    char out[NAMES_MAX_LEN + 1], err[512];
    size_t bad;
    names_fold((const char *)data, size, out, sizeof out, &bad);
    names_data d;
    int rc;
    if (size && data[0] >= 128) {
        rc = names_load_tsv(&d, (const char *)data + 1, size - 1, "fuzz", NULL, err, sizeof err);
    } else {
        write_file("Fuzz.txt", size ? data + 1 : data, size ? size - 1 : 0);
        rc = names_load_dir(&d, dir, NULL, err, sizeof err);
    }
    if (rc == 0) {
        /* everything loaded must be well formed */
        for (int i = 0; i < d.n_train; i++)
            if (d.train[i].len < 1 || d.train[i].len > NAMES_MAX_LEN || d.train[i].label < 0 ||
                d.train[i].label >= d.n_classes || (int)strlen(d.train[i].text) != d.train[i].len)
                abort();
        for (int i = 0; i < d.n_test; i++)
            if (d.test[i].label < 0 || d.test[i].label >= d.n_classes) abort();
        names_free(&d);
    } else if (!err[0]) {
        abort(); /* a failure must say why */
    }
    return 0;
}
