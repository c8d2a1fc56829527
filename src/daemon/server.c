/* SPDX-License-Identifier: MIT */
/*
 * server: the Unix socket, its clients, and the requests of
 * docs/protocol.md (JSON, one document per line). Each client has an input
 * and an output buffer (conn.c); nothing here blocks: a slow reader only
 * grows its own output buffer, and a stream subscriber that lags past its bound is
 * told "gap" and dropped. Every request is checked against the caller's
 * credentials, taken once when it connects (SO_PEERCRED, SO_PEERGROUPS).
 */
#include "daemon/server.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <json-c/json.h>
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
#include "daemon/loop.h"
#include "daemon/perm.h"
#include "daemon/scope.h"
#include "fstrack.h"

#define REQUEST_MAX (64 * 1024)
/* room made for each read of a client's requests */
#define READ_CHUNK 16384
#define DEADLINE_TICK_MS 250
/* A client's unsent output: past OUT_HIGH its next requests wait (it is
 * not read from), past OUT_MAX it is disconnected. */
#define OUT_HIGH (1u << 20)
#define OUT_MAX (256u << 20)
/* All unsent output of one user's connections: past it, its requests wait. */
#define USER_OUT_MAX (64u << 20)
/* fds kept for the daemon's own work (journals, scans, handle look-ups). */
#define FD_RESERVE 256
#define DEFAULT_MAX_CLIENTS 4096
#define DEFAULT_MAX_CLIENTS_PER_UID 256
#define DEFAULT_MAX_SCOPES_PER_UID 64
/* connections only root may take (a quarter when there are few) */
#define ROOT_RESERVE 16

struct client {
	struct client *next;
	struct server *srv;
	struct conn *conn; /* its socket and buffers */
	struct ucred cred;
	struct perm_caller caller;
	bool held; /* requests wait: its user's unread answers are past USER_OUT_MAX */
	/* a changes/stream request waiting for a catch-up scan */
	struct json_object *pending;
	uint64_t deadline_ns;
	bool no_wait; /* its wait is over: answer it widened */
	/* a stream subscriber */
	struct fsys *stream_fs;
	char stream_dir[PATH_MAX];
	uint64_t cursor;
};

struct server {
	struct server_config cfg;
	char *socket_path;
	char *state_dir;
	struct loop *loop;
	struct tracker *tracker;
	uint64_t refused;		    /* connections turned away (server_refusal) */
	struct loop_source *deadline_timer; /* armed while a request is parked */
	struct client *clients;
	unsigned n_clients;
	unsigned root_reserve;	     /* the last places, root's only */
	struct loop_defer wake_node; /* held connections to look at again */
	uint64_t start_ns;
	struct {
		const char *op;
		server_op_fn fn;
		void *data;
	} ops[SERVER_OPS_MAX]; /* other front ends' requests */
	size_t n_ops;
};

static const struct conn_limits client_limits = {
    .in_max = REQUEST_MAX,
    .in_chunk = READ_CHUNK,
    .out_high = OUT_HIGH,
    .out_max = OUT_MAX,
};

/* ---- output ------------------------------------------------------------- */

static size_t out_pending(const struct client *c)
{
	return conn_out_pending(c->conn);
}

/*
 * What one user's connections have not read yet, all together: a user
 * may hold at most USER_OUT_MAX of the daemon's memory in answers (root:
 * no bound). O(clients), at each request of a user's.
 */
static size_t user_pending(const struct client *c)
{
	size_t sum = 0;

	for (const struct client *o = c->srv->clients; o; o = o->next)
		if (o->cred.uid == c->cred.uid)
			sum += out_pending(o);
	return sum;
}

static bool user_over_budget(const struct client *c)
{
	return c->cred.uid != 0 && user_pending(c) >= USER_OUT_MAX;
}

/* Held connections whose user is under budget again go on (after the round: no re-entry). */
static void wake_all_held(void *data)
{
	struct server *srv = data;
	struct client *o, *next;

	for (o = srv->clients; o; o = next) {
		next = o->next;
		if (o->held && !user_over_budget(o)) {
			o->held = false;
			conn_process(o->conn);
		}
	}
}

/* c's user read some answers: its connections held back may go on. */
static void wake_held(struct client *c)
{
	for (const struct client *o = c->srv->clients; o; o = o->next)
		if (o->held && o->cred.uid == c->cred.uid) {
			loop_defer(c->srv->loop, &c->srv->wake_node, wake_all_held, c->srv);
			return;
		}
}

static void on_flushed(void *data, size_t sent, size_t before)
{
	struct client *c = data;

	if (sent && c->cred.uid != 0)
		wake_held(c);
}

