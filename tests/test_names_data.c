/* test_names_data.c -- rnn_names' data: ASCII folding, the CRC-32 split, and each kind
 * of bad data file; and the classifiers' padding equivalence. The full data set is
 * checked when its directory is given as argv[1] (CTest passes ../shared/data/names
 * when it exists). */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <math.h>

#include <signal.h>

#include "names_cli.h"
#include "names_plot.h"
#include "names_train.h"

static const char *full_data; /* argv[1], or NULL */
static char dir[64];

static void fold_table(void **state)
{
    (void)state;
    static const struct { const char *in, *out; } cases[] = {
        {"Ślusàrski", "Slusarski"},   /* the examples */
        {"Groß", "Gro"},
        {"Marszałek", "Marszaek"},    /* ł does not decompose: dropped */
        {"Au-Yong", "AuYong"},        /* '-' is not one of the 57 */
        {"Lu:", "Lu"},
        {"Maxa/B", "MaxaB"},
        {"Rafaj1", "Rafaj"},
        {"O'Neal", "O'Neal"},          /* ' . , ; and space are kept */
        {"St. John, Jr; x", "St. John, Jr; x"},
        {"Émile", "Emile"},            /* Latin-1 capitals */
        {"Müller Bäcker Höfler", "Muller Backer Hofler"},
        {"Núñez Ibáñez", "Nunez Ibanez"},
        {"Çelik François", "Celik Francois"},
        {"Søren Æsir Þór Œuvre", "Sren sir or uvre"}, /* no canonical decomposition */
        {"Żółć Dąbrowski Wałęsa", "Zoc Dabrowski Waesa"},
        {"Dvořák Šťastný Ďurovič", "Dvorak Stastny Durovic"},
        {"Nguyễn Đặng Phạm", "Nguyen ang Pham"}, /* Vietnamese (Latin Extended Additional); Đ stays out */
        {"e\xcc\x81", "e"},             /* e + COMBINING ACUTE (already decomposed) */
        {"To The First\xc2\xa0 Page", "To The First Page"}, /* NO-BREAK SPACE dropped */
        {"\xe2\x84\xaa\xe2\x84\xab", "KA"}, /* KELVIN SIGN, ANGSTROM SIGN */
        {"Ǎǐ ȘȚ", "Ai ST"},           /* Latin Extended-B */
        {"日本", ""},                   /* nothing left */
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[NAMES_MAX_LEN + 1];
        size_t bad;
        int n = names_fold(cases[i].in, strlen(cases[i].in), out, sizeof out, &bad);
        if (strcmp(out, cases[i].out)) fprintf(stderr, "fold(%s) = '%s', want '%s'\n", cases[i].in, out, cases[i].out);
        assert_string_equal(out, cases[i].out);
        assert_int_equal(n, (int)strlen(cases[i].out));
    }
}

static void fold_rejects_bad_utf8(void **state)
{
    (void)state;
    static const struct { const char *in; size_t at; } cases[] = {
        {"ab\xff", 2},              /* never valid */
        {"a\xc3", 1},               /* truncated sequence */
        {"\x80x", 0},               /* stray continuation */
        {"xy\xc0\xaf", 2},          /* overlong '/' */
        {"\xed\xa0\x80", 0},        /* a UTF-16 surrogate */
        {"ok\xf4\x90\x80\x80", 2},  /* above U+10FFFF */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[8];
        size_t bad = 99;
        assert_int_equal(names_fold(cases[i].in, strlen(cases[i].in), out, sizeof out, &bad), -1);
        assert_int_equal(bad, cases[i].at);
    }
    char small[4]; /* a long name reports its full length and is cut safely */
    assert_int_equal(names_fold("abcdefgh", 8, small, sizeof small, NULL), 8);
    assert_string_equal(small, "abc");
}

/* zlib's crc32 of well-known strings, and the split rule. */
static void split_by_crc(void **state)
{
    (void)state;
    assert_int_equal(nn_crc32(0, "123456789", 9), 0xCBF43926u); /* the CRC-32 check value */
    assert_int_equal(nn_crc32(0, "", 0), 0);
    /* names_is_test is crc % 10 == 0; check against the definition on many strings */
    int tests = 0;
    for (int i = 0; i < 1000; i++) {
        char s[16];
        int n = snprintf(s, sizeof s, "name%d", i);
        assert_int_equal(names_is_test(s, (size_t)n), nn_crc32(0, s, (size_t)n) % 10 == 0);
        tests += names_is_test(s, (size_t)n);
    }
    assert_true(tests > 60 && tests < 140); /* about a tenth: binomial(1000, 0.1) has sd 9.5 */
}

/* ---- data directories built on the fly ---- */

static void write_file(const char *name, const char *text, size_t n)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, n, f), n);
    fclose(f);
}

