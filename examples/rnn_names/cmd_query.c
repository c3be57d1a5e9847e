/* cmd_query.c -- rnn_names eval, predict and dot: a checkpoint's model put to use. */
#define _XOPEN_SOURCE 700 /* strndup */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names_cmd.h"

#define PROG NAMES_PROG

/* ---- eval, predict, dot ---- */

/* Opens a checkpoint and rebuilds its model; *data (when data != NULL) gets the data
 * directory it was trained on, allocated ("" for the built-in sample). 0, or 1 with a
 * message printed. */
static int load_model(const char *cmd, const char *path, names_model *m, char **data)
{
    char err[1024];
    nn_ckpt *c;
    if (nn_ckpt_open(path, &c, err, sizeof err) != NN_OK) {
        names_report(cmd, err);
        return 1;
    }
    int rc = 1;
    size_t len = 0;
    const char *v = data ? nn_meta_find(nn_ckpt_meta(c), "data", &len) : NULL;
    if (names_model_from_meta(m, nn_ckpt_meta(c), err, sizeof err) != 0) {
        names_reportf(cmd, "checkpoint %s: %s", path, err);
    } else if (nn_ckpt_load(c, &m->ps, NULL, err, sizeof err) != NN_OK) {
        names_report(cmd, err);
        names_model_free(m);
    } else if (data && !(*data = strndup(v ? v : "", len))) {
        names_report(cmd, "out of memory");
        names_model_free(m);
    } else {
        rc = 0;
    }
    nn_ckpt_close(c);
    return rc;
}

int names_cmd_eval(int argc, char **argv)
{
    options o = {0};
    int rc = names_cli_parse("eval", argc, argv, 2, &o, NULL, NULL, names_usage_eval, names_cli_eval_options);
    if (rc) return rc == 1 ? 0 : rc;
    if (!o.load) return names_cli_bad("eval", "--load FILE is required%s%s", "", "");
    names_model m;
    char *trained_on = NULL, err[1024];
    if (load_model("eval", o.load, &m, &trained_on)) return 1;
    const char *dir = o.data ? o.data : trained_on[0] ? trained_on : NULL;
    names_data d;
    names_eval ev;
    rc = 1;
    if (names_cmd_load_data(&d, dir, err, sizeof err) != 0) {
        names_report("eval", err);
        if (!o.data && dir) {
            names_reportf("eval", "%s is the data directory checkpoint %s was trained on%s; give --data DIR to evaluate on "
                    "that data where it is now", dir, o.load,
                    dir[0] == '/' ? "" : " (a path relative to the directory it was trained in)");
        }
        free(trained_on);
        names_model_free(&m);
        return 1;
    }
    int same = d.n_classes == m.n_classes;
    for (int c = 0; same && c < d.n_classes; c++) same = !strcmp(d.classes[c], m.classes[c]);
    if (!same) {
        fprintf(stderr, PROG " eval: the data's %d languages are not the %d the model was trained on (%s, %s, ...)\n",
                d.n_classes, m.n_classes, m.classes[0], m.classes[1]);
    } else if (d.n_test == 0) {
        names_reportf("eval", "the data %s %s: nothing to evaluate", dir ? dir : "(the built-in sample)", names_no_test_names);
    } else if (names_evaluate(&m, d.test, d.n_test, &ev, err, sizeof err) != 0) {
        names_report("eval", err);
    } else {
        char shown[1024];
        printf("checkpoint=%s model=%s hidden=%d\n", names_escape(o.load, shown, sizeof shown), names_kind_name(m.kind),
               m.hidden);
        names_cmd_print_eval(&ev, &m, 1);
        names_eval_free(&ev);
        rc = 0;
    }
    free(trained_on);
    names_free(&d);
    names_model_free(&m);
    return rc;
}

/* A name from the command line, folded as in training. 0, or -1 with why naming the
 * cause: invalid UTF-8 (where), no letter left, or too long (with the limit). */
static int fold_arg(const char *arg, names_item *it, char *why, size_t whyn)
{
    size_t bad_at = 0;
    memset(it, 0, sizeof *it);
    it->len = names_fold(arg, strlen(arg), it->text, sizeof it->text, &bad_at);
    if (it->len < 0) snprintf(why, whyn, "invalid UTF-8 at byte %zu", bad_at + 1);
    else if (it->len == 0) snprintf(why, whyn, "no letter left after folding to ASCII");
    else if (it->len > NAMES_MAX_LEN)
        snprintf(why, whyn, "too long: %d letters after folding to ASCII, at most %d", it->len, NAMES_MAX_LEN);
    else return 0;
    return -1;
}

/* NAME_ECHO: how much of a name argument is echoed (escaped; a longer one says how long) */
enum { NAME_ECHO = 120 };

