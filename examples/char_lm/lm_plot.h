/* lm_plot.h -- the loss curve as a hand-written SVG line chart (no plotting dependency),
 * written whole or not at all through nn_file (nn.h). */
#ifndef LM_PLOT_H
#define LM_PLOT_H

#include <stddef.h>

/* y against x, with axes, ticks, labels and a title (text is XML-escaped; bytes that
 * XML cannot hold become U+FFFD). 0, or -1 with err naming the file. */
int lm_plot_line(const char *path, const double *x, const double *y, int n, const char *title, const char *xlabel,
                 const char *ylabel, char *err, size_t errlen);

#endif
