/* SPDX-License-Identifier: MIT */
#include "unit-util.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon/journal.h"

int unit_tmpdir(char *buf, const char *name)
{
	if (snprintf(buf, UNIT_TMP_MAX, "/tmp/%s-XXXXXX", name) >= UNIT_TMP_MAX)
		return -ENAMETOOLONG;
	return mkdtemp(buf) ? 0 : -errno;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0; /* go on: remove as much as can be */
}

void unit_rmtree(const char *path)
{
	if (path && path[0])
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

struct fhandle unit_handle(const char *text)
{
	struct fhandle h = {.type = 1};
	size_t len = strlen(text);

	if (len > HANDLE_MAX)
		abort();
	h.len = (uint16_t)len;
	memcpy(h.bytes, text, len);
	return h;
}

void unit_append(struct journal *j, const struct fhandle *h, const char *name, unsigned kinds)
{
	struct jrec r = {
	    .type = JREC_EVENT,
	    .kinds = (uint8_t)kinds,
	    .time_ns = 1,
	    .handle_type = h->type,
	    .handle_len = h->len,
	    .handle = h->bytes,
	    .name_len = (uint16_t)(name ? strlen(name) : 0),
	    .name = name,
	};

	assert_int_equal(journal_append(j, &r), 0);
}

struct read_ctx {
	struct unit_rec *v;
	size_t n, max;
};

static int read_one(const struct jrec *r, void *userdata)
{
	struct read_ctx *c = userdata;
	struct unit_rec *u;

	if (r->type != JREC_EVENT)
		return 0;
	if (c->n == c->max)
		return -ENOBUFS;
	u = &c->v[c->n++];
	*u = (struct unit_rec){
	    .seq = r->seq, .time_ns = r->time_ns, .kinds = r->kinds, .namelen = r->name_len};
	assert_int_equal(fhandle_from_raw(r->handle_type, r->handle, r->handle_len, &u->h), 0);
	if (r->name_len)
		memcpy(u->name, r->name, r->name_len);
	return 0;
}

size_t unit_read_events(struct journal *j, uint64_t from, struct unit_rec *v, size_t max)
{
	struct read_ctx c = {v, 0, max};

	assert_int_equal(journal_read(j, from, read_one, &c), 0);
	return c.n;
}
