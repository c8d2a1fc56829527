/* SPDX-License-Identifier: MIT */
/* jobs: worker threads, results back on the loop's thread (see jobs.h). */
#include "daemon/jobs.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/util.h"
#include "daemon/loop.h"

struct job {
	struct job *next;
	const void *owner;
	job_run_fn run;
	job_done_fn done;
	void *data;
	atomic_bool cancelled;
};

struct jobs {
	struct loop *loop;
	int efd;
	struct loop_source *src;
	pthread_t *threads;
	unsigned n_threads;
	size_t max_queued;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stopping;
	/* under lock: waiting (FIFO), running, finished (FIFO) */
	struct job *queue, **queue_tail;
	size_t n_queued;
	struct job *running;
	struct job *finished, **finished_tail;
};

static void finish_locked(struct jobs *j, struct job *jb)
{
	jb->next = NULL;
	*j->finished_tail = jb;
	j->finished_tail = &jb->next;
}

static void poke(struct jobs *j)
{
	uint64_t one = 1;

	/* the counter cannot overflow in practice; EAGAIN means it is set already */
	(void)!write(j->efd, &one, sizeof(one));
}

static void unlink_running_locked(struct jobs *j, struct job *jb)
{
	for (struct job **pp = &j->running; *pp; pp = &(*pp)->next)
		if (*pp == jb) {
			*pp = jb->next;
			return;
		}
}

static void *worker(void *arg)
{
	struct jobs *j = arg;

	pthread_mutex_lock(&j->lock);
	for (;;) {
		struct job *jb;

		while (!j->queue && !j->stopping)
			pthread_cond_wait(&j->wake, &j->lock);
		if (!j->queue)
			break; /* stopping, nothing left */
		jb = j->queue;
		j->queue = jb->next;
		if (!j->queue)
			j->queue_tail = &j->queue;
		j->n_queued--;
		jb->next = j->running;
		j->running = jb;
		pthread_mutex_unlock(&j->lock);

		if (!atomic_load(&jb->cancelled))
			jb->run(jb->data, &jb->cancelled);

		pthread_mutex_lock(&j->lock);
		unlink_running_locked(j, jb);
		finish_locked(j, jb);
		poke(j);
	}
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

/* The loop: every finished job's done(), in order. */
static void on_event(void *data, uint32_t events)
{
	struct jobs *j = data;
	struct job *list;
	uint64_t n;

	(void)!read(j->efd, &n, sizeof(n));
	pthread_mutex_lock(&j->lock);
	list = j->finished;
	j->finished = NULL;
	j->finished_tail = &j->finished;
	pthread_mutex_unlock(&j->lock);
	while (list) {
		struct job *jb = list;

		list = jb->next;
		jb->done(jb->data, atomic_load(&jb->cancelled));
		free(jb);
	}
}

int jobs_new(struct loop *loop, unsigned threads, size_t max_queued, struct jobs **ret)
{
	struct jobs *j = calloc(1, sizeof(*j));
	sigset_t all, old;
	int r;

	if (!j)
		return -ENOMEM;
	j->loop = loop;
	j->max_queued = max_queued;
	j->queue_tail = &j->queue;
	j->finished_tail = &j->finished;
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->wake, NULL);
	j->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (j->efd < 0) {
		r = -errno;
		goto fail;
	}
	r = loop_add_fd(loop, j->efd, EPOLLIN, on_event, j, &j->src);
	if (r < 0)
		goto fail;
	j->threads = calloc(threads ? threads : 1, sizeof(*j->threads));
	if (!j->threads) {
		r = -ENOMEM;
		goto fail;
	}
	/* the workers take no signals: the loop's signalfd has them all */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned i = 0; i < (threads ? threads : 1); i++) {
		r = -pthread_create(&j->threads[i], NULL, worker, j);
		if (r < 0)
			break;
		j->n_threads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		goto fail;
	*ret = j;
	return 0;
fail:
	jobs_free(j);
	return r;
}

struct jobs *jobs_free(struct jobs *j)
{
	if (!j)
		return NULL;
	pthread_mutex_lock(&j->lock);
	j->stopping = true;
	for (struct job *jb = j->queue; jb; jb = jb->next)
		atomic_store(&jb->cancelled, true);
	for (struct job *jb = j->running; jb; jb = jb->next)
		atomic_store(&jb->cancelled, true);
	for (struct job *jb = j->finished; jb; jb = jb->next)
		atomic_store(&jb->cancelled, true);
	pthread_cond_broadcast(&j->wake);
	pthread_mutex_unlock(&j->lock);
	/* the workers run what is queued (cancelled: run() is skipped) and end */
	for (unsigned i = 0; i < j->n_threads; i++)
		pthread_join(j->threads[i], NULL);
	free(j->threads);
	if (j->efd >= 0)
		on_event(j, EPOLLIN); /* every done() still due */
	j->src = loop_del(j->src);
	safe_close(j->efd);
	pthread_cond_destroy(&j->wake);
	pthread_mutex_destroy(&j->lock);
	free(j);
	return NULL;
}

int jobs_submit(struct jobs *j, const void *owner, job_run_fn run, job_done_fn done, void *data)
{
	struct job *jb;

	if (jobs_queued(j) >= j->max_queued)
		return -EAGAIN;
	jb = calloc(1, sizeof(*jb));
	if (!jb)
		return -ENOMEM;
	jb->owner = owner;
	jb->run = run;
	jb->done = done;
	jb->data = data;
	atomic_init(&jb->cancelled, false);
	pthread_mutex_lock(&j->lock);
	*j->queue_tail = jb;
	j->queue_tail = &jb->next;
	j->n_queued++;
	pthread_cond_signal(&j->wake);
	pthread_mutex_unlock(&j->lock);
	return 0;
}

void jobs_cancel(struct jobs *j, const void *owner)
{
	bool moved = false;

	pthread_mutex_lock(&j->lock);
	for (struct job **pp = &j->queue; *pp;) {
		struct job *jb = *pp;

		if (jb->owner != owner) {
			pp = &jb->next;
			continue;
		}
		*pp = jb->next;
		j->n_queued--;
		atomic_store(&jb->cancelled, true);
		finish_locked(j, jb);
		moved = true;
	}
	j->queue_tail = &j->queue;
	while (*j->queue_tail)
		j->queue_tail = &(*j->queue_tail)->next;
	for (struct job *jb = j->running; jb; jb = jb->next)
		if (jb->owner == owner)
			atomic_store(&jb->cancelled, true);
	/* finished but not yet handed back: done() must not use the owner either */
	for (struct job *jb = j->finished; jb; jb = jb->next)
		if (jb->owner == owner)
			atomic_store(&jb->cancelled, true);
	if (moved)
		poke(j);
	pthread_mutex_unlock(&j->lock);
}

size_t jobs_pending(const struct jobs *j, const void *owner)
{
	struct jobs *m = (struct jobs *)j;
	size_t n = 0;

	pthread_mutex_lock(&m->lock);
	for (const struct job *jb = j->queue; jb; jb = jb->next)
		n += jb->owner == owner;
	for (const struct job *jb = j->running; jb; jb = jb->next)
		n += jb->owner == owner;
	for (const struct job *jb = j->finished; jb; jb = jb->next)
		n += jb->owner == owner;
	pthread_mutex_unlock(&m->lock);
	return n;
}

size_t jobs_queued(const struct jobs *j)
{
	struct jobs *m = (struct jobs *)j;
	size_t n;

	pthread_mutex_lock(&m->lock);
	n = j->n_queued;
	pthread_mutex_unlock(&m->lock);
	return n;
}
