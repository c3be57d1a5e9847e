/* names_plot.c -- the loss curve and the confusion matrix as hand-written SVG. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "names_plot.h"

static FILE *open_tmp(const char *path, char *tmp, size_t n, char *err, size_t errlen)
{
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
    return f;
}

static int commit(FILE *f, const char *tmp, const char *path, char *err, size_t errlen)
{
    int bad = ferror(f);
    if (fclose(f) != 0) bad = 1;
    if (bad || rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

/* A "nice" tick step (1, 2 or 5 times a power of ten) giving about `want` ticks. */
static double tick_step(double span, int want)
{
    double raw = span / want, p = pow(10, floor(log10(raw))), m = raw / p;
    return p * (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10);
}

/* s with &, <, > and " escaped for XML */
static void put_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
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
    char tmp[4096], buf[64];
    FILE *f = open_tmp(path, tmp, sizeof tmp, err, errlen);
    if (!f) return -1;
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
    return commit(f, tmp, path, err, errlen);
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
    char tmp[4096], fill[16], buf[64];
    FILE *f = open_tmp(path, tmp, sizeof tmp, err, errlen);
    if (!f) return -1;
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
    return commit(f, tmp, path, err, errlen);
}
