/* SPDX-License-Identifier: MIT */
/*
 * wserver: Watchman's protocol on a second Unix socket (docs/watchman.md),
 * for Watchman's clients: pywatchman, Node's fb-watchman, git's
 * fsmonitor-watchman hook, the watchman command. JSON lines and BSER v1/v2,
 * told apart per PDU. A Watchman root is a directory fstrack watches
 * exactly (a scope); its clocks are fstrack tokens ("c:" + token), so they
 * survive restarts of the daemon.
 *
 * Like server.c it asks the tracker (scope.h, fsys.h), hears from it only
 * through the observer the loop calls at the end of a round, and takes
 * every client's credentials when it connects. Tree walks and content
 * hashes run on worker threads with the client's filesystem credentials
 * (jobs.h, wquery.h); their answers are sent from the loop's thread.
 */
#ifndef FST_WSERVER_H
#define FST_WSERVER_H

#include "daemon/tracker.h"

struct loop;
struct wserver;

struct wserver_config {
	const char *socket_path;
	unsigned query_wait_ms; /* how long an answer may wait for a catch-up scan by default */
	/* Bounds on what clients may make the daemon hold (0: the default). */
	unsigned long fd_limit;
	unsigned max_clients;
	unsigned max_clients_per_uid;
	unsigned max_scopes_per_uid;
	unsigned threads; /* workers for walks and hashes */
};

/* Listen on the socket (mode 0666); refuses to steal one a running daemon answers on. */
int wserver_new(const struct wserver_config *cfg, struct loop *loop, struct wserver **ret);
/* Start serving requests about t (after tracker_new). */
void wserver_set_tracker(struct wserver *s, struct tracker *t);
/* The observer to give the tracker: commits (subscriptions), scans done, filesystems gone. */
void wserver_observer(struct wserver *s, struct tracker_observer *ret);
/* Close every client, stop the workers, close the socket (unlinked). */
struct wserver *wserver_free(struct wserver *s);

#endif
