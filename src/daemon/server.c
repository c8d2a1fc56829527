/* SPDX-License-Identifier: MIT */
/*
 * server: the Unix socket, its clients, and the requests of
 * docs/protocol.md (JSON, one document per line). Each client has an input
 * and an output buffer; nothing here blocks: a slow reader only grows its
 * own output buffer, and a stream subscriber that lags past its bound is
 * told "gap" and dropped. Every request is checked against the caller's
 * SO_PEERCRED credentials.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/token.h"
#include "basic/util.h"
#include "daemon/daemon.h"
#include "fstrack.h"

#define REQUEST_MAX (64 * 1024)

struct client {
	struct client *next;
	struct daemon *d;
	int fd;
	struct ev_tag tag;
	struct ucred cred;
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_len, out_off, out_cap;
	bool want_out;	 /* EPOLLOUT registered */
	bool closing;	 /* close once the output is sent */
	bool dead;	 /* closed; freed by server_reap() */
	/* a changes/stream request waiting for a catch-up scan */
	struct json_object *pending;
	uint64_t deadline_ns;
	/* a stream subscriber */
	struct fsys *stream_fs;
	char stream_dir[PATH_MAX];
	uint64_t cursor;
};

/* ---- output ------------------------------------------------------------- */

static void client_update_events(struct client *c)
{
	bool want = c->out_len > c->out_off;
	struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = &c->tag};

	if (want == c->want_out)
		return;
	if (epoll_ctl(c->d->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->want_out = want;
}

static void client_flush(struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				c->closing = true, c->out_off = c->out_len; /* peer gone */
			break;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	client_update_events(c);
}

static int client_write(struct client *c, const char *text, size_t len)
{
	if (c->out_len + len + 1 > c->out_cap) {
		size_t ncap = c->out_cap ? c->out_cap : 4096;
		char *nb;
		while (ncap < c->out_len + len + 1)
			ncap *= 2;
		nb = realloc(c->out, ncap);
		if (!nb)
			return -ENOMEM;
		c->out = nb;
		c->out_cap = ncap;
	}
	memcpy(c->out + c->out_len, text, len);
	c->out_len += len;
	c->out[c->out_len++] = '\n';
	return 0;
}

static void send_json(struct client *c, struct json_object *o)
{
	const char *text;
	size_t len;

	json_object_object_add(o, "v", json_object_new_int(FST_PROTOCOL_VERSION));
	text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	if (client_write(c, text, len) < 0)
		c->closing = true;
	json_object_put(o);
	client_flush(c);
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

struct target {
	struct fsys *fs;
	struct scope *scope;
	char canon[PATH_MAX];
};

/*
 * Find the tracked filesystem, the scope and the canonical path of the
 * request's directory, checking the caller may list it. Sends the error.
 */
static int resolve_target(struct client *c, const char *path, struct target *t)
{
	struct daemon *d = c->d;
	struct stat st;
	int fd, r;

	if (!path || path[0] != '/') {
		send_error(c, EINVAL, "the request needs an absolute \"path\"");
		return -EINVAL;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		send_error(c, r, "cannot open %s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		safe_close(fd);
		send_error(c, r, "cannot stat %s: %s", path, strerror(-r));
		return r;
	}
	t->fs = fsys_find(d, fd);
	if (!t->fs) {
		safe_close(fd);
		send_error(c, ENOENT, "%s is not watched: run 'fstrack watch %s' first", path, path);
		return -ENOENT;
	}
	r = query_canonical_dir(t->fs, fd, t->canon, sizeof(t->canon));
	safe_close(fd);
	if (r < 0) {
		send_error(c, r, "cannot resolve %s through %s: %s", path, t->fs->mount_path,
			   strerror(-r));
		return r;
	}
	if (c->cred.uid != 0) {
		struct perm_cache *pc = perm_cache_new(c->cred.uid, c->cred.gid, c->cred.pid);
		bool ok = pc && perm_can_list(pc, t->canon);
		perm_cache_free(pc);
		if (!ok) {
			send_error(c, EACCES, "%s: permission denied (you must be able to list it)",
				   path);
			return -EACCES;
		}
	}
	t->scope = scope_find_for(d, t->fs, t->canon, false);
	if (!t->scope) {
		send_error(c, ENOENT, "%s is not watched: run 'fstrack watch %s' first", path, path);
		return -ENOENT;
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

static void send_token(struct client *c, struct fsys *fs)
{
	char tok[TOKEN_MAX];
	int r = fsys_token(fs, tok);
	struct json_object *o;

	if (r < 0) {
		send_error(c, r, "cannot make the journal of %s durable: %s", fs->mount_path,
			   strerror(-r));
		return;
	}
	o = ok_object();
	json_object_object_add(o, "token", json_object_new_string(tok));
	send_json(c, o);
}

static void do_watch(struct client *c, struct json_object *req)
{
	const char *path = get_str(req, "path");
	struct scope *s;
	char err[1024];
	int r;

	if (!path || path[0] != '/') {
		send_error(c, EINVAL, "the request needs an absolute \"path\"");
		return;
	}
	if (c->cred.uid != 0) {
		struct perm_cache *pc = perm_cache_new(c->cred.uid, c->cred.gid, c->cred.pid);
		bool ok = pc && perm_can_list(pc, path);
		perm_cache_free(pc);
		if (!ok) {
			send_error(c, EACCES, "%s: permission denied (you must be able to list it)",
				   path);
			return;
		}
	}
	r = scope_add(c->d, path, err, sizeof(err), &s);
	if (r < 0) {
		send_error(c, r, "%s", err);
		return;
	}
	send_token(c, s->fs);
}

static void do_unwatch(struct client *c, struct json_object *req)
{
	const char *path = get_str(req, "path");
	struct target t;
	struct stat st;

	/* A scope whose directory is gone (vanished, missing) goes by its path. */
	for (struct scope *s = c->d->scopes; path && s; s = s->next) {
		char now[PATH_MAX];

		if (strcmp(s->path, path) != 0)
			continue;
		if (s->state == SCOPE_ACTIVE && fsys_resolve(s->fs, &s->handle, now, sizeof(now)) == 0)
			break; /* alive: the checks below apply */
		if (c->cred.uid != 0) {
			send_error(c, EPERM, "only root may unwatch %s: its directory is gone", path);
			return;
		}
		scope_remove(c->d, s);
		send_json(c, ok_object());
		return;
	}
	if (resolve_target(c, path, &t) < 0)
		return;
	t.scope = scope_find_for(c->d, t.fs, t.canon, true);
	if (!t.scope) {
		send_error(c, ENOENT, "%s is not a watched directory itself (see 'fstrack status')",
			   t.canon);
		return;
	}
	if (c->cred.uid != 0 && (stat(t.canon, &st) < 0 || st.st_uid != c->cred.uid)) {
		send_error(c, EPERM, "only root or the owner of %s may unwatch it", t.canon);
		return;
	}
	scope_remove(c->d, t.scope);
	send_json(c, ok_object());
}

static void do_token(struct client *c, struct json_object *req)
{
	struct target t;

	if (resolve_target(c, get_str(req, "path"), &t) < 0)
		return;
	send_token(c, t.fs);
}

/* Can the token be answered from the journal, or only with "fresh"? */
static bool token_is_fresh(const struct target *t, const struct token *tk)
{
	struct journal *j = t->fs->journal;

	if (memcmp(tk->uuid, journal_uuid(j), 16) != 0)
		return true; /* another journal instance */
	if (tk->seq > journal_next_seq(j))
		return true; /* a position this journal never handed out */
	if (tk->seq < t->scope->added_seq)
		return true; /* the scope was not watched back then */
	if (tk->seq < t->fs->fresh_before_seq)
		return true; /* a gap no scan could repair */
	return !journal_range_intact(j, tk->seq);
}

static void park(struct client *c, struct json_object *req)
{
	struct json_object *w;
	unsigned wait_ms = c->d->cfg.query_wait_ms;

	if (json_object_object_get_ex(req, "wait_ms", &w) && json_object_get_int64(w) >= 0)
		wait_ms = (unsigned)json_object_get_int64(w);
	c->pending = json_object_get(req);
	c->deadline_ns = now_monotonic_ns() + (uint64_t)wait_ms * 1000000ull;
}

/*
 * changes and stream share this: validate, wait for a scan, issue the new
 * token, compute the set. Returns 1 when the answer is ready in *ret_cs /
 * *ret_fresh, 0 when parked, < 0 when an error was sent.
 */
static int prepare_answer(struct client *c, struct json_object *req, struct target *t,
			  char tok[TOKEN_MAX], bool *ret_fresh, struct change_set **ret_cs)
{
	const char *since = get_str(req, "since");
	struct token tk;
	struct query_opts qo = {.uid = c->cred.uid, .gid = c->cred.gid, .pid = c->cred.pid};
	int r;

	if (!since || token_parse(since, &tk) < 0) {
		send_error(c, EINVAL, "\"%s\" is not a token (tokens look like fst1:<uuid>:<seq>)",
			   since ? since : "");
		return -EINVAL;
	}
	if (resolve_target(c, get_str(req, "path"), t) < 0)
		return -EINVAL;
	if (fsys_scan_busy(t->fs)) {
		park(c, req);
		return 0;
	}
	r = fsys_token(t->fs, tok);
	if (r < 0) {
		send_error(c, r, "cannot make the journal of %s durable: %s", t->fs->mount_path,
			   strerror(-r));
		return r;
	}
	*ret_cs = NULL;
	*ret_fresh = token_is_fresh(t, &tk);
	if (*ret_fresh)
		return 1;
	r = query_changes(t->fs, tk.seq, t->canon, &qo, ret_cs);
	if (r == -EBADMSG) {
		/* the journal changed under us: it now knows the damaged range */
		*ret_fresh = token_is_fresh(t, &tk);
		if (*ret_fresh)
			return 1;
	}
	if (r < 0) {
		send_error(c, r, "cannot read the journal of %s: %s", t->fs->mount_path,
			   strerror(-r));
		return r;
	}
	return 1;
}

static void do_changes(struct client *c, struct json_object *req)
{
	struct target t;
	char tok[TOKEN_MAX];
	bool fresh;
	struct change_set *cs;
	struct json_object *o, *arr;

	if (prepare_answer(c, req, &t, tok, &fresh, &cs) <= 0)
		return;
	o = ok_object();
	arr = json_object_new_array();
	json_object_object_add(o, "token", json_object_new_string(tok));
	json_object_object_add(o, "fresh", json_object_new_boolean(fresh));
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
	bool fresh;
	struct change_set *cs;
	struct token tk;

	if (prepare_answer(c, req, &t, tok, &fresh, &cs) <= 0)
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

static void do_status(struct client *c)
{
	struct daemon *d = c->d;
	struct json_object *o = ok_object(), *dm = json_object_new_object();
	struct json_object *fsa = json_object_new_array(), *sa = json_object_new_array();

	json_object_object_add(dm, "pid", json_object_new_int(d->pid));
	json_object_object_add(dm, "version", json_object_new_string(FST_VERSION));
	json_object_object_add(dm, "uptime_s",
			       json_object_new_uint64((now_monotonic_ns() - d->start_ns) /
						      1000000000ull));
	json_object_object_add(dm, "state_dir", json_object_new_string(d->cfg.state_dir));
	json_object_object_add(dm, "socket", json_object_new_string(d->cfg.socket_path));
	for (struct fsys *fs = d->filesystems; fs; fs = fs->next) {
		struct json_object *f = json_object_new_object(), *sc = json_object_new_object();
		struct journal_stats js;
		struct scan_progress pr = fs->scan_done_total;
		char uuid[33];

		journal_get_stats(fs->journal, &js);
		journal_uuid_hex(fs->journal, uuid);
		if (fs->scan) {
			struct scan_progress now;
			scan_get_progress(fs->scan, &now);
			pr.dirs += now.dirs;
			pr.inodes += now.inodes;
			pr.emitted += now.emitted;
			pr.errors += now.errors;
		}
		json_object_object_add(f, "id", json_object_new_string(fs->id));
		json_object_object_add(f, "mount", json_object_new_string(fs->mount_path));
		json_object_object_add(f, "fstype", json_object_new_string(fs->fstype));
		json_object_object_add(f, "journal_uuid", json_object_new_string(uuid));
		json_object_object_add(f, "journal_bytes", json_object_new_uint64(js.bytes));
		json_object_object_add(f, "journal_segments", json_object_new_uint64(js.segments));
		json_object_object_add(f, "first_seq", json_object_new_uint64(js.first_seq));
		json_object_object_add(f, "next_seq", json_object_new_uint64(js.next_seq));
		json_object_object_add(f, "bad_ranges", json_object_new_uint64(js.bad_ranges));
		json_object_object_add(f, "events_seen", json_object_new_uint64(fs->events_seen));
		json_object_object_add(f, "events_own", json_object_new_uint64(fs->events_own));
		json_object_object_add(f, "records_written",
				       json_object_new_uint64(fs->records_written));
		json_object_object_add(f, "overflows", json_object_new_uint64(fs->overflows));
		json_object_object_add(f, "commit_errors",
				       json_object_new_uint64(fs->commit_errors));
		json_object_object_add(f, "watermark_ns", json_object_new_uint64(js.watermark_ns));
		json_object_object_add(f, "recorder_entries",
				       json_object_new_uint64(hashmap_size(fs->recorded)));
		json_object_object_add(sc, "running", json_object_new_boolean(fsys_scan_busy(fs)));
		json_object_object_add(sc, "dirs", json_object_new_uint64(pr.dirs));
		json_object_object_add(sc, "inodes", json_object_new_uint64(pr.inodes));
		json_object_object_add(sc, "emitted", json_object_new_uint64(pr.emitted));
		json_object_object_add(sc, "errors", json_object_new_uint64(pr.errors));
		json_object_object_add(sc, "last_duration_ms",
				       json_object_new_uint64(fs->last_scan_duration_ns / 1000000));
		json_object_object_add(f, "scan", sc);
		json_object_array_add(fsa, f);
	}
	for (struct scope *s = d->scopes; s; s = s->next) {
		struct json_object *so = json_object_new_object();
		json_object_object_add(so, "path", json_object_new_string(s->path));
		json_object_object_add(so, "filesystem", json_object_new_string(s->fs_id));
		const char *state = s->state == SCOPE_ACTIVE ? "active" : "missing";
		char now[PATH_MAX];

		/* active, but its directory was deleted (or replaced) since */
		if (s->state == SCOPE_ACTIVE && fsys_resolve(s->fs, &s->handle, now, sizeof(now)) < 0)
			state = "vanished";
		json_object_object_add(so, "state", json_object_new_string(state));
		json_object_object_add(so, "added_seq", json_object_new_uint64(s->added_seq));
		json_object_array_add(sa, so);
	}
	json_object_object_add(o, "daemon", dm);
	json_object_object_add(o, "filesystems", fsa);
	json_object_object_add(o, "scopes", sa);
	send_json(c, o);
}

static void dispatch(struct client *c, struct json_object *req)
{
	struct json_object *v;
	const char *op;

	if (!json_object_is_type(req, json_type_object)) {
		send_error(c, EINVAL, "a request is a JSON object");
		return;
	}
	if (!json_object_object_get_ex(req, "v", &v) ||
	    json_object_get_int(v) != FST_PROTOCOL_VERSION) {
		send_error(c, EPROTO, "this fstrackd speaks protocol version %d; upgrade the client",
			   FST_PROTOCOL_VERSION);
		c->closing = true;
		return;
	}
	if (c->stream_fs) {
		send_error(c, EINVAL, "this connection is a stream; open another for requests");
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
		send_error(c, EINVAL, "unknown op \"%s\"", op);
}

/* Handle complete lines in the input buffer (not while a request waits). */
static void process_input(struct client *c)
{
	size_t off = 0;

	while (!c->pending && !c->closing) {
		char *nl = memchr(c->in + off, '\n', c->in_len - off);
		struct json_object *req;
		struct json_tokener *tk;

		if (!nl)
			break;
		*nl = '\0';
		tk = json_tokener_new();
		req = tk ? json_tokener_parse_ex(tk, c->in + off, (int)(nl - (c->in + off))) : NULL;
		if (!req || json_tokener_get_error(tk) != json_tokener_success)
			send_error(c, EINVAL, "the request is not valid JSON");
		else
			dispatch(c, req);
		json_object_put(req);
		json_tokener_free(tk);
		off = (size_t)(nl - c->in) + 1;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
}

/* ---- connections -------------------------------------------------------- */

/*
 * Close a client. Its memory is kept until server_reap() at the end of the
 * loop's round: epoll events of the same round may still point at it.
 */
static void client_free(struct client *c)
{
	struct client **pp;

	for (pp = &c->d->clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	daemon_epoll_del(c->d, c->fd);
	c->fd = safe_close(c->fd);
	c->dead = true;
	c->next = c->d->dead_clients;
	c->d->dead_clients = c;
}

void server_reap(struct daemon *d)
{
	while (d->dead_clients) {
		struct client *c = d->dead_clients;

		d->dead_clients = c->next;
		json_object_put(c->pending);
		free(c->in);
		free(c->out);
		free(c);
	}
}

void server_client_event(struct daemon *d, struct client *c, uint32_t events)
{
	if (c->dead)
		return;
	if (events & EPOLLOUT)
		client_flush(c);
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		for (;;) {
			ssize_t n;
			if (c->in_cap - c->in_len < 4096) {
				size_t ncap = c->in_cap ? c->in_cap * 2 : 8192;
				char *nb;
				if (ncap > REQUEST_MAX + 8192) {
					send_error(c, EINVAL, "request longer than %d bytes",
						   REQUEST_MAX);
					c->closing = true;
					break;
				}
				nb = realloc(c->in, ncap);
				if (!nb) {
					c->closing = true;
					break;
				}
				c->in = nb;
				c->in_cap = ncap;
			}
			n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				break;
			if (n <= 0) {
				/* EOF: answer what is complete, then go */
				process_input(c);
				client_free(c);
				return;
			}
			c->in_len += (size_t)n;
		}
		process_input(c);
	}
	if (c->closing && c->out_len == c->out_off)
		client_free(c);
}

void server_accept(struct daemon *d)
{
	for (;;) {
		int fd = accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct client *c;
		socklen_t len;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_errno(LOG_LEVEL_WARN, -errno, "accept");
			return;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			safe_close(fd);
			continue;
		}
		len = sizeof(c->cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) < 0) {
			log_errno(LOG_LEVEL_WARN, -errno, "SO_PEERCRED");
			safe_close(fd);
			free(c);
			continue;
		}
		c->d = d;
		c->fd = fd;
		c->tag = (struct ev_tag){EV_CLIENT, c};
		if (daemon_epoll_add(d, fd, EPOLLIN, &c->tag) < 0) {
			safe_close(fd);
			free(c);
			continue;
		}
		c->next = d->clients;
		d->clients = c;
	}
}

int server_open(struct daemon *d)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char dir[PATH_MAX];
	char *slash;
	int fd, r;

	if (strlen(d->cfg.socket_path) >= sizeof(sa.sun_path))
		return log_errno(LOG_LEVEL_ERR, -ENAMETOOLONG, "socket path %s",
				 d->cfg.socket_path);
	snprintf(dir, sizeof(dir), "%s", d->cfg.socket_path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		r = mkdir_p(dir, 0755);
		if (r < 0)
			return log_errno(LOG_LEVEL_ERR, r, "cannot create %s", dir);
	}
	strcpy(sa.sun_path, d->cfg.socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return log_errno(LOG_LEVEL_ERR, -errno, "socket");
	/* Refuse to steal the socket of a running daemon. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		safe_close(fd);
		log_error("another fstrackd answers on %s; stop it first", d->cfg.socket_path);
		return -EADDRINUSE;
	}
	safe_close(fd);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return log_errno(LOG_LEVEL_ERR, -errno, "socket");
	unlink(sa.sun_path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(sa.sun_path, 0666) < 0 ||
	    listen(fd, 128) < 0) {
		r = -errno;
		safe_close(fd);
		return log_errno(LOG_LEVEL_ERR, r, "cannot listen on %s", d->cfg.socket_path);
	}
	d->listen_fd = fd;
	return 0;
}

void server_close_all(struct daemon *d)
{
	while (d->clients)
		client_free(d->clients);
	server_reap(d);
	if (d->listen_fd >= 0) {
		unlink(d->cfg.socket_path);
		d->listen_fd = safe_close(d->listen_fd);
	}
}

/* ---- waiting requests and streams ------------------------------------- */

static bool fs_alive(struct daemon *d, struct fsys *fs)
{
	for (struct fsys *f = d->filesystems; f; f = f->next)
		if (f == fs)
			return true;
	return false;
}

static void retry_pending(struct client *c)
{
	struct json_object *req = c->pending;

	c->pending = NULL;
	dispatch(c, req);
	json_object_put(req);
	process_input(c);
}

void server_fs_ready(struct daemon *d, struct fsys *fs)
{
	bool alive = fs_alive(d, fs);
	struct client *c = d->clients, *next;

	for (; c; c = next) {
		next = c->next;
		if (c->pending)
			retry_pending(c);
		if (c->stream_fs == fs && !alive) {
			char tok[TOKEN_MAX];
			struct token tk = {.seq = c->cursor};
			memcpy(tk.uuid, journal_uuid(fs->journal), 16);
			token_format(&tk, tok);
			stream_send(c, "gap", NULL, 0, tok);
			c->stream_fs = NULL;
			c->closing = true;
		}
		if (c->closing && c->out_len == c->out_off)
			client_free(c);
	}
}

bool server_busy(struct daemon *d)
{
	for (struct client *c = d->clients; c; c = c->next)
		if (c->pending || c->stream_fs)
			return true;
	return false;
}

void server_tick(struct daemon *d)
{
	uint64_t now = now_monotonic_ns();
	struct client *c = d->clients, *next;

	for (; c; c = next) {
		next = c->next;
		if (!c->pending || now < c->deadline_ns)
			continue;
		json_object_put(c->pending);
		c->pending = NULL;
		send_error(c, EAGAIN,
			   "a catch-up scan is still running; try again later (see 'fstrack "
			   "status') or wait longer");
		process_input(c);
	}
}

void server_after_commit(struct daemon *d, struct fsys *fs)
{
	struct client *c = d->clients, *next;
	bool streams = false;

	for (; c; c = next) {
		struct change_set *cs = NULL;
		struct query_opts qo;
		char tok[TOKEN_MAX];
		struct token tk;

		next = c->next;
		if (c->stream_fs != fs || c->closing)
			continue;
		streams = true;
		if (journal_durable_seq(fs->journal) <= c->cursor)
			continue;
		qo = (struct query_opts){.uid = c->cred.uid, .gid = c->cred.gid, .pid = c->cred.pid};
		memcpy(tk.uuid, journal_uuid(fs->journal), 16);
		if (query_changes(fs, c->cursor, c->stream_dir, &qo, &cs) < 0)
			continue;
		tk.seq = change_set_end_seq(cs);
		token_format(&tk, tok);
		if (c->out_len - c->out_off > d->cfg.stream_buffer_max) {
			/* It does not keep up: tell it where to resume, and drop it. */
			tk.seq = c->cursor;
			token_format(&tk, tok);
			stream_send(c, "gap", NULL, 0, tok);
			c->stream_fs = NULL;
			c->closing = true;
		} else {
			stream_set(c, cs, tok);
			c->cursor = tk.seq;
		}
		change_set_free(cs);
		if (c->closing && c->out_len == c->out_off)
			client_free(c);
	}
	/* Live subscribers want every change, not one per token. */
	if (streams)
		fsys_new_epoch(fs);
}
