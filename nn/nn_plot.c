/* nn_plot.c -- a loss curve as a hand-written SVG line chart (no plotting dependency),
 * and the XML escaping every SVG the project writes goes through. */
#include <math.h>
#include <string.h>

#include "nn.h"

void nn_xml_put(FILE *f, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t at = i;
        long cp = nn_utf8_decode(s, n, &i);
        if (cp < 0) i = at + 1;
        int control = cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0) || cp == 0xFFFE || cp == 0xFFFF;
        if (cp < 0 || (control && cp != '\t' && cp != '\n')) fputs("&#xFFFD;", f);
        else if (cp == '&') fputs("&amp;", f);
        else if (cp == '<') fputs("&lt;", f);
        else if (cp == '>') fputs("&gt;", f);
        else if (cp == '"') fputs("&quot;", f);
        else if (cp == '\'') fputs("&apos;", f);
        else fwrite(s + at, 1, i - at, f);
    }
}

/* A "nice" tick step (1, 2 or 5 times a power of ten) giving about `want` ticks. */
static double tick_step(double span, int want)
{
    double raw = span / want, p = pow(10, floor(log10(raw))), m = raw / p;
    return p * (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10);
}

static void text(FILE *f, double x, double y, const char *anchor, int size, const char *extra, const char *s)
{
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\"%s>", x, y, anchor, size, extra);
    nn_xml_put(f, s);
    fputs("</text>\n", f);
}

nn_status nn_plot_line(const char *path, const double *x, const double *y, int n, const char *title,
                       const char *xlabel, const char *ylabel, char *err, size_t errlen)
{
    char buf[64];
    nn_file out;
    nn_status s = nn_file_open(&out, path, err, errlen);
    if (s != NN_OK) return s;
    FILE *f = out.f;
    const double W = 720, H = 420, L = 70, R = 20, T = 50, B = 60; /* canvas and margins */
    double x0 = n ? x[0] : 0, x1 = n ? x[n - 1] : 1, y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (isfinite(y[i]) && y[i] < y0) y0 = y[i];
        if (isfinite(y[i]) && y[i] > y1) y1 = y[i];
    }
    if (!(y0 <= y1)) y0 = 0, y1 = 1;
    if (!(x1 > x0)) x1 = x0 + 1;
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
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n", PX(v), H - B, PX(v),
                H - B + 5);
        snprintf(buf, sizeof buf, "%g", v);
        text(f, PX(v), H - B + 20, "middle", 12, "", buf);
    }
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n", L, H - B, W - R, H - B);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n", L, T, L, H - B);
    text(f, (L + W - R) / 2, H - 15, "middle", 14, "", xlabel);
    fprintf(f, "<text x=\"18\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"14\" transform=\"rotate(-90 18 %.1f)\">",
            (T + H - B) / 2, (T + H - B) / 2);
    nn_xml_put(f, ylabel);
    fputs("</text>\n", f);
    fprintf(f, "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"");
    for (int i = 0; i < n; i++)
        if (isfinite(y[i])) fprintf(f, "%.1f,%.1f ", PX(x[i]), PY(y[i]));
    fprintf(f, "\"/>\n</svg>\n");
#undef PX
#undef PY
    return nn_file_commit(&out, err, errlen);
}
