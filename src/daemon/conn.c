/* SPDX-License-Identifier: MIT */
/*
 * conn: a client connection's buffers on the loop (see conn.h).
 */
#include "daemon/conn.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "basic/util.h"
#include "daemon/loop.h"

struct conn {
	struct loop *loop;
	int fd;
	struct loop_source *src;
	struct loop_defer free_node, close_node;
	struct conn_limits lim;
	const struct conn_ops *ops;
	void *data;
	char *in;
	size_t in_len, in_cap;
	char no_input[1]; /* what the input callback gets before anything was read */
	char *out;
	size_t out_len, out_off, out_cap;
	uint32_t events; /* registered with the loop */
	bool closing;	 /* close once the output is sent */
	bool eof;	 /* it sent all it will send */
	bool dead;	 /* closed; freed at the end of the round */
};

size_t conn_out_pending(const struct conn *c)
{
	return c->out_len - c->out_off;
}

bool conn_may_answer(const struct conn *c)
{
	return !c->closing && !c->dead && conn_out_pending(c) < c->lim.out_high;
}

bool conn_closing(const struct conn *c)
{
	return c->closing;
}

bool conn_dead(const struct conn *c)
{
	return c->dead;
}

void conn_set_closing(struct conn *c)
{
	c->closing = true;
}

/*
 * Read only while it may send more: not while a request of its waits, nor
 * while it does not read what it was sent.
 */
static void update_events(struct conn *c)
{
	uint32_t want = 0;

	if (c->dead)
		return;
	if (!c->closing && !c->eof && !c->ops->waits(c->data) &&
	    conn_out_pending(c) < c->lim.out_high)
		want |= EPOLLIN;
	if (conn_out_pending(c))
		want |= EPOLLOUT;
	if (want != c->events && loop_mod_fd(c->src, want) == 0)
		c->events = want;
}

void conn_flush(struct conn *c)
{
	size_t before = conn_out_pending(c), sent = 0;

	if (c->dead)
		return;
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				c->closing = true, c->out_off = c->out_len; /* peer gone */
			break;
		}
		c->out_off += (size_t)n;
		sent += (size_t)n;
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	update_events(c);
	c->ops->flushed(c->data, sent, before);
}

int conn_reserve(struct conn *c, size_t len, char **ret)
{
	if (conn_out_pending(c) + len > c->lim.out_max)
		return -ENOBUFS;
	if (c->out_off && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (GROW(c->out, c->out_cap, c->out_len + len) < 0)
		return -ENOMEM;
	*ret = c->out + c->out_len;
	c->out_len += len;
	return 0;
}

int conn_give(struct conn *c, char *buf, size_t len)
{
	char *p;
	int r;

	if (conn_out_pending(c) == 0 && len > c->out_cap && len <= c->lim.out_max) {
		free(c->out); /* a large answer: take its buffer rather than copy it */
		c->out = buf;
		c->out_cap = c->out_len = len;
		c->out_off = 0;
		return 0;
	}
	r = conn_reserve(c, len, &p);
	if (r == 0)
		memcpy(p, buf, len);
	free(buf);
	return r;
}

static void free_cb(void *data)
{
	struct conn *c = data;

	c->ops->release(c->data);
	free(c->in);
	free(c->out);
	free(c);
}

void conn_close(struct conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	c->ops->closed(c->data);
	c->src = loop_del(c->src);
	c->fd = safe_close(c->fd);
	loop_cancel(c->loop, &c->close_node);
	loop_defer_free(c->loop, &c->free_node, free_cb, c);
}

void conn_close_if_sent(struct conn *c)
{
	if (c->closing && !conn_out_pending(c))
		conn_close(c);
}

static void close_later_cb(void *data)
{
	conn_close(data);
}

void conn_close_later(struct conn *c)
{
	c->closing = true;
	c->out_off = c->out_len = 0;
	loop_defer(c->loop, &c->close_node, close_later_cb, c);
}

const char *conn_admit(const struct conn_quota *q, uid_t uid, unsigned n,
		       unsigned (*count_uid)(const void *data, uid_t uid), const void *data)
{
	/* the last few places are root's: a crowd of users cannot lock it out */
	if (n >= q->max || (uid != 0 && n + q->root_reserve >= q->max))
		return "too many connections to fstrackd; try again later";
	if (uid != 0 && count_uid(data, uid) >= q->max_per_uid)
		return "too many connections of this user to fstrackd; close some first";
	return NULL;
}

void conn_process(struct conn *c)
{
	bool answered = false;
	size_t used;

	if (c->dead)
		return;
	used = c->ops->input(c->data, c->in ? c->in : c->no_input, c->in_len, &answered);
	if (c->dead)
		return;
	if (used) {
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= used;
	}
	/* all it sent is answered (part of a request may be left: dropped): it may go */
	if (c->eof && answered)
		c->closing = true;
	if (c->closing && !conn_out_pending(c))
		conn_close(c);
	else
		update_events(c);
}

/* Read what it sent, at most one chunk beyond in_max. False: EOF, or an error. */
static bool conn_read(struct conn *c)
{
	for (;;) {
		size_t room;
		ssize_t n;

		if (c->in_len > c->lim.in_max)
			return true; /* the input callback decides: requests, or a refusal */
		if (GROW(c->in, c->in_cap, c->in_len + c->lim.in_chunk) < 0) {
			c->closing = true;
			return true;
		}
		room = c->in_cap - c->in_len;
		n = recv(c->fd, c->in + c->in_len, room, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n <= 0)
			return false; /* answer what is complete, then go */
		c->in_len += (size_t)n;
		if ((size_t)n < room)
			return true; /* all there was */
	}
}

static void on_event(void *data, uint32_t events)
{
	struct conn *c = data;

	if (events & (EPOLLHUP | EPOLLERR)) {
		conn_close(c); /* gone both ways: nothing can reach it any more */
		return;
	}
	if (events & EPOLLOUT)
		conn_flush(c);
	if (c->dead)
		return;
	if ((events & EPOLLIN) && (c->events & EPOLLIN) && !conn_read(c))
		c->eof = true;
	conn_process(c); /* also what waited for its output to drain */
}

int conn_new(struct loop *l, int fd, const struct conn_limits *lim, const struct conn_ops *ops,
	     void *data, struct conn **ret)
{
	struct conn *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->loop = l;
	c->fd = fd;
	c->lim = *lim;
	c->ops = ops;
	c->data = data;
	c->events = EPOLLIN;
	r = loop_add_fd(l, fd, EPOLLIN, on_event, c, &c->src);
	if (r < 0) {
		free(c);
		return r;
	}
	*ret = c;
	return 0;
}
