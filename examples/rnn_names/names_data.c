/* names_data.c -- reading the surnames: files, lines, checks, folding, the split. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "names_data.h"
#include "nn.h"

enum { WARN_PER_SOURCE = 5 };

static int fail(char *err, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- the builder: every accepted line, then the split ---- */

typedef struct {
    names_item *items;
    int n, cap;
    long warnings;
    FILE *warn;
    const char *source; /* file being read, for messages */
    long source_warnings;
} builder;

static void warn_line(builder *b, long line, const char *fmt, ...)
{
    b->warnings++;
    b->source_warnings++;
    if (!b->warn || b->source_warnings > WARN_PER_SOURCE) return;
    char src[512];
    fprintf(b->warn, "warning: %s:%ld: ", names_escape(b->source, src, sizeof src), line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(b->warn, fmt, ap);
    va_end(ap);
    fputc('\n', b->warn);
}

static void end_source(builder *b)
{
    char src[512];
    if (b->warn && b->source_warnings > WARN_PER_SOURCE)
        fprintf(b->warn, "warning: %s: %ld more lines skipped\n", names_escape(b->source, src, sizeof src),
                b->source_warnings - WARN_PER_SOURCE);
    b->source_warnings = 0;
}

/* Width in bytes of the whitespace at s[i] (reading backwards: ending at s[i]), or 0.
 * ASCII whitespace, and U+00A0 NO-BREAK SPACE (C2 A0), which Python's strip() removes. */
static size_t space_at(const unsigned char *s, size_t n, size_t i, int backwards)
{
    if (s[i] && strchr(" \t\r\v\f", s[i])) return 1;
    if (!backwards && i + 1 < n && s[i] == 0xC2 && s[i + 1] == 0xA0) return 2;
    if (backwards && i >= 1 && s[i - 1] == 0xC2 && s[i] == 0xA0) return 2;
    return 0;
}

int names_is_test(const char *line, size_t n)
{
    return nn_crc32(0, line, n) % 10 == 0;
}

/* One raw line (no '\n') of class `label`. Returns 1 if kept, 0 if skipped, -1 out of memory. */
static int add_line(builder *b, int label, const char *raw, size_t n, long lineno)
{
    const unsigned char *s = (const unsigned char *)raw;
    size_t w, start = 0, end = n;
    while (start < end && (w = space_at(s, end, start, 0))) start += w;
    while (end > start && (w = space_at(s, end, end - 1, 1)) && end - w >= start) end -= w;
    if (start == end) {
        warn_line(b, lineno, "blank line skipped");
        return 0;
    }
    if (end - start > NAMES_MAX_LINE) {
        warn_line(b, lineno, "line is %zu bytes long (at most %d), skipped", end - start, NAMES_MAX_LINE);
        return 0;
    }
    names_item it;
    memset(&it, 0, sizeof it);
    size_t bad;
    int len = names_fold(raw + start, end - start, it.text, sizeof it.text, &bad);
    if (len < 0) {
        warn_line(b, lineno, "invalid UTF-8 at byte %zu of the line (0x%02x), skipped", start + bad + 1, s[start + bad]);
        return 0;
    }
    if (len == 0) {
        warn_line(b, lineno, "no letter left after folding to ASCII, skipped");
        return 0;
    }
    if (len > NAMES_MAX_LEN) {
        warn_line(b, lineno, "name has %d letters (at most %d), skipped", len, NAMES_MAX_LEN);
        return 0;
    }
    it.len = len;
    /* the label's sign carries the split until names_finish: -1 - label for test */
    it.label = names_is_test(raw + start, end - start) ? -1 - label : label;
    if (b->n == b->cap) {
        int cap = b->cap ? 2 * b->cap : 1024;
        names_item *p = realloc(b->items, (size_t)cap * sizeof *p);
        if (!p) return -1;
        b->items = p;
        b->cap = cap;
    }
    b->items[b->n++] = it;
    return 1;
}

/* Every line of a text buffer. Returns the number kept, -1 out of memory. */
static long add_lines(builder *b, int label, const char *text, size_t len)
{
    long kept = 0, lineno = 0;
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len;
        int r = add_line(b, label, text + at, end - at, ++lineno);
        if (r < 0) return -1;
        kept += r;
        at = end + 1;
    }
    return kept;
}

