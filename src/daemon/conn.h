/* SPDX-License-Identifier: MIT */
/*
 * conn: a client connection's buffers on the loop, for the daemon's socket
 * front ends (server.c: fstrack's protocol, wserver.c: Watchman's). The
 * front end keeps its protocol: parsing, answers, what a request waits
 * for; a conn keeps the bytes and says when to look at them.
 *
 * A conn owns the connected fd and its loop source, an input buffer and an
 * output buffer. Nothing blocks:
 *  - input is read in chunks of in_chunk bytes, and no more once more than
 *    in_max bytes are buffered (the front end refuses a request that long);
 *  - output is queued (conn_reserve, conn_give) and sent as the socket
 *    takes it (conn_flush), the rest when the loop says it may;
 *  - it is read from only while it may send more: not while a request of
 *    its waits (the front end's waits callback), nor while its unsent
 *    output is past out_high; queued output may not grow past out_max
 *    (conn_reserve says -ENOBUFS: the front end drops the client).
 *
 * After each read, and when its output drained (or the front end calls
 * conn_process), the input callback takes what it can of the input
 * (complete requests, while conn_may_answer) and says how many bytes it
 * used: they leave the buffer. At EOF, once it says all the client sent is
 * answered (what is left is at most part of a request, which is dropped),
 * the conn is closing: it closes as soon as its output is sent.
 *
 * conn_close() takes a conn out of use at once: the closed callback, then
 * the loop source and the fd go. Its memory, and the front end's (the
 * release callback), is freed at the end of the loop's round, when no
 * callback of the round can reach it any more (loop_defer_free).
 *
 * Below the front ends: it calls only the loop and src/basic. Single
 * threaded, like the loop.
 */
#ifndef FST_CONN_H
#define FST_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct loop;
struct conn;

struct conn_limits {
	size_t in_max;	 /* input buffered past this: nothing more is read */
	size_t in_chunk; /* room made for each read */
	size_t out_high; /* unsent output past this: not read from */
	size_t out_max;	 /* unsent output may not grow past this */
};

/* The front end's side; data is conn_new()'s. Every callback is required. */
struct conn_ops {
	/*
	 * Take what can be taken of in[0..len) (never NULL; the front end may
	 * write into it) while conn_may_answer() and nothing else holds it
	 * back; return how many bytes were used. Set
	 * *answered when all the client sent is answered: at EOF it may go.
	 * The conn may be closed in here.
	 */
	size_t (*input)(void *data, char *in, size_t len, bool *answered);
	/* Does a request of its wait (for a scan, a worker)? Not read from meanwhile. */
	bool (*waits)(void *data);
	/* conn_flush() ran: sent bytes went out, before were unsent then. */
	void (*flushed)(void *data, size_t sent, size_t before);
	/* conn_close(): take it off the front end's lists. */
	void (*closed)(void *data);
	/* The end of the round after conn_close(): free the front end's part. */
	void (*release)(void *data);
};

/*
 * Serve the connected non-blocking fd on the loop. The fd is the conn's
 * from then on (closed by conn_close); on failure it is still the
 * caller's. 0 or -errno.
 */
int conn_new(struct loop *l, int fd, const struct conn_limits *lim, const struct conn_ops *ops,
	     void *data, struct conn **ret);

/* Let the input callback look at the input again (a wait is over), then close or wait. */
void conn_process(struct conn *c);

/*
 * Room for len more bytes of output at the end of the queue, in *ret (to
 * be filled before anything else is queued): -ENOBUFS past out_max,
 * -ENOMEM. conn_flush() sends it.
 */
int conn_reserve(struct conn *c, size_t len, char **ret);
/* Queue buf[0..len), taken (freed also on failure); errors as conn_reserve(). */
int conn_give(struct conn *c, char *buf, size_t len);
/* Send what the socket takes now; a peer gone makes it closing, its output dropped. */
void conn_flush(struct conn *c);
size_t conn_out_pending(const struct conn *c);

/* Not closing nor closed, and unsent output below out_high: answer its next request. */
bool conn_may_answer(const struct conn *c);
/* Close once the output is sent: nothing more is read or answered. */
void conn_set_closing(struct conn *c);
/* Closing and all sent: close now. */
void conn_close_if_sent(struct conn *c);
bool conn_closing(const struct conn *c);
/* Closed: it only waits for the end of the round to be freed. */
bool conn_dead(const struct conn *c);

/* How many connections a front end takes (conn_admit). */
struct conn_quota {
	unsigned max;	       /* in all */
	unsigned root_reserve; /* of those, the last ones are root's only (0: none) */
	unsigned max_per_uid;  /* of one user other than root */
};

/*
 * Why a connection of uid is turned away now, or NULL when it may come: n
 * connections are open; count_uid(data, uid) counts the user's (asked only
 * when the total allows it, and never for root). For a front end's accept.
 */
const char *conn_admit(const struct conn_quota *q, uid_t uid, unsigned n,
		       unsigned (*count_uid)(const void *data, uid_t uid), const void *data);

/* Close now (see the head of the file). A second call does nothing. */
void conn_close(struct conn *c);
/* It cannot be answered: its output is dropped and it closes at the end of the round. */
void conn_close_later(struct conn *c);

#endif
