/* SPDX-License-Identifier: MIT */
/*
 * pktline: git's pkt-line framing, as its simple IPC carries a request and
 * its answer (git's pkt-line.c): a packet is four lowercase hex digits
 * giving its whole length, those four included, then its data, at most
 * PKTLINE_DATA_MAX bytes. A message is its packets' data run together,
 * ended by the flush packet "0000" (git's reader also ends a message at
 * "0001", "0002" and at an empty packet "0004"). Pure functions.
 */
#ifndef FST_PKTLINE_H
#define FST_PKTLINE_H

#include <stddef.h>

#define PKTLINE_MAX 65520 /* git's LARGE_PACKET_MAX */
#define PKTLINE_DATA_MAX (PKTLINE_MAX - 4)

/* A growing byte buffer. */
struct pktline_buf {
	char *p;
	size_t len, cap;
};

/*
 * Append data[0..len) to out as packets (no empty one: git's reader would
 * stop there), then a flush packet. 0 or -ENOMEM.
 */
int pktline_frame(const char *data, size_t len, struct pktline_buf *out);

/*
 * Take whole packets from in[0..len) and append their data to msg, which
 * may grow to max bytes. 1: the message ended; 0: more input is needed.
 * *used gets the bytes of in taken either way (a packet cut short stays).
 * -EPROTO for a length git would refuse, -EMSGSIZE past max, -ENOMEM.
 */
int pktline_take(const char *in, size_t len, size_t *used, struct pktline_buf *msg, size_t max);

void pktline_buf_release(struct pktline_buf *b);

#endif
