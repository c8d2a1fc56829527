/* SPDX-License-Identifier: MIT */
/* pktline: git's pkt-line framing of simple IPC messages (see pktline.h). */
#include "gitfsm/pktline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "basic/util.h"

static int put(struct pktline_buf *b, const char *s, size_t len)
{
	if (GROW(b->p, b->cap, b->len + len) < 0)
		return -ENOMEM;
	memcpy(b->p + b->len, s, len);
	b->len += len;
	return 0;
}

int pktline_frame(const char *data, size_t len, struct pktline_buf *out)
{
	static const char hex[] = "0123456789abcdef";

	while (len > 0) {
		size_t n = len < PKTLINE_DATA_MAX ? len : PKTLINE_DATA_MAX;
		char head[4] = {hex[((n + 4) >> 12) & 15], hex[((n + 4) >> 8) & 15],
				hex[((n + 4) >> 4) & 15], hex[(n + 4) & 15]};

		if (put(out, head, 4) < 0 || put(out, data, n) < 0)
			return -ENOMEM;
		data += n;
		len -= n;
	}
	return put(out, "0000", 4);
}

/* The length in a packet's header, or -1 when it is not four hex digits. */
static long header_length(const char *h)
{
	long v = 0;

	for (int i = 0; i < 4; i++) {
		char c = h[i];
		int d = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

int pktline_take(const char *in, size_t len, size_t *used, struct pktline_buf *msg, size_t max)
{
	size_t off = 0;
	int r = 0;

	while (r == 0 && len - off >= 4) {
		long n = header_length(in + off);

		if (n < 0 || n == 3 || n > PKTLINE_MAX) {
			r = -EPROTO;
			break;
		}
		if (n <= 4) { /* flush, delim, response end, empty: the end */
			off += 4;
			r = 1;
			break;
		}
		if (len - off < (size_t)n)
			break; /* the rest of the packet is still on its way */
		if (msg->len + (size_t)n - 4 > max) {
			r = -EMSGSIZE;
			break;
		}
		if (put(msg, in + off + 4, (size_t)n - 4) < 0) {
			r = -ENOMEM;
			break;
		}
		off += (size_t)n;
	}
	*used = off;
	return r;
}

void pktline_buf_release(struct pktline_buf *b)
{
	free(b->p);
	*b = (struct pktline_buf){0};
}
