/* SPDX-License-Identifier: MIT */
/*
 * wquery: one Watchman query (query, since, find, a subscription's batch)
 * made ready on the loop's thread and run on a worker (jobs.h): the tree
 * walks, lstats and content hashes of wq_run, then the answer encoded in
 * the client's encoding. The worker takes the client's filesystem
 * credentials for the whole run (perm_become), so the kernel checks
 * every directory it opens and file it reads as the client's own.
 *
 * The loop's thread builds it (wquery_new copies fstrack's answer out of
 * the change set), hands wquery_run to a worker, and takes the PDU to
 * send afterwards (wquery_take). The worker touches nothing but the
 * wquery: the compiled query, the root fd, the copied changes and the
 * answer object are its own.
 */
#ifndef FST_WQUERY_H
#define FST_WQUERY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <json-c/json_object.h>

#include "daemon/perm.h"
#include "watchman/pdu.h"

struct change_set;
struct wq;
struct wquery;

struct wquery_spec {
	const struct perm_caller *caller;
	int root_fd;  /* the root, opened as the caller; taken (closed by wquery_free) */
	struct wq *q; /* taken */
	bool fresh;   /* fstrack's answer for the query's clock was fresh */
	const struct change_set *cs; /* fstrack's answer (copied), or NULL */
	const char *cs_prefix; /* the directory below the root cs was asked for ("": the root) */
	json_object *resp; /* taken: the answer so far; "files" and "is_fresh_instance" are added */
	bool no_fresh_field;	 /* "find" answers say nothing of fresh instances */
	bool skip_empty;	 /* no answer: no file, not fresh (subscriptions) */
	json_object *error_resp; /* taken: the answer to send instead when the query fails
				    (its "error" is added) */
	struct wpdu_format fmt;
	const char *clock;  /* for the oclock and cclock fields */
	size_t max_results; /* wq_hooks.max_results */
	size_t max_bytes;   /* an encoded answer longer than this is an error instead */
};

int wquery_new(const struct wquery_spec *spec, struct wquery **ret);
struct wquery *wquery_free(struct wquery *w);

/* On a worker (a job_run_fn of jobs.h with the wquery as data). */
void wquery_run(void *data, const atomic_bool *cancelled);

/*
 * After the run: the PDU to send (*ret_buf NULL when there is nothing to
 * send), taken by the caller; *ret_ok false when the query failed (the
 * PDU is then the error answer).
 */
void wquery_take(struct wquery *w, char **ret_buf, size_t *ret_len, bool *ret_ok);

#endif
