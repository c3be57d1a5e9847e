/* test_char_lm_text.c -- char_lm's text loader and vocabulary (examples/char_lm/lm_text.c):
 * UTF-8 decoding (every kind of invalid sequence), the vocabulary of code points, the
 * messages with line and byte offset, and the vocabulary's meta text both ways. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lm_text.h"
#include "nn.h"

static int load(lm_text *t, const char *bytes, size_t n, char *err)
{
    return lm_text_from_bytes(t, "T", (const unsigned char *)bytes, n, err, 256);
}

static void test_vocabulary_is_code_points(void **state)
{
    (void)state;
    lm_text t;
    char err[256];
    const char *s = "b\xc3\xa9" "a\xe2\x82\xac" "b\xf0\x9f\x99\x82\n"; /* b é a € b 🙂 \n */
    assert_int_equal(load(&t, s, strlen(s), err), 0);
    assert_int_equal(t.n, 7);
    assert_int_equal(t.bytes, (long)strlen(s));
    assert_int_equal(t.vocab, 6);
    uint32_t want[] = {'\n', 'a', 'b', 0xe9, 0x20ac, 0x1f642}; /* ascending */
    for (int i = 0; i < 6; i++) assert_int_equal(t.chars[i], want[i]);
    int ids[] = {2, 3, 1, 4, 2, 5, 0};
    for (int i = 0; i < 7; i++) assert_int_equal(t.ids[i], ids[i]);
    char *v = lm_vocab_format(t.chars, t.vocab);
    assert_string_equal(v, "a,61,62,e9,20ac,1f642");
    uint32_t *back;
    int n;
    assert_int_equal(lm_vocab_parse(v, strlen(v), &back, &n, err, sizeof err), 0);
    assert_int_equal(n, 6);
    assert_memory_equal(back, t.chars, sizeof want);
    free(back);
    free(v);
    lm_text_free(&t);
    lm_text_free(&t); /* twice: a zeroed struct is fine */
}

static void test_bad_utf8(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t off;
    } bad[] = {
        {"ab\x80", 2},                 /* a lone continuation byte */
        {"ab\xc3", 2},                 /* truncated at the end */
        {"ab\xc3(", 2},                /* a missing continuation */
        {"ab\xc0\xaf", 2},             /* overlong '/' */
        {"ab\xe0\x80\xaf", 2},         /* overlong, 3 bytes */
        {"ab\xed\xa0\x80", 2},         /* a surrogate (U+D800) */
        {"ab\xf4\x90\x80\x80", 2},     /* past U+10FFFF */
        {"ab\xff", 2},                 /* never valid */
        {"x\ny\nz\xfe", 5},            /* line 3 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        lm_text t;
        char err[256], want[64];
        assert_int_equal(load(&t, bad[i].bytes, strlen(bad[i].bytes), err), -1);
        snprintf(want, sizeof want, "byte offset %zu: invalid UTF-8", bad[i].off);
        if (!strstr(err, want)) fail_msg("case %zu: '%s' lacks '%s'", i, err, want);
        assert_null(t.ids);
        assert_null(t.chars);
    }
    lm_text t;
    char err[256];
    assert_int_equal(load(&t, "x\ny\nz\xfe", 6, err), -1);
    assert_string_equal(err, "T: line 3, byte offset 5: invalid UTF-8 (byte 0xfe)");
}

static void test_refusals(void **state)
{
    (void)state;
    lm_text t;
    char err[256];
    assert_int_equal(load(&t, "", 0, err), -1);
    assert_string_equal(err, "T: the file is empty; a language model needs a text");
    assert_int_equal(load(&t, "ab\ncd\0ef", 8, err), -1);
    assert_string_equal(err, "T: line 2, byte offset 5: a NUL byte: this looks like a binary file, not UTF-8 text");
    assert_int_equal(load(&t, "\xc3\xa9\xc3\xa9\xc3\xa9", 6, err), -1);
    assert_string_equal(err, "T: the text has only one distinct character (U+00E9); a language model needs at least 2");
    assert_int_equal(load(&t, "ab", 2, err), 0); /* two characters are enough for the loader */
    lm_text_free(&t);
}

static void test_vocab_parse_refusals(void **state)
{
    (void)state;
    static const char *bad[] = {"", "61", "61,", ",61", "62,61", "61,61", "61,110000", "61,d800", "61,6G",
                                "61,0000062", "61, 62", "61,-62"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        uint32_t *c = (uint32_t *)1;
        int n = -1;
        char err[256];
        if (lm_vocab_parse(bad[i], strlen(bad[i]), &c, &n, err, sizeof err) != -1) fail_msg("'%s' was taken", bad[i]);
        assert_null(c);
        assert_int_equal(n, 0);
        assert_non_null(strstr(err, "'vocab'"));
    }
}

static void test_encode_decode_round_trip(void **state)
{
    (void)state;
    uint32_t cps[] = {0, 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xffff, 0x10000, 0x10ffff};
    for (size_t i = 0; i < sizeof cps / sizeof *cps; i++) {
        char buf[4];
        int n = nn_utf8_encode(cps[i], buf);
        size_t at = 0;
        assert_int_equal(nn_utf8_decode(buf, (size_t)n, &at), (long)cps[i]);
        assert_int_equal(at, (size_t)n);
    }
}

static void test_builtin_text(void **state)
{
    (void)state;
    lm_text t;
    char err[256];
    assert_int_equal(lm_text_load(&t, NULL, err, sizeof err), 0);
    assert_true(t.n > 4000);
    assert_true(t.vocab > 30 && t.vocab < 80);
    lm_text_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vocabulary_is_code_points), cmocka_unit_test(test_bad_utf8),
        cmocka_unit_test(test_refusals),                  cmocka_unit_test(test_vocab_parse_refusals),
        cmocka_unit_test(test_encode_decode_round_trip),  cmocka_unit_test(test_builtin_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
