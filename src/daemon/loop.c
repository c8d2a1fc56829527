/* SPDX-License-Identifier: MIT */
#include "daemon/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "basic/util.h"

#define EVENTS_PER_ROUND 64
#define DEFER_PASSES 16

struct loop_source {
	struct loop *l;
	struct loop_source *next;      /* every source, live or dead */
	struct loop_source *dead_next; /* dead ones, freed at the end of the round */
	int fd;			       /* -1 for a timer */
	loop_fd_fn fd_fn;
	loop_fn timer_fn;
	void *data;
	unsigned interval_ms; /* timers: 0 disarmed */
	uint64_t due_ns;
	bool dead;
};

struct loop {
	int epfd;
	bool quit;
	struct loop_source *sources;
	struct loop_source *dead;
	struct loop_defer *defer_head, **defer_tail;
	struct loop_defer *free_head, **free_tail;
};

int loop_new(struct loop **ret)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int r = -errno;
		free(l);
		return r;
	}
	l->defer_tail = &l->defer_head;
	l->free_tail = &l->free_head;
	*ret = l;
	return 0;
}

static void reap_sources(struct loop *l)
{
	struct loop_source **pp = &l->sources;

	if (!l->dead)
		return;
	while (*pp) {
		struct loop_source *s = *pp;
		if (s->dead) {
			*pp = s->next;
			free(s);
		} else {
			pp = &s->next;
		}
	}
	l->dead = NULL;
}

struct loop *loop_free(struct loop *l)
{
	if (!l)
		return NULL;
	while (l->sources) {
		struct loop_source *s = l->sources;
		l->sources = s->next;
		free(s);
	}
	safe_close(l->epfd);
	free(l);
	return NULL;
}

static struct loop_source *source_new(struct loop *l, int fd, void *data)
{
	struct loop_source *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->l = l;
	s->fd = fd;
	s->data = data;
	s->next = l->sources;
	l->sources = s;
	return s;
}

/* Unlink a source that never became live (epoll_ctl failed). */
static void source_drop(struct loop *l, struct loop_source *s)
{
	l->sources = s->next; /* it is the newest: at the head */
	free(s);
}

int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_fn fn, void *data,
		struct loop_source **ret)
{
	struct loop_source *s;
	struct epoll_event ev = {.events = events};

	if (fd < 0 || !fn)
		return -EINVAL;
	s = source_new(l, fd, data);
	if (!s)
		return -ENOMEM;
	s->fd_fn = fn;
	ev.data.ptr = s;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int r = -errno;
		source_drop(l, s);
		return r;
	}
	if (ret)
		*ret = s;
	return 0;
}

int loop_mod_fd(struct loop_source *s, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = s};

	if (s->dead || s->fd < 0)
		return -EINVAL;
	if (epoll_ctl(s->l->epfd, EPOLL_CTL_MOD, s->fd, &ev) < 0)
		return -errno;
	return 0;
}

int loop_add_timer(struct loop *l, unsigned interval_ms, loop_fn fn, void *data,
		   struct loop_source **ret)
{
	struct loop_source *s;

	if (!fn)
		return -EINVAL;
	s = source_new(l, -1, data);
	if (!s)
		return -ENOMEM;
	s->timer_fn = fn;
	loop_timer_set(s, interval_ms);
	if (ret)
		*ret = s;
	return 0;
}

void loop_timer_set(struct loop_source *s, unsigned interval_ms)
{
	if (s->interval_ms == interval_ms && (interval_ms == 0 || s->due_ns))
		return;
	s->interval_ms = interval_ms;
	s->due_ns = interval_ms ? now_monotonic_ns() + (uint64_t)interval_ms * 1000000ull : 0;
}

unsigned loop_timer_interval(const struct loop_source *s)
{
	return s->interval_ms;
}

struct loop_source *loop_del(struct loop_source *s)
{
	if (!s || s->dead)
		return NULL;
	if (s->fd >= 0)
		(void)epoll_ctl(s->l->epfd, EPOLL_CTL_DEL, s->fd, NULL);
	s->dead = true;
	s->dead_next = s->l->dead;
	s->l->dead = s;
	return NULL;
}

