/* SPDX-License-Identifier: MIT */
/*
 * Tests of the event loop: fd sources on pipes, sources removed inside a
 * round, timers, the end-of-round work (deferred callbacks in passes,
 * deferred frees after them, cancellation) and quitting. Timing checks use
 * generous bounds: the machine may be loaded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "basic/util.h"
#include "daemon/loop.h"

struct fixture {
	struct loop *l;
	int p1[2], p2[2]; /* two pipes */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || loop_new(&f->l) < 0 || pipe2(f->p1, O_CLOEXEC) < 0 || pipe2(f->p2, O_CLOEXEC) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	loop_free(f->l);
	for (int i = 0; i < 2; i++) {
		safe_close(f->p1[i]);
		safe_close(f->p2[i]);
	}
	free(f);
	return 0;
}

static void put_byte(int fd)
{
	assert_int_equal(write(fd, "x", 1), 1);
}

static uint64_t ms_since(uint64_t start_ns)
{
	return (now_monotonic_ns() - start_ns) / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- fd sources ------------------------------------------------------------------ */

struct fd_probe {
	unsigned calls;
	uint32_t events;
	struct loop_source *src, *victim; /* victim: deleted by this callback */
	struct fd_probe *victim_probe;
	bool del_self;
};

static void fd_cb(void *data, uint32_t events)
{
	struct fd_probe *p = data;

	p->calls++;
	p->events = events;
	if (p->victim) {
		loop_del(p->victim);
		p->victim = NULL;
		if (p->victim_probe)
			p->victim_probe->victim = NULL; /* it cannot delete us back: it is gone */
	}
	if (p->del_self)
		p->src = loop_del(p->src);
}

static void test_fd_source(void **state)
{
	struct fixture *f = *state;
	struct fd_probe p = {0};

	assert_int_equal(loop_add_fd(f->l, f->p1[0], EPOLLIN, fd_cb, &p, &p.src), 0);
	/* nothing to read: the round times out */
	assert_int_equal(loop_run_once(f->l, 0), 0);
	assert_int_equal(p.calls, 0);
	put_byte(f->p1[1]);
	assert_int_equal(loop_run_once(f->l, 5000), 1);
	assert_int_equal(p.calls, 1);
	assert_int_equal(p.events, EPOLLIN);
	/* level-triggered: still readable, called again */
	assert_int_equal(loop_run_once(f->l, 5000), 1);
	assert_int_equal(p.calls, 2);
	/* waiting for nothing: no call */
	assert_int_equal(loop_mod_fd(p.src, 0), 0);
	assert_int_equal(loop_run_once(f->l, 0), 0);
	assert_int_equal(p.calls, 2);
	assert_int_equal(loop_mod_fd(p.src, EPOLLIN), 0);
	/* the writer gone: hang-up */
	f->p1[1] = safe_close(f->p1[1]);
	assert_int_equal(loop_run_once(f->l, 5000), 1);
	assert_int_equal(p.calls, 3);
	assert_true(p.events & EPOLLHUP);
	/* removed: no call, the fd stays the caller's */
	assert_null(loop_del(p.src));
	assert_int_equal(loop_mod_fd(p.src, EPOLLIN), -EINVAL);
	assert_null(loop_del(p.src)); /* twice in the round: a no-op */
	assert_null(loop_del(NULL));
	assert_int_equal(loop_run_once(f->l, 0), 0);
	assert_int_equal(p.calls, 3);
	assert_true(fcntl(f->p1[0], F_GETFD) >= 0);
}

static void test_fd_source_errors(void **state)
{
	struct fixture *f = *state;
	struct fd_probe p = {0};
	struct loop_source *s = NULL;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	assert_int_equal(loop_add_fd(f->l, -1, EPOLLIN, fd_cb, &p, &s), -EINVAL);
	assert_int_equal(loop_add_fd(f->l, f->p1[0], EPOLLIN, NULL, &p, &s), -EINVAL);
	/* epoll refuses a regular file: the error, and nothing registered */
	assert_true(fd >= 0);
	assert_int_equal(loop_add_fd(f->l, fd, EPOLLIN, fd_cb, &p, &s), -EPERM);
	assert_null(s);
	close(fd);
	/* the same fd twice */
	assert_int_equal(loop_add_fd(f->l, f->p1[0], EPOLLIN, fd_cb, &p, NULL), 0);
	assert_int_equal(loop_add_fd(f->l, f->p1[0], EPOLLIN, fd_cb, &p, &s), -EEXIST);
	assert_null(s);
	put_byte(f->p1[1]);
	assert_int_equal(loop_run_once(f->l, 5000), 1);
	assert_int_equal(p.calls, 1);
}

/*
 * Two sources ready in the same round; whichever runs first removes the
 * other, which then gets no callback, although epoll_wait returned its
 * event. (Which runs first is epoll's business: the test lets both try.)
 */
static void test_del_in_same_round(void **state)
{
	struct fixture *f = *state;
	struct fd_probe a = {0}, b = {0};

	assert_int_equal(loop_add_fd(f->l, f->p1[0], EPOLLIN, fd_cb, &a, &a.src), 0);
	assert_int_equal(loop_add_fd(f->l, f->p2[0], EPOLLIN, fd_cb, &b, &b.src), 0);
	a.victim = b.src;
	a.victim_probe = &b;
	b.victim = a.src;
	b.victim_probe = &a;
	put_byte(f->p1[1]);
	put_byte(f->p2[1]);
	assert_int_equal(loop_run_once(f->l, 5000), 2); /* both were ready */
	assert_int_equal(a.calls + b.calls, 1);
	/* the survivor goes on; the other is gone for good (and freed: ASan) */
	assert_int_equal(loop_run_once(f->l, 5000), 1);
	assert_int_equal(a.calls + b.calls, 2);
	assert_true(a.calls == 2 || b.calls == 2);
}

static void test_del_self(void **state)
{
	struct fixture *f = *state;
	struct fd_probe p = {.del_self = true};

	assert_int_equal(loop_add_fd(f->l, f->p1[0], EPOLLIN, fd_cb, &p, &p.src), 0);
	put_byte(f->p1[1]);
	assert_int_equal(loop_run_once(f->l, 5000), 1);
	assert_int_equal(loop_run_once(f->l, 0), 0);
	assert_int_equal(p.calls, 1);
	/* the fd can be registered again */
	p.del_self = false;
	assert_int_equal(loop_add_fd(f->l, f->p1[0], EPOLLIN, fd_cb, &p, &p.src), 0);
	assert_int_equal(loop_run_once(f->l, 5000), 1);
	assert_int_equal(p.calls, 2);
}

/* ---- timers ------------------------------------------------------------------------ */

struct timer_probe {
	unsigned calls;
	uint64_t last_ns; /* when it was last called */
	struct loop_source *src;
};

static void timer_cb(void *data)
{
	struct timer_probe *t = data;

	t->calls++;
	t->last_ns = now_monotonic_ns();
}

static void test_timer(void **state)
{
	struct fixture *f = *state;
	struct timer_probe t = {0};
	uint64_t start = now_monotonic_ns();

	assert_int_equal(loop_add_timer(f->l, 30, timer_cb, &t, &t.src), 0);
	assert_int_equal(loop_timer_interval(t.src), 30);
	assert_int_equal(loop_run_once(f->l, 0), 0);
	assert_int_equal(t.calls, 0);
	/* a round without fds sleeps until the timer, not longer, not forever */
	while (t.calls == 0 && ms_since(start) < 5000)
		assert_int_equal(loop_run_once(f->l, -1), 0);
	assert_int_equal(t.calls, 1);
	assert_true(ms_since(start) >= 29);
	assert_true(ms_since(start) < 2000);
	/* again after its interval (from when it ran, give or take the call) */
	start = t.last_ns;
	while (t.calls == 1 && ms_since(start) < 5000)
		loop_run_once(f->l, -1);
	assert_int_equal(t.calls, 2);
	assert_true((t.last_ns - start) / 1000000 >= 25);

	/* disarmed: no call, and a bounded wait is not cut short by it */
	loop_timer_set(t.src, 0);
	assert_int_equal(loop_timer_interval(t.src), 0);
	start = now_monotonic_ns();
	assert_int_equal(loop_run_once(f->l, 100), 0);
	assert_true(ms_since(start) >= 99);
	assert_int_equal(t.calls, 2);

	/* re-armed: interval from now */
	loop_timer_set(t.src, 10);
	start = now_monotonic_ns();
	while (t.calls == 2 && ms_since(start) < 5000)
		loop_run_once(f->l, -1);
	assert_int_equal(t.calls, 3);

	/* removed: never again */
	assert_null(loop_del(t.src));
	sleep_ms(20);
	assert_int_equal(loop_run_once(f->l, 0), 0);
	assert_int_equal(t.calls, 3);
	assert_int_equal(loop_add_timer(f->l, 10, NULL, &t, NULL), -EINVAL);
}

/* The loop sleeps until the nearest timer, whatever the others and the bound. */
static void test_timer_nearest(void **state)
{
	struct fixture *f = *state;
	struct timer_probe near = {0}, far = {0}, off = {0};
	uint64_t start = now_monotonic_ns();

	assert_int_equal(loop_add_timer(f->l, 20, timer_cb, &near, &near.src), 0);
	assert_int_equal(loop_add_timer(f->l, 0, timer_cb, &off, &off.src), 0);
	assert_int_equal(loop_add_timer(f->l, 60000, timer_cb, &far, &far.src), 0);
	assert_int_equal(loop_run_once(f->l, 30000), 0);
	assert_true(ms_since(start) < 10000);
	while (near.calls == 0 && ms_since(start) < 10000)
		loop_run_once(f->l, 30000);
	assert_int_equal(near.calls, 1);
	assert_int_equal(far.calls, 0);
	assert_int_equal(off.calls, 0);
	/* without a bound too */
	start = now_monotonic_ns();
	assert_int_equal(loop_run_once(f->l, -1), 0);
	assert_true(ms_since(start) < 10000);
}

/* Setting the same interval again does not push a due timer back. */
static void test_timer_set_unchanged(void **state)
{
	struct fixture *f = *state;
	struct timer_probe t = {0}, u = {0};

	assert_int_equal(loop_add_timer(f->l, 30, timer_cb, &t, &t.src), 0);
	sleep_ms(40);
	loop_timer_set(t.src, 30);
	assert_int_equal(loop_run_once(f->l, 0), 0);
	assert_int_equal(t.calls, 1);
	/* a changed interval re-arms from now */
	sleep_ms(40);
	loop_timer_set(t.src, 1000);
	assert_int_equal(loop_run_once(f->l, 0), 0);
	assert_int_equal(t.calls, 1);
	/* added disarmed */
	assert_int_equal(loop_add_timer(f->l, 0, timer_cb, &u, &u.src), 0);
	sleep_ms(5);
	assert_int_equal(loop_run_once(f->l, 0), 0);
	assert_int_equal(u.calls, 0);
}

/* A timer removed by an fd callback of the same round is not called. */
static void test_timer_del_in_round(void **state)
{
	struct fixture *f = *state;
	struct timer_probe t = {0};
	struct fd_probe p = {0};

	assert_int_equal(loop_add_timer(f->l, 1, timer_cb, &t, &t.src), 0);
	assert_int_equal(loop_add_fd(f->l, f->p1[0], EPOLLIN, fd_cb, &p, &p.src), 0);
	p.victim = t.src;
	sleep_ms(10); /* the timer is due */
	put_byte(f->p1[1]);
	assert_int_equal(loop_run_once(f->l, 5000), 1);
	assert_int_equal(p.calls, 1);
	assert_int_equal(t.calls, 0);
}

/* ---- end of the round ------------------------------------------------------------------ */

#define MAX_LOG 128

struct log {
	char v[MAX_LOG];
	size_t n;
};

struct job {
	char name;
	struct log *log;
	struct loop *l;
	struct loop_defer d, d2;
	unsigned requeue;   /* queue itself again this many times */
	struct job *then;   /* defer this one when run */
	struct job *cancel; /* cancel this one's d when run */
};

static void job_run(void *data)
{
	struct job *j = data;

	if (j->log->n < MAX_LOG)
		j->log->v[j->log->n++] = j->name;
	if (j->then)
		loop_defer(j->l, &j->then->d, job_run, j->then);
	if (j->cancel)
		loop_cancel(j->l, &j->cancel->d);
	if (j->requeue) {
		j->requeue--;
		loop_defer(j->l, &j->d, job_run, j);
	}
}

static void job_free(void *data)
{
	struct job *j = data;

	if (j->log->n < MAX_LOG)
		j->log->v[j->log->n++] = (char)(j->name - 'a' + 'A'); /* frees in capitals */
}

static struct job job(struct fixture *f, struct log *log, char name)
{
	return (struct job){.name = name, .log = log, .l = f->l};
}

static void expect_log(struct log *log, const char *want)
{
	log->v[log->n < MAX_LOG ? log->n : MAX_LOG - 1] = '\0';
	assert_string_equal(log->v, want);
	log->n = 0;
}

static void test_defer_once(void **state)
{
	struct fixture *f = *state;
	struct log log = {0};
	struct job a = job(f, &log, 'a'), b = job(f, &log, 'b');

	loop_defer(f->l, &a.d, job_run, &a);
	loop_defer(f->l, &b.d, job_run, &b);
	loop_defer(f->l, &a.d, job_run, &a);
	loop_defer(f->l, &a.d, job_run, &a);
	assert_true(a.d.queued);
	/* pending work: the round does not sleep */
	assert_int_equal(loop_run_once(f->l, -1), 0);
	expect_log(&log, "ab");
	assert_false(a.d.queued);
	assert_int_equal(loop_run_once(f->l, 0), 0);
	expect_log(&log, "");
	/* once per round, every round it is queued */
	loop_defer(f->l, &a.d, job_run, &a);
	assert_int_equal(loop_run_once(f->l, 0), 0);
	expect_log(&log, "a");
}

/* What a deferred callback queues runs after what was queued before it. */
static void test_defer_passes(void **state)
{
	struct fixture *f = *state;
	struct log log = {0};
	struct job a = job(f, &log, 'a'), b = job(f, &log, 'b'), c = job(f, &log, 'c');
	struct job d = job(f, &log, 'd');

	a.then = &b;
	b.then = &d;
	loop_defer(f->l, &a.d, job_run, &a);
	loop_defer(f->l, &c.d, job_run, &c);
	loop_finish_round(f->l);
	expect_log(&log, "acbd");

	/* a callback queued again by itself runs again, in the next pass */
	a = job(f, &log, 'a');
	a.requeue = 2;
	loop_defer(f->l, &a.d, job_run, &a);
	loop_defer(f->l, &c.d, job_run, &c);
	loop_finish_round(f->l);
	expect_log(&log, "acaa");
}

/*
 * Work that keeps queuing itself is cut off after some passes; the rest
 * waits for the next round, which does not sleep, and frees wait until no
 * deferred callback is left.
 */
static void test_defer_bounded(void **state)
{
	struct fixture *f = *state;
	struct log log = {0};
	struct job a = job(f, &log, 'a'), z = job(f, &log, 'z');
	uint64_t start;
	size_t first;

	a.requeue = 1000;
	loop_defer(f->l, &a.d, job_run, &a);
	loop_defer_free(f->l, &z.d, job_free, &z);
	loop_finish_round(f->l);
	first = log.n;
	assert_true(first > 1 && first < 100);
	assert_true(a.d.queued);
	assert_null(memchr(log.v, 'Z', log.n)); /* no free yet */
	log.n = 0;
	start = now_monotonic_ns();
	assert_int_equal(loop_run_once(f->l, 10000), 0);
	assert_true(ms_since(start) < 5000);
	assert_int_equal(log.n, first);
	assert_null(memchr(log.v, 'Z', log.n));
	/* once it stops, the free runs in the same round, after it */
	a.requeue = 0;
	log.n = 0;
	loop_finish_round(f->l);
	expect_log(&log, "aZ");
	assert_false(z.d.queued);
}

static void test_defer_free_last(void **state)
{
	struct fixture *f = *state;
	struct log log = {0};
	struct job a = job(f, &log, 'a'), b = job(f, &log, 'b'), x = job(f, &log, 'x');
	struct job y = job(f, &log, 'y');

	a.then = &b;
	/* a free queued first still runs after every deferred callback */
	loop_defer_free(f->l, &x.d, job_free, &x);
	loop_defer(f->l, &a.d, job_run, &a);
	loop_defer_free(f->l, &y.d, job_free, &y);
	loop_defer_free(f->l, &x.d, job_free, &x); /* once */
	assert_int_equal(loop_run_once(f->l, -1), 0);
	expect_log(&log, "abXY");
	assert_false(x.d.queued);
	assert_false(y.d.queued);
}

static void test_cancel(void **state)
{
	struct fixture *f = *state;
	struct log log = {0};
	struct job a = job(f, &log, 'a'), b = job(f, &log, 'b'), c = job(f, &log, 'c');
	struct job x = job(f, &log, 'x');

	/* the last one: the queue's tail must follow */
	loop_defer(f->l, &a.d, job_run, &a);
	loop_defer(f->l, &b.d, job_run, &b);
	loop_cancel(f->l, &b.d);
	assert_false(b.d.queued);
	loop_defer(f->l, &c.d, job_run, &c);
	loop_finish_round(f->l);
	expect_log(&log, "ac");

	/* the only one */
	loop_defer(f->l, &a.d, job_run, &a);
	loop_cancel(f->l, &a.d);
	loop_defer(f->l, &b.d, job_run, &b);
	loop_finish_round(f->l);
	expect_log(&log, "b");

	/* the first one, the middle one */
	loop_defer(f->l, &a.d, job_run, &a);
	loop_defer(f->l, &b.d, job_run, &b);
	loop_defer(f->l, &c.d, job_run, &c);
	loop_cancel(f->l, &a.d);
	loop_cancel(f->l, &b.d);
	loop_finish_round(f->l);
	expect_log(&log, "c");

	/* by a callback, before it runs */
	a.cancel = &b;
	loop_defer(f->l, &a.d, job_run, &a);
	loop_defer(f->l, &b.d, job_run, &b);
	loop_finish_round(f->l);
	expect_log(&log, "a");
	a.cancel = NULL;

	/* a free */
	loop_defer_free(f->l, &x.d, job_free, &x);
	loop_cancel(f->l, &x.d);
	assert_false(x.d.queued);
	loop_finish_round(f->l);
	expect_log(&log, "");

	/* not queued: nothing happens */
	loop_cancel(f->l, &c.d);
	loop_defer(f->l, &c.d, job_run, &c);
	loop_finish_round(f->l);
	expect_log(&log, "c");
}

/* The owner goes away: cancel, then free its memory; the loop never touches it again. */
static void test_cancel_then_free(void **state)
{
	struct fixture *f = *state;
	struct log log = {0};
	struct job *j = malloc(sizeof(*j));
	struct job a = job(f, &log, 'a');

	assert_non_null(j);
	*j = job(f, &log, 'j');
	loop_defer(f->l, &a.d, job_run, &a);
	loop_defer(f->l, &j->d, job_run, j);
	loop_defer_free(f->l, &j->d2, job_free, j);
	loop_cancel(f->l, &j->d);
	loop_cancel(f->l, &j->d2);
	free(j);
	loop_finish_round(f->l);
	expect_log(&log, "a");
}

/* ---- quitting --------------------------------------------------------------------------- */

struct quitter {
	struct loop *l;
	unsigned rounds, quit_at;
};

static void quit_cb(void *data)
{
	struct quitter *q = data;

	if (++q->rounds == q->quit_at)
		loop_quit(q->l);
}

static void test_quit(void **state)
{
	struct fixture *f = *state;
	struct quitter q = {.l = f->l, .quit_at = 3};

	assert_false(loop_quitting(f->l));
	assert_int_equal(loop_add_timer(f->l, 1, quit_cb, &q, NULL), 0);
	assert_int_equal(loop_run(f->l), 0);
	assert_int_equal(q.rounds, 3);
	assert_true(loop_quitting(f->l));
	/* quit before running: no round at all */
	assert_int_equal(loop_run(f->l), 0);
	assert_int_equal(q.rounds, 3);
}

/* Freeing a loop with sources and queued work left (ASan: no leak, no touch). */
static void test_free_with_sources(void **state)
{
	struct loop *l;
	struct timer_probe t = {0};
	struct fd_probe p = {0};
	struct loop_defer d = {0};
	int fds[2];

	assert_null(loop_free(NULL));
	assert_int_equal(loop_new(&l), 0);
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	assert_int_equal(loop_add_fd(l, fds[0], EPOLLIN, fd_cb, &p, &p.src), 0);
	assert_int_equal(loop_add_timer(l, 10, timer_cb, &t, &t.src), 0);
	loop_del(t.src);
	loop_defer(l, &d, timer_cb, &t);
	assert_null(loop_free(l));
	assert_int_equal(t.calls, 0);
	/* the fds stay the caller's */
	assert_int_equal(write(fds[1], "x", 1), 1);
	close(fds[0]);
	close(fds[1]);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_fd_source),
	    T(test_fd_source_errors),
	    T(test_del_in_same_round),
	    T(test_del_self),
	    T(test_timer),
	    T(test_timer_nearest),
	    T(test_timer_set_unchanged),
	    T(test_timer_del_in_round),
	    T(test_defer_once),
	    T(test_defer_passes),
	    T(test_defer_bounded),
	    T(test_defer_free_last),
	    T(test_cancel),
	    T(test_cancel_then_free),
	    T(test_quit),
	    cmocka_unit_test(test_free_with_sources),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
