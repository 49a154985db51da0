/*  CRC-32C against the check values of RFC 3720 (iSCSI), B.4. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crc32c.h"

static void test_check_string(void **state)
{
    (void) state;
    assert_int_equal(zkv_crc32c(0, "123456789", 9), 0xe3069283u);
}

static void test_rfc3720_vectors(void **state)
{
    (void) state;
    uint8_t buf[32];
    memset(buf, 0, sizeof buf);
    assert_int_equal(zkv_crc32c(0, buf, 32), 0x8a9136aau);
    memset(buf, 0xff, sizeof buf);
    assert_int_equal(zkv_crc32c(0, buf, 32), 0x62a8ab43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t) i;
    assert_int_equal(zkv_crc32c(0, buf, 32), 0x46dd794eu);
}

static void test_incremental_equals_whole(void **state)
{
    (void) state;
    uint8_t buf[1000];
    for (int i = 0; i < 1000; i++)
        buf[i] = (uint8_t) (i * 7 + 3);
    uint32_t whole = zkv_crc32c(0, buf, sizeof buf);
    for (size_t cut = 0; cut <= sizeof buf; cut += 37) {
        uint32_t part = zkv_crc32c(zkv_crc32c(0, buf, cut), buf + cut, sizeof buf - cut);
        assert_int_equal(part, whole);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_string),
        cmocka_unit_test(test_rfc3720_vectors),
        cmocka_unit_test(test_incremental_equals_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
