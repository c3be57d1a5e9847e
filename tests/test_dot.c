/* test_dot.c -- ag_dot writes well-formed Graphviz: every statement parses, every edge
 * joins declared nodes, clusters match the tape's groups, parameters/inputs/ops/loss
 * are styled apart, and statistics mark a NaN. The text is checked here in C; a second
 * test (test_dot_render.sh) renders it with Graphviz when that is installed. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "nn.h"

static char text[1 << 16];

static void dump(ag_tape *t, const ag_tensor *root, const ag_dot_options *o)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(ag_dot(t, root, f, o), AG_OK);
    rewind(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
}

typedef struct {
    int nodes, edges, clusters, params, consts, ops, roots, red;
} shape_count;

/* A small parser for the subset ag_dot writes. Fails the test on anything else. */
static shape_count check_well_formed(void)
{
    shape_count c = {0};
    static char declared[4096];
    memset(declared, 0, sizeof declared);
    int depth = 0, line_no = 0;
    char *save = NULL;
    static char copy[sizeof text];
    strcpy(copy, text);
    assert_int_equal(strncmp(copy, "digraph ag {\n", 13), 0);
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        line_no++;
        while (*line == ' ') line++;
        int a, b, used;
        if (line_no == 1) {
            depth = 1;
        } else if (!strcmp(line, "}")) {
            depth--;
        } else if (sscanf(line, "subgraph cluster_%d {%n", &a, &used) == 1 && line[used] == 0) {
            depth++;
            c.clusters++;
        } else if (sscanf(line, "n%d -> n%d;%n", &a, &b, &used) == 2 && line[used] == 0) {
            assert_true(a >= 0 && a < 4096 && b >= 0 && b < 4096);
            assert_true(declared[a] && declared[b]); /* nodes come before edges */
            c.edges++;
        } else if (sscanf(line, "n%d [shape=%n", &a, &used) == 1 && used > 0) {
            assert_true(a >= 0 && a < 4096);
            assert_false(declared[a]); /* each node once */
            declared[a] = 1;
            c.nodes++;
            assert_non_null(strstr(line, "label=\""));
            assert_int_equal(strcmp(line + strlen(line) - 2, "];"), 0);
            /* quotes balance, once \" escapes are skipped */
            int quotes = 0;
            for (char *p = line; *p; p++) {
                if (*p == '\\' && p[1]) p++;
                else if (*p == '"') quotes++;
            }
            assert_int_equal(quotes % 2, 0);
            c.params += strstr(line, "#cfe2ff") != NULL;
            c.consts += strstr(line, "#e9ecef") != NULL;
            c.ops += strstr(line, "#fff3cd") != NULL;
            c.roots += strstr(line, "#f8d7da") != NULL;
            c.red += strstr(line, "#d00000") != NULL;
        } else {
            /* graph attributes: key=value; */
            char key[32];
            assert_true(sscanf(line, "%31[a-z]=%n", key, &used) == 1 || sscanf(line, "%31[a-z] [%n", key, &used) == 1);
            assert_int_equal(line[strlen(line) - 1], ';');
        }
        assert_true(depth >= 0);
    }
    assert_int_equal(depth, 0);
    return c;
}

/* A 4-step Elman RNN over N = 2, then a linear head, log_softmax and NLL. */
typedef struct {
    nn_params ps;
    nn_rnn rnn;
    nn_linear head;
} model;

static ag_tensor *forward(ag_tape *t, model *m)
{
    ag_rng r;
    ag_rng_seed(&r, 2);
    ag_tensor *x = ag_rand(t, &r, 3, (int[]){4, 2, 3}, -1, 1);
    ag_tensor *h = nn_rnn_forward(t, &m->rnn, x, NULL, NULL, NULL);
    ag_tensor *logp = ag_log_softmax(t, nn_linear_forward(t, &m->head, h), 1);
    return ag_nll_loss(t, logp, (int[]){1, 0}, AG_MEAN);
}

static void make_model(model *m)
{
    nn_params_init(&m->ps);
    ag_rng r;
    ag_rng_seed(&r, 1);
    assert_int_equal(nn_rnn_init(&m->rnn, &m->ps, NN_ELMAN, "rnn.", 3, 5, &r), NN_OK);
    assert_int_equal(nn_linear_init(&m->head, &m->ps, "head.", 5, 2, 1, &r), NN_OK);
}

