/* SPDX-License-Identifier: MIT */
/*
 * loop: the daemon's one event loop (epoll), in the manner of redis's ae.c.
 *
 * A part of the daemon registers what it waits for, with a callback and
 * its data: a file descriptor (loop_add_fd) or a timer (loop_add_timer).
 * The loop owns no policy: adding a source touches no switch statement.
 *
 * A round is: wait, then call the callback of every ready source. After
 * the callbacks comes the end of the round:
 *  1. the "after this round" callbacks (loop_defer): a lower layer that
 *     has news for a higher one (a catch-up scan finished, a filesystem
 *     went away) queues one, and the loop calls it once the lower layer
 *     has returned, so no layer ever calls up into one that is still on
 *     the stack. Callbacks queued while they run go on the same way, in
 *     passes, until none is left (or too many passes ran: the rest wait
 *     for the next round, which then does not sleep);
 *  2. the deferred frees (loop_defer_free): an object that other sources
 *     of the same round may still point at (a client, a filesystem) is
 *     taken out of use at once and freed only here, when no callback of
 *     the round can reach it any more.
 *
 * A source removed with loop_del() gets no callback from then on, even
 * for events already returned by this round's epoll_wait; its memory is
 * released at the end of the round. The loop never closes a caller's fd.
 *
 * Deferred work uses a struct loop_defer embedded in its owner, so queuing
 * it cannot fail for want of memory. Single-threaded: only the loop's
 * thread may call these functions.
 */
#ifndef FST_LOOP_H
#define FST_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop;
struct loop_source;

/* events: EPOLLIN, EPOLLOUT, EPOLLPRI, EPOLLHUP, EPOLLERR as returned. */
typedef void (*loop_fd_fn)(void *data, uint32_t events);
typedef void (*loop_fn)(void *data);

/* Work to run at the end of a round; embed it in its owner, zeroed. */
struct loop_defer {
	struct loop_defer *next;
	loop_fn fn;
	void *data;
	bool queued;
};

int loop_new(struct loop **ret);
/* Frees the loop and every source still registered. NULL is fine. */
struct loop *loop_free(struct loop *l);

int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_fn fn, void *data,
		struct loop_source **ret);
/* Change the events a fd source waits for. */
int loop_mod_fd(struct loop_source *s, uint32_t events);

/*
 * A timer: fn runs every interval_ms (0: disarmed). Timers are checked
 * once per round; the loop sleeps no longer than the nearest one.
 */
int loop_add_timer(struct loop *l, unsigned interval_ms, loop_fn fn, void *data,
		   struct loop_source **ret);
/* Re-arm (interval from now) or disarm (0) a timer; no-op if unchanged. */
void loop_timer_set(struct loop_source *s, unsigned interval_ms);
unsigned loop_timer_interval(const struct loop_source *s);

/* Stop a source: no callback from now on; freed at the end of the round.
 * NULL is fine. Returns NULL. */
struct loop_source *loop_del(struct loop_source *s);

/* Run fn(data) at the end of this round (once, however often queued). */
void loop_defer(struct loop *l, struct loop_defer *d, loop_fn fn, void *data);
/* Run free_fn(data) after every deferred callback of the round. */
void loop_defer_free(struct loop *l, struct loop_defer *d, loop_fn free_fn, void *data);
/* Take d off its queue if it is queued: its owner is going away. */
void loop_cancel(struct loop *l, struct loop_defer *d);

/* Run rounds until loop_quit(); 0, or a negative errno from epoll. */
int loop_run(struct loop *l);
void loop_quit(struct loop *l);
bool loop_quitting(const struct loop *l);
/* Run one round, waiting at most timeout_ms (-1: no bound). For tests. */
int loop_run_once(struct loop *l, int timeout_ms);
/* Run the end-of-round work now (shutdown: after the last round). */
void loop_finish_round(struct loop *l);

#endif
