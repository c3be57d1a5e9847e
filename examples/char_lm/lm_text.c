/* lm_text.c -- reading a text, checking it, and its vocabulary of code points. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lm_text.h"
#include "nn.h"

int lm_vocab_index(const uint32_t *chars, int vocab, uint32_t cp)
{
    int lo = 0, hi = vocab - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (chars[mid] == cp) return mid;
        if (chars[mid] < cp) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

void lm_text_free(lm_text *t)
{
    if (!t) return;
    free(t->chars);
    free(t->ids);
    memset(t, 0, sizeof *t);
}

/* A character for a message: printable ASCII as itself, the rest as U+XXXX. */
static void show_char(uint32_t cp, char *buf, size_t n)
{
    if (cp > 0x20 && cp < 0x7f) snprintf(buf, n, "'%c'", (char)cp);
    else snprintf(buf, n, "U+%04X", (unsigned)cp);
}

int lm_text_from_bytes(lm_text *t, const char *name, const unsigned char *buf, size_t n, char *err,
                       size_t errlen)
{
    memset(t, 0, sizeof *t);
    if (n == 0) {
        snprintf(err, errlen, "%s: the file is empty; a language model needs a text", name);
        return -1;
    }
    /* One pass checks every byte and marks which code points occur. */
    unsigned char *seen = calloc(0x110000 / 8, 1);
    t->ids = malloc(n * sizeof *t->ids); /* at most one character per byte */
    if (!seen || !t->ids) {
        free(seen);
        lm_text_free(t);
        snprintf(err, errlen, "%s: out of memory for a text of %zu bytes", name, n);
        return -1;
    }
    long line = 1;
    for (size_t i = 0; i < n;) {
        size_t at = i;
        long cp = buf[i] == 0 ? -2 : nn_utf8_decode((const char *)buf, n, &i);
        if (cp < 0) {
            if (cp == -2)
                snprintf(err, errlen, "%s: line %ld, byte offset %zu: a NUL byte: this looks like a binary file, "
                         "not UTF-8 text", name, line, at);
            else
                snprintf(err, errlen, "%s: line %ld, byte offset %zu: invalid UTF-8 (byte 0x%02x)", name, line, at,
                         buf[at]);
            free(seen);
            lm_text_free(t);
            return -1;
        }
        if (cp == '\n') line++;
        seen[cp >> 3] |= (unsigned char)(1u << (cp & 7));
        t->ids[t->n++] = (int)cp; /* the code point for now; an index below */
    }
    int vocab = 0;
    for (long cp = 0; cp < 0x110000; cp++) vocab += seen[cp >> 3] >> (cp & 7) & 1;
    if (vocab < 2 || vocab > LM_MAX_VOCAB) {
        char c[16];
        show_char((uint32_t)t->ids[0], c, sizeof c);
        if (vocab < 2)
            snprintf(err, errlen, "%s: the text has only one distinct character (%s); a language model needs at "
                     "least 2", name, c);
        else
            snprintf(err, errlen, "%s: the text has %d distinct characters; char_lm takes at most %d", name, vocab,
                     LM_MAX_VOCAB);
        free(seen);
        lm_text_free(t);
        return -1;
    }
    t->chars = malloc((size_t)vocab * sizeof *t->chars);
    if (!t->chars) {
        free(seen);
        lm_text_free(t);
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    for (long cp = 0; cp < 0x110000; cp++)
        if (seen[cp >> 3] >> (cp & 7) & 1) t->chars[t->vocab++] = (uint32_t)cp;
    free(seen);
    for (long k = 0; k < t->n; k++) t->ids[k] = lm_vocab_index(t->chars, t->vocab, (uint32_t)t->ids[k]);
    t->bytes = (long)n;
    t->crc = nn_crc32(0, buf, n);
    return 0;
}

static const char *file_kind(mode_t m)
{
    return S_ISFIFO(m) ? "a FIFO" : S_ISDIR(m) ? "a directory" : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a file";
}

int lm_text_load(lm_text *t, const char *path, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    if (!path)
        return lm_text_from_bytes(t, "the built-in text", (const unsigned char *)lm_builtin_text,
                                  (size_t)lm_builtin_text_len, err, errlen);
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file (%s)", path, file_kind(st.st_mode));
        close(fd);
        return -1;
    }
    if (st.st_size > LM_MAX_BYTES) {
        snprintf(err, errlen, "%s: %lld bytes; char_lm reads texts of at most %ld bytes", path,
                 (long long)st.st_size, LM_MAX_BYTES);
        close(fd);
        return -1;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        snprintf(err, errlen, "%s: out of memory for %zu bytes", path, cap);
        return -1;
    }
    /* A regular file never blocks; read until EOF (the file may have changed size). */
    for (;;) {
        if (n == cap) {
            snprintf(err, errlen, "%s: the file grew while it was read", path);
            free(buf);
            close(fd);
            return -1;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    int rc = lm_text_from_bytes(t, path, buf, n, err, errlen);
    free(buf);
    return rc;
}

char *lm_vocab_format(const uint32_t *chars, int vocab)
{
    char *s = malloc((size_t)vocab * 7 + 1), *p = s; /* "10ffff," at most per character */
    if (!s) return NULL;
    for (int i = 0; i < vocab; i++) p += sprintf(p, i ? ",%x" : "%x", (unsigned)chars[i]);
    *p = 0;
    return s;
}

int lm_vocab_parse(const char *s, size_t len, uint32_t **chars, int *vocab, char *err, size_t errlen)
{
    *chars = NULL;
    *vocab = 0;
    uint32_t *c = malloc((len / 2 + 1) * sizeof *c); /* each entry takes at least 2 bytes with its comma */
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int n = 0;
    for (size_t i = 0; i <= len;) {
        unsigned long v = 0;
        size_t d = 0;
        for (; i < len && d < 7 && s[i] != ','; i++, d++) {
            char ch = s[i];
            int x = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
            if (x < 0) break;
            v = v * 16 + (unsigned long)x;
        }
        if (d == 0 || d > 6 || (i < len && s[i] != ',') || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff) ||
            (n && v <= c[n - 1]) || n == LM_MAX_VOCAB) {
            snprintf(err, errlen, "its setting 'vocab' is not 2 to %d ascending code points in hex separated by "
                     "commas (at byte %zu)", LM_MAX_VOCAB, i);
            free(c);
            return -1;
        }
        c[n++] = (uint32_t)v;
        i++; /* past the comma, or past the end */
    }
    if (n < 2) {
        snprintf(err, errlen, "its setting 'vocab' lists %d character; a model has at least 2", n);
        free(c);
        return -1;
    }
    *chars = c;
    *vocab = n;
    return 0;
}
