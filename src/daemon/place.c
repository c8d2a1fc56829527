/* SPDX-License-Identifier: MIT */
#include "daemon/place.h"

#include <errno.h>
#include <string.h>

size_t place_key(uint8_t *key, int32_t type, uint16_t hlen, const uint8_t *handle, const char *name,
		 size_t namelen)
{
	if (hlen > HANDLE_MAX || namelen > PLACE_NAME_MAX)
		return 0;
	memcpy(key, &type, 4);
	memcpy(key + 4, &hlen, 2);
	if (hlen)
		memcpy(key + 6, handle, hlen);
	if (namelen) /* an object's key has no name (and name may be NULL) */
		memcpy(key + 6 + hlen, name, namelen);
	return 6u + hlen + namelen;
}

int place_decode(const uint8_t *key, size_t klen, struct place *ret)
{
	uint16_t hlen;

	if (klen < 6)
		return -EINVAL;
	memcpy(&hlen, key + 4, 2);
	if (hlen > HANDLE_MAX || klen < 6u + hlen || klen - 6u - hlen > PLACE_NAME_MAX)
		return -EINVAL;
	memcpy(&ret->handle.type, key, 4);
	ret->handle.len = hlen;
	memcpy(ret->handle.bytes, key + 6, hlen);
	ret->name = (const char *)key + 6 + hlen;
	ret->namelen = klen - 6u - hlen;
	return 0;
}

bool place_is_object(const uint8_t *key, size_t klen)
{
	uint16_t hlen;

	if (klen < 6)
		return false;
	memcpy(&hlen, key + 4, 2);
	return klen == 6u + hlen;
}
