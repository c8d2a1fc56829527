/* SPDX-License-Identifier: MIT */
/*
 * jobs: a few worker threads for work that must not hold up the event
 * loop (tree walks, reading files to hash them). A job is a function and
 * its data: run() goes on a worker; done() comes back on the loop's
 * thread (an eventfd registered with the loop), once for every job
 * submitted, in the order the jobs finished. So the result of a job is
 * used where everything else of the daemon runs, and run() touches
 * nothing but its own data.
 *
 * Bounded: at most max_queued jobs wait for a worker (jobs_submit says
 * -EAGAIN past it). A job belongs to an owner (a client): jobs_cancel()
 * takes the owner's waiting jobs off the queue and flags its running ones
 * (run() may look at the flag and stop early); their done() is told
 * "cancelled" and must then only free the data, the owner being gone.
 * Only the loop's thread calls these functions.
 */
#ifndef FST_JOBS_H
#define FST_JOBS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct loop;
struct jobs;

/* On a worker. cancelled turns true when the owner cancels the job. */
typedef void (*job_run_fn)(void *data, const atomic_bool *cancelled);
/* On the loop's thread, after run() (or instead of it when cancelled before it started). */
typedef void (*job_done_fn)(void *data, bool cancelled);

int jobs_new(struct loop *loop, unsigned threads, size_t max_queued, struct jobs **ret);
/*
 * Cancel everything, wait for the workers to finish what they run, call
 * every done() still due (cancelled) and free. NULL is fine.
 */
struct jobs *jobs_free(struct jobs *j);

/* 0, or -EAGAIN (the queue is full), -ENOMEM. On error nothing is called. */
int jobs_submit(struct jobs *j, const void *owner, job_run_fn run, job_done_fn done, void *data);
/* Cancel every job of owner; their done() come later, from the loop, cancelled. */
void jobs_cancel(struct jobs *j, const void *owner);
/* Jobs of owner submitted and not done yet (waiting or running). */
size_t jobs_pending(const struct jobs *j, const void *owner);
/* Jobs waiting for a worker, of everyone. */
size_t jobs_queued(const struct jobs *j);

#endif