static void rnn_graph(void **state)
{
    (void)state;
    model m;
    make_model(&m);
    ag_tape *t = ag_tape_new();
    ag_tensor *loss = forward(t, &m);
    assert_non_null(loss);
    assert_int_equal(ag_backward(t, loss), AG_OK);
    dump(t, loss, &ag_dot_default);
    shape_count c = check_well_formed();
    printf("  %d nodes, %d edges, %d clusters: %d parameters, %d inputs, %d ops, %d loss\n", c.nodes, c.edges,
           c.clusters, c.params, c.consts, c.ops, c.roots);
    assert_int_equal(c.clusters, 4);                 /* one per time step */
    assert_int_equal(c.params, 6);                   /* 4 rnn + 2 head */
    assert_int_equal(c.roots, 1);
    assert_int_equal(c.ops + c.roots, ag_tape_nodes(t)); /* every recorded node reaches the loss here */
    assert_int_equal(c.nodes, c.params + c.consts + c.ops + c.roots);
    assert_non_null(strstr(text, "label=\"elman step 3\""));
    assert_non_null(strstr(text, "rnn.weight_hh_l0\\n(5, 5)"));
    assert_non_null(strstr(text, "nll_loss (loss)\\n()"));
    assert_non_null(strstr(text, "log_softmax\\n(2, 2)"));
    assert_null(strstr(text, "value |")); /* no statistics unless asked */

    /* statistics, and a NaN marked in red */
    m.head.bias->data[1] = NAN;
    ag_tape_reset(t);
    loss = forward(t, &m);
    assert_int_equal(ag_backward(t, loss), AG_OK);
    ag_dot_options o = {1, 0, "a \"quoted\" title"};
    dump(t, loss, &o);
    c = check_well_formed();
    assert_int_equal(c.clusters, 0); /* clusters off */
    assert_true(c.red >= 4);         /* the bias, and what it reaches: linear, log_softmax, nll */
    assert_non_null(strstr(text, "NaN/Inf!"));
    assert_non_null(strstr(text, "label=\"a \\\"quoted\\\" title\";"));
    assert_non_null(strstr(text, "grad |"));

    /* the whole tape, and a graph that is only a leaf */
    dump(t, NULL, &ag_dot_default);
    check_well_formed();
    dump(t, m.head.weight, &ag_dot_default);
    c = check_well_formed();
    assert_int_equal(c.nodes, 1);
    assert_int_equal(c.edges, 0);
    ag_tape_free(t);
    nn_params_free(&m.ps);
}

/* An op written in user code is drawn under its own name, its label escaped for dot
 * (a quote and a backslash in the name); a named buffer is drawn as an input under
 * its name, not as a parameter. */
static ag_status odd_backward(ag_tape *t, const ag_node *n)
{
    ag_float *dx = ag_grad(t, ag_node_in(n, 0));
    for (int i = 0; dx && i < ag_node_out(n)->size; i++) dx[i] += ag_node_out(n)->grad[i];
    return ag_tape_status(t);
}
static const ag_op odd_op = {"my \"op\\", odd_backward};

static void user_op_drawn_by_name(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *W = ag_param_new(1, (int[]){2}, "W"), *h = ag_buffer_new(1, (int[]){2}, "h_state\x1b[2J");
    ag_tensor *y = ag_op_output(t, &odd_op, 1, (int[]){2});
    y->data[0] = y->data[1] = 0;
    assert_non_null(ag_op_record(t, &odd_op, y, &W, 1, 0));
    ag_tensor *loss = ag_sum(t, ag_mul(t, y, h));
    dump(t, loss, NULL);
    assert_non_null(strstr(text, "label=\"my \\\"op\\\\\\n(2)\""));
    /* a control byte in a name is shown as text, never written raw */
    assert_non_null(strstr(text, "label=\"h_state\\\\x1b[2J\\n(2)\""));
    assert_null(strchr(text, '\x1b'));
    shape_count c = check_well_formed();
    assert_int_equal(c.params, 1); /* W only: the buffer is an input */
    assert_int_equal(c.ops, 2);    /* the user op and mul; sum is the root */
    /* a root from before a reset is refused, not walked */
    ag_tape_reset(t);
    FILE *f = tmpfile();
    assert_int_equal(ag_dot(t, loss, f, NULL), AG_ESTATE);
    assert_non_null(strstr(ag_tape_error(t), "dot: the root is a tape tensor made before the tape's last reset"));
    fclose(f);
    ag_param_free(W);
    ag_buffer_free(h);
    ag_tape_free(t);
}

/* writes the graph for test_dot_render.sh to render */
static void write_for_render(void **state)
{
    (void)state;
    model m;
    make_model(&m);
    ag_tape *t = ag_tape_new();
    ag_tensor *loss = forward(t, &m);
    assert_int_equal(ag_backward(t, loss), AG_OK);
    FILE *f = fopen("test_dot_graph.dot", "w");
    assert_non_null(f);
    ag_dot_options o = {1, 1, "test_dot"};
    assert_int_equal(ag_dot(t, loss, f, &o), AG_OK);
    assert_int_equal(fclose(f), 0);
    ag_tape_free(t);
    nn_params_free(&m.ps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rnn_graph),
        cmocka_unit_test(user_op_drawn_by_name),
        cmocka_unit_test(write_for_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
