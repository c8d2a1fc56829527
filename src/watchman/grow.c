/* SPDX-License-Identifier: MIT */
#include "watchman/grow.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

int grow_array(void **v, size_t n, size_t *cap, size_t size, size_t first_cap)
{
	size_t ncap;
	void *nv;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : first_cap;
	if (ncap < *cap || ncap > SIZE_MAX / size)
		return -ENOMEM;
	nv = realloc(*v, ncap * size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}
