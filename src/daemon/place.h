/* SPDX-License-Identifier: MIT */
/*
 * place: the key of a place that changed, (directory handle, name), as
 * the recorder's "already recorded?" set and the query's fold use it.
 *
 * Layout: 4 bytes handle type, 2 bytes handle length, the handle, the
 * name (no NUL). The length says where the handle ends, so the key is
 * unambiguous. An empty name keys an object by its own handle (a file
 * recorded by inode: its names are found at query time); "." is the
 * directory itself.
 */
#ifndef FST_PLACE_H
#define FST_PLACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/fhandle.h"

#define PLACE_NAME_MAX 255
#define PLACE_KEY_MAX (6 + HANDLE_MAX + PLACE_NAME_MAX)
/* The key of the directory (or object) alone: the first bytes of a place key. */
#define PLACE_HANDLE_KEY_LEN(hlen) (6u + (hlen))

/* Encode into key (PLACE_KEY_MAX bytes); returns the length, 0 if too long. */
size_t place_key(uint8_t *key, int32_t type, uint16_t hlen, const uint8_t *handle, const char *name,
		 size_t namelen);
static inline size_t place_key_of(uint8_t *key, const struct fhandle *h, const char *name,
				  size_t namelen)
{
	return place_key(key, h->type, h->len, h->bytes, name, namelen);
}

struct place {
	struct fhandle handle;
	const char *name; /* points into the key; not NUL-terminated */
	size_t namelen;	  /* 0: an object's own handle */
};
/* Decode a key made by place_key(); -EINVAL when malformed. */
int place_decode(const uint8_t *key, size_t klen, struct place *ret);
/* Is the key that of an object (no name)? */
bool place_is_object(const uint8_t *key, size_t klen);

#endif
