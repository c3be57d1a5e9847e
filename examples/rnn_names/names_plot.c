/* names_plot.c -- the confusion matrix as hand-written SVG (the loss curve is
 * nn_plot_line), and the other output files; each is written whole or not at all
 * (nn_file: a fresh temporary file, flushed, renamed). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "names_plot.h"

/* A label (escaped by nn_xml_put: language names never hold what XML cannot, as
 * names_class_check refuses it at load, but this is the last guard). */
static void text(FILE *f, double x, double y, const char *anchor, int size, const char *extra, const char *s)
{
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\"%s>", x, y, anchor, size, extra);
    nn_xml_put(f, s);
    fputs("</text>\n", f);
}

/* white -> dark blue as share goes 0 -> 1 */
static void colour(double share, char *buf, size_t n)
{
    double s = share < 0 ? 0 : share > 1 ? 1 : share;
    int r = (int)(255 - s * (255 - 8)), g = (int)(255 - s * (255 - 48)), b = (int)(255 - s * (255 - 107));
    snprintf(buf, n, "#%02x%02x%02x", r, g, b);
}

int names_plot_confusion(const char *path, const int *conf, int C, const char (*classes)[NAMES_MAX_CLASS_NAME],
                         const char *title, char *err, size_t errlen)
{
    char fill[16], buf[64];
    nn_file out;
    if (nn_file_open(&out, path, err, errlen) != NN_OK) return -1;
    FILE *f = out.f;
    const double cell = 30, L = 110, T = 60, legend = 90;
    double W = L + C * cell + legend, H = T + C * cell + 110;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
               "font-family=\"Helvetica, Arial, sans-serif\">\n", W, H, W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    text(f, W / 2, 30, "middle", 18, " font-weight=\"bold\"", title);
    for (int r = 0; r < C; r++) {
        int total = 0;
        for (int c = 0; c < C; c++) total += conf[r * C + c];
        text(f, L - 6, T + r * cell + cell / 2 + 4, "end", 12, "", classes[r]);
        for (int c = 0; c < C; c++) {
            double share = total ? (double)conf[r * C + c] / total : 0;
            colour(share, fill, sizeof fill);
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" stroke=\"#ddd\"><title>",
                    L + c * cell, T + r * cell, cell, cell, fill);
            nn_xml_put(f, classes[r]);
            fputs(" as ", f);
            nn_xml_put(f, classes[c]);
            fprintf(f, ": %d of %d</title></rect>\n", conf[r * C + c], total);
            if (conf[r * C + c]) {
                snprintf(buf, sizeof buf, "%d", conf[r * C + c]);
                text(f, L + c * cell + cell / 2, T + r * cell + cell / 2 + 4, "middle", 9,
                     share > 0.5 ? " fill=\"white\"" : " fill=\"#333\"", buf);
            }
        }
    }
    for (int c = 0; c < C; c++) {
        double x = L + c * cell + cell / 2 + 4, y = T + C * cell + 8;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"12\" transform=\"rotate(-60 %.1f %.1f)\">",
                x, y, x, y);
        nn_xml_put(f, classes[c]);
        fputs("</text>\n", f);
    }
    text(f, L + C * cell / 2, H - 8, "middle", 14, "", "predicted language");
    fprintf(f, "<text x=\"16\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"14\" transform=\"rotate(-90 16 %.1f)\">true language</text>\n",
            T + C * cell / 2, T + C * cell / 2);
    /* legend: a vertical scale of shares 0 .. 1 */
    double lx = L + C * cell + 25, lh = C * cell;
    for (int i = 0; i < 20; i++) {
        colour(1 - (i + 0.5) / 20, fill, sizeof fill);
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"16\" height=\"%.1f\" fill=\"%s\"/>\n", lx, T + i * lh / 20, lh / 20 + 0.5, fill);
    }
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"16\" height=\"%.1f\" fill=\"none\" stroke=\"#888\"/>\n", lx, T, lh);
    text(f, lx + 20, T + 8, "start", 11, "", "100%");
    text(f, lx + 20, T + lh / 2 + 4, "start", 11, "", "50%");
    text(f, lx + 20, T + lh, "start", 11, "", "0%");
    text(f, lx + 8, T - 10, "middle", 11, "", "of row");
    fprintf(f, "</svg>\n");
    return nn_file_commit(&out, err, errlen) == NN_OK ? 0 : -1;
}