/* class_start from each language's count of training names, and by_class from the
 * labels of d->train[0 .. n_train) */
static void index_by_class(names_data *d, const int *count)
{
    int fill[NAMES_MAX_CLASSES] = {0};
    for (int c = 0; c < d->n_classes; c++) d->class_start[c + 1] = d->class_start[c] + count[c];
    for (int i = 0; i < d->n_train; i++) {
        int c = d->train[i].label;
        d->by_class[d->class_start[c] + fill[c]++] = i;
    }
}

static int finish(names_data *d, builder *b, char *err, size_t errlen)
{
    int count[NAMES_MAX_CLASSES] = {0};
    for (int i = 0; i < b->n; i++) {
        if (b->items[i].label < 0) d->n_test++;
        else count[b->items[i].label]++;
    }
    d->n_train = b->n - d->n_test;
    d->warnings = b->warnings;
    d->train = malloc((size_t)(d->n_train ? d->n_train : 1) * sizeof *d->train);
    d->test = malloc((size_t)(d->n_test ? d->n_test : 1) * sizeof *d->test);
    d->by_class = malloc((size_t)(d->n_train ? d->n_train : 1) * sizeof *d->by_class);
    if (!d->train || !d->test || !d->by_class) return fail(err, errlen, "out of memory");
    for (int c = 0; c < d->n_classes; c++)
        if (count[c] == 0)
            return fail(err, errlen, "%s: no name of this language is left for training (all went to the test split)",
                        d->classes[c]);
    int tr = 0, te = 0;
    for (int i = 0; i < b->n; i++) {
        names_item it = b->items[i];
        if (it.label < 0) {
            it.label = -1 - it.label;
            d->n_test_class[it.label]++;
            d->test[te++] = it;
        } else {
            d->train[tr++] = it;
        }
    }
    index_by_class(d, count);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int names_class_check(const char *s, size_t n, char *why, size_t whyn)
{
    if (n == 0 || n >= NAMES_MAX_CLASS_NAME) {
        snprintf(why, whyn, "a language name is 1 to %d bytes, this one is %zu", NAMES_MAX_CLASS_NAME - 1, n);
        return -1;
    }
    for (size_t i = 0; i < n;) {
        size_t at = i;
        long cp = nn_utf8_decode(s, n, &i);
        if (cp < 0 || names_is_control(cp) || cp == ',') {
            snprintf(why, whyn, "a language name %s (byte %zu)",
                     cp < 0 ? "must be valid UTF-8" : cp == ',' ? "must not hold a ','" : "must not hold a control character",
                     at + 1);
            return -1;
        }
    }
    return 0;
}

static const char *file_kind(mode_t m)
{
    return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

/* The whole of a regular file of at most NAMES_MAX_FILE bytes into *buf (owned by the
 * caller), *len bytes. It is opened without blocking and its kind checked before any
 * read, so a FIFO or a device named X.txt is refused instead of hanging the load. */
static int read_regular(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) rc = fail(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode)) rc = fail(err, errlen, "%s: not a regular file (%s), refusing", path, file_kind(st.st_mode));
    else if (st.st_size > NAMES_MAX_FILE) rc = fail(err, errlen, "%s: larger than %d MiB, refusing", path, NAMES_MAX_FILE >> 20);
    else if (!(*buf = malloc((size_t)st.st_size + 1))) rc = fail(err, errlen, "out of memory");
    int fl = rc == 0 ? fcntl(fd, F_GETFL) : -1; /* a regular file: reads as usual from here */
    if (fl != -1) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    for (size_t at = 0; rc == 0 && at < (size_t)st.st_size;) {
        ssize_t k = read(fd, *buf + at, (size_t)st.st_size - at);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) rc = fail(err, errlen, "%s: read error: %s", path, strerror(errno));
        else if (k == 0) rc = fail(err, errlen, "%s: read error: the file got shorter while it was read", path);
        else at += (size_t)k;
    }
    close(fd);
    if (rc != 0) {
        free(*buf);
        *buf = NULL;
        return rc;
    }
    *len = (size_t)st.st_size;
    return 0;
}

