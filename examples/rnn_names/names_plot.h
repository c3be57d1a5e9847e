/* names_plot.h -- SVG pictures written directly (no plotting dependency). */
#ifndef NAMES_PLOT_H
#define NAMES_PLOT_H

#include <stddef.h>

#include "names_data.h"

/* A line chart of y against x with axes, ticks, labels and a title. 0 or -1 (err set).
 * Written to path + ".tmp", then renamed over path. */
int names_plot_line(const char *path, const double *x, const double *y, int n, const char *title,
                    const char *xlabel, const char *ylabel, char *err, size_t errlen);

/* The confusion matrix as a heat map: row = true language, column = predicted, colour =
 * share of the row. conf is C x C counts, row-major. */
int names_plot_confusion(const char *path, const int *conf, int C, const char (*classes)[NAMES_MAX_CLASS_NAME],
                         const char *title, char *err, size_t errlen);

#endif
