/* ckpt_dump -- print what a checkpoint holds, without knowing the model: its meta
 * text, its optimizer and settings, and every tensor's name, shape and a few
 * statistics (or all its values). Written only against the public API (nn.h).
 *
 *   ckpt_dump FILE [--values] [--tensor NAME]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn.h"

static const char *usage =
    "usage: ckpt_dump FILE [--values] [--tensor NAME]\n"
    "\n"
    "Prints a checkpoint's meta text, its optimizer (kind, settings, step) and, for each\n"
    "tensor (parameters and optimizer state), its name, shape, and min, max, mean and\n"
    "standard deviation of its values.\n"
    "\n"
    "  --values       print every value too (after the statistics)\n"
    "  --tensor NAME  only that tensor (an error if the file has none of that name)\n"
    "  --help         this text\n";

/* n bytes of s as text: a control byte (an ESC in a hostile file) is printed as \xNN,
 * so nothing in a checkpoint reaches the terminal raw. */
static void put_text(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        if (b == '\\') fputs("\\\\", stdout);
        else if (b < 0x20 || b == 0x7f) printf("\\x%02x", b);
        else putchar(b);
    }
}

static void print_optim(const nn_ckpt *c)
{
    nn_optim o;
    if (!nn_ckpt_optim(c, &o)) {
        printf("optimizer: none\n");
        return;
    }
    printf("optimizer: %s step=%ld lr=%.17g weight_decay=%.17g", nn_optim_kind_name(o.kind), o.step, o.lr,
           o.weight_decay);
    switch (o.kind) {
    case NN_SGD: printf(" momentum=%.17g", o.momentum); break;
    case NN_ADAM:
    case NN_ADAMW: printf(" beta1=%.17g beta2=%.17g eps=%.17g", o.beta1, o.beta2, o.eps); break;
    case NN_ADAGRAD:
        printf(" lr_decay=%.17g initial_accumulator_value=%.17g eps=%.17g", o.lr_decay, o.initial_accumulator_value,
               o.eps);
        break;
    case NN_RMSPROP:
        printf(" alpha=%.17g eps=%.17g momentum=%.17g centered=%d", o.alpha, o.eps, o.momentum, o.centered);
        break;
    }
    printf("\n");
}

/* name, shape, count, min, max, mean, std; every value with show_values. 0, or 1
 * after printing why to stderr. */
static int print_tensor(const nn_ckpt *c, int i, int show_values)
{
    int shape[AG_MAX_RANK], rank = nn_ckpt_shape(c, i, shape);
    long n = nn_ckpt_numel(c, i);
    ag_float *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    char err[512];
    if (!v) {
        fprintf(stderr, "ckpt_dump: out of memory for %ld values of '%s'\n", n, nn_ckpt_name(c, i));
        return 1;
    }
    if (nn_ckpt_values(c, i, v, n, err, sizeof err) != NN_OK) {
        fprintf(stderr, "ckpt_dump: %s\n", err);
        free(v);
        return 1;
    }
    double lo = INFINITY, hi = -INFINITY, sum = 0, sq = 0;
    long nonfinite = 0;
    for (long k = 0; k < n; k++) {
        double x = (double)v[k];
        if (!isfinite(x)) {
            nonfinite++;
            continue;
        }
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
        sum += x;
    }
    long fin = n - nonfinite;
    double mean = fin ? sum / (double)fin : NAN;
    for (long k = 0; k < n; k++)
        if (isfinite((double)v[k])) sq += ((double)v[k] - mean) * ((double)v[k] - mean);
    put_text(nn_ckpt_name(c, i), strlen(nn_ckpt_name(c, i)));
    printf(" (");
    for (int d = 0; d < rank; d++) printf(d ? ", %d" : "%d", shape[d]);
    printf(") %ld values", n);
    if (fin) printf(": min %.6g max %.6g mean %.6g std %.6g", lo, hi, mean, sqrt(sq / (double)fin));
    if (nonfinite) printf(", %ld not finite", nonfinite);
    printf("\n");
    if (show_values) {
        for (long k = 0; k < n; k++) { /* 8 a line, %.9g: every float exactly */
            printf("%s%.9g", k % 8 ? " " : "  ", (double)v[k]);
            if (k % 8 == 7 || k == n - 1) printf("\n");
        }
    }
    free(v);
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = NULL, *only = NULL;
    int values = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--values")) {
            values = 1;
        } else if (!strcmp(argv[i], "--tensor")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "ckpt_dump: --tensor needs a name\n%s", usage);
                return 2;
            }
            only = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "ckpt_dump: unknown option '%s'\n%s", argv[i], usage);
            return 2;
        } else if (path) {
            fprintf(stderr, "ckpt_dump: one file at a time ('%s' and '%s')\n%s", path, argv[i], usage);
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        fprintf(stderr, "ckpt_dump: no checkpoint file given\n%s", usage);
        return 2;
    }
    nn_ckpt *c;
    char err[1024];
    if (nn_ckpt_open(path, &c, err, sizeof err) != NN_OK) {
        fprintf(stderr, "ckpt_dump: %s\n", err);
        return 1;
    }
    int rc = 0;
    if (only) {
        int i = nn_ckpt_find(c, only);
        if (i < 0) {
            fprintf(stderr, "ckpt_dump: checkpoint %s has no tensor '%s'\n", path, only);
            rc = 1;
        } else {
            rc = print_tensor(c, i, values);
        }
    } else {
        const char *meta = nn_ckpt_meta(c);
        size_t ml = strlen(meta);
        printf("checkpoint: %s\n", path);
        printf("meta: %zu bytes\n", ml);
        for (const char *p = meta; *p;) { /* each line indented, a last line without '\n' too */
            const char *e = strchr(p, '\n');
            int len = (int)(e ? (size_t)(e - p) : strlen(p));
            printf("  ");
            put_text(p, (size_t)len);
            printf("\n");
            p += len + (e != NULL);
        }
        print_optim(c);
        long total = 0;
        for (int i = 0; i < nn_ckpt_count(c); i++) total += nn_ckpt_numel(c, i);
        printf("tensors: %d (%ld values)\n", nn_ckpt_count(c), total);
        for (int i = 0; i < nn_ckpt_count(c) && rc == 0; i++) rc = print_tensor(c, i, values);
    }
    nn_ckpt_close(c);
    return rc;
}