/* ---- the other output files ---- */

char *names_beside(const char *save, const char *suffix)
{
    size_t len = strlen(save), n = strlen(suffix);
    if (len > 5 && !strcmp(save + len - 5, ".ckpt")) len -= 5;
    char *p = malloc(len + n + 1);
    if (!p) return NULL;
    memcpy(p, save, len);
    memcpy(p + len, suffix, n + 1);
    return p;
}

int names_write_csv(const char *path, const double *x, const double *y, int n, char *err, size_t errlen)
{
    nn_file out;
    if (nn_file_open(&out, path, err, errlen) != NN_OK) return -1;
    FILE *f = out.f;
    fprintf(f, "names_seen,mean_loss\n");
    for (int i = 0; i < n; i++) fprintf(f, "%.0f,%.6f\n", x[i], y[i]);
    return nn_file_commit(&out, err, errlen) == NN_OK ? 0 : -1;
}

int names_write_dot(ag_tape *tape, ag_tensor *loss, const char *path, const char *title, int stats, char *err,
                    size_t errlen)
{
    nn_file out;
    if (nn_file_open(&out, path, err, errlen) != NN_OK) return -1;
    ag_dot_options dopt = ag_dot_default;
    dopt.stats = stats;
    dopt.title = title;
    if (ag_dot(tape, loss, out.f, &dopt) != AG_OK) {
        snprintf(err, errlen, "%s: cannot write: %s", path, ag_tape_error(tape));
        nn_file_abort(&out);
        return -1;
    }
    return nn_file_commit(&out, err, errlen) == NN_OK ? 0 : -1;
}

/* 1 when an executable `dot` is on PATH (entries of any length). */
static int have_graphviz(void)
{
    const char *path = getenv("PATH");
    while (path && *path) {
        const char *colon = strchr(path, ':');
        size_t len = colon ? (size_t)(colon - path) : strlen(path);
        char *exe = len ? malloc(len + 5) : NULL;
        if (exe) {
            memcpy(exe, path, len);
            memcpy(exe + len, "/dot", 5);
            int found = access(exe, X_OK) == 0;
            free(exe);
            if (found) return 1;
        }
        path = colon ? colon + 1 : NULL;
    }
    return 0;
}

/* Runs dot -Tsvg in -o out, without a shell. 0 on success. */
static int render(const char *in, const char *out)
{
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        execlp("dot", "dot", "-Tsvg", in, "-o", out, (char *)NULL);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0) return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int names_render_svg(const char *dot, char **svg, char *err, size_t errlen)
{
    size_t len = strlen(dot), base = len > 4 && !strcmp(dot + len - 4, ".dot") ? len - 4 : len;
    char *tmp = malloc(base + 9);
    *svg = malloc(base + 5);
    if (!tmp || !*svg) {
        free(tmp);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(*svg, dot, base);
    memcpy(*svg + base, ".svg", 5);
    memcpy(tmp, dot, base);
    memcpy(tmp + base, ".svg.tmp", 9);
    int rc = 1;
    if (!have_graphviz()) {
        rc = 0;
    } else if ((unlink(tmp) != 0 && errno != ENOENT) || render(dot, tmp) != 0 || rename(tmp, *svg) != 0) {
        remove(tmp);
        snprintf(err, errlen, "dot -Tsvg %s failed", dot);
        rc = -1;
    }
    free(tmp);
    return rc;
}
