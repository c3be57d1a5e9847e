/* names_data.h -- the surnames data set: loading, ASCII folding, the train/test split.
 *
 * A data set is a directory of <Language>.txt files (the PyTorch tutorial's data/names
 * layout: UTF-8, one name per line; labels are the file names, sorted) or the built-in
 * sample. Every line goes through the same steps: trim, check (UTF-8, length, blank),
 * fold to the tutorial's 57 letters, and split by the CRC-32 of the trimmed line. */
#ifndef NAMES_DATA_H
#define NAMES_DATA_H

#include <stdint.h>
#include <stdio.h>

#define NAMES_LETTERS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,;'"
#define NAMES_N_LETTERS 57
#define NAMES_MAX_LEN 64        /* letters in a folded name */
#define NAMES_MAX_LINE 256      /* bytes in a line; longer is "absurdly long" */
#define NAMES_MAX_CLASSES 64
#define NAMES_MAX_CLASS_NAME 48 /* bytes of a language name, with its NUL */
#define NAMES_MAX_FILE (64 << 20)

typedef struct {
    char text[NAMES_MAX_LEN + 1]; /* folded, ASCII, NUL-terminated */
    int len;
    int label;
} names_item;

typedef struct {
    int n_classes;
    char classes[NAMES_MAX_CLASSES][NAMES_MAX_CLASS_NAME];
    names_item *train, *test; /* owned */
    int n_train, n_test;
    int *by_class;            /* train indices grouped by class: class c is */
    int class_start[NAMES_MAX_CLASSES + 1]; /* by_class[class_start[c] .. class_start[c+1]) */
    int n_test_class[NAMES_MAX_CLASSES];
    long warnings;            /* lines skipped */
} names_data;

/* Loads every <Language>.txt in dir. Bad lines (invalid UTF-8, blank, too long, nothing
 * left after folding) are skipped with a warning naming file and line on `warn` (may be
 * NULL); a missing or empty directory, a language name names_class_check refuses, a
 * file that is not a regular file (a FIFO, a device, a directory: never opened so that
 * it could block), an unreadable, binary or oversized file, or a file with no usable
 * name fails with a message in err. Returns 0 on success. */
int names_load_dir(names_data *d, const char *dir, FILE *warn, char *err, size_t errlen);

/* The same from the sample compiled into the program (examples/rnn_names/sample_names.tsv). */
int names_load_sample(names_data *d, FILE *warn, char *err, size_t errlen);

/* The same from text in memory: lines "<Language>\t<name>"; '#' lines are comments.
 * `source` names the text in messages; a language name names_class_check refuses
 * fails, naming the line. */
int names_load_tsv(names_data *d, const char *text, size_t len, const char *source, FILE *warn, char *err,
                   size_t errlen);

void names_free(names_data *d);

/* Keeps each distinct (name, language) pair of the training split once (its first line;
 * the order is kept) and rebuilds by_class. The data's duplicates are not spread evenly:
 * in the tutorial's set each Arabic name is on ~19 lines, most others on one, and a model
 * fed every copy learns those few names by heart. Trained on distinct pairs, a model sees
 * the languages in other proportions than the full split has; shift[c] (may be NULL) gets
 * log(share of language c in the training split as loaded) - log(its share after),
 * which added to a model's log-probabilities (names_model.prior_shift) puts the original
 * proportions back. Returns the number of lines dropped, or -1 (out of memory; d is
 * unchanged). */
int names_distinct(names_data *d, double *shift);

/* Folds UTF-8 bytes to the 57 letters as the tutorial's unicodeToAscii does (NFD,
 * drop combining marks, keep only NAMES_LETTERS): "Ślusàrski" -> "Slusarski",
 * "Groß" -> "Gro". Writes at most outn-1 letters and a NUL; returns the number of
 * letters the whole input folds to (more than outn-1 means it was cut), or -1 for
 * invalid UTF-8 with *bad_at set to the offending byte's offset. */
int names_fold(const char *s, size_t n, char *out, size_t outn, size_t *bad_at);

/* What a language name may be, so that it goes into every file (the checkpoint's
 * comma-separated class list, SVG, dot) and comes back out as it was: 1 to
 * NAMES_MAX_CLASS_NAME - 1 bytes of valid UTF-8, no control character (C0, DEL, C1,
 * U+FFFE, U+FFFF: none of them may appear in XML either), no ','. 0, or -1 with the
 * reason in why. */
int names_class_check(const char *s, size_t n, char *why, size_t whyn);


/* True for a code point that must not be printed raw or written into XML: C0 controls,
 * DEL, C1 controls, U+FFFE and U+FFFF. */
int names_is_control(long cp);

/* s made safe to print to a terminal or put in a message: printable UTF-8 is kept, a
 * backslash doubled, control characters and bytes that are not UTF-8 written as \xNN.
 * When that does not fit in outn bytes it is cut at a character and "...(N bytes)"
 * says so: never silently. Returns out. */
const char *names_escape(const char *s, char *out, size_t outn);

/* Index of an ASCII letter in NAMES_LETTERS, or -1. */
int names_letter_index(char c);

/* True when the trimmed line goes to the test set: crc32(line) % 10 == 0. */
int names_is_test(const char *line, size_t n);

#endif
