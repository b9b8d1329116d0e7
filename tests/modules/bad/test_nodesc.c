/* SPDX-License-Identifier: MIT */
/* A shared object without a posthorn descriptor. */
int test_nodesc_marker(void);
int test_nodesc_marker(void)
{
    return 42;
}
