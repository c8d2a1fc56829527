/* SPDX-License-Identifier: MIT */
/*
 * Tests of the worker jobs (src/daemon/jobs.c): every job's done() comes
 * back once, on the loop's thread, after its run() on a worker; the queue
 * is bounded; cancelling an owner's jobs takes the waiting ones off the
 * queue and flags the running one; freeing waits for the workers and
 * still calls every done(). And the credentials a worker takes for a
 * client (perm_become) are its own thread's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "basic/util.h"
#include "daemon/jobs.h"
#include "daemon/loop.h"
#include "daemon/perm.h"

struct job_data {
	int id;
	pthread_t ran_on;
	atomic_bool ran;
	bool done, cancelled_seen;
	atomic_bool *gate; /* run() waits until it opens (or it is cancelled) */
	int *order;	   /* done() appends id here */
	size_t *n_order;
};

static pthread_t loop_thread;

static void run_fn(void *data, const atomic_bool *cancelled)
{
	struct job_data *d = data;

	d->ran_on = pthread_self();
	atomic_store(&d->ran, true);
	while (d->gate && !atomic_load(d->gate) && !atomic_load(cancelled)) {
		struct timespec ts = {0, 1000000};

		nanosleep(&ts, NULL);
	}
	d->cancelled_seen = atomic_load(cancelled);
}

static void done_fn(void *data, bool cancelled)
{
	struct job_data *d = data;

	assert_true(pthread_equal(pthread_self(), loop_thread));
	assert_false(d->done); /* once */
	d->done = true;
	if (d->order)
		d->order[(*d->n_order)++] = d->id;
	if (cancelled)
		d->cancelled_seen = true;
}

/* Run loop rounds until pred(ud) or 10 s. */
static void run_until(struct loop *l, bool (*pred)(void *), void *ud)
{
	uint64_t end = now_monotonic_ns() + 10000000000ull;

	while (!pred(ud) && now_monotonic_ns() < end)
		loop_run_once(l, 50);
	assert_true(pred(ud));
}

struct many {
	struct job_data *d;
	size_t n;
};

static bool all_done(void *ud)
{
	struct many *m = ud;

	for (size_t i = 0; i < m->n; i++)
		if (!m->d[i].done)
			return false;
	return true;
}

static void test_done_on_the_loop(void **state)
{
	struct job_data d[40] = {0};
	struct many m = {d, 40};
	struct loop *l;
	struct jobs *j;

	loop_thread = pthread_self();
	assert_int_equal(loop_new(&l), 0);
	assert_int_equal(jobs_new(l, 3, 64, &j), 0);
	for (int i = 0; i < 40; i++) {
		d[i].id = i;
		assert_int_equal(jobs_submit(j, &m, run_fn, done_fn, &d[i]), 0);
	}
	run_until(l, all_done, &m);
	for (int i = 0; i < 40; i++) {
		assert_true(d[i].ran);
		assert_false(pthread_equal(d[i].ran_on, loop_thread));
		assert_false(d[i].cancelled_seen);
	}
	assert_int_equal(jobs_pending(j, &m), 0);
	jobs_free(j);
	loop_free(l);
}

static void test_bounded_and_cancelled(void **state)
{
	atomic_bool gate = false;
	struct job_data held = {.id = 1, .gate = &gate}, waiting[4] = {0}, other = {.id = 9};
	struct job_data *all[] = {&held,       &waiting[0], &waiting[1],
				  &waiting[2], &waiting[3], &other};
	int owner_a, owner_b;
	struct loop *l;
	struct jobs *j;
	uint64_t t0;

	loop_thread = pthread_self();
	assert_int_equal(loop_new(&l), 0);
	/* one worker, at most 4 waiting */
	assert_int_equal(jobs_new(l, 1, 4, &j), 0);
	assert_int_equal(jobs_submit(j, &owner_a, run_fn, done_fn, &held), 0);
	t0 = now_monotonic_ns();
	while (!atomic_load(&held.ran) && now_monotonic_ns() - t0 < 10000000000ull)
		usleep(1000);
	assert_true(held.ran);
	for (int i = 0; i < 3; i++) {
		waiting[i].id = 2 + i;
		assert_int_equal(jobs_submit(j, &owner_a, run_fn, done_fn, &waiting[i]), 0);
	}
	assert_int_equal(jobs_submit(j, &owner_b, run_fn, done_fn, &other), 0);
	assert_int_equal(jobs_queued(j), 4);
	assert_int_equal(jobs_submit(j, &owner_a, run_fn, done_fn, &waiting[3]), -EAGAIN);
	assert_int_equal(jobs_pending(j, &owner_a), 4);
	/* a's jobs: the waiting ones never run, the running one sees the flag */
	jobs_cancel(j, &owner_a);
	assert_int_equal(jobs_queued(j), 1);
	{
		struct many m = {&other, 1};

		run_until(l, all_done, &m);
	}
	for (int i = 0; i < 3; i++) {
		assert_true(waiting[i].done);
		assert_false(waiting[i].ran);
		assert_true(waiting[i].cancelled_seen);
	}
	{
		struct many m = {&held, 1};

		run_until(l, all_done, &m);
	}
	assert_true(held.cancelled_seen);
	assert_true(other.ran);
	assert_false(waiting[3].done);
	(void)all;
	jobs_free(j);
	loop_free(l);
}

static void test_free_calls_every_done(void **state)
{
	atomic_bool gate = false;
	struct job_data d[6] = {0};
	struct loop *l;
	struct jobs *j;

	loop_thread = pthread_self();
	assert_int_equal(loop_new(&l), 0);
	assert_int_equal(jobs_new(l, 2, 16, &j), 0);
	for (int i = 0; i < 6; i++) {
		d[i].id = i;
		d[i].gate = &gate; /* they would wait forever: freeing cancels them */
		assert_int_equal(jobs_submit(j, &d, run_fn, done_fn, &d[i]), 0);
	}
	jobs_free(j);
	for (int i = 0; i < 6; i++) {
		assert_true(d[i].done);
		assert_true(d[i].cancelled_seen);
	}
	loop_free(l);
}

/* perm_become changes the calling thread's filesystem ids only. */
struct cred_seen {
	uid_t fsuid_worker, fsuid_main_during;
	atomic_bool in, out;
};

static void *become_thread(void *arg)
{
	struct cred_seen *c = arg;
	struct perm_caller who = {.uid = 65534, .gid = 65534};
	struct perm_saved saved;

	assert_int_equal(perm_become(&who, &saved), 0);
	c->fsuid_worker = (uid_t)syscall(SYS_setfsuid, (uid_t)-1);
	atomic_store(&c->in, true);
	while (!atomic_load(&c->out))
		usleep(1000);
	perm_restore(&saved);
	return NULL;
}

static void test_credentials_per_thread(void **state)
{
	struct cred_seen c = {0};
	pthread_t t;

	if (geteuid() != 0)
		skip();
	assert_int_equal(pthread_create(&t, NULL, become_thread, &c), 0);
	while (!atomic_load(&c.in))
		usleep(1000);
	c.fsuid_main_during = (uid_t)syscall(SYS_setfsuid, (uid_t)-1);
	atomic_store(&c.out, true);
	pthread_join(t, NULL);
	assert_int_equal(c.fsuid_worker, 65534);
	assert_int_equal(c.fsuid_main_during, 0);
	assert_int_equal((uid_t)syscall(SYS_setfsuid, (uid_t)-1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_done_on_the_loop),
	    cmocka_unit_test(test_bounded_and_cancelled),
	    cmocka_unit_test(test_free_calls_every_done),
	    cmocka_unit_test(test_credentials_per_thread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