static int load_file(builder *b, int label, const char *path, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    if (read_regular(path, &buf, &len, err, errlen) != 0) return -1;
    int rc = 0;
    const char *nul = memchr(buf, 0, len);
    if (nul) rc = fail(err, errlen, "%s: binary file (NUL byte at offset %zu), refusing", path, (size_t)(nul - buf));
    else {
        b->source = path;
        long kept = add_lines(b, label, buf, len);
        end_source(b);
        if (kept < 0) rc = fail(err, errlen, "out of memory");
        else if (kept == 0) rc = fail(err, errlen, "%s: no usable name in the file", path);
    }
    free(buf);
    return rc;
}

/* dir + "/" + name, allocated (paths of any length), or NULL. */
static char *path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), n = strlen(name);
    char *p = malloc(a + n + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, n + 1);
    return p;
}

int names_load_dir(names_data *d, const char *dir, FILE *warn, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    DIR *dh = opendir(dir);
    if (!dh) return fail(err, errlen, "%s: cannot open data directory: %s", dir, strerror(errno));
    char *files[NAMES_MAX_CLASSES + 1];
    int n = 0, rc = 0;
    for (struct dirent *e; (e = readdir(dh));) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len <= 4 || strcmp(e->d_name + len - 4, ".txt") != 0) continue;
        if (n == NAMES_MAX_CLASSES) {
            rc = fail(err, errlen, "%s: more than %d .txt files (languages)", dir, NAMES_MAX_CLASSES);
            break;
        }
        char why[128];
        if (names_class_check(e->d_name, len - 4, why, sizeof why) != 0) {
            rc = fail(err, errlen, "%s/%s: %s; rename the file", dir, e->d_name, why);
            break;
        }
        if (!(files[n] = malloc(len + 1))) {
            rc = fail(err, errlen, "out of memory");
            break;
        }
        memcpy(files[n++], e->d_name, len + 1);
    }
    closedir(dh);
    if (rc == 0 && n == 0) rc = fail(err, errlen, "%s: no <Language>.txt files in the directory", dir);
    if (rc == 0 && n == 1) rc = fail(err, errlen, "%s: only one language (%s); need at least two", dir, files[0]);
    qsort(files, (size_t)n, sizeof *files, cmp_str);
    builder b = {0};
    b.warn = warn;
    for (int i = 0; i < n && rc == 0; i++) {
        char *path = path_join(dir, files[i]);
        memcpy(d->classes[i], files[i], strlen(files[i]) - 4); /* checked: it fits */
        d->classes[i][strlen(files[i]) - 4] = 0;
        d->n_classes = i + 1;
        rc = path ? load_file(&b, i, path, err, errlen) : fail(err, errlen, "out of memory");
        free(path);
    }
    if (rc == 0) rc = finish(d, &b, err, errlen);
    for (int i = 0; i < n; i++) free(files[i]);
    free(b.items);
    if (rc != 0) names_free(d);
    return rc;
}

/* The line number of byte `at` of text (1-based). */
static long tsv_line(const char *text, size_t at)
{
    long line = 1;
    for (size_t i = 0; i < at; i++) line += text[i] == '\n';
    return line;
}

