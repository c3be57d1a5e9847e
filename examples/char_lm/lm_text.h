/* lm_text.h -- char_lm's text: a UTF-8 file (or the built-in text) read whole, checked,
 * and turned into a vocabulary of code points (a character is one code point) and the
 * text as vocabulary indices. Bad input gets a message naming the file and, where it
 * applies, the line and byte offset; nothing here exits or crashes. */
#ifndef LM_TEXT_H
#define LM_TEXT_H

#include <stddef.h>
#include <stdint.h>

#define LM_MAX_BYTES (1L << 28) /* 256 MiB: a larger text is refused */
#define LM_MAX_VOCAB 4096       /* distinct characters: the one-hot input is (N, vocab) */

typedef struct {
    uint32_t *chars; /* vocab code points, ascending: index i is chars[i] */
    int vocab;
    int *ids;        /* the text as indices into chars, n of them */
    long n;          /* characters (code points) in the text */
    long bytes;      /* bytes of UTF-8 */
    uint32_t crc;    /* CRC-32 of the bytes (nn_crc32): resume checks it is the same text */
} lm_text;

/* Reads `path` (NULL: the built-in text) whole: it must be a regular file (opened
 * without blocking, so a FIFO is refused at once), not empty, without NUL bytes, valid
 * UTF-8 (no overlong forms, surrogates or code points past U+10FFFF), of 2 to
 * LM_MAX_VOCAB distinct characters. 0, or -1 with err saying what and where
 * ("FILE: line 3, byte offset 71: invalid UTF-8 (byte 0xff)"). */
int lm_text_load(lm_text *t, const char *path, char *err, size_t errlen);

/* The same from bytes in memory; `name` is used in messages. */
int lm_text_from_bytes(lm_text *t, const char *name, const unsigned char *buf, size_t n, char *err,
                       size_t errlen);

void lm_text_free(lm_text *t); /* NULL or a zeroed struct is fine */

/* The built-in text (examples/char_lm/harbour.txt, embedded at build time). */
extern const char lm_builtin_text[];
extern const unsigned long lm_builtin_text_len;

/* The index of code point cp in the vocabulary, or -1. */
int lm_vocab_index(const uint32_t *chars, int vocab, uint32_t cp);

/* The vocabulary as a meta value: code points in hex, comma-separated ("a,20,41,..."),
 * allocated (NULL: out of memory); the caller frees it. */
char *lm_vocab_format(const uint32_t *chars, int vocab);

/* Parses lm_vocab_format's text (len bytes): 2 to LM_MAX_VOCAB code points, strictly
 * ascending, each a valid scalar value. *chars is allocated; 0, or -1 with err. */
int lm_vocab_parse(const char *s, size_t len, uint32_t **chars, int *vocab, char *err, size_t errlen);

#endif
