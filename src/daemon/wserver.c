/* SPDX-License-Identifier: MIT */
/*
 * wserver: Watchman's protocol (see wserver.h and docs/watchman.md).
 *
 * Clients. Each has an input and an output buffer (conn.c); nothing here
 * blocks. A client's requests are answered one after the other, in order:
 * while one waits for a catch-up scan (parked) or runs on a worker (busy),
 * its next ones are not read. A client that does not read its answers stops
 * being read past OUT_HIGH bytes of output, gets no subscription batch
 * (they wait: their clock does not move) and is disconnected past
 * OUT_MAX.
 *
 * Roots. A Watchman root is a directory fstrack watches exactly: "watch"
 * makes it a scope (scope_watch), "watch-del" unwatches it. Answers use
 * the outermost scope above it (scope_find), which has the longest
 * history. What Watchman keeps per root beyond that (named cursors,
 * asserted states) is in a struct wroot, made when first needed.
 *
 * Queries. fstrack's answer since the query's clock is taken on the loop's
 * thread (scope_plan_answer drains and commits, fsys_query folds the
 * journal); the rest, lstats, walks and hashes, is a wquery job on a
 * worker with the client's credentials.
 *
 * Subscriptions. At every commit of its filesystem (the observer's
 * "committed"), a subscription asks fstrack for the changes since its
 * clock and, when there are any, runs its query over them as a job and
 * pushes the result (unilateral). One batch of a subscription runs at a
 * time; one that could not run now (a job still running, a deferring
 * state, a VCS lock, a catch-up scan, a full output buffer or job queue)
 * is "due" and runs when that is over, from its unchanged clock, so it
 * loses nothing.
 */
#include "daemon/wserver.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/token.h"
#include "basic/util.h"
#include "daemon/conn.h"
#include "daemon/fsys.h"
#include "daemon/jobs.h"
#include "daemon/loop.h"
#include "daemon/perm.h"
#include "daemon/scope.h"
#include "daemon/wquery.h"
#include "watchman/caps.h"
#include "watchman/clock.h"
#include "watchman/pdu.h"
#include "watchman/query.h"

/* A request PDU (JSON line or BSER) is at most this long. */
#define WREQUEST_MAX (2u << 20)
/* room made for each read of a client's requests */
#define READ_CHUNK 65536
#define DEADLINE_TICK_MS 250
#define OUT_HIGH (1u << 20)
#define OUT_MAX (256u << 20)
#define FD_RESERVE 256
#define DEFAULT_MAX_CLIENTS 4096
#define DEFAULT_MAX_CLIENTS_PER_UID 256
#define DEFAULT_MAX_SCOPES_PER_UID 64
#define DEFAULT_THREADS 2
/* Jobs waiting for a worker, of all clients. */
#define JOB_QUEUE_MAX 64
/* Per client: subscriptions, asserted states. Per root: named cursors. */
#define MAX_SUBS 64
#define MAX_STATES 64
#define MAX_CURSORS 256
/* Root records (cursors, states) in all, and of one user but root. */
#define MAX_ROOTS 1024
#define MAX_ROOTS_PER_UID 64
/* Names of subscriptions, states and cursors. */
#define NAME_MAX_LEN 1024
/* Results of one answer. */
#define MAX_RESULTS 2000000u
/* After an answer this large, freed memory is given back (malloc_trim). */
#define TRIM_AFTER_BYTES (4u << 20)

/* Watchman's default root_files, in its order (.watchmanconfig first). */
static const char *const root_files[] = {".watchmanconfig", ".hg", ".git", ".svn"};

struct wclient;

struct wcursor {
	struct wcursor *next;
	char *name;
	char token[TOKEN_MAX];
};

struct wstate {
	struct wstate *next;
	char *name;
	struct wclient *owner;
};

/*
 * What Watchman keeps about a root beyond fstrack's scope, for one user:
 * Watchman's daemon is the user's own, fstrackd is shared, and one user's
 * cursors and states must not move another's (a state in a subscription's
 * "drop" loses what changed while it is asserted).
 */
struct wroot {
	struct wroot *next;
	char *path;
	uid_t uid;
	struct wcursor *cursors;
	size_t n_cursors;
	struct wstate *states;
};

struct wsub {
	struct wsub *next;
	struct wclient *c;
	char *name;
	char *root;	       /* the root's path */
	char *rr;	       /* the query's relative_root, or NULL */
	struct fsys *fs;       /* the filesystem whose commits wake it */
	json_object *spec;     /* its query; "since" is set to the clock before each batch */
	char token[TOKEN_MAX]; /* its clock: what came after it is still to be pushed */
	json_object *defer;    /* state names (array) */
	json_object *drop;
	bool defer_vcs;
	bool running; /* a batch is on a worker */
	bool due;     /* changes may wait: run again when what held it is over */
};

struct wclient {
	struct wclient *next;
	struct wserver *srv;
	struct conn *conn; /* its socket and buffers */
	struct loop_defer kick_node;
	struct ucred cred;
	struct perm_caller caller;
	struct wpdu_format fmt; /* of its last request: answers and pushes go out in it */
	json_object *pending;	/* a request waiting for a catch-up scan */
	uint64_t deadline_ns;
	bool busy; /* its request runs on a worker */
	struct wsub *subs;
	unsigned n_subs, n_states;
};

struct wserver {
	struct wserver_config cfg;
	char *socket_path;
	struct loop *loop;
	struct tracker *tracker;
	struct jobs *jobs;
	struct loop_source *deadline_timer;
	struct wclient *clients;
	unsigned n_clients;
	struct wroot *roots;
	size_t n_roots;
	bool starved; /* a batch found the job queue full: try again when a job is done */
	struct loop_defer kick_all;
};

/* A job: a wquery and where its answer goes. */
struct wjob {
	struct wserver *srv;
	struct wclient *c;
	struct wsub *sub; /* NULL: the answer to c's request */
	struct wquery *wq;
	/* a named cursor to move to the answer's clock once it is sent */
	char *cursor_root, *cursor_name;
	char cursor_token[TOKEN_MAX];
};

static void dispatch(struct wclient *c, json_object *args);
static void sub_run(struct wsub *s);
static void sub_cancel(struct wsub *s, bool tell);

static const struct conn_limits client_limits = {
    .in_max = WREQUEST_MAX,
    .in_chunk = READ_CHUNK,
    .out_high = OUT_HIGH,
    .out_max = OUT_MAX,
};

/* ---- output -------------------------------------------------------------- */

static size_t out_pending(const struct wclient *c)
{
	return conn_out_pending(c->conn);
}

static bool has_due_subs(const struct wclient *c)
{
	for (const struct wsub *s = c->subs; s; s = s->next)
		if (s->due && !s->running)
			return true;
	return false;
}

static void kick_client(void *data)
{
	struct wclient *c = data;
	struct wsub *s, *next;

	for (s = c->subs; s && !conn_dead(c->conn); s = next) {
		next = s->next;
		if (s->due && !s->running)
			sub_run(s);
	}
}

static void on_flushed(void *data, size_t sent, size_t before)
{
	struct wclient *c = data;

	/* the batches that waited for the output to drain may go */
	if (before >= OUT_HIGH && out_pending(c) < OUT_HIGH && has_due_subs(c))
		loop_defer(c->srv->loop, &c->kick_node, kick_client, c);
}

/* Queue buf[0..len) (taken) for c. */
static void send_bytes(struct wclient *c, char *buf, size_t len)
{
	size_t pending = out_pending(c);
	int r;

	if (conn_dead(c->conn) || conn_closing(c->conn)) {
		free(buf);
		return;
	}
	r = conn_give(c->conn, buf, len);
	/* it cannot be answered (it does not read, or memory is out): it goes */
	if (r == -ENOBUFS)
		log_ratelimited(
		    LOG_LEVEL_WARN,
		    "watchman client pid %d uid %u does not read its answers (%zu bytes "
		    "waiting); disconnecting it",
		    (int)c->cred.pid, (unsigned)c->cred.uid, pending);
	if (r < 0) {
		conn_close_later(c->conn);
		return;
	}
	conn_flush(c->conn);
}

/* Send o (its reference is taken) in the client's encoding. */
static void send_pdu(struct wclient *c, json_object *o)
{
	char *buf;
	size_t len;

	if (!o) {
		conn_close_later(c->conn); /* out of memory */
		return;
	}
	if (wpdu_encode(o, &c->fmt, &buf, &len) < 0) {
		json_object_put(o);
		conn_close_later(c->conn);
		return;
	}
	json_object_put(o);
	send_bytes(c, buf, len);
}