static void enqueue(struct loop_defer ***tail, struct loop_defer *d, loop_fn fn, void *data)
{
	if (d->queued)
		return;
	d->queued = true;
	d->fn = fn;
	d->data = data;
	d->next = NULL;
	**tail = d;
	*tail = &d->next;
}

void loop_defer(struct loop *l, struct loop_defer *d, loop_fn fn, void *data)
{
	enqueue(&l->defer_tail, d, fn, data);
}

void loop_defer_free(struct loop *l, struct loop_defer *d, loop_fn free_fn, void *data)
{
	enqueue(&l->free_tail, d, free_fn, data);
}

static size_t queue_length(const struct loop_defer *d)
{
	size_t n = 0;

	for (; d; d = d->next)
		n++;
	return n;
}

/*
 * Run the entries queued now, popping them one at a time (so that one
 * callback may cancel another still queued); what the callbacks queue
 * waits for the next pass.
 */
static void run_queue(struct loop_defer **head, struct loop_defer ***tail)
{
	for (size_t n = queue_length(*head); n > 0 && *head; n--) {
		struct loop_defer *d = *head;

		*head = d->next;
		if (!*head)
			*tail = head;
		d->next = NULL;
		d->queued = false; /* it may queue itself again */
		d->fn(d->data);
	}
}

static bool unlink_from(struct loop_defer **head, struct loop_defer ***tail, struct loop_defer *d)
{
	for (struct loop_defer **pp = head; *pp; pp = &(*pp)->next) {
		if (*pp != d)
			continue;
		*pp = d->next;
		if (!*pp)
			*tail = pp;
		d->next = NULL;
		d->queued = false;
		return true;
	}
	return false;
}

void loop_cancel(struct loop *l, struct loop_defer *d)
{
	if (d->queued && !unlink_from(&l->defer_head, &l->defer_tail, d))
		unlink_from(&l->free_head, &l->free_tail, d);
}

void loop_finish_round(struct loop *l)
{
	for (int pass = 0; l->defer_head && pass < DEFER_PASSES; pass++)
		run_queue(&l->defer_head, &l->defer_tail);
	/* Frees only once no deferred callback that might still reach them is left. */
	if (!l->defer_head)
		while (l->free_head)
			run_queue(&l->free_head, &l->free_tail);
	reap_sources(l);
}

static void run_timers(struct loop *l)
{
	uint64_t now = now_monotonic_ns();

	for (struct loop_source *s = l->sources; s; s = s->next) {
		if (s->dead || s->fd >= 0 || !s->interval_ms || s->due_ns > now)
			continue;
		s->due_ns = now + (uint64_t)s->interval_ms * 1000000ull;
		s->timer_fn(s->data);
	}
}

static int next_timeout(const struct loop *l, int bound_ms)
{
	uint64_t now = now_monotonic_ns();
	int64_t best = bound_ms;

	if (l->defer_head || l->free_head)
		return 0;
	for (const struct loop_source *s = l->sources; s; s = s->next) {
		int64_t ms;
		if (s->dead || s->fd >= 0 || !s->interval_ms)
			continue;
		ms = s->due_ns <= now ? 0 : (int64_t)((s->due_ns - now + 999999) / 1000000);
		if (best < 0 || ms < best)
			best = ms;
	}
	return best > INT32_MAX ? INT32_MAX : (int)best;
}

int loop_run_once(struct loop *l, int timeout_ms)
{
	struct epoll_event evs[EVENTS_PER_ROUND];
	int n = epoll_wait(l->epfd, evs, EVENTS_PER_ROUND, next_timeout(l, timeout_ms));

	if (n < 0) {
		if (errno != EINTR)
			return -errno;
		n = 0;
	}
	for (int i = 0; i < n; i++) {
		struct loop_source *s = evs[i].data.ptr;
		if (!s->dead)
			s->fd_fn(s->data, evs[i].events);
	}
	run_timers(l);
	loop_finish_round(l);
	return n;
}

int loop_run(struct loop *l)
{
	while (!l->quit) {
		int r = loop_run_once(l, -1);
		if (r < 0)
			return r;
	}
	return 0;
}

void loop_quit(struct loop *l)
{
	l->quit = true;
}

bool loop_quitting(const struct loop *l)
{
	return l->quit;
}
