/* test_header_example.c -- the minimal example at the top of ag.h, cut out of the
 * header by tests/CMakeLists.txt, compiled here and checked: if the header's example
 * stops compiling or working, this test fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ag.h"

static void header_example(void **state)
{
    (void)state;
#include "header_example_1.inc" /* ag.h, up to ag_tape_reset */
    assert_non_null(loss);
    /* dloss/dW[o, i] = (softmax_o - [o == 2]) x_i: row 2 is negative, rows 0-1 positive */
    for (int i = 0; i < 2; i++) {
        assert_true(W->grad[0 * 2 + i] > 0);
        assert_true(W->grad[1 * 2 + i] > 0);
        assert_true(W->grad[2 * 2 + i] < 0);
    }
#include "header_example_2.inc" /* ag.h, from ag_tape_reset on */
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(header_example)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