static void fresh_dir(void)
{
    char cmd[128];
    if (dir[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
    }
    strcpy(dir, "/tmp/test_names_XXXXXX");
    assert_non_null(mkdtemp(dir));
}

/* Loads dir, returns the result; warnings are captured to `warn_text`. */
static int load(names_data *d, char *err, size_t errlen, char *warn_text, size_t wn)
{
    FILE *w = tmpfile();
    int rc = names_load_dir(d, dir, w, err, errlen);
    rewind(w);
    size_t n = fread(warn_text, 1, wn - 1, w);
    warn_text[n] = 0;
    fclose(w);
    return rc;
}

static void good_and_bad_lines(void **state)
{
    (void)state;
    fresh_dir();
    const char a[] = "Abbas\n  Haddad  \n\n\xc3\x28oops\nSaliba\r\n"
                     "Khoury\n   \nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n\xe6\x97\xa5\n";
    write_file("Arabic.txt", a, sizeof a - 1);
    write_file("Greek.txt", "Pappas\nAntonopoulos\nDimitriou", 28); /* no final newline */
    write_file("notes.md", "ignored", 7);
    names_data d;
    char err[512], warn[4096];
    assert_int_equal(load(&d, err, sizeof err, warn, sizeof warn), 0);
    printf("%s", warn);
    assert_int_equal(d.n_classes, 2);
    assert_string_equal(d.classes[0], "Arabic");
    assert_string_equal(d.classes[1], "Greek");
    assert_int_equal(d.n_train + d.n_test, 7); /* 4 Arabic + 3 Greek */
    assert_int_equal(d.warnings, 5);
    assert_non_null(strstr(warn, "Arabic.txt:3: blank line skipped"));
    assert_non_null(strstr(warn, "Arabic.txt:4: invalid UTF-8 at byte 1 of the line (0xc3), skipped"));
    assert_non_null(strstr(warn, "Arabic.txt:7: blank line skipped"));
    assert_non_null(strstr(warn, "Arabic.txt:8: line is 286 bytes long (at most 256), skipped"));
    assert_non_null(strstr(warn, "Arabic.txt:9: no letter left after folding to ASCII, skipped"));
    int found = 0; /* "  Haddad  " was trimmed and "Saliba\r" lost its CR */
    for (int i = 0; i < d.n_train; i++) found += !strcmp(d.train[i].text, "Haddad") || !strcmp(d.train[i].text, "Saliba");
    for (int i = 0; i < d.n_test; i++) found += !strcmp(d.test[i].text, "Haddad") || !strcmp(d.test[i].text, "Saliba");
    assert_int_equal(found, 2);
    names_free(&d);
}

static void refused_directories(void **state)
{
    (void)state;
    names_data d;
    char err[512], warn[4096];
    fresh_dir();
    assert_int_equal(load(&d, err, sizeof err, warn, sizeof warn), -1); /* empty */
    assert_non_null(strstr(err, "no <Language>.txt files"));
    write_file("Only.txt", "Name\n", 5);
    assert_int_equal(load(&d, err, sizeof err, warn, sizeof warn), -1);
    assert_non_null(strstr(err, "only one language (Only.txt)"));
    write_file("Binary.txt", "Abc\n\0\x01\x02\n", 8);
    assert_int_equal(load(&d, err, sizeof err, warn, sizeof warn), -1);
    assert_non_null(strstr(err, "Binary.txt: binary file (NUL byte at offset 4), refusing"));
    fresh_dir();
    write_file("Good.txt", "Abbott\nZed\n", 11);
    write_file("Empty.txt", "", 0);
    assert_int_equal(load(&d, err, sizeof err, warn, sizeof warn), -1);
    assert_non_null(strstr(err, "Empty.txt: no usable name in the file"));
    fresh_dir();
    write_file("Good.txt", "Abbott\nZed\n", 11);
    write_file("Bad.txt", "\xff\xfe\n\n", 4); /* nothing usable */
    assert_int_equal(load(&d, err, sizeof err, warn, sizeof warn), -1);
    assert_non_null(strstr(err, "Bad.txt: no usable name in the file"));
    assert_non_null(strstr(warn, "Bad.txt:1: invalid UTF-8"));
    fresh_dir();
    write_file("Good.txt", "Abbott\nZed\n", 11);
    char sub[128];
    snprintf(sub, sizeof sub, "%s/Unreadable.txt", dir); /* a directory where a file should be */
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(load(&d, err, sizeof err, warn, sizeof warn), -1);
    assert_non_null(strstr(err, "Unreadable.txt: not a regular file (a directory), refusing"));
    assert_int_equal(names_load_dir(&d, "/nonexistent/names", NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/names: cannot open data directory: No such file or directory"));
    /* many bad lines: a few warnings are shown, then a count */
    fresh_dir();
    write_file("Good.txt", "Abbott\nZed\n", 11);
    write_file("Noisy.txt", "Ok\n\n\n\n\n\n\n\n\n\nAlso\n", 14);
    assert_int_equal(load(&d, err, sizeof err, warn, sizeof warn), 0);
    assert_non_null(strstr(warn, "Noisy.txt: 4 more lines skipped"));
    names_free(&d);
}

static void builtin_sample(void **state)
{
    (void)state;
    names_data d;
    char err[256];
    assert_int_equal(names_load_sample(&d, NULL, err, sizeof err), 0);
    assert_int_equal(d.n_classes, 18);
    assert_string_equal(d.classes[0], "Arabic");
    assert_string_equal(d.classes[17], "Vietnamese");
    assert_int_equal(d.warnings, 0);
    for (int c = 0; c < 18; c++) {
        int n = d.class_start[c + 1] - d.class_start[c] + d.n_test_class[c];
        assert_true(n >= 24 && n <= 40); /* "a few dozen per language" */
    }
    names_free(&d);
}

/* On the tutorial's data set: the split the issue states (2,113 test names). */
static void full_data_split(void **state)
{
    (void)state;
    if (!full_data) {
        printf("  skipped: no data directory given\n");
        skip();
    }
    names_data d;
    char err[512];
    assert_int_equal(names_load_dir(&d, full_data, stderr, err, sizeof err), 0);
    assert_int_equal(d.n_classes, 18);
    assert_int_equal(d.n_train + d.n_test, 20074);
    assert_int_equal(d.n_test, 2113);
    names_free(&d);
}

/* names_distinct keeps the first line of each (folded name, language) pair, in order,
 * rebuilds by_class, and gives the log-ratio of each language's share before and after. */
static void distinct_pairs(void **state)
{
    (void)state;
    /* every line below is on the training side of the split (checked first) */
    const char *tsv = "Arabic\tHaddad\nArabic\tHaddad\nGerman\tMuller\nArabic\tNahas\nEnglish\tAbel\n"
                      "German\tM\xc3\xbcller\nArabic\tHaddad\nGerman\tAbel\nEnglish\tSmith\nEnglish\tSmith\n";
    const char *lines[] = {"Haddad", "Nahas", "Muller", "M\xc3\xbcller", "Abel", "Smith"};
    for (int i = 0; i < 6; i++) assert_false(names_is_test(lines[i], strlen(lines[i])));
    names_data d;
    char err[256];
    assert_int_equal(names_load_tsv(&d, tsv, strlen(tsv), "dups", NULL, err, sizeof err), 0);
    assert_int_equal(d.n_train, 10);
    double shift[NAMES_MAX_CLASSES];
    assert_int_equal(names_distinct(&d, shift), 4); /* Haddad twice, Smith, Müller (folds to Muller) */
    const char *want[6] = {"Haddad", "Muller", "Nahas", "Abel", "Abel", "Smith"};
    const int label[6] = {0, 2, 0, 1, 2, 1}; /* Arabic, English, German: sorted */
    assert_int_equal(d.n_train, 6);
    for (int i = 0; i < 6; i++) {
        assert_string_equal(d.train[i].text, want[i]);
        assert_int_equal(d.train[i].label, label[i]);
    }
    for (int c = 0; c < 3; c++) {
        assert_int_equal(d.class_start[c + 1] - d.class_start[c], 2);
        for (int k = d.class_start[c]; k < d.class_start[c + 1]; k++) assert_int_equal(d.train[d.by_class[k]].label, c);
    }
    /* before: Arabic 4, English 3, German 3 of 10; after: 2, 2, 2 of 6 */
    assert_true(fabs(shift[0] - (log(0.4) - log(2.0 / 6))) < 1e-12);
    assert_true(fabs(shift[1] - (log(0.3) - log(2.0 / 6))) < 1e-12);
    assert_true(fabs(shift[2] - (log(0.3) - log(2.0 / 6))) < 1e-12);
    assert_int_equal(names_distinct(&d, shift), 0); /* nothing left to drop: no shift */
    for (int c = 0; c < 3; c++) assert_true(shift[c] == 0);
    names_free(&d);
}

/* A model's prior_shift: applied and renormalised by names_model_predict_row, written to
 * the meta text bit for bit, and a malformed one refused with a message. */
static void prior_shift(void **state)
{
    (void)state;
    const char classes[3][NAMES_MAX_CLASS_NAME] = {"Arabic", "English", "German"};
    ag_rng r;
    ag_rng_seed(&r, 1);
    names_model m, back;
    assert_int_equal(names_model_init(&m, NAMES_GRU, 4, 1, 0, 3, classes, &r), 0);
    ag_float logp[3] = {(ag_float)log(0.5), (ag_float)log(0.25), (ag_float)log(0.25)};
    double out[3];
    names_model_predict_row(&m, logp, out); /* no shift: the same log-probabilities */
    for (int c = 0; c < 3; c++) assert_true(fabs(out[c] - logp[c]) < 1e-6);
    m.prior_shift[0] = log(2.0) + 0.1; /* Arabic twice as likely a priori: 1 : 0.25 : 0.25 */
    m.prior_shift[1] = 0.1;
    m.prior_shift[2] = 0.1; /* a constant added to all changes nothing */
    names_model_predict_row(&m, logp, out);
    assert_true(fabs(out[0] - log(1 / 1.5)) < 1e-6);
    assert_true(fabs(out[1] - log(0.25 / 1.5)) < 1e-6);
    assert_true(fabs(out[2] - log(0.25 / 1.5)) < 1e-6);

    m.prior_shift[2] = -1.0 / 3; /* round trip through the meta text, exactly */
    char meta[2048], err[256];
    names_model_meta(&m, meta, sizeof meta);
    assert_int_equal(names_model_from_meta(&back, meta, err, sizeof err), 0);
    for (int c = 0; c < 3; c++) assert_true(back.prior_shift[c] == m.prior_shift[c]);
    names_model_free(&back);
    char *at = strstr(meta, "prior_shift=");
    assert_non_null(at);
    const char *bad[] = {"prior_shift=1,2\n", "prior_shift=1,2,3,4\n", "prior_shift=1,nan,2\n", "prior_shift=1;2;3\n",
                         "prior_shift=1,,3\n", "prior_shift=1,2,1e999\n", "prior_shift=\n"};
    for (int i = 0; i < 7; i++) {
        strcpy(at, bad[i]);
        err[0] = 0;
        assert_int_equal(names_model_from_meta(&back, meta, err, sizeof err), -1);
        assert_non_null(strstr(err, "prior_shift is not 3 finite numbers"));
    }
    strcpy(at, ""); /* none at all: no shift (checkpoints from before --distinct) */
    assert_int_equal(names_model_from_meta(&back, meta, err, sizeof err), 0);
    for (int c = 0; c < 3; c++) assert_true(back.prior_shift[c] == 0);
    names_model_free(&back);
    names_model_free(&m);
}

/* The classifier on a padded batch gives each name's result as if run alone. */
static void classifier_padding(void **state)
{
    (void)state;
    names_data d;
    char err[256];
    assert_int_equal(names_load_sample(&d, NULL, err, sizeof err), 0);
    const names_item *items[5] = {&d.train[0], &d.train[40], &d.train[100], &d.train[250], &d.train[400]};
    /* the four kinds, the GRU bidirectional, then two layers of LSTM and a bidirectional
     * GRU whose classifiers also read the mean state (NAMES_POOL_MEAN) */
    const int kinds[6] = {NAMES_TUTORIAL, NAMES_ELMAN, NAMES_GRU, NAMES_LSTM, NAMES_LSTM, NAMES_GRU};
    const int flags[6] = {0, 0, NAMES_BIDIRECTIONAL, 0, NAMES_POOL_MEAN, NAMES_BIDIRECTIONAL | NAMES_POOL_MEAN};
    for (int c = 0; c < 6; c++) {
        ag_rng r;
        ag_rng_seed(&r, 3);
        names_model m;
        assert_int_equal(names_model_init(&m, (names_kind)kinds[c], 16, c == 4 ? 2 : 1, flags[c], d.n_classes,
                                          d.classes, &r), 0);
        ag_tape *t = ag_tape_new();
        ag_tensor *batch = names_model_forward(t, &m, items, 5);
        assert_non_null(batch);
        for (int i = 0; i < 5; i++) {
            ag_tape *t1 = ag_tape_new();
            ag_tensor *one = names_model_forward(t1, &m, &items[i], 1);
            for (int k = 0; k < d.n_classes; k++) assert_true(one->data[k] == batch->data[i * d.n_classes + k]);
            ag_tape_free(t1);
        }
        ag_tape_free(t);
        names_model_free(&m);
    }
    names_free(&d);
}

/* The check that stops training names the first parameter with a NaN or Inf, in the
 * gradients or in the values. */
static void nonfinite_is_named(void **state)
{
    (void)state;
    names_data d;
    char err[256];
    assert_int_equal(names_load_sample(&d, NULL, err, sizeof err), 0);
    ag_rng r;
    ag_rng_seed(&r, 3);
    names_model m;
    assert_int_equal(names_model_init(&m, NAMES_GRU, 8, 1, 0, d.n_classes, d.classes, &r), 0);
    assert_null(nn_params_first_nonfinite(&m.ps, 1));
    assert_null(nn_params_first_nonfinite(&m.ps, 0));
    ag_tensor *w = nn_params_get(&m.ps, "rnn.weight_hh_l0");
    w->grad[5] = NAN;
    assert_string_equal(nn_params_first_nonfinite(&m.ps, 1), "rnn.weight_hh_l0");
    assert_null(nn_params_first_nonfinite(&m.ps, 0));
    nn_params_get(&m.ps, "head.bias")->data[0] = INFINITY;
    assert_string_equal(nn_params_first_nonfinite(&m.ps, 0), "head.bias");
    names_model_free(&m);
    names_free(&d);
}

/* The fixed start of the thread tests: the seed RNN, or a 2-layer bidirectional stack */
static void threads_model(const names_data *d, names_kind kind, names_model *m)
{
    ag_rng r;
    ag_rng_seed(&r, 5);
    int stacked = kind != NAMES_TUTORIAL;
    assert_int_equal(names_model_init(m, kind, 16, stacked ? 2 : 1, stacked ? NAMES_BIDIRECTIONAL : 0, d->n_classes,
                                      d->classes, &r), 0);
}

/* One training run on the sample from the fixed start: `steps` SGD steps of `batch`
 * names with learning rate 1 (clipping at `clip`, 0: none), on `threads` threads. */
static void train_clipped(const names_data *d, names_kind kind, int threads, int batch, int steps, double dropout,
                          double clip, names_model *m)
{
    threads_model(d, kind, m);
    names_train_opts o = {.lr = 1, .iters = (long)steps * batch, .batch = batch, .seed = 7, .threads = threads,
                          .dropout = dropout, .clip = clip};
    nn_optim opt;
    names_train_result res;
    char err[256];
    assert_int_equal(names_optim_init(&opt, m, &o, err, sizeof err), 0);
    assert_int_equal(names_train(m, &opt, d, &o, &res, err, sizeof err), 0);
    assert_int_equal(res.names_seen, (long)steps * batch);
    names_train_result_free(&res);
    nn_optim_free(&opt);
}

static void train_on_threads(const names_data *d, names_kind kind, int threads, int batch, int steps, double dropout,
                             names_model *m)
{
    train_clipped(d, kind, threads, batch, steps, dropout, 0, m);
}

/* `steps` steps of lr 1 (clipping at clip, 0: none) on T threads against one thread, for
 * even and uneven slices (10 names on 2 and 3 threads) and a slice count above the batch
 * (4 names on 6 threads: two slices empty), for the seed RNN and a GRU stack. The two
 * differ only in the order of float32 sums over at most 10 names (relative rounding of
 * ~1e-6), which later steps carry into their gradients and grow by at most the
 * few-fold a step changes them: 1e-4 of the largest move allows for that (the measured
 * worst is 3e-7). A lost, doubled or misweighted slice is off by a whole name's share
 * (>= 1/10), and so is a copy that kept its last gradients, read stale values or lost
 * its part of the update (2.9 and 0.08 of the move when tried). */
static void threads_against_one(int steps, double clip)
{
    names_data d;
    char err[256];
    assert_int_equal(names_load_sample(&d, NULL, err, sizeof err), 0);
    const int cases[][2] = {{2, 10}, {3, 10}, {6, 4}}; /* threads, batch */
    for (int kind = NAMES_TUTORIAL; kind <= NAMES_GRU; kind += NAMES_GRU - NAMES_TUTORIAL)
        for (int c = 0; c < 3; c++) {
            names_model start, one, many;
            threads_model(&d, (names_kind)kind, &start);
            train_clipped(&d, (names_kind)kind, 1, cases[c][1], steps, 0, clip, &one);
            train_clipped(&d, (names_kind)kind, cases[c][0], cases[c][1], steps, 0, clip, &many);
            double biggest = 0, worst = 0;
            for (int i = 0; i < start.ps.n; i++)
                for (int k = 0; k < start.ps.p[i]->size; k++) {
                    double move = fabs((double)one.ps.p[i]->data[k] - start.ps.p[i]->data[k]);
                    double diff = fabs((double)one.ps.p[i]->data[k] - many.ps.p[i]->data[k]);
                    biggest = move > biggest ? move : biggest;
                    worst = diff > worst ? diff : worst;
                }
            assert_true(biggest > 1e-2); /* the steps really moved the model */
            if (worst > 1e-4 * biggest)
                fail_msg("kind %d, %d threads, batch %d, %d steps, clip %g: off by %g (largest move %g)", kind,
                         cases[c][0], cases[c][1], steps, clip, worst, biggest);
            names_model_free(&start);
            names_model_free(&one);
            names_model_free(&many);
        }
    names_free(&d);
}

/* On T threads a batch is cut into T slices whose gradients are summed: one SGD step
 * (lr 1, so each parameter moves by minus the batch's mean gradient) must move the
 * model as one thread does. */
static void threads_sum_to_the_batch_gradient(void **state)
{
    (void)state;
    threads_against_one(1, 0);
}

/* Several steps on T threads follow one thread's: each step's threads share the sum,
 * the check and the update (a part each), the copies read the updated values and start
 * each step with zero gradients. Clipping at 0.5 (the sample's first gradients have
 * norms of about 1-3, so it scales most steps) and not. */
static void threads_follow_one_thread_over_steps(void **state)
{
    (void)state;
    threads_against_one(4, 0);
    threads_against_one(4, 0.5);
}

/* A seed and a thread count give the same run, dropout masks included. */
static void threads_are_deterministic(void **state)
{
    (void)state;
    names_data d;
    char err[256];
    assert_int_equal(names_load_sample(&d, NULL, err, sizeof err), 0);
    names_model a, b;
    train_on_threads(&d, NAMES_GRU, 2, 16, 5, 0.3, &a);
    train_on_threads(&d, NAMES_GRU, 2, 16, 5, 0.3, &b);
    for (int i = 0; i < a.ps.n; i++)
        assert_memory_equal(a.ps.p[i]->data, b.ps.p[i]->data, (size_t)a.ps.p[i]->size * sizeof(ag_float));
    names_model_free(&a);
    names_model_free(&b);
    names_free(&d);
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    if (dir[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
    }
    return 0;
}


/* ---- issue 13: special files, language names, escaping, settings, nothing cut ---- */

/* A FIFO named X.txt is refused at once, never opened so that it blocks (the alarm
 * turns a hang into a failure). */
static void special_files_refused(void **state)
{
    (void)state;
    names_data d;
    char err[512], warn[4096], p[256];
    fresh_dir();
    write_file("Good.txt", "Abbott\nZed\n", 11);
    snprintf(p, sizeof p, "%s/Pipe.txt", dir);
    assert_int_equal(mkfifo(p, 0600), 0);
    alarm(10);
    assert_int_equal(load(&d, err, sizeof err, warn, sizeof warn), -1);
    alarm(0);
    printf("  %s\n", err);
    assert_non_null(strstr(err, "Pipe.txt: not a regular file (a FIFO), refusing"));
    fresh_dir(); /* a device behind a symbolic link */
    write_file("Good.txt", "Abbott\nZed\n", 11);
    snprintf(p, sizeof p, "%s/Zero.txt", dir);
    assert_int_equal(symlink("/dev/zero", p), 0);
    alarm(10);
    assert_int_equal(load(&d, err, sizeof err, warn, sizeof warn), -1);
    alarm(0);
    assert_non_null(strstr(err, "Zero.txt: not a regular file (a character device), refusing"));
}

/* What a language name may be: names that would not come back out of the checkpoint's
 * class list, an SVG or a terminal are refused when the data is loaded, naming the file. */
static void language_names(void **state)
{
    (void)state;
    static const struct { const char *file, *why; } bad[] = {
        {"A,B.txt", "A,B.txt: a language name must not hold a ','"},
        {"Esc\x1b[1m.txt", "a language name must not hold a control character (byte 4)"},
        {"New\nline.txt", "a language name must not hold a control character (byte 4)"},
        {"Del\x7f.txt", "must not hold a control character"},
        {"C1\xc2\x85.txt", "must not hold a control character"},
        {"Non\xef\xbf\xbf.txt", "must not hold a control character"},
        {"Latin\xff.txt", "a language name must be valid UTF-8 (byte 6)"},
        {"Over\xc0\xaf.txt", "must be valid UTF-8"},
        {"123456789012345678901234567890123456789012345678.txt", "a language name is 1 to 47 bytes, this one is 48"},
    };
    names_data d;
    char err[512], warn[4096];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fresh_dir();
        write_file("Good.txt", "Abbott\nZed\n", 11);
        write_file(bad[i].file, "Keane\nOrr\n", 10);
        assert_int_equal(load(&d, err, sizeof err, warn, sizeof warn), -1);
        if (!strstr(err, bad[i].why)) fail_msg("%s: got '%s'", bad[i].why, err);
    }
    fresh_dir(); /* what XML escapes is allowed: it is escaped where it goes */
    write_file("A&B <i>\"'.txt", "Keane\nOrr\n", 10);
    write_file("\xc3\x9c" "n" "\xc3\xaf" "c" "\xc3\xb8" "d" "\xc3\xa9 \xe2\x9c\x93.txt", "Abbott\nZed\n", 11);
    write_file("12345678901234567890123456789012345678901234567.txt", "Abe\n", 4);
    assert_int_equal(load(&d, err, sizeof err, warn, sizeof warn), 0);
    assert_string_equal(d.classes[1], "A&B <i>\"'");
    names_free(&d);
    /* the TSV format: the same rules, with the line */
    const char tsv[] = "# comment\nGood\tAbbott\nGood\tZed\nA,B\tKeane\n";
    assert_int_equal(names_load_tsv(&d, tsv, sizeof tsv - 1, "t.tsv", NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "t.tsv:4: a language name must not hold a ','"));
    const char tsv2[] = "Good\tAbbott\nBad\x01\tZed\n";
    assert_int_equal(names_load_tsv(&d, tsv2, sizeof tsv2 - 1, "t.tsv", NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "t.tsv:2: a language name must not hold a control character"));
}

/* names_escape: printable UTF-8 kept, the rest as \xNN, a cut said out loud. */
static void escaping(void **state)
{
    (void)state;
    static const struct { const char *in, *out; } cases[] = {
        {"Smith", "Smith"},
        {"\xc5\x9alus\xc3\xa0rski", "\xc5\x9alus\xc3\xa0rski"},
        {"\x1b[31mRed\x1b[0m", "\\x1b[31mRed\\x1b[0m"},
        {"a\\b", "a\\\\b"},
        {"tab\there\nnl", "tab\\x09here\\x0anl"},
        {"bad\xff\xfe", "bad\\xff\\xfe"},
        {"c1\xc2\x9b", "c1\\xc2\\x9b"},
        {"del\x7f", "del\\x7f"},
        {"", ""},
    };
    char out[128];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_string_equal(names_escape(cases[i].in, out, sizeof out), cases[i].out);
    char *big = malloc(100001);
    memset(big, 'a', 100000);
    big[100000] = 0;
    names_escape(big, out, 64);
    printf("  %s\n", out);
    assert_true(strlen(out) < 64);
    assert_non_null(strstr(out, "aaa...(100000 bytes)"));
    memset(big, 0x1b, 100); /* a cut never splits an escape */
    big[100] = 0;
    names_escape(big, out, 64);
    assert_non_null(strstr(out, "\\x1b...(100 bytes)"));
    free(big);
    names_escape("abc", out, 4); /* exactly fits: no mark */
    assert_string_equal(out, "abc");
}

/* The SVG writers never let a byte through that XML cannot hold, even for labels the
 * loader would refuse; xmllint parses the result when it is installed. */
static void svg_hostile_labels(void **state)
{
    (void)state;
    const char classes[5][NAMES_MAX_CLASS_NAME] = {"A&B<i>\"'", "Ctl\x01\x1b[1m", "Bad\xff\xc3", "Non\xef\xbf\xbe",
                                                   "]]>\xce\x95"};
    int conf[25];
    for (int i = 0; i < 25; i++) conf[i] = i % 7;
    char path[256], err[512], cmd[600];
    fresh_dir();
    snprintf(path, sizeof path, "%s/c.svg", dir);
    assert_int_equal(names_plot_confusion(path, conf, 5, classes, "t<i>tle & \x02", err, sizeof err), 0);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    for (size_t i = 0; i < n;) {
        size_t at = i;
        long cp = nn_utf8_decode(buf, n, &i);
        if (cp < 0 || (names_is_control(cp) && cp != '\n')) fail_msg("byte %zu of the SVG: 0x%02x", at, (unsigned char)buf[at]);
    }
    assert_null(strstr(buf, "<i>"));
    snprintf(path, sizeof path, "%s/l.svg", dir);
    double x[2] = {1, 2}, y[2] = {3, 4};
    assert_int_equal(nn_plot_line(path, x, y, 2, "\x1b<b>", "x\xff", "y&", err, sizeof err), 0);
    if (system("command -v xmllint >/dev/null 2>&1") == 0) {
        snprintf(cmd, sizeof cmd, "xmllint --noout %s/c.svg %s/l.svg", dir, dir);
        assert_int_equal(system(cmd), 0);
        printf("  xmllint: both well-formed\n");
    } else {
        printf("  (xmllint is not installed: the bytes were checked, not the parse)\n");
    }
}

/* A checkpoint's settings go through the flags' table: what the command line refuses,
 * a checkpoint cannot hold; each refusal names the key. */
static void settings_from_meta(void **state)
{
    (void)state;
    options o = {.model = "gru", .optim = "adam", .schedule = "cosine", .pool = "mean", .hidden = 16, .layers = 2,
                 .batch = 8, .epochs = 3, .lr = 0.002, .seed = 7, .threads = 2, .clip = 3, .dropout = 0.25,
                 .letter_noise = 0.1, .distinct = 1};
    char path[5000]; /* a data path longer than any fixed buffer the reader had */
    memset(path, 'p', sizeof path - 1);
    path[0] = '/';
    path[sizeof path - 1] = 0;
    o.data = path;
    size_t need = names_settings_meta(&o, NULL, 0);
    char *meta = malloc(need + 512), *store = NULL, err[512];
    int k = snprintf(meta, 512, "model=gru\nhidden=16\nlayers=2\nbidirectional=0\npool=mean\n");
    assert_int_equal(names_settings_meta(&o, meta + k, need + 1), need);
    options back = {0};
    assert_int_equal(names_settings_from_meta(&back, meta, NAMES_SETTINGS_ALL, &store, err, sizeof err), 0);
    assert_string_equal(back.data, path);
    assert_true(back.lr == o.lr && back.clip == 3 && back.letter_noise == 0.1 && back.seed == 7 && back.epochs == 3 &&
                back.iters == 0 && back.distinct == 1 && back.threads == 2 && !strcmp(back.pool, "mean"));
    free(store);
    static const struct { const char *line, *why; } bad[] = {
        {"batch=0", "its setting 'batch' expects a whole number from 1 to 65536, got '0'"},
        {"batch=-1", "its setting 'batch' expects a whole number from 1 to 65536, got '-1'"},
        {"batch=8x", "got '8x'"},
        {"batch=99999999999999999999", "got '99999999999999999999'"},
        {"epochs=-1", "its setting 'epochs' expects a whole number from 1 to 100000 (or 0: not used), got '-1'"},
        {"lr=inf", "its setting 'lr' expects a number from 1e-12 to 1000, got 'inf'"},
        {"model=\x1b[2J", "its setting 'model' must be tutorial, elman, gru or lstm, got '\\x1b[2J'"},
        {"threads=0", "its setting 'threads' expects a whole number from 1 to 64, got '0'"},
        {"distinct=yes", "its setting 'distinct' expects a whole number from 0 to 1, got 'yes'"},
        {"layers=5", "its setting 'layers' expects a whole number from 1 to 4, got '5'"},
        {"epochs=0", "its settings iters=0 and epochs=0: exactly one of them must be 0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t klen = (size_t)(strchr(bad[i].line, '=') - bad[i].line);
        char *edited = malloc(strlen(meta) + 64), *w = edited;
        w += sprintf(w, "%s\n", bad[i].line); /* the first of a key is the one read */
        strcpy(w, meta);
        (void)klen;
        options x = {0};
        assert_int_equal(names_settings_from_meta(&x, edited, NAMES_SETTINGS_ALL, &store, err, sizeof err), -1);
        free(store);
        if (!strstr(err, bad[i].why)) fail_msg("%s: got '%s'", bad[i].line, err);
        free(edited);
    }
    free(meta);
    /* absent keys of older checkpoints take the values those runs had */
    const char old[] = "model=seed\nhidden=8\ndata=\noptim=sgd\nlr=0.005\nmomentum=0\nweight_decay=0\nclip=0\n"
                       "schedule=constant\ndropout=0\nbatch=1\niters=100\nepochs=0\nseed=1\n";
    options x = {0};
    assert_int_equal(names_settings_from_meta(&x, old, NAMES_SETTINGS_ALL, &store, err, sizeof err), 0);
    assert_true(x.layers == 1 && x.threads == 1 && !x.distinct && x.letter_noise == 0 && !strcmp(x.pool, "last") &&
                x.data == NULL);
    assert_string_equal(x.model, "tutorial"); /* the tutorial's model was called "seed" before 0.2 */
    names_kind kind = NAMES_GRU;
    assert_int_equal(names_kind_parse("seed", &kind), 0);
    assert_int_equal(kind, NAMES_TUTORIAL);
    assert_string_equal(names_kind_name(NAMES_TUTORIAL), "tutorial");
    free(store);
}

/* The meta text of a model with 64 languages of 47 bytes and a prior shift is written
 * whole, however long, and reads back. */
static void model_meta_not_cut(void **state)
{
    (void)state;
    char classes[NAMES_MAX_CLASSES][NAMES_MAX_CLASS_NAME];
    for (int c = 0; c < NAMES_MAX_CLASSES; c++) snprintf(classes[c], sizeof classes[c], "%02d%045d", c, 0);
    ag_rng r;
    ag_rng_seed(&r, 1);
    names_model m, back;
    assert_int_equal(names_model_init(&m, NAMES_GRU, 4, 1, 0, NAMES_MAX_CLASSES, (const char(*)[NAMES_MAX_CLASS_NAME])classes,
                                      &r), 0);
    for (int c = 0; c < NAMES_MAX_CLASSES; c++) m.prior_shift[c] = -1.0 / (c + 3);
    size_t need = names_model_meta(&m, NULL, 0);
    printf("  %zu bytes of meta text\n", need);
    assert_true(need > 4096);
    char *meta = malloc(need + 1), err[512];
    assert_int_equal(names_model_meta(&m, meta, need + 1), need);
    assert_int_equal(strlen(meta), need);
    assert_int_equal(names_model_from_meta(&back, meta, err, sizeof err), 0);
    assert_int_equal(back.n_classes, NAMES_MAX_CLASSES);
    for (int c = 0; c < NAMES_MAX_CLASSES; c++) {
        assert_string_equal(back.classes[c], classes[c]);
        assert_true(back.prior_shift[c] == m.prior_shift[c]);
    }
    names_model_free(&back);
    char small[100]; /* a short buffer is never overrun, and says what it needs */
    assert_int_equal(names_model_meta(&m, small, sizeof small), need);
    free(meta);
    names_model_free(&m);
}

/* The training state's keys are each checked and named. */
static void train_state_keys(void **state)
{
    (void)state;
    names_train_state st, back;
    names_train_state_init(&st, 5);
    st.names_seen = 123;
    st.pos = -1;
    char meta[512], err[256];
    assert_true(names_train_state_meta(&st, meta, sizeof meta) < sizeof meta);
    assert_int_equal(names_train_state_parse(&back, meta, err, sizeof err), 0);
    assert_int_equal(memcmp(&st, &back, sizeof st), 0);
    strcat(meta, "x=1\n");
    char *at = strstr(meta, "state.steps=");
    memcpy(at, "state.stepz=", 12);
    assert_int_equal(names_train_state_parse(&back, meta, err, sizeof err), -1);
    assert_string_equal(err, "its training state 'state.steps' is missing");
    memcpy(at, "state.steps=-", 13);
    assert_int_equal(names_train_state_parse(&back, meta, err, sizeof err), -1);
    assert_non_null(strstr(err, "'state.steps' is not a whole number from 0 up"));
}

int main(int argc, char **argv)
{
    if (argc > 1 && access(argv[1], R_OK) == 0) full_data = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fold_table),
        cmocka_unit_test(fold_rejects_bad_utf8),
        cmocka_unit_test(split_by_crc),
        cmocka_unit_test(good_and_bad_lines),
        cmocka_unit_test(refused_directories),
        cmocka_unit_test(builtin_sample),
        cmocka_unit_test(full_data_split),
        cmocka_unit_test(distinct_pairs),
        cmocka_unit_test(prior_shift),
        cmocka_unit_test(classifier_padding),
        cmocka_unit_test(nonfinite_is_named),
        cmocka_unit_test(threads_sum_to_the_batch_gradient),
        cmocka_unit_test(threads_follow_one_thread_over_steps),
        cmocka_unit_test(threads_are_deterministic),
        cmocka_unit_test(special_files_refused),
        cmocka_unit_test(language_names),
        cmocka_unit_test(escaping),
        cmocka_unit_test(svg_hostile_labels),
        cmocka_unit_test(settings_from_meta),
        cmocka_unit_test(model_meta_not_cut),
        cmocka_unit_test(train_state_keys),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