static void send_error(struct wclient *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void send_error(struct wclient *c, const char *fmt, ...)
{
	json_object *o = wcap_response();
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (o)
		json_object_object_add(o, "error", json_object_new_string(msg));
	send_pdu(c, o);
}

static json_object *str(const char *s)
{
	return json_object_new_string(s);
}

/* ---- arguments ------------------------------------------------------------- */

static size_t nargs(json_object *args)
{
	return json_object_array_length(args);
}

/* args[i] as a C string (NULL when it is not a string, or holds a NUL). */
static const char *arg_str(json_object *args, size_t i)
{
	json_object *v = i < nargs(args) ? json_object_array_get_idx(args, i) : NULL;

	if (!v || !json_object_is_type(v, json_type_string) ||
	    strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
		return NULL;
	return json_object_get_string(v);
}

static bool is_root_user(const struct wclient *c)
{
	return c->cred.uid == 0;
}

static struct perm_cache *caller_perm(struct wclient *c)
{
	return is_root_user(c) ? NULL : perm_cache_new(&c->caller);
}

/* ---- roots --------------------------------------------------------------------- */

struct rootref {
	char path[PATH_MAX]; /* as the kernel names the opened directory */
	int fd;		     /* opened as the caller */
	struct target t;     /* the outermost scope above it, its canonical path */
	struct scope *exact; /* the scope watching exactly it (a Watchman root) */
};

static void rootref_done(struct rootref *r)
{
	r->fd = safe_close(r->fd);
}

/* Open path as the caller would, and learn its real path. Sends the error. */
static int open_path(struct wclient *c, const char *path, struct rootref *r)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
	if (!path) {
		send_error(c, "the root must be a string (an absolute path)");
		return -EINVAL;
	}
	if (path[0] != '/') {
		send_error(c, "unable to resolve root %s: the path must be absolute", path);
		return -EINVAL;
	}
	r->fd = perm_open_as(&c->caller, path, O_RDONLY | O_DIRECTORY);
	if (r->fd < 0) {
		send_error(c, "unable to resolve root %s: %s", path, strerror(-r->fd));
		return r->fd;
	}
	if (fd_get_path(r->fd, r->path, sizeof(r->path)) < 0)
		snprintf(r->path, sizeof(r->path), "%s", path);
	return 0;
}

/* Find r's scopes; 0 (r->exact may be NULL: not a root), or an error sent. */
static int find_scopes(struct wclient *c, struct rootref *r)
{
	char err[512] = "";
	int k = scope_find(c->srv->tracker, r->fd, &r->t, err, sizeof(err));

	r->exact = NULL;
	if (k == -ENOENT)
		return 0;
	if (k < 0) {
		send_error(c, "unable to resolve root %s: %s", r->path, err);
		return k;
	}
	r->exact = scope_find_exact(c->srv->tracker, r->t.fs, r->t.canon);
	return 0;
}

/* Make r a root: fstrack watches it (the caller's quota allowing). Sends the error. */
static int watch_root(struct wclient *c, struct rootref *r)
{
	struct wserver *srv = c->srv;
	struct scope *s;
	char err[1024] = "";
	int k;

	k = find_scopes(c, r);
	if (k < 0 || r->exact)
		return k;
	if (!is_root_user(c) &&
	    scope_count_owned(srv->tracker, c->cred.uid) >= srv->cfg.max_scopes_per_uid) {
		send_error(c,
			   "unable to watch %s: you watch %u directories, the most one user may; "
			   "watch-del one first",
			   r->path, srv->cfg.max_scopes_per_uid);
		return -EDQUOT;
	}
	k = scope_watch(srv->tracker, r->fd, r->path, c->cred.uid, &s, err, sizeof(err));
	if (k < 0) {
		send_error(c, "unable to watch %s: %s", r->path, err);
		return k;
	}
	k = find_scopes(c, r);
	if (k == 0 && !r->exact) {
		send_error(c, "unable to watch %s: fstrack does not find the scope it made",
			   r->path);
		return -ENOENT;
	}
	return k;
}

/*
 * The root of args[i]: open, and a root (watched exactly), or made one
 * when autowatch. Sends the error; r->fd is open only on success.
 */
static int resolve_root(struct wclient *c, json_object *args, size_t i, struct rootref *r,
			bool autowatch)
{
	int k = open_path(c, arg_str(args, i), r);

	if (k == 0)
		k = autowatch ? watch_root(c, r) : find_scopes(c, r);
	if (k == 0 && !r->exact) {
		send_error(c, "unable to resolve root %s: directory %s is not watched", r->path,
			   r->path);
		k = -ENOENT;
	}
	if (k < 0)
		rootref_done(r);
	return k;
}

/* [command, root]: the root, resolved (no fd kept). Sends the error. */
static int root_only(struct wclient *c, json_object *args, struct rootref *r, bool autowatch)
{
	if (nargs(args) != 2) {
		send_error(c, "wrong number of arguments to '%s'", arg_str(args, 0));
		return -EINVAL;
	}
	if (resolve_root(c, args, 1, r, autowatch) < 0)
		return -EINVAL;
	rootref_done(r);
	return 0;
}

static struct wroot *wroot_get(struct wserver *srv, const char *path, uid_t uid, bool create)
{
	struct wroot *w;
	unsigned mine = 0;

	for (w = srv->roots; w; w = w->next) {
		if (w->uid == uid && strcmp(w->path, path) == 0)
			return w;
		mine += w->uid == uid;
	}
	/* a user may not take the records others need (a cursor not kept: fresh) */
	if (!create || srv->n_roots >= MAX_ROOTS || (uid != 0 && mine >= MAX_ROOTS_PER_UID))
		return NULL;
	w = calloc(1, sizeof(*w));
	if (!w || !(w->path = strdup(path))) {
		free(w);
		return NULL;
	}
	w->uid = uid;
	w->next = srv->roots;
	srv->roots = w;
	srv->n_roots++;
	return w;
}

static void wroot_free(struct wroot *w)
{
	while (w->cursors) {
		struct wcursor *k = w->cursors;
		w->cursors = k->next;
		free(k->name);
		free(k);
	}
	while (w->states) {
		struct wstate *st = w->states;
		w->states = st->next;
		free(st->name);
		free(st);
	}
	free(w->path);
	free(w);
}

/* Drop the record of a root (all of it, or only when nothing is in it). */
static void wroot_drop(struct wserver *srv, struct wroot *w, bool only_if_empty)
{
	if (only_if_empty && (w->cursors || w->states))
		return;
	for (struct wroot **pp = &srv->roots; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			srv->n_roots--;
			break;
		}
	wroot_free(w);
}

static struct wcursor *cursor_find(struct wroot *w, const char *name)
{
	for (struct wcursor *k = w ? w->cursors : NULL; k; k = k->next)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

static void cursor_set(struct wserver *srv, const char *root, uid_t uid, const char *name,
		       const char *token)
{
	struct wroot *w = wroot_get(srv, root, uid, true);
	struct wcursor *k = cursor_find(w, name);

	if (!w)
		return;
	if (!k && w->n_cursors < MAX_CURSORS && (k = calloc(1, sizeof(*k)))) {
		k->name = strdup(name);
		if (!k->name) {
			free(k);
			return;
		}
		k->next = w->cursors;
		w->cursors = k;
		w->n_cursors++;
	}
	if (k)
		snprintf(k->token, sizeof(k->token), "%s", token);
}

static struct wstate *state_find(struct wroot *w, const char *name)
{
	for (struct wstate *st = w ? w->states : NULL; st; st = st->next)
		if (strcmp(st->name, name) == 0)
			return st;
	return NULL;
}

/* ---- fstrack's answer for a query's clock ------------------------------------ */

/* The journal of fs cannot be made durable: say so. */
static void send_journal_error(struct wclient *c, struct fsys *fs, int r)
{
	send_error(c,
		   "fstrackd cannot make the journal of %s durable (%s): it hands out no clock "
		   "until it can",
		   fsys_mount_path(fs), strerror(-r));
}

static void park(struct wclient *c, json_object *args, int64_t wait_ms)
{
	if (wait_ms <= 0)
		wait_ms = c->srv->cfg.query_wait_ms;
	c->pending = json_object_get(args);
	c->deadline_ns = now_monotonic_ns() + (uint64_t)wait_ms * 1000000ull;
	loop_timer_set(c->srv->deadline_timer, DEADLINE_TICK_MS);
}

/* canon/rr (a relative_root below a root's canonical path, "/" included); false: too long. */
static bool below_root(char dir[PATH_MAX], const char *canon, const char *rr)
{
	return snprintf(dir, PATH_MAX, "%s/%s", strcmp(canon, "/") ? canon : "", rr) < PATH_MAX;
}

/* What a query is answered from. */
struct since_plan {
	bool fresh;	       /* fstrack's answer for the clock is fresh (or there is none) */
	char token[TOKEN_MAX]; /* the answer's clock */
	struct change_set *cs; /* the changes since the clock, or NULL */
	const char *cs_prefix; /* the directory below the root cs is about */
	const char *cursor;    /* a named cursor to move to token */
};

static int plan_token_now(struct wclient *c, struct rootref *r, struct since_plan *p)
{
	int k = fsys_token(r->t.fs, p->token);

	if (k < 0)
		send_journal_error(c, r->t.fs, k);
	return k < 0 ? k : 1;
}

/*
 * fstrack's answer for the query's clock: 1 ready in *p, 0 parked (a
 * catch-up scan runs; args is tried again when it is over), < 0 an error
 * was sent.
 */
static int plan_since(struct wclient *c, json_object *args, struct rootref *r, const struct wq *q,
		      struct since_plan *p)
{
	const char *rr = wq_relative_root(q);
	struct wclockspec cs;
	struct answer_plan plan;
	struct perm_cache *pc;
	char tok[TOKEN_MAX], dir[PATH_MAX];
	struct token tk;
	int k;

	memset(p, 0, sizeof(*p));
	p->fresh = true;
	if (!wq_since(q, &cs) || cs.kind == WCS_TIMESTAMP)
		return plan_token_now(c, r, p);
	if (cs.kind == WCS_NAMED) {
		struct wcursor *cur =
		    cursor_find(wroot_get(c->srv, r->path, c->cred.uid, false), cs.cursor);

		p->cursor = cs.cursor;
		if (strlen(cs.cursor) > NAME_MAX_LEN) {
			send_error(c, "a named cursor is at most %d bytes", NAME_MAX_LEN);
			return -EINVAL;
		}
		if (!cur)
			return plan_token_now(c, r, p); /* a new cursor: a fresh instance */
		snprintf(tok, sizeof(tok), "%s", cur->token);
	} else if (wclock_to_token(cs.clock, tok) < 0) {
		return plan_token_now(c, r, p); /* another Watchman's clock */
	}
	if (token_parse(tok, &tk) < 0)
		return plan_token_now(c, r, p);
	/* Watchman's way: wait up to sync_timeout, then an error (not widened) */
	k = scope_plan_answer(r->t.scope, &tk, false, &plan);
	if (k < 0) {
		send_journal_error(c, r->t.fs, k);
		return k;
	}
	if (plan.kind == ANSWER_WAIT) {
		park(c, args, wq_sync_timeout_ms(q));
		return 0;
	}
	snprintf(p->token, sizeof(p->token), "%s", plan.token);
	if (plan.kind == ANSWER_FRESH)
		return 1;
	/* with a relative_root, only the changes below it */
	if (rr && !below_root(dir, r->t.canon, rr)) {
		send_error(c, "query failed: the relative_root is too long");
		return -ENAMETOOLONG;
	}
	pc = caller_perm(c);
	if (!is_root_user(c) && !pc) {
		send_error(c, "query failed: out of memory");
		return -ENOMEM;
	}
	k = fsys_query(r->t.fs, plan.from, rr ? dir : r->t.canon, pc, &p->cs);
	perm_cache_free(pc);
	if (k == -EBADMSG && scope_token_fresh(r->t.scope, &tk))
		return 1; /* the journal found a damaged range: it is fresh now */
	if (k < 0) {
		send_error(c, "query failed: cannot read the journal of %s: %s",
			   fsys_mount_path(r->t.fs), strerror(-k));
		return k;
	}
	p->fresh = false;
	p->cs_prefix = rr ? rr : "";
	return 1;
}

/* ---- jobs ------------------------------------------------------------------------ */

static void job_run(void *data, const atomic_bool *cancelled)
{
	struct wjob *j = data;

	wquery_run(j->wq, cancelled);
}

static void job_done(void *data, bool cancelled);

/*
 * Run j on a worker. The workers are started with the first job, not in
 * wserver_new(): threads made before fstrackd detaches (fork) would not be
 * in the daemon.
 */
static int submit(struct wserver *srv, const void *owner, struct wjob *j)
{
	int r = srv->jobs ? 0 : jobs_new(srv->loop, srv->cfg.threads, JOB_QUEUE_MAX, &srv->jobs);

	return r < 0 ? r : jobs_submit(srv->jobs, owner, job_run, job_done, j);
}

static void wjob_free(struct wjob *j)
{
	wquery_free(j->wq);
	free(j->cursor_root);
	free(j->cursor_name);
	free(j);
}

static void kick_all(void *data)
{
	struct wserver *srv = data;
	struct wclient *c, *next;

	srv->starved = false;
	for (c = srv->clients; c; c = next) {
		next = c->next;
		kick_client(c);
	}
}

static void job_done(void *data, bool cancelled)
{
	struct wjob *j = data;
	struct wserver *srv = j->srv;
	char *buf;
	size_t len;
	bool ok;

	if (cancelled) {
		wjob_free(j);
		return;
	}
	wquery_take(j->wq, &buf, &len, &ok);
	if (j->sub) {
		struct wsub *s = j->sub;

		s->running = false;
		if (buf)
			send_bytes(j->c, buf, len);
		if (s->due && !conn_closing(j->c->conn))
			sub_run(s);
	} else {
		struct wclient *c = j->c;

		c->busy = false;
		if (ok && j->cursor_name)
			cursor_set(srv, j->cursor_root, c->cred.uid, j->cursor_name,
				   j->cursor_token);
		if (buf)
			send_bytes(c, buf, len);
		conn_process(c->conn);
	}
	wjob_free(j);
	/*
	 * A large answer's objects were made and freed on a worker: give the
	 * memory back to the system rather than keep the worker's arena grown.
	 */
	if (len >= TRIM_AFTER_BYTES)
		malloc_trim(0);
	if (srv->starved)
		loop_defer(srv->loop, &srv->kick_all, kick_all, srv);
}

/*
 * Make the job of a query: r->fd and q are taken, resp too (the answer so
 * far), error_resp (the answer when it fails). NULL: out of memory.
 */
static struct wjob *make_job(struct wclient *c, struct rootref *r, struct wq *q,
			     const struct since_plan *p, json_object *resp, json_object *error_resp,
			     bool find, bool skip_empty)
{
	struct wjob *j = calloc(1, sizeof(*j));
	char clock[WCLOCK_MAX] = "";
	struct wquery_spec spec = {
	    .caller = &c->caller,
	    .root_fd = r->fd,
	    .q = q,
	    .fresh = p->fresh,
	    .cs = p->cs,
	    .cs_prefix = p->cs_prefix,
	    .resp = resp,
	    .no_fresh_field = find,
	    .skip_empty = skip_empty,
	    .error_resp = error_resp,
	    .fmt = c->fmt,
	    .clock = clock,
	    .max_results = MAX_RESULTS,
	    .max_bytes = OUT_MAX,
	};

	r->fd = -1;
	wclock_from_token(p->token, clock);
	if (!j) {
		safe_close(spec.root_fd);
		wq_free(q);
		json_object_put(resp);
		json_object_put(error_resp);
		return NULL;
	}
	if (wquery_new(&spec, &j->wq) < 0) { /* it freed what it was given */
		free(j);
		return NULL;
	}
	j->srv = c->srv;
	j->c = c;
	return j;
}

/* ---- queries ---------------------------------------------------------------------- */

enum qkind { Q_QUERY, Q_SINCE, Q_FIND };

/* Compile spec (or send the error). */
static struct wq *compile(struct wclient *c, json_object *spec)
{
	char err[1024] = "";
	struct wq *q;

	if (wq_compile(spec, &q, err, sizeof(err)) < 0) {
		send_error(c, "%s", err[0] ? err : "failed to parse query");
		return NULL;
	}
	return q;
}

static void run_query(struct wclient *c, json_object *args, json_object *spec, enum qkind kind)
{
	struct wserver *srv = c->srv;
	struct since_plan p;
	struct rootref r;
	json_object *resp;
	struct wjob *j;
	struct wq *q;
	int k;

	if (resolve_root(c, args, 1, &r, false) < 0)
		return;
	q = compile(c, spec);
	if (!q) {
		rootref_done(&r);
		return;
	}
	k = plan_since(c, args, &r, q, &p);
	if (k <= 0) {
		wq_free(q);
		rootref_done(&r);
		return;
	}
	resp = wcap_response();
	if (resp) {
		char clock[WCLOCK_MAX];

		wclock_from_token(p.token, clock);
		json_object_object_add(resp, "clock", str(clock));
	}
	j = make_job(c, &r, q, &p, resp, wcap_response(), kind == Q_FIND, false);
	change_set_free(p.cs);
	if (j && p.cursor) {
		j->cursor_root = strdup(r.path);
		j->cursor_name = strdup(p.cursor);
		snprintf(j->cursor_token, sizeof(j->cursor_token), "%s", p.token);
		if (!j->cursor_root || !j->cursor_name) {
			wjob_free(j);
			j = NULL;
		}
	}
	if (!j) {
		send_error(c, "query failed: out of memory");
		return;
	}
	k = submit(srv, c, j);
	if (k < 0) {
		wjob_free(j);
		send_error(c,
			   "query failed: fstrackd is busy (%d queries wait for a worker); try "
			   "again",
			   JOB_QUEUE_MAX);
		return;
	}
	c->busy = true;
}

static void cmd_query(struct wclient *c, json_object *args)
{
	json_object *spec = nargs(args) == 3 ? json_object_array_get_idx(args, 2) : NULL;

	if (!spec) {
		send_error(c, "wrong number of arguments for 'query'");
		return;
	}
	run_query(c, args, spec, Q_QUERY);
}

/* since and find: Watchman's legacy pattern arguments, as a query. */
static void legacy(struct wclient *c, json_object *args, enum qkind kind)
{
	const char *clock = NULL;
	json_object *spec;
	char err[1024] = "";

	if (nargs(args) < (kind == Q_SINCE ? 3u : 2u)) {
		send_error(c, "not enough arguments for '%s'", kind == Q_SINCE ? "since" : "find");
		return;
	}
	if (kind == Q_SINCE) {
		clock = arg_str(args, 2);
		if (!clock) {
			send_error(c, "expected argument 2 to be a valid clockspec");
			return;
		}
	}
	if (wq_legacy_spec(args, kind == Q_SINCE ? 3 : 2, clock, &spec, err, sizeof(err)) < 0) {
		send_error(c, "%s", err[0] ? err : "invalid arguments");
		return;
	}
	run_query(c, args, spec, kind);
	json_object_put(spec);
}

static void cmd_since(struct wclient *c, json_object *args)
{
	legacy(c, args, Q_SINCE);
}

static void cmd_find(struct wclient *c, json_object *args)
{
	legacy(c, args, Q_FIND);
}

/* ---- subscriptions ------------------------------------------------------------------ */

static bool in_names(json_object *names, const char *name)
{
	for (size_t i = 0; names && i < json_object_array_length(names); i++) {
		json_object *e = json_object_array_get_idx(names, i);

		if (json_object_is_type(e, json_type_string) &&
		    strcmp(json_object_get_string(e), name) == 0)
			return true;
	}
	return false;
}

enum sub_action { SUB_RUN, SUB_DEFER, SUB_DROP };

/* What the states asserted on its root say (a drop wins over a defer). */
static enum sub_action sub_policy(const struct wsub *s)
{
	struct wroot *w = wroot_get(s->c->srv, s->root, s->c->cred.uid, false);
	enum sub_action a = SUB_RUN;

	for (struct wstate *st = w ? w->states : NULL; st; st = st->next) {
		if (in_names(s->drop, st->name))
			return SUB_DROP;
		if (in_names(s->defer, st->name))
			a = SUB_DEFER;
	}
	return a;
}

/* Watchman's "VCS operation in progress": a lock file of hg or git. */
static bool vcs_busy(const char *root)
{
	static const char *const locks[] = {".hg/wlock", ".git/index.lock"};
	char p[PATH_MAX];
	struct stat st;

	for (size_t i = 0; i < ARRAY_SIZE(locks); i++)
		if (snprintf(p, sizeof(p), "%s/%s", root, locks[i]) < (int)sizeof(p) &&
		    lstat(p, &st) == 0)
			return true;
	return false;
}

/* The start of a push of s: root, subscription, unilateral. */
static json_object *sub_pdu(const struct wsub *s)
{
	json_object *o = wcap_response();

	if (o) {
		json_object_object_add(o, "root", str(s->root));
		json_object_object_add(o, "subscription", str(s->name));
		json_object_object_add(o, "unilateral", json_object_new_boolean(1));
	}
	return o;
}

/* Compile s's query for a batch since its clock (spec's "since" set to it). */
static struct wq *sub_compile(struct wsub *s, char *err, size_t errlen)
{
	char clock[WCLOCK_MAX];
	struct wq *q;

	wclock_from_token(s->token, clock);
	json_object_object_add(s->spec, "since", str(clock));
	return wq_compile(s->spec, &q, err, errlen) < 0 ? NULL : q;
}

/* Submit the batch of s; false when the queue is full (s stays due). */
static bool sub_submit(struct wsub *s, struct rootref *r, struct wq *q, const struct since_plan *p,
		       const char *since_clock)
{
	struct wclient *c = s->c;
	json_object *resp = sub_pdu(s);
	struct wjob *j;
	char clock[WCLOCK_MAX];

	wclock_from_token(p->token, clock);
	if (resp) {
		json_object_object_add(resp, "clock", str(clock));
		if (since_clock)
			json_object_object_add(resp, "since", str(since_clock));
	}
	j = make_job(c, r, q, p, resp, sub_pdu(s), false, true);
	if (!j)
		return false;
	j->sub = s;
	if (submit(c->srv, s, j) < 0) {
		wjob_free(j);
		c->srv->starved = true;
		return false;
	}
	s->running = true;
	return true;
}

/*
 * Push what changed since s's clock, if anything did and nothing holds it
 * back (see the head of the file).
 */
static void sub_run(struct wsub *s)
{
	struct wclient *c = s->c;
	struct wserver *srv = c->srv;
	struct since_plan p = {.fresh = false};
	char old_clock[WCLOCK_MAX], err[1024] = "", dir[PATH_MAX];
	struct perm_cache *pc;
	struct rootref r;
	const char *why;
	struct token tk;
	struct wq *q;
	int k;

	if (s->running || conn_dead(c->conn) || conn_closing(c->conn)) {
		s->due = true;
		return;
	}
	s->due = true; /* until it ran */
	if (out_pending(c) >= OUT_HIGH)
		return; /* it does not read: the batch waits for its output to drain */
	switch (sub_policy(s)) {
	case SUB_DEFER:
		return; /* until the state is left */
	case SUB_DROP:
		/* what happens while the state is asserted is not pushed */
		fsys_format_token(s->fs, fsys_durable_seq(s->fs), s->token);
		s->due = false;
		return;
	case SUB_RUN:
		break;
	}
	if (s->defer_vcs && vcs_busy(s->root))
		return; /* the lock's removal is a change: it comes back then */
	memset(&r, 0, sizeof(r));
	r.fd = perm_open_as(&c->caller, s->root, O_RDONLY | O_DIRECTORY);
	if (r.fd < 0 || scope_find(srv->tracker, r.fd, &r.t, err, sizeof(err)) < 0 ||
	    r.t.fs != s->fs) {
		rootref_done(&r);
		sub_cancel(s, true); /* the root is gone, or elsewhere now */
		return;
	}
	if (fsys_busy(s->fs)) {
		rootref_done(&r);
		return; /* a catch-up scan: "ready" runs it again */
	}
	token_parse(s->token, &tk);
	why = scope_token_fresh(r.t.scope, &tk);
	if (why) {
		p.fresh = true;
		k = fsys_token(s->fs, p.token);
	} else {
		if (fsys_durable_seq(s->fs) <= tk.seq) {
			rootref_done(&r);
			s->due = false;
			return;
		}
		pc = caller_perm(c);
		k = !is_root_user(c) && !pc ? -ENOMEM : 0;
		if (k == 0 && s->rr && !below_root(dir, r.t.canon, s->rr))
			k = -ENAMETOOLONG;
		if (k == 0)
			k = fsys_query(s->fs, tk.seq, s->rr ? dir : r.t.canon, pc, &p.cs);
		perm_cache_free(pc);
		if (k == 0) {
			fsys_format_token(s->fs, change_set_end_seq(p.cs), p.token);
			p.cs_prefix = s->rr ? s->rr : "";
			if (change_set_count(p.cs) == 0) {
				/* nothing under this root: only the clock moves */
				snprintf(s->token, sizeof(s->token), "%s", p.token);
				change_set_free(p.cs);
				rootref_done(&r);
				s->due = false;
				return;
			}
		}
	}
	if (k < 0) {
		json_object *o = sub_pdu(s);

		if (o)
			json_object_object_add(
			    o, "error",
			    json_object_new_string(strerror(-k))); /* the clock stays: it retries */
		send_pdu(c, o);
		change_set_free(p.cs);
		rootref_done(&r);
		s->due = false;
		return;
	}
	q = sub_compile(s, err, sizeof(err));
	if (!q) {
		json_object *o = sub_pdu(s);

		if (o)
			json_object_object_add(o, "error", str(err));
		send_pdu(c, o);
		change_set_free(p.cs);
		rootref_done(&r);
		s->due = false;
		return;
	}
	wclock_from_token(s->token, old_clock);
	if (sub_submit(s, &r, q, &p, old_clock)) {
		snprintf(s->token, sizeof(s->token), "%s", p.token);
		s->due = false;
	}
	change_set_free(p.cs);
	rootref_done(&r);
}

static void sub_free(struct wsub *s)
{
	free(s->name);
	free(s->root);
	free(s->rr);
	json_object_put(s->spec);
	json_object_put(s->defer);
	json_object_put(s->drop);
	free(s);
}

/* End s: its batch is cancelled; with tell, the client hears "canceled". */
static void sub_cancel(struct wsub *s, bool tell)
{
	struct wclient *c = s->c;

	for (struct wsub **pp = &c->subs; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			c->n_subs--;
			break;
		}
	if (c->srv->jobs)
		jobs_cancel(c->srv->jobs, s);
	if (tell) {
		json_object *o = sub_pdu(s);

		if (o)
			json_object_object_add(o, "canceled", json_object_new_boolean(1));
		send_pdu(c, o);
	}
	sub_free(s);
}

/* Every subscription on a root (of every client) ends, told why. */
static void cancel_root_subs(struct wserver *srv, const char *root, struct fsys *fs)
{
	struct wclient *c, *cnext;
	struct wsub *s, *next;

	for (c = srv->clients; c; c = cnext) {
		cnext = c->next;
		for (s = c->subs; s; s = next) {
			next = s->next;
			if ((root && strcmp(s->root, root) == 0) || (fs && s->fs == fs))
				sub_cancel(s, true);
		}
	}
}

static struct wsub *sub_find(struct wclient *c, const char *name)
{
	for (struct wsub *s = c->subs; s; s = s->next)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

/* An array of strings, or an error sent. */
static int names_arg(struct wclient *c, json_object *spec, const char *key, json_object **ret)
{
	json_object *v;

	*ret = NULL;
	if (!json_object_object_get_ex(spec, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_array)) {
		send_error(c, "%s field must be an array of strings", key);
		return -EINVAL;
	}
	*ret = json_object_get(v);
	return 0;
}

static void cmd_subscribe(struct wclient *c, json_object *args)
{
	json_object *spec = nargs(args) == 4 ? json_object_array_get_idx(args, 3) : NULL;
	const char *name = arg_str(args, 2);
	json_object *resp, *states, *v;
	struct since_plan p;
	struct rootref r;
	struct wsub *s, *old;
	struct wq *q;
	struct wroot *w;
	int k;

	if (!spec) {
		send_error(c, "wrong number of arguments for subscribe");
		return;
	}
	if (!name) {
		send_error(c, "expected 2nd parameter to be subscription name");
		return;
	}
	if (strlen(name) > NAME_MAX_LEN) {
		send_error(c, "a subscription name is at most %d bytes", NAME_MAX_LEN);
		return;
	}
	old = sub_find(c, name);
	if (!old && c->n_subs >= MAX_SUBS) {
		send_error(c, "this connection has %d subscriptions, the most one may have",
			   MAX_SUBS);
		return;
	}
	if (resolve_root(c, args, 1, &r, true) < 0)
		return;
	s = calloc(1, sizeof(*s));
	q = compile(c, spec);
	if (!s || !q) {
		if (s && q)
			send_error(c, "out of memory");
		free(s);
		wq_free(q);
		rootref_done(&r);
		return;
	}
	s->c = c;
	s->fs = r.t.fs;
	s->name = strdup(name);
	s->root = strdup(r.path);
	s->rr = wq_relative_root(q) ? strdup(wq_relative_root(q)) : NULL;
	s->defer_vcs = true;
	k = names_arg(c, spec, "defer", &s->defer);
	if (k == 0)
		k = names_arg(c, spec, "drop", &s->drop);
	if (k == 0 && json_object_object_get_ex(spec, "defer_vcs", &v)) {
		if (!json_object_is_type(v, json_type_boolean)) {
			send_error(c, "defer_vcs must be boolean");
			k = -EINVAL;
		} else {
			s->defer_vcs = json_object_get_boolean(v);
		}
	}
	/* the spec is the subscription's now (the request lets go of it) */
	s->spec = json_object_get(spec);
	if (k == 0 && (!s->name || !s->root || (wq_relative_root(q) && !s->rr))) {
		send_error(c, "out of memory");
		k = -ENOMEM;
	}
	if (k == 0)
		k = plan_since(c, args, &r, q, &p);
	if (k <= 0) {
		/* an error was sent, or parked: it is tried again from the start */
		sub_free(s);
		wq_free(q);
		rootref_done(&r);
		return;
	}
	if (old) {
		log_ratelimited(LOG_LEVEL_DEBUG, "watchman: clobbering subscription '%s'", name);
		sub_cancel(old, false);
	}
	snprintf(s->token, sizeof(s->token), "%s", p.token);
	s->next = c->subs;
	c->subs = s;
	c->n_subs++;

	resp = wcap_response();
	states = json_object_new_array();
	w = wroot_get(c->srv, s->root, c->cred.uid, false);
	for (struct wstate *st = w ? w->states : NULL; st; st = st->next)
		if (in_names(s->defer, st->name) || in_names(s->drop, st->name))
			json_object_array_add(states, str(st->name));
	if (resp) {
		char clock[WCLOCK_MAX];

		wclock_from_token(p.token, clock);
		json_object_object_add(resp, "subscribe", str(name));
		json_object_object_add(resp, "clock", str(clock));
		json_object_object_add(resp, "asserted-states", states);
	} else {
		json_object_put(states);
	}
	send_pdu(c, resp);
	/* the first batch: what the query's since says (everything when none) */
	if (!sub_submit(s, &r, q, &p, NULL))
		s->due = true;
	change_set_free(p.cs);
	rootref_done(&r);
}

static void cmd_unsubscribe(struct wclient *c, json_object *args)
{
	const char *name = arg_str(args, 2);
	struct rootref r;
	struct wsub *s;
	json_object *resp;

	if (resolve_root(c, args, 1, &r, false) < 0)
		return;
	rootref_done(&r);
	if (!name) {
		send_error(c, "expected 2nd parameter to be subscription name");
		return;
	}
	s = sub_find(c, name);
	if (s)
		sub_cancel(s, false);
	resp = wcap_response();
	if (resp) {
		json_object_object_add(resp, "unsubscribe", str(name));
		json_object_object_add(resp, "deleted", json_object_new_boolean(s != NULL));
	}
	send_pdu(c, resp);
}

/* ---- states ------------------------------------------------------------------------ */

/* Tell every subscription of uid on root: name entered or left. */
static void broadcast_state(struct wserver *srv, const char *root, uid_t uid, const char *key,
			    const char *name, const char *clock, json_object *metadata,
			    bool abandoned)
{
	for (struct wclient *c = srv->clients; c; c = c->next)
		for (struct wsub *s = c->subs; s; s = s->next) {
			json_object *o;

			if (c->cred.uid != uid || strcmp(s->root, root) != 0)
				continue;
			o = sub_pdu(s);
			if (!o)
				continue;
			json_object_object_add(o, "clock", str(clock));
			json_object_object_add(o, key, str(name));
			if (metadata)
				json_object_object_add(o, "metadata", json_object_get(metadata));
			if (abandoned)
				json_object_object_add(o, "abandoned", json_object_new_boolean(1));
			send_pdu(c, o);
		}
}

/* After a state of uid is gone: the subscriptions it held back run. */
static void run_root_subs(struct wserver *srv, const char *root, uid_t uid)
{
	struct wclient *c, *cnext;
	struct wsub *s, *next;

	for (c = srv->clients; c; c = cnext) {
		cnext = c->next;
		for (s = c->subs; s; s = next) {
			next = s->next;
			if (s->due && c->cred.uid == uid && strcmp(s->root, root) == 0)
				sub_run(s);
		}
	}
}

/* Remove st (owned by its client) from w, telling the subscriptions. */
static void state_leave(struct wserver *srv, struct wroot *w, struct wstate *st, const char *clock,
			json_object *metadata, bool abandoned)
{
	char *root = strdup(w->path);
	uid_t uid = w->uid;

	for (struct wstate **pp = &w->states; *pp; pp = &(*pp)->next)
		if (*pp == st) {
			*pp = st->next;
			break;
		}
	st->owner->n_states--;
	broadcast_state(srv, w->path, w->uid, "state-leave", st->name, clock, metadata, abandoned);
	free(st->name);
	free(st);
	wroot_drop(srv, w, true);
	if (root)
		run_root_subs(srv, root, uid);
	free(root);
}

/* ["state-enter"|"state-leave", root, name | {"name", "metadata", "sync_timeout"}] */
static int state_args(struct wclient *c, json_object *args, const char **name,
		      json_object **metadata)
{
	json_object *a = nargs(args) == 3 ? json_object_array_get_idx(args, 2) : NULL, *v;

	*name = NULL;
	*metadata = NULL;
	if (!a) {
		send_error(c, "invalid number of arguments, expected 3, got %zu", nargs(args));
		return -EINVAL;
	}
	if (json_object_is_type(a, json_type_string)) {
		*name = arg_str(args, 2);
	} else if (json_object_is_type(a, json_type_object)) {
		if (json_object_object_get_ex(a, "name", &v) &&
		    json_object_is_type(v, json_type_string))
			*name = json_object_get_string(v);
		json_object_object_get_ex(a, "metadata", metadata);
		if (json_object_object_get_ex(a, "sync_timeout", &v) &&
		    (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)) {
			send_error(c, "sync_timeout must be >= 0");
			return -EINVAL;
		}
	}
	if (!*name || !**name || strlen(*name) > NAME_MAX_LEN) {
		send_error(c, "the state needs a name (a string of at most %d bytes)",
			   NAME_MAX_LEN);
		return -EINVAL;
	}
	return 0;
}

static void cmd_state(struct wclient *c, json_object *args, bool enter)
{
	struct wserver *srv = c->srv;
	const char *name;
	json_object *metadata, *resp;
	char tok[TOKEN_MAX], clock[WCLOCK_MAX];
	struct rootref r;
	struct wroot *w;
	struct wstate *st;
	int k;

	if (resolve_root(c, args, 1, &r, true) < 0)
		return;
	rootref_done(&r);
	if (state_args(c, args, &name, &metadata) < 0)
		return;
	/* the clock covers everything done before the call */
	k = fsys_token(r.t.fs, tok);
	if (k < 0) {
		send_journal_error(c, r.t.fs, k);
		return;
	}
	wclock_from_token(tok, clock);
	w = wroot_get(srv, r.path, c->cred.uid, enter);
	st = state_find(w, name);
	if (enter) {
		if (!w) {
			send_error(c,
				   "fstrackd keeps states for %d roots at most, %d of one user: "
				   "leave states of other roots first",
				   MAX_ROOTS, MAX_ROOTS_PER_UID);
			return;
		}
		if (st) {
			send_error(c, "state %s is already asserted", name);
			return;
		}
		if (c->n_states >= MAX_STATES) {
			send_error(c, "this connection asserts %d states, the most one may",
				   MAX_STATES);
			return;
		}
		st = calloc(1, sizeof(*st));
		if (!st || !(st->name = strdup(name))) {
			free(st);
			send_error(c, "out of memory");
			return;
		}
		st->owner = c;
		st->next = w->states;
		w->states = st;
		c->n_states++;
	} else if (!st) {
		send_error(c, "state %s is not asserted", name);
		return;
	} else if (st->owner != c) {
		send_error(c, "state %s was not asserted by this session", name);
		return;
	}
	resp = wcap_response();
	if (resp) {
		json_object_object_add(resp, "root", str(r.path));
		json_object_object_add(resp, enter ? "state-enter" : "state-leave", str(name));
		json_object_object_add(resp, "clock", str(clock));
	}
	send_pdu(c, resp);
	if (enter)
		broadcast_state(srv, r.path, c->cred.uid, "state-enter", name, clock, metadata,
				false);
	else
		state_leave(srv, w, st, clock, metadata, false);
}

static void cmd_state_enter(struct wclient *c, json_object *args)
{
	cmd_state(c, args, true);
}

static void cmd_state_leave(struct wclient *c, json_object *args)
{
	cmd_state(c, args, false);
}

/* The current clock of a root, from a subscription on it ("" when none hears it). */
static void root_clock(struct wserver *srv, const char *root, char clock[WCLOCK_MAX])
{
	clock[0] = '\0';
	for (struct wclient *o = srv->clients; o; o = o->next)
		for (struct wsub *s = o->subs; s; s = s->next)
			if (strcmp(s->root, root) == 0) {
				char tok[TOKEN_MAX];

				fsys_format_token(s->fs, fsys_durable_seq(s->fs), tok);
				wclock_from_token(tok, clock);
				return;
			}
}

/* A client that goes leaves its states, "abandoned". */
static void vacate_states(struct wclient *c)
{
	struct wserver *srv = c->srv;

	while (c->n_states) {
		struct wroot *w, *found = NULL;
		struct wstate *mine = NULL;
		char clock[WCLOCK_MAX];

		for (w = srv->roots; w && !mine; w = w->next)
			for (struct wstate *st = w->states; st && !mine; st = st->next)
				if (st->owner == c) {
					mine = st;
					found = w;
				}
		if (!mine)
			break;
		root_clock(srv, found->path, clock);
		log_ratelimited(LOG_LEVEL_INFO,
				"watchman: state %s on %s abandoned: its client went away",
				mine->name, found->path);
		state_leave(srv, found, mine, clock, NULL, true);
	}
}

/* ---- other commands --------------------------------------------------------------- */

static void cmd_version(struct wclient *c, json_object *args)
{
	send_pdu(c, wcap_version(args));
}

static void cmd_list_capabilities(struct wclient *c, json_object *args)
{
	send_pdu(c, wcap_list());
}

static void cmd_get_sockname(struct wclient *c, json_object *args)
{
	json_object *o = wcap_response();

	if (o)
		json_object_object_add(o, "sockname", str(c->srv->socket_path));
	send_pdu(c, o);
}

static void send_watched(struct wclient *c, const char *root, const char *rel)
{
	json_object *o = wcap_response();

	if (o) {
		json_object_object_add(o, "watch", str(root));
		json_object_object_add(o, "watcher", str("fstrack"));
		if (rel)
			json_object_object_add(o, "relative_path", str(rel));
	}
	send_pdu(c, o);
}

static void cmd_watch(struct wclient *c, json_object *args)
{
	struct rootref r;

	if (root_only(c, args, &r, true) == 0)
		send_watched(c, r.path, NULL);
}

/* Does dir/name exist for the caller (without following a last symlink)? */
static bool exists_as(struct wclient *c, const char *dir, const char *name)
{
	char p[PATH_MAX];
	int fd;

	if (snprintf(p, sizeof(p), "%s/%s", strcmp(dir, "/") ? dir : "", name) >= (int)sizeof(p))
		return false;
	fd = perm_open_as(&c->caller, p, O_PATH | O_NOFOLLOW);
	safe_close(fd);
	return fd >= 0;
}

/*
 * The project directory of path: a root the caller watches (it asked
 * for it first) that holds path, else the nearest directory with one of
 * root_files (each name looked for up to "/" before the next), else path.
 */
static void project_of(struct wclient *c, const char *path, char proj[PATH_MAX])
{
	snprintf(proj, PATH_MAX, "%s", path);
	for (struct scope *s = scope_first(c->srv->tracker); s; s = scope_next(s)) {
		struct scope_info si;

		scope_get_info(s, &si);
		if (si.state == SCOPE_ACTIVE && (si.owner == c->cred.uid) &&
		    path_under(path, si.path, NULL)) {
			snprintf(proj, PATH_MAX, "%s", si.path);
			return;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(root_files); i++) {
		char dir[PATH_MAX];

		snprintf(dir, sizeof(dir), "%s", path);
		for (;;) {
			char *slash;

			if (exists_as(c, dir, root_files[i])) {
				snprintf(proj, PATH_MAX, "%s", dir);
				return;
			}
			if (strcmp(dir, "/") == 0)
				break;
			slash = strrchr(dir, '/');
			if (slash == dir)
				slash[1] = '\0';
			else
				*slash = '\0';
		}
	}
}

static void cmd_watch_project(struct wclient *c, json_object *args)
{
	char proj[PATH_MAX];
	const char *rel = NULL;
	struct rootref r, pr;

	if (nargs(args) != 2) {
		send_error(c, "wrong number of arguments to 'watch-project'");
		return;
	}
	if (open_path(c, arg_str(args, 1), &r) < 0)
		return;
	rootref_done(&r);
	project_of(c, r.path, proj);
	if (open_path(c, proj, &pr) < 0)
		return;
	if (watch_root(c, &pr) < 0) {
		rootref_done(&pr);
		return;
	}
	rootref_done(&pr);
	path_under(r.path, pr.path, &rel);
	send_watched(c, pr.path, rel && strcmp(rel, ".") ? rel : NULL);
}

/* Roots the caller may see: its own, or ones it can list (as fstrack status). */
static void cmd_watch_list(struct wclient *c, json_object *args)
{
	struct perm_cache *pc = caller_perm(c);
	json_object *o = wcap_response(), *a = json_object_new_array();

	for (struct scope *s = scope_first(c->srv->tracker); s && a; s = scope_next(s)) {
		struct scope_info si;

		scope_get_info(s, &si);
		if (!pc || si.owner == c->cred.uid || perm_can_list(pc, si.path))
			json_object_array_add(a, str(si.path));
	}
	perm_cache_free(pc);
	if (o)
		json_object_object_add(o, "roots", a);
	else
		json_object_put(a);
	send_pdu(c, o);
}

static void cmd_watch_del(struct wclient *c, json_object *args)
{
	struct wserver *srv = c->srv;
	struct scope_info si;
	struct rootref r;
	struct stat st;
	json_object *o;

	if (root_only(c, args, &r, false) < 0)
		return;
	scope_get_info(r.exact, &si);
	if (!is_root_user(c) && si.owner != c->cred.uid &&
	    (stat(r.t.canon, &st) < 0 || st.st_uid != c->cred.uid)) {
		send_error(c, "only root, the owner of %s or who watched it may watch-del it",
			   r.path);
		return;
	}
	cancel_root_subs(srv, r.path, NULL);
	for (struct wroot *next, *w = srv->roots; w; w = next) { /* every user's */
		struct wstate *s;

		next = w->next;
		if (strcmp(w->path, r.path) != 0)
			continue;
		while ((s = w->states)) { /* nobody hears them: the subscriptions are gone */
			w->states = s->next;
			s->owner->n_states--;
			free(s->name);
			free(s);
		}
		wroot_drop(srv, w, false);
	}
	scope_unwatch(srv->tracker, r.exact);
	o = wcap_response();
	if (o) {
		json_object_object_add(o, "watch-del", json_object_new_boolean(1));
		json_object_object_add(o, "root", str(r.path));
	}
	send_pdu(c, o);
}

static void cmd_clock(struct wclient *c, json_object *args)
{
	json_object *opts = nargs(args) == 3 ? json_object_array_get_idx(args, 2) : NULL, *v, *o;
	char tok[TOKEN_MAX], clock[WCLOCK_MAX];
	struct rootref r;
	int k;

	if (nargs(args) != 2 && nargs(args) != 3) {
		send_error(c, "wrong number of arguments to 'clock'");
		return;
	}
	if (opts && (!json_object_is_type(opts, json_type_object) ||
		     (json_object_object_get_ex(opts, "sync_timeout", &v) &&
		      !json_object_is_type(v, json_type_int)))) {
		send_error(c, "malformated argument list for 'clock'");
		return;
	}
	if (resolve_root(c, args, 1, &r, false) < 0)
		return;
	rootref_done(&r);
	/* fsys_token drains the kernel's queue and commits: the clock covers every change before it
	 */
	k = fsys_token(r.t.fs, tok);
	if (k < 0) {
		send_journal_error(c, r.t.fs, k);
		return;
	}
	wclock_from_token(tok, clock);
	o = wcap_response();
	if (o)
		json_object_object_add(o, "clock", str(clock));
	send_pdu(c, o);
}

static void cmd_get_config(struct wclient *c, json_object *args)
{
	struct rootref r;
	json_object *o;

	if (root_only(c, args, &r, false) < 0)
		return;
	o = wcap_response();
	if (o)
		json_object_object_add(o, "config", json_object_new_object());
	send_pdu(c, o);
}

static bool log_level_name(const char *s)
{
	return s && (!strcmp(s, "debug") || !strcmp(s, "error") || !strcmp(s, "off"));
}

static void cmd_log_level(struct wclient *c, json_object *args)
{
	const char *level = arg_str(args, 1);
	json_object *o;

	if (nargs(args) != 2) {
		send_error(c, "wrong number of arguments to 'log-level'");
		return;
	}
	if (!log_level_name(level)) {
		send_error(c, "invalid log level for 'log-level'");
		return;
	}
	/* accepted; fstrackd's log is its own and is not sent to clients */
	o = wcap_response();
	if (o)
		json_object_object_add(o, "log_level", str(level));
	send_pdu(c, o);
}

static void cmd_log(struct wclient *c, json_object *args)
{
	const char *text = arg_str(args, 2);
	json_object *o;

	if (nargs(args) != 3) {
		send_error(c, "wrong number of arguments to 'log'");
		return;
	}
	if (!log_level_name(arg_str(args, 1)) || !text) {
		send_error(c, "invalid log level for 'log'");
		return;
	}
	log_ratelimited(LOG_LEVEL_INFO, "watchman client pid %d uid %u: %.200s", (int)c->cred.pid,
			(unsigned)c->cred.uid, text);
	o = wcap_response();
	if (o)
		json_object_object_add(o, "logged", json_object_new_boolean(1));
	send_pdu(c, o);
}

static void cmd_shutdown_server(struct wclient *c, json_object *args)
{
	send_error(c, "shutdown-server is refused: fstrackd is a system service shared by every "
		      "user and front end; root stops it with 'systemctl stop fstrackd'");
}

static void cmd_watch_del_all(struct wclient *c, json_object *args)
{
	send_error(c, "watch-del-all is refused: fstrackd's roots are shared by every user and "
		      "front end; use watch-del ROOT for each of yours (see watch-list)");
}

static const struct {
	const char *name;
	void (*fn)(struct wclient *c, json_object *args);
} commands[] = {
    {"version", cmd_version},
    {"list-capabilities", cmd_list_capabilities},
    {"get-sockname", cmd_get_sockname},
    {"watch", cmd_watch},
    {"watch-project", cmd_watch_project},
    {"watch-list", cmd_watch_list},
    {"watch-del", cmd_watch_del},
    {"clock", cmd_clock},
    {"query", cmd_query},
    {"since", cmd_since},
    {"find", cmd_find},
    {"subscribe", cmd_subscribe},
    {"unsubscribe", cmd_unsubscribe},
    {"state-enter", cmd_state_enter},
    {"state-leave", cmd_state_leave},
    {"log-level", cmd_log_level},
    {"log", cmd_log},
    {"get-config", cmd_get_config},
    /* answered, with a refusal */
    {"shutdown-server", cmd_shutdown_server},
    {"watch-del-all", cmd_watch_del_all},
};

static void dispatch(struct wclient *c, json_object *args)
{
	const char *name;

	if (conn_dead(c->conn))
		return;
	if (!json_object_is_type(args, json_type_array) || nargs(args) == 0) {
		send_error(c, "invalid command (expected an array with some elements!)");
		return;
	}
	name = arg_str(args, 0);
	if (!name) {
		send_error(c, "invalid command: expected element 0 to be the command name");
		return;
	}
	if (!c->srv->tracker) {
		send_error(c, "fstrackd is starting; try again");
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (strcmp(name, commands[i].name) == 0) {
			commands[i].fn(c, args);
			return;
		}
	send_error(c, "unknown command %s", name);
}

/*
 * Answer the complete PDUs of the input in[0..len), one after the other,
 * while the client may be answered: not while a request of its waits or
 * runs, nor while its unread output is past OUT_HIGH. Returns the bytes
 * used.
 */
static size_t on_input(void *data, char *in, size_t len, bool *answered)
{
	struct wclient *c = data;
	bool need_more = false;
	size_t off = 0;

	while (!c->pending && !c->busy && conn_may_answer(c->conn)) {
		json_object *req = NULL;
		struct wpdu_format fmt = c->fmt;
		char err[512];
		size_t used;
		int r = wpdu_decode(in + off, len - off, WREQUEST_MAX, &req, &used, &fmt, err,
				    sizeof(err));

		if (r == 0) {
			off += used;
			need_more = true;
			break;
		}
		if (r == -EMSGSIZE) {
			send_error(c, "a request is at most %u bytes", WREQUEST_MAX);
			conn_set_closing(c->conn);
			break;
		}
		c->fmt = fmt;
		if (r < 0) {
			send_error(c, "%s", err[0] ? err : strerror(-r));
			if (!used) {
				conn_set_closing(c->conn); /* the framing is lost */
				break;
			}
			off += used;
			continue;
		}
		off += used;
		dispatch(c, req);
		json_object_put(req);
	}
	/* a partial PDU is dropped at EOF */
	*answered = need_more && !c->pending && !c->busy;
	return off;
}

/* ---- connections ------------------------------------------------------------------- */

/* A request of its waits for a scan or runs on a worker: it is not read from. */
static bool client_waits(void *data)
{
	const struct wclient *c = data;

	return c->pending || c->busy;
}

/* Off the lists; what it holds (jobs, subscriptions, states) is let go. */
static void on_closed(void *data)
{
	struct wclient *c = data;
	struct wserver *srv = c->srv;

	for (struct wclient **pp = &srv->clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	srv->n_clients--;
	if (srv->jobs)
		jobs_cancel(srv->jobs, c);
	while (c->subs)
		sub_cancel(c->subs, false);
	vacate_states(c);
	loop_cancel(srv->loop, &c->kick_node);
}

static void client_free(void *data)
{
	struct wclient *c = data;

	json_object_put(c->pending);
	free(c);
}

static const struct conn_ops client_ops = {
    .input = on_input,
    .waits = client_waits,
    .flushed = on_flushed,
    .closed = on_closed,
    .release = client_free,
};

static unsigned clients_of(const void *data, uid_t uid)
{
	const struct wserver *srv = data;
	unsigned n = 0;

	for (const struct wclient *c = srv->clients; c; c = c->next)
		n += c->cred.uid == uid;
	return n;
}

int wserver_refusal(void *data, char *buf, size_t size, const char *why)
{
	(void)data;
	return snprintf(buf, size, "{\"version\":\"%s\",\"error\":\"%s\"}\n", WCAP_VERSION, why);
}

const char *wserver_accept(void *data, int fd, const struct ucred *cred,
			   const struct perm_caller *caller)
{
	struct wserver *srv = data;
	const struct conn_quota lim = {
	    .max = srv->cfg.max_clients,
	    .max_per_uid = srv->cfg.max_clients_per_uid,
	};
	const char *why = conn_admit(&lim, cred->uid, srv->n_clients, clients_of, srv);
	struct wclient *c;
	int r;

	if (why)
		return why;
	c = calloc(1, sizeof(*c));
	if (!c)
		return "fstrackd is out of memory";
	c->cred = *cred;
	c->caller = *caller;
	c->srv = srv;
	c->fmt.enc = WPDU_JSON;
	r = conn_new(srv->loop, fd, &client_limits, &client_ops, c, &c->conn);
	if (r < 0) {
		free(c);
		return r == -ENOMEM ? "fstrackd is out of memory"
				    : "fstrackd cannot take the connection";
	}
	c->next = srv->clients;
	srv->clients = c;
	srv->n_clients++;
	return NULL;
}

/* ---- the tracker's news ---------------------------------------------------------- */

static void retry_pending(struct wclient *c)
{
	json_object *req = c->pending;

	c->pending = NULL;
	dispatch(c, req);
	json_object_put(req);
	conn_process(c->conn);
}

static void on_ready(void *data, struct fsys *fs)
{
	struct wserver *srv = data;
	struct wclient *c, *next;

	for (c = srv->clients; c; c = next) {
		next = c->next;
		if (c->pending && !conn_dead(c->conn))
			retry_pending(c);
	}
	for (c = srv->clients; c; c = next) {
		struct wsub *s, *snext;

		next = c->next;
		for (s = c->subs; s; s = snext) {
			snext = s->next;
			if (s->due && s->fs == fs)
				sub_run(s);
		}
	}
}

static void on_detached(void *data, struct fsys *fs)
{
	struct wserver *srv = data;

	cancel_root_subs(srv, NULL, fs);
	on_ready(data, fs); /* parked requests on it now fail */
}

static void on_committed(void *data, struct fsys *fs)
{
	struct wserver *srv = data;
	struct wclient *c, *cnext;
	bool any = false;

	for (c = srv->clients; c; c = cnext) {
		struct wsub *s, *next;

		cnext = c->next;
		for (s = c->subs; s; s = next) {
			next = s->next;
			if (s->fs == fs) {
				any = true;
				sub_run(s);
			}
		}
	}
	/* subscribers want every change, not one per token */
	if (any && fsys_new_epoch(fs) < 0)
		cancel_root_subs(srv, NULL, fs); /* the kernel may drop writes: they cannot go on */
}

static void on_deadline_tick(void *data)
{
	struct wserver *srv = data;
	uint64_t now = now_monotonic_ns();
	struct wclient *c, *next;
	bool parked = false;

	for (c = srv->clients; c; c = next) {
		next = c->next;
		if (!c->pending)
			continue;
		if (now < c->deadline_ns) {
			parked = true;
			continue;
		}
		json_object_put(c->pending);
		c->pending = NULL;
		send_error(c, "sync_timeout expired: a catch-up scan of the root's filesystem is "
			      "still running (see 'fstrack status'); try again later");
		conn_process(c->conn);
	}
	if (!parked)
		loop_timer_set(srv->deadline_timer, 0);
}

void wserver_observer(struct wserver *srv, struct tracker_observer *ret)
{
	*ret = (struct tracker_observer){
	    .data = srv,
	    .committed = on_committed,
	    .ready = on_ready,
	    .detached = on_detached,
	};
}

void wserver_set_tracker(struct wserver *srv, struct tracker *t)
{
	srv->tracker = t;
}

/* ---- the socket ----------------------------------------------------------------------- */

int wserver_new(const struct wserver_config *cfg, struct loop *loop, struct wserver **ret)
{
	struct wserver *srv = calloc(1, sizeof(*srv));
	int r;

	if (!srv)
		return -ENOMEM;
	srv->cfg = *cfg;
	srv->loop = loop;
	if (!srv->cfg.max_clients)
		srv->cfg.max_clients = DEFAULT_MAX_CLIENTS;
	/* the fds left for clients are shared with the main socket's */
	if (srv->cfg.fd_limit > FD_RESERVE &&
	    srv->cfg.max_clients > (srv->cfg.fd_limit - FD_RESERVE) / 2)
		srv->cfg.max_clients = (unsigned)((srv->cfg.fd_limit - FD_RESERVE) / 2);
	if (!srv->cfg.max_clients_per_uid)
		srv->cfg.max_clients_per_uid = DEFAULT_MAX_CLIENTS_PER_UID;
	if (!srv->cfg.max_scopes_per_uid)
		srv->cfg.max_scopes_per_uid = DEFAULT_MAX_SCOPES_PER_UID;
	if (!srv->cfg.threads)
		srv->cfg.threads = DEFAULT_THREADS;
	srv->socket_path = strdup(cfg->socket_path);
	if (!srv->socket_path) {
		free(srv);
		return -ENOMEM;
	}
	/* the workers start with the first query: after fstrackd detached (fork) */
	r = loop_add_timer(loop, 0, on_deadline_tick, srv, &srv->deadline_timer);
	if (r < 0) {
		wserver_free(srv);
		return r;
	}
	*ret = srv;
	return 0;
}

struct wserver *wserver_free(struct wserver *srv)
{
	if (!srv)
		return NULL;
	while (srv->clients)
		conn_close(srv->clients->conn);
	srv->jobs = jobs_free(srv->jobs); /* every job is cancelled: nothing touches a client */
	while (srv->roots)
		wroot_drop(srv, srv->roots, false);
	loop_cancel(srv->loop, &srv->kick_all);
	srv->deadline_timer = loop_del(srv->deadline_timer);
	free(srv->socket_path);
	free(srv);
	return NULL;
}