static int client_write(struct client *c, const char *text, size_t len)
{
	char *p;
	int r = conn_reserve(c->conn, len + 1, &p);

	if (r == -ENOBUFS)
		log_ratelimited(
		    LOG_LEVEL_WARN,
		    "client pid %d uid %u does not read its answers (%zu bytes waiting); "
		    "disconnecting it",
		    (int)c->cred.pid, (unsigned)c->cred.uid, out_pending(c));
	if (r < 0)
		return r;
	memcpy(p, text, len);
	p[len] = '\n';
	return 0;
}

static void send_json(struct client *c, struct json_object *o)
{
	const char *text;
	size_t len;
	int r = -ENOMEM;

	if (conn_dead(c->conn)) {
		json_object_put(o);
		return;
	}
	json_object_object_add(o, "v", json_object_new_int(FST_PROTOCOL_VERSION));
	text = json_object_to_json_string_length(
	    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	if (text)
		r = client_write(c, text, len);
	json_object_put(o);
	if (r < 0) {
		conn_close(c->conn); /* it cannot be answered: out of memory, or it does not read */
		return;
	}
	conn_flush(c->conn);
}

static void send_error(struct client *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void send_error(struct client *c, int err, const char *fmt, ...)
{
	struct json_object *o = json_object_new_object();
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "errno", json_object_new_int(err < 0 ? -err : err));
	json_object_object_add(o, "error", json_object_new_string(msg));
	send_json(c, o);
}

static struct json_object *ok_object(void)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(1));
	return o;
}

static struct json_object *kinds_array(unsigned kinds)
{
	struct json_object *a = json_object_new_array();

	for (unsigned i = 0; i < FST_KIND_COUNT; i++)
		if (kinds & (1u << i))
			json_object_array_add(a, json_object_new_string(fst_kind_name(i)));
	return a;
}

/* ---- request helpers ---------------------------------------------------- */

