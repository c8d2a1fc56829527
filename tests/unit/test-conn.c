/* SPDX-License-Identifier: MIT */
/*
 * Tests of conn, a client connection's buffers on the loop, over a
 * socketpair: a small line protocol front end (each complete line is
 * taken, and may be answered with a reply of a given size) on one end,
 * the test as the peer on the other. Partial reads, a line split over
 * reads, backpressure (not read from while the output is past its high
 * mark or a request waits), the bound on output, the bound on input, EOF
 * with a partial line, hang-ups and the deferred free.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "basic/util.h"
#include "daemon/conn.h"
#include "daemon/loop.h"

#define MAX_LINES 16

struct fe {
	struct loop *l;
	struct conn *conn;
	int fd, peer; /* fd: the conn's end (its own once conn_new worked) */
	char lines[MAX_LINES][64];
	size_t n_lines;
	unsigned inputs;      /* input callbacks */
	size_t last_len;      /* the input the last one was given */
	size_t reply_size;    /* bytes queued for each line taken */
	size_t refuse_past;   /* input longer than this without a line: closing (0: never) */
	bool wait_after_line; /* a line makes it wait (as a parked request) */
	bool waits;
	unsigned flushes;
	size_t flushed_sent, flushed_before; /* of the last conn_flush */
	bool closed, released;
};

static size_t on_input(void *data, char *in, size_t len, bool *answered)
{
	struct fe *f = data;
	size_t off = 0;

	f->inputs++;
	f->last_len = len;
	while (!f->waits && conn_may_answer(f->conn)) {
		char *nl = memchr(in + off, '\n', len - off);
		size_t n;

		if (!nl) {
			if (f->refuse_past && len - off > f->refuse_past)
				conn_set_closing(f->conn);
			break;
		}
		n = (size_t)(nl - (in + off));
		assert_true(f->n_lines < MAX_LINES);
		assert_true(n < sizeof(f->lines[0]));
		memcpy(f->lines[f->n_lines], in + off, n);
		f->lines[f->n_lines++][n] = '\0';
		off += n + 1;
		if (f->reply_size) {
			char *p;

			assert_int_equal(conn_reserve(f->conn, f->reply_size, &p), 0);
			memset(p, 'r', f->reply_size);
			conn_flush(f->conn);
		}
		if (f->wait_after_line)
			f->waits = true;
	}
	*answered = !f->waits && !memchr(in + off, '\n', len - off);
	return off;
}

static bool fe_waits(void *data)
{
	return ((struct fe *)data)->waits;
}

static void on_flushed(void *data, size_t sent, size_t before)
{
	struct fe *f = data;

	f->flushes++;
	f->flushed_sent = sent;
	f->flushed_before = before;
}

static void on_closed(void *data)
{
	struct fe *f = data;

	assert_false(f->closed);
	assert_false(f->released);
	f->closed = true;
}

static void on_release(void *data)
{
	struct fe *f = data;

	assert_true(f->closed);
	f->released = true;
}

static const struct conn_ops ops = {
    .input = on_input,
    .waits = fe_waits,
    .flushed = on_flushed,
    .closed = on_closed,
    .release = on_release,
};

static const struct conn_limits default_limits = {
    .in_max = 4096,
    .in_chunk = 1024,
    .out_high = 4096,
    .out_max = 64u << 20,
};

