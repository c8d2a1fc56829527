/* SPDX-License-Identifier: MIT */
/* grow: room for one more element in a heap array that doubles. */
#ifndef FST_WATCHMAN_GROW_H
#define FST_WATCHMAN_GROW_H

#include <stddef.h>

/*
 * With n elements of size bytes used in *v and *cap allocated, make room
 * for one more (doubling, first first_cap). 0 or -ENOMEM (then *v is
 * unchanged).
 */
int grow_array(void **v, size_t n, size_t *cap, size_t size, size_t first_cap);

#define GROW(v, n, cap, first) grow_array((void **)&(v), (n), &(cap), sizeof(*(v)), (first))

#endif
