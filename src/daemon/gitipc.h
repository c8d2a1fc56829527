/* SPDX-License-Identifier: MIT */
/*
 * gitipc: fstrackd answers git's builtin fsmonitor protocol (git >= 2.55
 * on Linux, core.fsmonitor = true) on the socket git looks for, for each
 * work tree that asked for it ("fstrack git-daemon enable"). git connects
 * there before it would start its own fsmonitor--daemon; fstrackd answers
 * what the hook (fstrack git-fsmonitor) would print (src/gitfsm), with no
 * process started. gitipc.c describes git's side as found in its source.
 *
 * A front end like the socket protocol server: it asks the tracker
 * (scope.h, fsys.h) and hears from it only through its observer, which the
 * loop calls at the end of a round. The enabled work trees are kept in
 * STATE_DIR/git-daemons.json and listened for again after a restart.
 */
#ifndef FST_GITIPC_H
#define FST_GITIPC_H

#include "daemon/tracker.h"

struct loop;
struct gitipc;
struct json_object;
struct perm_caller;

struct gitipc_config {
	const char *state_dir;
};

int gitipc_new(const struct gitipc_config *cfg, struct loop *loop, struct tracker *t,
	       struct gitipc **ret);
/* The observer to give the tracker: answers waiting for a scan go on. */
void gitipc_observer(struct gitipc *g, struct tracker_observer *ret);
/* Listen again for the work trees of git-daemons.json (after tracker_load). */
int gitipc_load(struct gitipc *g);
/*
 * The "git-daemon" request of docs/protocol.md (enable, disable, list),
 * for server_add_op: the response object, or NULL when out of memory.
 */
struct json_object *gitipc_request(void *g, const struct perm_caller *caller,
				   struct json_object *req);
/*
 * Stop: close the sockets (removed, when still ours) and the connections,
 * finish the answers being written. The list on disk stays.
 */
struct gitipc *gitipc_free(struct gitipc *g);

#endif
