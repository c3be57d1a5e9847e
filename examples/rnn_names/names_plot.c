/* names_plot.c -- the loss curve and the confusion matrix as hand-written SVG, and the
 * other output files; each is written whole or not at all (nn_file: a fresh temporary
 * file, flushed, renamed). */
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

/* A "nice" tick step (1, 2 or 5 times a power of ten) giving about `want` ticks. */
static double tick_step(double span, int want)
{
    double raw = span / want, p = pow(10, floor(log10(raw))), m = raw / p;
    return p * (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10);
}

/* s as XML character data or attribute value: &, <, >, " and ' escaped, and what XML
 * cannot hold (control characters, U+FFFE/F, bytes that are not UTF-8) written as
 * U+FFFD. Language names never hold those (names_class_check); this is the last guard. */
static void put_escaped(FILE *f, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t at = i;
        long cp = names_utf8_decode(s, n, &i);
        if (cp < 0) i = at + 1;
        if (cp < 0 || (names_is_control(cp) && cp != '\t' && cp != '\n')) fputs("&#xFFFD;", f);
        else if (cp == '&') fputs("&amp;", f);
        else if (cp == '<') fputs("&lt;", f);
        else if (cp == '>') fputs("&gt;", f);
        else if (cp == '"') fputs("&quot;", f);
        else if (cp == '\'') fputs("&apos;", f);
        else fwrite(s + at, 1, i - at, f);
    }
}

static void text(FILE *f, double x, double y, const char *anchor, int size, const char *extra, const char *s)
{
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\"%s>", x, y, anchor, size, extra);
    put_escaped(f, s);
    fputs("</text>\n", f);
}

int names_plot_line(const char *path, const double *x, const double *y, int n, const char *title,
                    const char *xlabel, const char *ylabel, char *err, size_t errlen)
{
    char buf[64];
    nn_file out;
    if (nn_file_open(&out, path, err, errlen) != NN_OK) return -1;
    FILE *f = out.f;
    const double W = 720, H = 420, L = 70, R = 20, T = 50, B = 60; /* canvas and margins */
    double x0 = n ? x[0] : 0, x1 = n ? x[n - 1] : 1, y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (isfinite(y[i]) && y[i] < y0) y0 = y[i];
        if (isfinite(y[i]) && y[i] > y1) y1 = y[i];
    }
    if (!(y0 <= y1)) y0 = 0, y1 = 1;
    if (x1 <= x0) x1 = x0 + 1;
    double ys = tick_step(y1 - y0 > 0 ? y1 - y0 : 1, 6);
    y0 = floor(y0 / ys) * ys;
    y1 = ceil(y1 / ys) * ys;
    if (y1 <= y0) y1 = y0 + ys;
    double xs = tick_step(x1 - x0, 6);
#define PX(v) (L + ((v) - x0) / (x1 - x0) * (W - L - R))
#define PY(v) (H - B - ((v) - y0) / (y1 - y0) * (H - T - B))
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
               "font-family=\"Helvetica, Arial, sans-serif\">\n", W, H, W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    text(f, W / 2, 28, "middle", 18, " font-weight=\"bold\"", title);
    for (double v = y0; v <= y1 + ys / 2; v += ys) { /* horizontal grid and y ticks */
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>\n", L, PY(v), W - R, PY(v));
        snprintf(buf, sizeof buf, "%g", fabs(v) < ys / 1e6 ? 0.0 : v);
        text(f, L - 8, PY(v) + 4, "end", 12, "", buf);
    }
    for (double v = ceil(x0 / xs) * xs; v <= x1 + xs / 1e6; v += xs) { /* x ticks */
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n", PX(v), H - B, PX(v), H - B + 5);
        snprintf(buf, sizeof buf, "%g", v);
        text(f, PX(v), H - B + 20, "middle", 12, "", buf);
    }
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n", L, H - B, W - R, H - B);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n", L, T, L, H - B);
    text(f, (L + W - R) / 2, H - 15, "middle", 14, "", xlabel);
    fprintf(f, "<text x=\"18\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"14\" transform=\"rotate(-90 18 %.1f)\">",
            (T + H - B) / 2, (T + H - B) / 2);
    put_escaped(f, ylabel);
    fputs("</text>\n", f);
    fprintf(f, "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"");
    for (int i = 0; i < n; i++)
        if (isfinite(y[i])) fprintf(f, "%.1f,%.1f ", PX(x[i]), PY(y[i]));
    fprintf(f, "\"/>\n</svg>\n");
#undef PX
#undef PY
    return nn_file_commit(&out, err, errlen) == NN_OK ? 0 : -1;
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
            put_escaped(f, classes[r]);
            fputs(" as ", f);
            put_escaped(f, classes[c]);
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
        put_escaped(f, classes[c]);
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