static const char *get_str(struct json_object *req, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(req, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static bool is_root(const struct client *c)
{
	return c->cred.uid == 0;
}

/*
 * Open the request's directory as the caller would: a caller who could not
 * list it itself gets the error it would get itself, and nothing else
 * about what lies behind. Sends the error.
 */
static int open_as_caller(struct client *c, const char *path)
{
	int fd;

	if (!path || path[0] != '/') {
		send_error(c, EINVAL, "the request needs an absolute \"path\"");
		return -EINVAL;
	}
	fd = perm_open_as(&c->caller, path, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		send_error(c, fd, "cannot open %s: %s", path, strerror(-fd));
	return fd;
}

/*
 * Find the scope and the canonical path of the request's directory, which
 * the caller must be able to list. Sends the error. *owner (if asked for):
 * the owner of the directory the caller opened, (uid_t)-1 if fstat fails
 * (by the fd, not the path: a rename in between cannot change it).
 */
static int resolve_target(struct client *c, const char *path, struct target *t, uid_t *owner)
{
	struct stat st;
	char err[512];
	int fd, r;

	fd = open_as_caller(c, path);
	if (fd < 0)
		return fd;
	if (owner)
		*owner = fstat(fd, &st) == 0 ? st.st_uid : (uid_t)-1;
	err[0] = '\0';
	r = scope_find(c->srv->tracker, fd, t, err, sizeof(err));
	safe_close(fd);
	if (r == -ENOENT) {
		send_error(c, ENOENT, "%s is not watched: run 'fstrack watch %s' first", path,
			   path);
		return r;
	}
	if (r < 0) {
		send_error(c, r, "%s: %s", path, err);
		return r;
	}
	return 0;
}

/* ---- requests ----------------------------------------------------------- */

static void do_hello(struct client *c)
{
	struct json_object *o = ok_object();

	json_object_object_add(o, "version", json_object_new_string(FST_VERSION));
	json_object_object_add(o, "protocol", json_object_new_int(FST_PROTOCOL_VERSION));
	send_json(c, o);
}

/* The journal of fs cannot be made durable: say why, plainly. */
static void send_journal_error(struct client *c, struct fsys *fs, int r)
{
	if (r == -ENOSPC || r == -EDQUOT)
		send_error(
		    c, r,
		    "the state directory %s is full (%s): fstrack records nothing for %s and "
		    "hands out no token until there is room; every change made meanwhile is "
		    "found by a scan then",
		    c->srv->state_dir, strerror(-r), fsys_mount_path(fs));
	else
		send_error(
		    c, r,
		    "cannot write the journal of %s in %s (%s): fstrack records nothing and "
		    "hands out no token until it works again; every change made meanwhile is "
		    "found by a scan then",
		    fsys_mount_path(fs), c->srv->state_dir, strerror(-r));
}

static void send_token(struct client *c, struct fsys *fs)
{
	char tok[TOKEN_MAX];
	int r = fsys_token(fs, tok);
	struct json_object *o;

	if (r < 0) {
		send_journal_error(c, fs, r);
		return;
	}
	o = ok_object();
	json_object_object_add(o, "token", json_object_new_string(tok));
	send_json(c, o);
}

static void do_watch(struct client *c, struct json_object *req)
{
	const char *path = get_str(req, "path");
	struct server *srv = c->srv;
	struct scope_info si;
	struct scope *s;
	char err[1024];
	int fd, r;

	fd = open_as_caller(c, path);
	if (fd < 0)
		return;
	if (!is_root(c) &&
	    scope_count_owned(srv->tracker, c->cred.uid) >= srv->cfg.max_scopes_per_uid) {
		/* a directory already watched costs nothing: that is allowed */
		struct target t;
		if (scope_find(srv->tracker, fd, &t, err, sizeof(err)) < 0 ||
		    !scope_find_exact(srv->tracker, t.fs, t.canon)) {
			safe_close(fd);
			send_error(c, EDQUOT,
				   "you watch %u directories, the most one user may; unwatch one "
				   "first",
				   srv->cfg.max_scopes_per_uid);
			return;
		}
	}
	r = scope_watch(srv->tracker, fd, path, c->cred.uid, &s, err, sizeof(err));
	safe_close(fd);
	if (r < 0) {
		send_error(c, r, "%s", err);
		return;
	}
	scope_get_info(s, &si);
	send_token(c, si.fs);
}

static void do_unwatch(struct client *c, struct json_object *req)
{
	const char *path = get_str(req, "path");
	struct scope *s = path ? scope_by_path(c->srv->tracker, path) : NULL;
	struct scope_info si;
	struct target t;
	uid_t dir_owner;

	/*
	 * A scope whose directory is gone (vanished, missing) goes by its path,
	 * for root only. A user is answered as for any other path it names (its
	 * own error from opening it): a word about the scope would tell it that
	 * one was there, inside a directory it may not search.
	 */
	if (s && is_root(c)) {
		scope_get_info(s, &si);
		if (si.state != SCOPE_ACTIVE) {
			scope_unwatch(c->srv->tracker, s);
			send_json(c, ok_object());
			return;
		}
	}
	if (resolve_target(c, path, &t, &dir_owner) < 0)
		return;
	t.scope = scope_find_exact(c->srv->tracker, t.fs, t.canon);
	if (!t.scope) {
		send_error(c, ENOENT, "%s is not a watched directory itself (see 'fstrack status')",
			   path);
		return;
	}
	scope_get_info(t.scope, &si);
	if (!is_root(c) && si.owner != c->cred.uid && dir_owner != c->cred.uid) {
		send_error(c, EPERM, "only root, the owner of %s or who watched it may unwatch it",
			   path);
		return;
	}
	scope_unwatch(c->srv->tracker, t.scope);
	send_json(c, ok_object());
}

static void do_token(struct client *c, struct json_object *req)
{
	struct target t;

	if (resolve_target(c, get_str(req, "path"), &t, NULL) < 0)
		return;
	send_token(c, t.fs);
}

/* How long the request may wait for a catch-up scan. */
static unsigned request_wait_ms(struct client *c, struct json_object *req)
{
	struct json_object *w;

	if (json_object_object_get_ex(req, "wait_ms", &w) && json_object_get_int64(w) >= 0)
		return json_object_get_int64(w) > UINT_MAX ? UINT_MAX
							   : (unsigned)json_object_get_int64(w);
	return c->srv->cfg.query_wait_ms;
}

static void park(struct client *c, struct json_object *req)
{
	unsigned wait_ms = request_wait_ms(c, req);

	c->pending = json_object_get(req);
	c->deadline_ns = now_monotonic_ns() + (uint64_t)wait_ms * 1000000ull;
	loop_timer_set(c->srv->deadline_timer, DEADLINE_TICK_MS);
}

static struct perm_cache *caller_perm(struct client *c)
{
	return is_root(c) ? NULL : perm_cache_new(&c->caller);
}

/*
 * changes and stream share this: validate, wait for a scan, issue the new
 * token, compute the set. Returns 1 when the answer is ready in *ret_cs /
 * *ret_fresh, 0 when parked, < 0 when an error was sent.
 */
static int prepare_answer(struct client *c, struct json_object *req, struct target *t,
			  char tok[TOKEN_MAX], bool *ret_fresh, bool *ret_widened,
			  struct change_set **ret_cs)
{
	const char *since = get_str(req, "since");
	struct answer_plan plan;
	struct perm_cache *pc;
	struct token tk;
	int r;

	*ret_cs = NULL;
	if (!since || token_parse(since, &tk) < 0) {
		send_error(c, EINVAL, "\"%s\" is not a token (tokens look like fst1:<uuid>:<seq>)",
			   since ? since : "");
		return -EINVAL;
	}
	if (resolve_target(c, get_str(req, "path"), t, NULL) < 0)
		return -EINVAL;
	/* its wait is over, or it asked for none: widened rather than parked */
	r = scope_plan_answer(t->scope, &tk, c->no_wait || request_wait_ms(c, req) == 0, &plan);
	if (r < 0) {
		send_journal_error(c, t->fs, r);
		return r;
	}
	if (plan.kind == ANSWER_WAIT) {
		park(c, req);
		return 0;
	}
	snprintf(tok, TOKEN_MAX, "%s", plan.token);
	*ret_fresh = plan.kind == ANSWER_FRESH;
	*ret_widened = plan.widened;
	if (*ret_fresh)
		return 1;
	pc = caller_perm(c);
	if (!is_root(c) && !pc) {
		send_error(c, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	r = fsys_query(t->fs, plan.from, t->canon, pc, ret_cs);
	perm_cache_free(pc);
	if (r == -EBADMSG) {
		/* the journal changed under us: it now knows the damaged range */
		*ret_fresh = scope_token_fresh(t->scope, &tk) != NULL;
		if (*ret_fresh)
			return 1;
	}
	/* a catch-up scan still runs: what it has not found yet lies anywhere below */
	if (r == 0 && plan.widened)
		r = change_set_widen(*ret_cs);
	if (r < 0) {
		*ret_cs = change_set_free(*ret_cs);
		send_error(c, r, "cannot read the journal of %s: %s", fsys_mount_path(t->fs),
			   strerror(-r));
		return r;
	}
	return 1;
}

static void do_changes(struct client *c, struct json_object *req)
{
	struct target t;
	char tok[TOKEN_MAX];
	bool fresh = false, widened = false;
	struct change_set *cs;
	struct json_object *o, *arr;

	if (prepare_answer(c, req, &t, tok, &fresh, &widened, &cs) <= 0)
		return;
	o = ok_object();
	arr = json_object_new_array();
	json_object_object_add(o, "token", json_object_new_string(tok));
	json_object_object_add(o, "fresh", json_object_new_boolean(fresh));
	if (widened)
		json_object_object_add(o, "widened", json_object_new_boolean(true));
	for (size_t i = 0; cs && i < change_set_count(cs); i++) {
		const char *p;
		unsigned k;
		struct json_object *ch = json_object_new_object();

		change_set_get(cs, i, &p, &k);
		json_object_object_add(ch, "path", json_object_new_string(p));
		json_object_object_add(ch, "kinds", kinds_array(k));
		json_object_array_add(arr, ch);
	}
	json_object_object_add(o, "changes", arr);
	change_set_free(cs);
	send_json(c, o);
}

static void stream_send(struct client *c, const char *event, const char *path, unsigned kinds,
			const char *tok)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "event", json_object_new_string(event));
	if (path) {
		json_object_object_add(o, "path", json_object_new_string(path));
		json_object_object_add(o, "kinds", kinds_array(kinds));
	}
	json_object_object_add(o, "token", json_object_new_string(tok));
	send_json(c, o);
}

static void stream_set(struct client *c, struct change_set *cs, const char *tok)
{
	for (size_t i = 0; cs && i < change_set_count(cs); i++) {
		const char *p;
		unsigned k;

		change_set_get(cs, i, &p, &k);
		stream_send(c, "change", p, k, tok);
	}
}

static void do_stream(struct client *c, struct json_object *req)
{
	struct target t;
	char tok[TOKEN_MAX];
	bool fresh = false, widened = false;
	struct change_set *cs;
	struct token tk;

	if (prepare_answer(c, req, &t, tok, &fresh, &widened, &cs) <= 0)
		return;
	if (fresh)
		stream_send(c, "fresh", NULL, 0, tok);
	stream_set(c, cs, tok);
	change_set_free(cs);
	stream_send(c, "history_done", NULL, 0, tok);
	token_parse(tok, &tk);
	c->stream_fs = t.fs;
	snprintf(c->stream_dir, sizeof(c->stream_dir), "%s", t.canon);
	c->cursor = tk.seq;
}

static struct json_object *fs_status_json(struct fsys *fs)
{
	struct json_object *f = json_object_new_object(), *sc = json_object_new_object();
	struct fsys_status st;

	fsys_get_status(fs, &st);
	json_object_object_add(f, "id", json_object_new_string(st.id));
	json_object_object_add(f, "mount", json_object_new_string(st.mount));
	json_object_object_add(f, "fstype", json_object_new_string(st.fstype));
	json_object_object_add(f, "journal_uuid", json_object_new_string(st.journal_uuid));
	json_object_object_add(f, "journal_bytes", json_object_new_uint64(st.journal.bytes));
	json_object_object_add(f, "journal_segments", json_object_new_uint64(st.journal.segments));
	json_object_object_add(f, "first_seq", json_object_new_uint64(st.journal.first_seq));
	json_object_object_add(f, "next_seq", json_object_new_uint64(st.journal.next_seq));
	json_object_object_add(f, "bad_ranges", json_object_new_uint64(st.journal.bad_ranges));
	json_object_object_add(f, "events_seen", json_object_new_uint64(st.watcher.events_seen));
	json_object_object_add(f, "events_own", json_object_new_uint64(st.watcher.events_own));
	json_object_object_add(f, "event_reads", json_object_new_uint64(st.watcher.reads));
	json_object_object_add(f, "ignore_marks_held",
			       json_object_new_uint64(st.watcher.marks_held));
	json_object_object_add(f, "ignore_marks_added",
			       json_object_new_uint64(st.watcher.marks_added));
	json_object_object_add(f, "ignore_marks_failed",
			       json_object_new_uint64(st.watcher.marks_failed));
	json_object_object_add(f, "ignore_mark_flushes",
			       json_object_new_uint64(st.watcher.flushes));
	json_object_object_add(f, "records_written",
			       json_object_new_uint64(st.recorder.records_written));
	json_object_object_add(f, "overflows", json_object_new_uint64(st.watcher.overflows));
	json_object_object_add(f, "commit_errors",
			       json_object_new_uint64(st.catchup.commit_errors));
	if (st.catchup.last_commit_error) {
		json_object_object_add(
		    f, "commit_failing",
		    json_object_new_string(strerror(-st.catchup.last_commit_error)));
		json_object_object_add(f, "commit_failing_since_ns",
				       json_object_new_uint64(st.catchup.failing_since_ns));
	}
	json_object_object_add(f, "records_dropped_while_failing",
			       json_object_new_uint64(st.recorder.dropped));
	json_object_object_add(f, "watermark_ns", json_object_new_uint64(st.journal.watermark_ns));
	json_object_object_add(f, "recorder_entries", json_object_new_uint64(st.recorder_entries));
	json_object_object_add(f, "notes_outside_scopes",
			       json_object_new_uint64(st.recorder.outside));
	json_object_object_add(f, "filter_cached", json_object_new_uint64(st.filter.cached));
	json_object_object_add(f, "filter_resolved", json_object_new_uint64(st.filter.resolved));
	json_object_object_add(f, "scopes", json_object_new_uint64(st.scopes));
	json_object_object_add(f, "scope_index_entries",
			       json_object_new_uint64(st.scope_index_entries));
	json_object_object_add(
	    sc, "running", json_object_new_boolean(st.catchup.scanning || st.catchup.gap_pending));
	json_object_object_add(sc, "dirs", json_object_new_uint64(st.catchup.progress.dirs));
	json_object_object_add(sc, "inodes", json_object_new_uint64(st.catchup.progress.inodes));
	json_object_object_add(sc, "emitted", json_object_new_uint64(st.catchup.progress.emitted));
	json_object_object_add(sc, "errors", json_object_new_uint64(st.catchup.progress.errors));
	json_object_object_add(sc, "last_duration_ms",
			       json_object_new_uint64(st.catchup.last_duration_ns / 1000000));
	json_object_object_add(f, "scan", sc);
	{
		struct json_object *sum = json_object_new_object(), *age = json_object_new_array();
		uint64_t by_age[FSYS_AGE_BUCKETS];

		json_object_object_add(sum, "bytes",
				       json_object_new_uint64(st.journal.summary_bytes));
		json_object_object_add(sum, "places",
				       json_object_new_uint64(st.journal.summary_places));
		json_object_object_add(sum, "from_seq",
				       json_object_new_uint64(st.journal.summary_from_seq));
		json_object_object_add(sum, "to_seq",
				       json_object_new_uint64(st.journal.summary_to_seq));
		json_object_object_add(sum, "wide",
				       json_object_new_boolean(st.journal.summary_wide));
		json_object_object_add(sum, "level", json_object_new_int(st.journal.summary_level));
		json_object_object_add(sum, "compactions",
				       json_object_new_uint64(st.journal.compactions));
		json_object_object_add(f, "summary", sum);
		fsys_bytes_by_age(fs, now_realtime_ns(), by_age);
		for (size_t i = 0; i < FSYS_AGE_BUCKETS; i++)
			json_object_array_add(age, json_object_new_uint64(by_age[i]));
		/* newest record of each segment: < 1 h, < 1 d, < 7 d, < 30 d, older (+ summary) */
		json_object_object_add(f, "journal_bytes_by_age", age);
	}
	return f;
}

/* May the caller see this scope in status? Its own, or one it can list. */
static bool scope_visible(struct client *c, struct perm_cache *pc, const struct scope_info *si)
{
	return !pc || si->owner == c->cred.uid || perm_can_list(pc, si->path);
}

static void do_status(struct client *c)
{
	struct server *srv = c->srv;
	struct json_object *o = ok_object(), *dm = json_object_new_object();
	struct json_object *fsa = json_object_new_array(), *sa = json_object_new_array();
	struct perm_cache *pc = caller_perm(c);

	if (!is_root(c) && !pc) {
		json_object_put(o);
		json_object_put(dm);
		json_object_put(fsa);
		json_object_put(sa);
		send_error(c, ENOMEM, "out of memory");
		return;
	}
	json_object_object_add(dm, "pid", json_object_new_int(getpid()));
	json_object_object_add(dm, "version", json_object_new_string(FST_VERSION));
	json_object_object_add(
	    dm, "uptime_s",
	    json_object_new_uint64((now_monotonic_ns() - srv->start_ns) / 1000000000ull));
	json_object_object_add(dm, "socket", json_object_new_string(srv->socket_path));
	if (!pc) { /* what only root is told: the state dir, every filesystem's counters */
		json_object_object_add(dm, "state_dir", json_object_new_string(srv->state_dir));
		json_object_object_add(dm, "clients", json_object_new_uint64(srv->n_clients));
		json_object_object_add(dm, "clients_refused", json_object_new_uint64(srv->refused));
		for (struct fsys *fs = tracker_first_fsys(srv->tracker); fs;
		     fs = tracker_next_fsys(fs))
			json_object_array_add(fsa, fs_status_json(fs));
	}
	for (struct scope *s = scope_first(srv->tracker); s; s = scope_next(s)) {
		struct json_object *so;
		struct scope_info si;

		scope_get_info(s, &si);
		if (!scope_visible(c, pc, &si))
			continue;
		so = json_object_new_object();
		json_object_object_add(so, "path", json_object_new_string(si.path));
		json_object_object_add(so, "filesystem", json_object_new_string(si.fs_id));
		json_object_object_add(so, "state",
				       json_object_new_string(scope_state_name(si.state)));
		json_object_object_add(so, "added_seq", json_object_new_uint64(si.added_seq));
		if (si.fs) { /* how far back its tokens are answered */
			struct fsys_horizon h;
			fsys_horizon(si.fs, si.added_seq, si.added_ns, &h);
			json_object_object_add(so, "oldest_exact_seq",
					       json_object_new_uint64(h.exact_seq));
			json_object_object_add(so, "oldest_exact_ns",
					       json_object_new_uint64(h.exact_time_ns));
			json_object_object_add(so, "oldest_widened_seq",
					       json_object_new_uint64(h.widened_seq));
			json_object_object_add(so, "oldest_widened_ns",
					       json_object_new_uint64(h.widened_time_ns));
		}
		if (pc && si.fs) { /* a user learns whether answers on its scope wait */
			struct json_object *f = json_object_new_object();
			json_object_object_add(f, "mount",
					       json_object_new_string(fsys_mount_path(si.fs)));
			json_object_object_add(f, "scan_running",
					       json_object_new_boolean(fsys_busy(si.fs)));
			json_object_object_add(so, "tracking", f);
		}
		json_object_array_add(sa, so);
	}
	perm_cache_free(pc);
	json_object_object_add(o, "daemon", dm);
	json_object_object_add(o, "filesystems", fsa);
	json_object_object_add(o, "scopes", sa);
	send_json(c, o);
}

/* Every string of a request is a C string: a NUL inside one would cut it short. */
static bool strings_are_clean(struct json_object *req)
{
	json_object_object_foreach(req, key, val)
	{
		(void)key;
		if (json_object_is_type(val, json_type_string) &&
		    strlen(json_object_get_string(val)) != (size_t)json_object_get_string_len(val))
			return false;
	}
	return true;
}

/* A request of another front end (server_add_op), or an unknown one. */
static void do_other(struct client *c, const char *op, struct json_object *req)
{
	struct server *srv = c->srv;
	struct json_object *o;

	for (size_t i = 0; i < srv->n_ops; i++) {
		if (strcmp(srv->ops[i].op, op) != 0)
			continue;
		o = srv->ops[i].fn(srv->ops[i].data, &c->caller, req);
		if (o)
			send_json(c, o);
		else
			send_error(c, ENOMEM, "out of memory");
		return;
	}
	send_error(c, EINVAL, "unknown op \"%s\"", op);
}

static void dispatch(struct client *c, struct json_object *req)
{
	struct json_object *v;
	const char *op;

	if (!json_object_is_type(req, json_type_object)) {
		send_error(c, EINVAL, "a request is a JSON object");
		return;
	}
	if (!json_object_object_get_ex(req, "v", &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) != FST_PROTOCOL_VERSION) {
		send_error(c, EPROTO,
			   "this fstrackd speaks protocol version %d; upgrade the client",
			   FST_PROTOCOL_VERSION);
		conn_set_closing(c->conn);
		return;
	}
	if (c->stream_fs) {
		send_error(c, EINVAL, "this connection is a stream; open another for requests");
		return;
	}
	if (!strings_are_clean(req)) {
		send_error(c, EINVAL, "a string in the request contains a NUL byte");
		return;
	}
	op = get_str(req, "op");
	if (!op)
		send_error(c, EINVAL, "the request has no \"op\"");
	else if (!strcmp(op, "hello"))
		do_hello(c);
	else if (!strcmp(op, "watch"))
		do_watch(c, req);
	else if (!strcmp(op, "unwatch"))
		do_unwatch(c, req);
	else if (!strcmp(op, "token"))
		do_token(c, req);
	else if (!strcmp(op, "changes"))
		do_changes(c, req);
	else if (!strcmp(op, "stream"))
		do_stream(c, req);
	else if (!strcmp(op, "status"))
		do_status(c);
	else
		do_other(c, op, req);
}

/*
 * Handle complete lines of the input in[0..len), one after the other,
 * while the client may be answered: not while a request of its waits, nor
 * while its unread output is past OUT_HIGH (it is read from again once
 * that drains). A line longer than REQUEST_MAX is refused and the client
 * closed. Returns the bytes used.
 */
static size_t on_input(void *data, char *in, size_t len, bool *answered)
{
	struct client *c = data;
	size_t off = 0;

	while (!c->pending && conn_may_answer(c->conn)) {
		if (user_over_budget(c)) {
			c->held = true; /* taken up again when the user's answers drain */
			break;
		}
		char *nl = memchr(in + off, '\n', len - off);
		struct json_object *req;
		struct json_tokener *tk;

		/* too long, whether its end came in the same read or not yet */
		if ((nl ? (size_t)(nl - (in + off)) : len - off) > REQUEST_MAX) {
			send_error(c, EINVAL, "request longer than %d bytes", REQUEST_MAX);
			conn_set_closing(c->conn);
			break;
		}
		if (!nl)
			break;
		*nl = '\0';
		tk = json_tokener_new();
		req = tk ? json_tokener_parse_ex(tk, in + off, (int)(nl - (in + off))) : NULL;
		if (!req || json_tokener_get_error(tk) != json_tokener_success)
			send_error(c, EINVAL, "the request is not valid JSON");
		else
			dispatch(c, req);
		json_object_put(req);
		json_tokener_free(tk);
		off = (size_t)(nl - in) + 1;
	}
	/* a partial last line is dropped at EOF */
	*answered = !c->pending && !memchr(in + off, '\n', len - off);
	return off;
}

/* ---- connections -------------------------------------------------------- */

static bool client_waits(void *data)
{
	const struct client *c = data;

	return c->pending; /* a request of its waits for a scan: it is not read from */
}

/* Off the list of clients; its memory is kept until the end of the loop's round. */
static void on_closed(void *data)
{
	struct client *c = data;
	struct client **pp;

	for (pp = &c->srv->clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	c->srv->n_clients--;
}

static void client_free(void *data)
{
	struct client *c = data;

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
	const struct server *srv = data;
	unsigned n = 0;

	for (const struct client *c = srv->clients; c; c = c->next)
		n += c->cred.uid == uid;
	return n;
}

int server_refusal(void *data, char *buf, size_t size, const char *why)
{
	struct server *srv = data;

	srv->refused++;
	return snprintf(buf, size, "{\"v\":%d,\"ok\":false,\"errno\":%d,\"error\":\"%s\"}\n",
			FST_PROTOCOL_VERSION, EAGAIN, why);
}

const char *server_accept(void *data, int fd, const struct ucred *cred,
			  const struct perm_caller *caller)
{
	struct server *srv = data;
	const struct conn_quota lim = {
	    .max = srv->cfg.max_clients,
	    .root_reserve = srv->root_reserve,
	    .max_per_uid = srv->cfg.max_clients_per_uid,
	};
	const char *why = conn_admit(&lim, cred->uid, srv->n_clients, clients_of, srv);
	struct client *c;
	int r;

	if (why)
		return why;
	c = calloc(1, sizeof(*c));
	if (!c)
		return "fstrackd is out of memory";
	c->cred = *cred;
	c->caller = *caller;
	c->srv = srv;
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

/* ---- waiting requests and streams ------------------------------------- */

static void retry_pending(struct client *c)
{
	struct json_object *req = c->pending;

	c->pending = NULL;
	dispatch(c, req);
	json_object_put(req);
	conn_process(c->conn);
}

/* A scan ended (or a filesystem went): parked requests look again. */
static void on_ready(void *data, struct fsys *fs)
{
	struct server *srv = data;
	struct client *c, *next;

	for (c = srv->clients; c; c = next) {
		next = c->next;
		if (c->pending)
			retry_pending(c);
	}
}

static void on_detached(void *data, struct fsys *fs)
{
	struct server *srv = data;
	struct client *c, *next;

	for (c = srv->clients; c; c = next) {
		next = c->next;
		if (c->stream_fs == fs) {
			char tok[TOKEN_MAX];
			fsys_format_token(fs, c->cursor, tok);
			stream_send(c, "gap", NULL, 0, tok);
			c->stream_fs = NULL;
			conn_set_closing(c->conn);
			conn_close_if_sent(c->conn);
		}
	}
	on_ready(data, fs); /* parked requests on it now fail */
}

/* New durable records: streams on fs get them. */
static void on_committed(void *data, struct fsys *fs)
{
	struct server *srv = data;
	struct client *c, *next;
	bool streams = false;

	for (c = srv->clients; c; c = next) {
		struct change_set *cs = NULL;
		struct perm_cache *pc;
		char tok[TOKEN_MAX];
		int r;

		next = c->next;
		if (c->stream_fs != fs || conn_closing(c->conn))
			continue;
		streams = true;
		if (fsys_durable_seq(fs) <= c->cursor)
			continue;
		pc = caller_perm(c);
		r = fsys_query(fs, c->cursor, c->stream_dir, pc, &cs);
		perm_cache_free(pc);
		if (r < 0)
			continue;
		if (out_pending(c) > srv->cfg.stream_buffer_max || user_over_budget(c)) {
			/* It does not keep up: tell it where to resume, and drop it. */
			fsys_format_token(fs, c->cursor, tok);
			stream_send(c, "gap", NULL, 0, tok);
			c->stream_fs = NULL;
			conn_set_closing(c->conn);
		} else {
			fsys_format_token(fs, change_set_end_seq(cs), tok);
			stream_set(c, cs, tok);
			c->cursor = change_set_end_seq(cs);
		}
		change_set_free(cs);
		conn_close_if_sent(c->conn);
	}
	/* Live subscribers want every change, not one per token. */
	if (streams && fsys_new_epoch(fs) < 0)
		on_detached(data, fs); /* the kernel may drop writes: the streams end with "gap" */
}

/*
 * Parked requests whose wait is over are answered now, widened: the whole
 * directory, "recursive", with a new token (what the scan finds later is
 * recorded after it). A user who keeps the event queue overflowing cannot
 * keep others from their answers.
 */
static void on_deadline_tick(void *data)
{
	struct server *srv = data;
	uint64_t now = now_monotonic_ns();
	struct client *c, *next;
	bool parked = false;

	for (c = srv->clients; c; c = next) {
		next = c->next;
		if (!c->pending)
			continue;
		if (now < c->deadline_ns) {
			parked = true;
			continue;
		}
		c->no_wait = true;
		retry_pending(c);
		if (!conn_dead(c->conn))
			c->no_wait = false;
	}
	if (!parked)
		loop_timer_set(srv->deadline_timer, 0);
}

void server_observer(struct server *srv, struct tracker_observer *ret)
{
	*ret = (struct tracker_observer){
	    .data = srv,
	    .committed = on_committed,
	    .ready = on_ready,
	    .detached = on_detached,
	};
}

int server_add_op(struct server *srv, const char *op, server_op_fn fn, void *data)
{
	if (srv->n_ops == SERVER_OPS_MAX)
		return -ENOSPC;
	srv->ops[srv->n_ops].op = op;
	srv->ops[srv->n_ops].fn = fn;
	srv->ops[srv->n_ops].data = data;
	srv->n_ops++;
	return 0;
}

void server_set_tracker(struct server *srv, struct tracker *t)
{
	srv->tracker = t;
}

/* ---- the socket ----------------------------------------------------------- */

int server_new(const struct server_config *cfg, struct loop *loop, struct server **ret)
{
	struct server *srv = calloc(1, sizeof(*srv));
	int r;

	if (!srv)
		return -ENOMEM;
	srv->cfg = *cfg;
	srv->loop = loop;
	if (!srv->cfg.max_clients)
		srv->cfg.max_clients = DEFAULT_MAX_CLIENTS;
	if (srv->cfg.fd_limit > FD_RESERVE && srv->cfg.max_clients > srv->cfg.fd_limit - FD_RESERVE)
		srv->cfg.max_clients = (unsigned)(srv->cfg.fd_limit - FD_RESERVE);
	srv->root_reserve =
	    srv->cfg.max_clients >= 4 * ROOT_RESERVE ? ROOT_RESERVE : srv->cfg.max_clients / 4;
	if (!srv->cfg.max_clients_per_uid)
		srv->cfg.max_clients_per_uid = DEFAULT_MAX_CLIENTS_PER_UID;
	if (!srv->cfg.max_scopes_per_uid)
		srv->cfg.max_scopes_per_uid = DEFAULT_MAX_SCOPES_PER_UID;
	srv->start_ns = now_monotonic_ns();
	srv->socket_path = strdup(cfg->socket_path);
	srv->state_dir = strdup(cfg->state_dir ? cfg->state_dir : "");
	if (!srv->socket_path || !srv->state_dir) {
		server_free(srv);
		return -ENOMEM;
	}
	r = loop_add_timer(loop, 0, on_deadline_tick, srv, &srv->deadline_timer);
	if (r < 0) {
		server_free(srv);
		return r;
	}
	*ret = srv;
	return 0;
}

struct server *server_free(struct server *srv)
{
	if (!srv)
		return NULL;
	while (srv->clients)
		conn_close(srv->clients->conn);
	srv->deadline_timer = loop_del(srv->deadline_timer);
	loop_cancel(srv->loop, &srv->wake_node);
	/* closed clients are freed by the loop at the end of the round */
	free(srv->socket_path);
	free(srv->state_dir);
	free(srv);
	return NULL;
}