int names_cmd_predict(int argc, char **argv)
{
    options o = {0};
    const char **names = calloc((size_t)argc, sizeof *names);
    int n = 0;
    if (!names) return 1;
    int rc = names_cli_parse("predict", argc, argv, 2, &o, names, &n, names_usage_predict, names_cli_predict_options);
    if (rc || !o.load || n == 0) {
        free(names);
        if (rc) return rc == 1 ? 0 : rc;
        return names_cli_bad("predict", !o.load ? "--load FILE is required%s%s" : "give at least one NAME%s%s", "", "");
    }
    names_model m;
    if (load_model("predict", o.load, &m, NULL)) {
        free(names);
        return 1;
    }
    rc = 0;
    for (int i = 0; i < n; i++) {
        names_item it;
        char shown[NAME_ECHO], why[256], err[512];
        names_escape(names[i], shown, sizeof shown);
        printf("> %s\n", shown);
        if (fold_arg(names[i], &it, why, sizeof why) != 0) { /* said on both streams: stdout's block is not left empty */
            printf("(skipped: %s)\n", why);
            fprintf(stderr, PROG " predict: '%s': %s\n", shown, why);
            rc = 1;
            continue;
        }
        int idx[3];
        double lp[3];
        int k = names_predict(&m, &it, 3, idx, lp, err, sizeof err);
        if (k < 0) {
            names_report("predict", err);
            rc = 1;
            continue;
        }
        for (int j = 0; j < k; j++) printf("(%.2f) %s\n", lp[j], m.classes[idx[j]]);
    }
    names_model_free(&m);
    free(names);
    return rc;
}

/* The graph's title: the checkpoint (escaped, and capped: names_escape says so when it
 * cuts), the model, the name, the language and the loss. */
static void dot_title(char *title, size_t n, const char *load, const names_model *m, const char *text, int target,
                      double loss)
{
    char path[256];
    snprintf(title, n, "%s, %s hidden %d: \"%s\" as %s, loss %.3f", names_escape(load, path, sizeof path),
             names_kind_name(m->kind), m->hidden, text, m->classes[target], loss);
}

/* The SVG of the graph, or how to make it without Graphviz. 0, or 1 with a message. */
static int render_svg(const char *out)
{
    char *svg = NULL, err[1024], shown[1024], shown_svg[1024];
    int r = names_render_svg(out, &svg, err, sizeof err);
    names_escape(out, shown, sizeof shown);
    if (svg) names_escape(svg, shown_svg, sizeof shown_svg);
    if (r < 0) names_report("dot", err);
    else if (r == 0)
        printf("Graphviz's dot is not installed, so no SVG was made. To render the graph:\n"
               "  apt-get install -y graphviz && dot -Tsvg %s -o %s\n", shown, shown_svg);
    else printf("wrote %s\n", shown_svg);
    free(svg);
    return r < 0;
}

/* The target language: --target's, else the predicted one. -1 (message printed) when
 * --target names none of the model's languages. */
static int dot_target(const names_model *m, const ag_tensor *logp, const char *want)
{
    int target = 0;
    for (int c = 1; c < m->n_classes; c++)
        if (logp->data[c] > logp->data[target]) target = c;
    if (!want) return target;
    for (int c = 0; c < m->n_classes; c++)
        if (!strcmp(m->classes[c], want)) return c;
    char shown[256];
    fprintf(stderr, PROG " dot: --target '%s' is not one of the model's languages (%s, %s, ...)\n",
            names_escape(want, shown, sizeof shown), m->classes[0], m->classes[1]);
    return -1;
}

int names_cmd_dot(int argc, char **argv)
{
    options o = {.out = "graph.dot"};
    const char *name = NULL;
    int n = 0;
    const char **names = calloc((size_t)argc, sizeof *names);
    if (!names) return 1;
    int rc = names_cli_parse("dot", argc, argv, 2, &o, names, &n, names_usage_dot, names_cli_dot_options);
    if (!rc && (!o.load || n != 1))
        rc = names_cli_bad("dot", !o.load ? "--load FILE is required%s%s" : "give exactly one NAME%s%s", "", "");
    name = n ? names[0] : NULL;
    free(names);
    if (rc) return rc == 1 ? 0 : rc;
    names_model m;
    if (load_model("dot", o.load, &m, NULL)) return 1;
    names_item it;
    char why[256], shown[NAME_ECHO], title[512];
    const names_item *item = &it;
    ag_tape *tape = NULL;
    ag_tensor *logp = NULL, *loss = NULL;
    int target = -1;
    rc = 1;
    if (fold_arg(name, &it, why, sizeof why) != 0) {
        fprintf(stderr, PROG " dot: '%s': %s\n", names_escape(name, shown, sizeof shown), why);
    } else if (!(tape = ag_tape_new()) || !(logp = names_model_forward(tape, &m, &item, 1))) {
        names_report("dot", tape ? ag_tape_error(tape) : "out of memory");
    } else if ((target = dot_target(&m, logp, o.target)) < 0) {
        rc = 2;
    } else if (!(loss = ag_nll_loss(tape, logp, &target, AG_MEAN)) || ag_backward(tape, loss) != AG_OK) {
        names_report("dot", ag_tape_error(tape));
    } else {
        dot_title(title, sizeof title, o.load, &m, it.text, target, (double)loss->data[0]);
        char err[1024], shown_out[1024];
        if (names_write_dot(tape, loss, o.out, title, o.stats, err, sizeof err) != 0) {
            names_report("dot", err);
        } else {
            printf("wrote %s (%d ops)\n", names_escape(o.out, shown_out, sizeof shown_out), ag_tape_nodes(tape));
            rc = render_svg(o.out);
        }
    }
    ag_tape_free(tape);
    names_model_free(&m);
    return rc;
}