static int setup(void **state)
{
	struct fe *f = calloc(1, sizeof(*f));
	int sv[2];

	if (!f || loop_new(&f->l) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	f->fd = sv[0];
	f->peer = sv[1];
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fe *f = *state;

	if (!f->conn)
		safe_close(f->fd);
	else if (!f->released)
		conn_close(f->conn); /* a no-op when closed, not freed yet */
	loop_finish_round(f->l);     /* the deferred free */
	if (f->conn)
		assert_true(f->released);
	loop_free(f->l);
	safe_close(f->peer);
	free(f);
	return 0;
}

static void start(struct fe *f, const struct conn_limits *lim)
{
	assert_int_equal(conn_new(f->l, f->fd, lim, &ops, f, &f->conn), 0);
}

/* A few rounds of the loop: what is ready is handled. */
static void rounds(struct fe *f, int n)
{
	for (int i = 0; i < n; i++)
		assert_true(loop_run_once(f->l, 20) >= 0);
}

static void peer_send(struct fe *f, const char *s)
{
	assert_int_equal(send(f->peer, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Bytes the kernel holds for the conn's end, not read by it yet. */
static int unread(const struct fe *f)
{
	int n = -1;

	assert_int_equal(ioctl(f->fd, FIONREAD, &n), 0);
	return n;
}

/* What the peer can read now (at most max); -1 at EOF. */
static ssize_t peer_drain(struct fe *f, char *buf, size_t max)
{
	size_t got = 0;

	for (;;) {
		ssize_t n = recv(f->peer, buf + got, max - got, MSG_DONTWAIT);

		if (n == 0)
			return got ? (ssize_t)got : -1;
		if (n < 0) {
			assert_true(errno == EAGAIN);
			return (ssize_t)got;
		}
		got += (size_t)n;
		if (got == max)
			return (ssize_t)got;
	}
}

/* ---- input ------------------------------------------------------------------------ */

static void test_line_split_over_reads(void **state)
{
	struct fe *f = *state;

	start(f, &default_limits);
	peer_send(f, "hel");
	rounds(f, 2);
	assert_int_equal(f->n_lines, 0);
	assert_int_equal(f->last_len, 3); /* kept: not a line yet */
	peer_send(f, "lo\nwor");
	rounds(f, 2);
	assert_int_equal(f->n_lines, 1);
	assert_string_equal(f->lines[0], "hello");
	assert_int_equal(f->last_len, 9);
	peer_send(f, "ld\n\nlast\n");
	rounds(f, 2);
	assert_int_equal(f->n_lines, 4);
	assert_string_equal(f->lines[1], "world");
	assert_string_equal(f->lines[2], "");
	assert_string_equal(f->lines[3], "last");
	assert_int_equal(f->last_len, 3 + 9); /* "wor" kept, "hello\n" gone */
	assert_false(f->closed);
}

/* Many reads' worth at once: read in chunks, every line taken once, in order. */
static void test_partial_reads(void **state)
{
	struct fe *f = *state;
	struct conn_limits lim = default_limits;
	char buf[MAX_LINES * 40] = "";

	lim.in_chunk = 16; /* several reads for what the peer sent at once */
	start(f, &lim);
	for (int i = 0; i < MAX_LINES; i++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "line number %02d of many\n",
			 i);
	peer_send(f, buf);
	rounds(f, 3);
	assert_int_equal(f->n_lines, MAX_LINES);
	for (int i = 0; i < MAX_LINES; i++) {
		char want[64];

		snprintf(want, sizeof(want), "line number %02d of many", i);
		assert_string_equal(f->lines[i], want);
	}
	assert_int_equal(unread(f), 0);
}

/* Past in_max without a line, nothing more is read; the front end refuses it. */
static void test_input_bound(void **state)
{
	struct fe *f = *state;
	struct conn_limits lim = default_limits;
	size_t most;
	char big[8192];

	lim.in_max = 100;
	lim.in_chunk = 64;
	most = 2 * (lim.in_max + lim.in_chunk); /* GROW doubles */
	start(f, &lim);
	memset(big, 'x', sizeof(big));
	assert_int_equal(send(f->peer, big, sizeof(big), MSG_NOSIGNAL), (ssize_t)sizeof(big));
	rounds(f, 3);
	assert_true(f->last_len > lim.in_max);
	assert_true(f->last_len <= most);
	assert_true(unread(f) >= (int)(sizeof(big) - most)); /* the rest stays in the socket */
	assert_false(f->closed);
	f->refuse_past = lim.in_max;
	conn_process(f->conn);
	assert_true(f->closed); /* refused: closing, and nothing to send */
}

/* ---- backpressure ------------------------------------------------------------------ */

/* Unsent output past out_high: not read from until the peer reads. */
static void test_backpressure_stops_reading(void **state)
{
	struct fe *f = *state;
	size_t reply = 4u << 20, want = 2 * reply, got = 0, bad = 0;
	char *buf = malloc(reply);
	int i;

	assert_non_null(buf);
	f->reply_size = reply;
	start(f, &default_limits);
	peer_send(f, "a\n");
	rounds(f, 2);
	assert_int_equal(f->n_lines, 1);
	assert_true(conn_out_pending(f->conn) >=
		    default_limits.out_high); /* the peer does not read */
	assert_false(conn_may_answer(f->conn));
	peer_send(f, "b\n");
	rounds(f, 3);
	assert_int_equal(f->n_lines, 1);
	assert_int_equal(unread(f), 2); /* not even read: it stays in the socket */
	/* The peer reads: the output drains, "b" is read and answered. */
	for (i = 0; i < 10000 && (got < want || f->n_lines < 2); i++) {
		ssize_t n = peer_drain(f, buf, reply);

		assert_true(n >= 0);
		for (ssize_t k = 0; k < n; k++)
			bad += buf[k] != 'r';
		got += (size_t)n;
		rounds(f, 1);
	}
	assert_int_equal(f->n_lines, 2);
	assert_string_equal(f->lines[1], "b");
	assert_int_equal(got, want);
	assert_int_equal(bad, 0); /* the replies, and nothing else */
	assert_int_equal(conn_out_pending(f->conn), 0);
	free(buf);
}

/* A request that waits (parked): nothing more is read until it is over. */
static void test_waits_stops_reading(void **state)
{
	struct fe *f = *state;

	f->wait_after_line = true;
	start(f, &default_limits);
	peer_send(f, "first\n");
	rounds(f, 2);
	assert_int_equal(f->n_lines, 1);
	peer_send(f, "second\n");
	rounds(f, 2);
	assert_int_equal(f->n_lines, 1);
	assert_int_equal(unread(f), 7);
	f->wait_after_line = false;
	f->waits = false;
	conn_process(f->conn); /* the wait is over */
	rounds(f, 2);
	assert_int_equal(f->n_lines, 2);
	assert_string_equal(f->lines[1], "second");
}

/* Queued output may not grow past out_max: -ENOBUFS, and the front end drops the client. */
static void test_drop_past_max(void **state)
{
	struct fe *f = *state;
	struct conn_limits lim = default_limits;
	char *p, *big;

	lim.out_max = 1000;
	start(f, &lim);
	assert_int_equal(conn_reserve(f->conn, 600, &p), 0);
	memset(p, 'a', 600);
	assert_int_equal(conn_reserve(f->conn, 401, &p), -ENOBUFS);
	big = malloc(401);
	assert_non_null(big);
	assert_int_equal(conn_give(f->conn, big, 401), -ENOBUFS); /* taken all the same */
	assert_int_equal(conn_reserve(f->conn, 400, &p), 0);	  /* up to the bound */
	memset(p, 'b', 400);
	assert_int_equal(conn_out_pending(f->conn), 1000);
	assert_int_equal(conn_reserve(f->conn, 1, &p), -ENOBUFS);
	conn_close(f->conn); /* the front end drops it */
	assert_true(f->closed);
	assert_true(conn_dead(f->conn));
	assert_false(f->released); /* until the end of the round */
	loop_finish_round(f->l);
	assert_true(f->released);
	assert_int_equal(peer_drain(f, (char[8]){0}, 8), -1); /* closed, its output dropped */
}

/* Output is sent as queued, in order; a large buffer given is taken as is. */
static void test_output_in_order(void **state)
{
	struct fe *f = *state;
	size_t size = 100000;
	char *big = malloc(size), *got = malloc(size + 3), *p;
	size_t n = 0;

	assert_non_null(big);
	assert_non_null(got);
	for (size_t i = 0; i < size; i++)
		big[i] = (char)('a' + i % 26);
	start(f, &default_limits);
	assert_int_equal(conn_give(f->conn, big, size), 0);
	assert_int_equal(conn_reserve(f->conn, 3, &p), 0);
	memcpy(p, "END", 3);
	conn_flush(f->conn);
	assert_int_equal(f->flushes, 1);
	assert_int_equal(f->flushed_before, size + 3);
	assert_int_equal(f->flushed_sent, size + 3 - conn_out_pending(f->conn));
	for (int i = 0; i < 1000 && n < size + 3; i++) {
		ssize_t k = peer_drain(f, got + n, size + 3 - n);

		assert_true(k >= 0);
		n += (size_t)k;
		rounds(f, 1);
	}
	assert_int_equal(n, size + 3);
	for (size_t i = 0; i < size; i++)
		assert_int_equal(got[i], (char)('a' + i % 26));
	assert_memory_equal(got + size, "END", 3);
	free(got);
}

/* ---- EOF and closing ------------------------------------------------------------------- */

/* EOF after a complete line and part of another: the line is answered, the rest dropped. */
static void test_eof_partial_line(void **state)
{
	struct fe *f = *state;
	char buf[64];

	f->reply_size = 5;
	start(f, &default_limits);
	peer_send(f, "one\ntw");
	assert_int_equal(shutdown(f->peer, SHUT_WR), 0);
	rounds(f, 3);
	assert_int_equal(f->n_lines, 1);
	assert_string_equal(f->lines[0], "one");
	assert_true(f->closed); /* its answer was sent, then it closed */
	assert_true(f->released);
	assert_int_equal(peer_drain(f, buf, sizeof(buf)), 5);
	assert_int_equal(peer_drain(f, buf, sizeof(buf)), -1);
}

/* EOF while a request waits: it closes only once that is answered. */
static void test_eof_while_waiting(void **state)
{
	struct fe *f = *state;

	f->wait_after_line = true;
	start(f, &default_limits);
	peer_send(f, "parked\n");
	assert_int_equal(shutdown(f->peer, SHUT_WR), 0);
	rounds(f, 3);
	assert_int_equal(f->n_lines, 1);
	assert_false(f->closed);
	f->waits = false;
	conn_process(f->conn);
	rounds(f, 3);
	assert_true(f->closed);
}

/* A peer gone both ways: closed at once, freed at the end of the round. */
static void test_hangup(void **state)
{
	struct fe *f = *state;

	start(f, &default_limits);
	f->peer = safe_close(f->peer);
	rounds(f, 2);
	assert_true(f->closed);
	assert_true(f->released);
}

/* conn_close_later: output dropped now, closed at the end of the round. */
static void test_close_later(void **state)
{
	struct fe *f = *state;
	char *p;

	start(f, &default_limits);
	assert_int_equal(conn_reserve(f->conn, 10, &p), 0);
	memset(p, 'z', 10);
	conn_close_later(f->conn);
	assert_true(conn_closing(f->conn));
	assert_int_equal(conn_out_pending(f->conn), 0);
	assert_false(conn_may_answer(f->conn));
	assert_false(f->closed);
	conn_close_later(f->conn); /* queued once */
	loop_finish_round(f->l);
	assert_true(f->closed);
	assert_true(f->released);
	assert_int_equal(peer_drain(f, (char[16]){0}, 16), -1);
}

/* Closing with output unsent: it goes once the peer took it all. */
static void test_close_if_sent(void **state)
{
	struct fe *f = *state;
	size_t size = 1u << 20, got = 0;
	char *buf = malloc(size), *p;

	assert_non_null(buf);
	start(f, &default_limits);
	assert_int_equal(conn_reserve(f->conn, size, &p), 0);
	memset(p, 'q', size);
	conn_flush(f->conn);
	assert_true(conn_out_pending(f->conn) > 0); /* more than the socket takes */
	conn_set_closing(f->conn);
	conn_close_if_sent(f->conn);
	assert_false(f->closed);
	for (int i = 0; i < 10000 && !f->closed; i++) {
		ssize_t n = peer_drain(f, buf, size);

		if (n > 0)
			got += (size_t)n;
		rounds(f, 1);
	}
	assert_true(f->closed);
	for (ssize_t n; (n = peer_drain(f, buf, size)) > 0;)
		got += (size_t)n;
	assert_int_equal(got, size);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_line_split_over_reads, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_partial_reads, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_input_bound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backpressure_stops_reading, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_waits_stops_reading, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drop_past_max, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_output_in_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_eof_partial_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_eof_while_waiting, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hangup, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_later, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_if_sent, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
