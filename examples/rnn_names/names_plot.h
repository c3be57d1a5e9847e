/* names_plot.h -- SVG pictures written directly (no plotting dependency). */
#ifndef NAMES_PLOT_H
#define NAMES_PLOT_H

#include <stddef.h>
#include <stdio.h>

#include "ag.h"
#include "nn.h"
#include "names_data.h"

/* Every file rnn_names writes goes through nn_file (nn.h): written to path + ".tmp",
 * flushed, then renamed over path, so a failure never leaves a half-written file. */

/* The confusion matrix as a heat map: row = true language, column = predicted, colour =
 * share of the row. conf is C x C counts, row-major. */
int names_plot_confusion(const char *path, const int *conf, int C, const char (*classes)[NAMES_MAX_CLASS_NAME],
                         const char *title, char *err, size_t errlen);

/* BASE + suffix, allocated (NULL: no memory), where BASE is the checkpoint path save
 * without a trailing ".ckpt": the names of the files written beside a checkpoint. */
char *names_beside(const char *save, const char *suffix);

/* The loss curve as CSV ("names_seen,mean_loss" and n rows). 0 or -1 (err set). */
int names_write_csv(const char *path, const double *x, const double *y, int n, char *err, size_t errlen);

/* The graph behind loss as Graphviz dot (ag_dot, with title and stats). 0 or -1. */
int names_write_dot(ag_tape *tape, ag_tensor *loss, const char *out, const char *title, int stats, char *err,
                    size_t errlen);

/* Renders the dot file to its .svg twin (graph.dot -> graph.svg, *svg: that name,
 * allocated, the caller frees it) when Graphviz's dot is on PATH. Graphviz writes a
 * fresh .svg.tmp, renamed into place. 1 rendered, 0 no Graphviz (*svg is what the
 * command would write), -1 failed (err set). */
int names_render_svg(const char *dot, char **svg, char *err, size_t errlen);

#endif