int names_load_tsv(names_data *d, const char *text, size_t len, const char *source, FILE *warn, char *err,
                   size_t errlen)
{
    memset(d, 0, sizeof *d);
    char *classes[NAMES_MAX_CLASSES];
    int n = 0, rc = 0;
    const char *nul = memchr(text, 0, len);
    if (nul) return fail(err, errlen, "%s: binary data (NUL byte at offset %zu), refusing", source, (size_t)(nul - text));
    /* pass 1: the languages, sorted */
    for (size_t at = 0; at < len && rc == 0;) {
        const char *nl = memchr(text + at, '\n', len - at), *tab;
        size_t end = nl ? (size_t)(nl - text) : len;
        if (text[at] != '#' && (tab = memchr(text + at, '\t', end - at))) {
            size_t cl = (size_t)(tab - (text + at));
            int seen = 0;
            char why[128];
            for (int i = 0; i < n && !seen; i++) seen = strlen(classes[i]) == cl && !memcmp(classes[i], text + at, cl);
            if (!seen && n == NAMES_MAX_CLASSES)
                rc = fail(err, errlen, "%s: more than %d languages", source, NAMES_MAX_CLASSES);
            else if (!seen && names_class_check(text + at, cl, why, sizeof why) != 0)
                rc = fail(err, errlen, "%s:%ld: %s", source, tsv_line(text, at), why);
            else if (!seen && (classes[n] = malloc(cl + 1))) {
                memcpy(classes[n], text + at, cl);
                classes[n++][cl] = 0;
            } else if (!seen) rc = fail(err, errlen, "out of memory");
        }
        at = end + 1;
    }
    if (rc == 0 && n < 2) rc = fail(err, errlen, "%s: fewer than two languages", source);
    qsort(classes, (size_t)n, sizeof *classes, cmp_str);
    for (int i = 0; i < n; i++) snprintf(d->classes[i], NAMES_MAX_CLASS_NAME, "%s", classes[i]);
    d->n_classes = n;
    /* pass 2: the names */
    builder b = {0};
    b.warn = warn;
    b.source = source;
    long lineno = 0;
    for (size_t at = 0; at < len && rc == 0;) {
        const char *nl = memchr(text + at, '\n', len - at), *tab;
        size_t end = nl ? (size_t)(nl - text) : len;
        lineno++;
        if (end > at && text[at] != '#') {
            if (!(tab = memchr(text + at, '\t', end - at))) {
                warn_line(&b, lineno, "no tab between language and name, skipped");
            } else {
                int label = 0;
                while (label < n && (strlen(classes[label]) != (size_t)(tab - (text + at)) ||
                                     memcmp(classes[label], text + at, (size_t)(tab - (text + at)))))
                    label++;
                if (label == n) warn_line(&b, lineno, "language name not understood, skipped");
                else if (add_line(&b, label, tab + 1, (size_t)(text + end - (tab + 1)), lineno) < 0)
                    rc = fail(err, errlen, "out of memory");
            }
        }
        at = end + 1;
    }
    end_source(&b);
    if (rc == 0) rc = finish(d, &b, err, errlen);
    for (int i = 0; i < n; i++) free(classes[i]);
    free(b.items);
    if (rc != 0) names_free(d);
    return rc;
}

void names_free(names_data *d)
{
    free(d->train);
    free(d->test);
    free(d->by_class);
    memset(d, 0, sizeof *d);
}

/* The built-in sample, generated from sample_names.tsv by CMake (names_sample.c). */
extern const char names_sample_tsv[];
extern const unsigned long names_sample_tsv_len;

int names_load_sample(names_data *d, FILE *warn, char *err, size_t errlen)
{
    return names_load_tsv(d, names_sample_tsv, names_sample_tsv_len, "built-in sample", warn, err, errlen);
}

/* ---- distinct training pairs ---- */

static uint32_t item_hash(const names_item *it)
{
    uint32_t h = 2166136261u ^ (uint32_t)it->label; /* FNV-1a over the label and the letters */
    for (int i = 0; i < it->len; i++) h = (h ^ (unsigned char)it->text[i]) * 16777619u;
    return h;
}

int names_distinct(names_data *d, double *shift)
{
    size_t cap = 16;
    while (cap < 2 * (size_t)d->n_train) cap *= 2;
    int *slot = malloc(cap * sizeof *slot); /* open addressing: index into train, or -1 */
    if (!slot) return -1;
    memset(slot, 0xff, cap * sizeof *slot);
    int after[NAMES_MAX_CLASSES] = {0}, kept = 0;
    for (int i = 0; i < d->n_train; i++) {
        const names_item *it = &d->train[i];
        size_t h = item_hash(it) & (cap - 1);
        int dup = 0;
        for (; slot[h] >= 0; h = (h + 1) & (cap - 1)) {
            const names_item *o = &d->train[slot[h]];
            if (o->label == it->label && o->len == it->len && !memcmp(o->text, it->text, (size_t)it->len)) {
                dup = 1;
                break;
            }
        }
        if (dup) continue;
        d->train[kept] = *it; /* kept <= i: an earlier slot, already read */
        slot[h] = kept++;
        after[it->label]++;
    }
    free(slot);
    /* class_start still counts every line of each language: the shares before */
    for (int c = 0; shift && c < d->n_classes; c++) /* every language keeps >= 1 name */
        shift[c] = log((double)(d->class_start[c + 1] - d->class_start[c]) / d->n_train) -
                   log((double)after[c] / kept);
    int dropped = d->n_train - kept;
    d->n_train = kept;
    index_by_class(d, after);
    return dropped;
}
