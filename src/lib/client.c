/* SPDX-License-Identifier: MIT */
/*
 * The client side of docs/protocol.md: JSON documents, one per line, over
 * a Unix stream socket. Requests and their responses alternate on one
 * connection until a stream request hands the connection to the stream.
 */
#include "fstrack.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "basic/util.h"

/* A response longer than this is not believed (a changes answer of a few
 * million paths stays well below). */
#define LINE_MAX_BYTES (1024u * 1024u * 1024u)
#define READ_CHUNK 65536

struct fst_client {
	int fd;
	bool broken;	/* transport failed mid-exchange: the peer's state is unknown */
	bool streaming; /* the connection belongs to a stream */
	unsigned timeout_ms;
	uint64_t deadline_ns; /* of the call in progress; 0: none */

	char *buf; /* received bytes: [start, len) not yet consumed */
	size_t start, len, cap;
	size_t scanned; /* [start, scanned) holds no newline */

	char error[1024];
};

static void set_error(fst_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_error(fst_client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
}

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *fst_socket_path(const char *socket_path)
{
	const char *env;

	if (socket_path)
		return socket_path;
	env = getenv(FST_SOCKET_ENV);
	if (env && *env)
		return env;
	return FST_DEFAULT_SOCKET;
}

void fst_connect_strerror(const char *socket_path, int err, char *buf, size_t size)
{
	const char *path = fst_socket_path(socket_path);
	int e = err < 0 ? -err : err;

	if (size == 0)
		return;
	switch (e) {
	case ENOENT:
	case ECONNREFUSED:
		snprintf(buf, size,
			 "cannot connect to fstrackd at %s: %s (is the daemon running? start it "
			 "with 'fstrackd' or 'systemctl start fstrackd')",
			 path, strerror(e));
		break;
	case EACCES:
	case EPERM:
		snprintf(buf, size,
			 "cannot connect to fstrackd at %s: %s (the socket should be mode 0666; "
			 "check the permissions of its directory)",
			 path, strerror(e));
		break;
	case ENAMETOOLONG:
		snprintf(buf, size,
			 "cannot connect to fstrackd at %s: the socket path is longer than a "
			 "Unix socket address allows (%zu bytes); use a shorter --socket path",
			 path, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		break;
	case ENOTSOCK:
		snprintf(buf, size,
			 "cannot connect to fstrackd at %s: not a socket (check --socket or $%s)",
			 path, FST_SOCKET_ENV);
		break;
	default:
		snprintf(buf, size, "cannot connect to fstrackd at %s: %s", path, strerror(e));
		break;
	}
}

/* connect() interrupted by a signal goes on in the background: wait for it. */
static int finish_connect(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	for (;;) {
		int n = poll(&p, 1, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		break;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		return -errno;
	return soerr ? -soerr : 0;
}

int fst_connect(const char *socket_path, fst_client **ret)
{
	const char *path = fst_socket_path(socket_path);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	fst_client *c;
	int fd, r;

	*ret = NULL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = errno == EINTR || errno == EINPROGRESS ? finish_connect(fd) : -errno;
		if (r < 0) {
			close(fd);
			return r;
		}
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	*ret = c;
	return 0;
}

fst_client *fst_client_free(fst_client *c)
{
	if (!c)
		return NULL;
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	free(c);
	return NULL;
}

const char *fst_client_error(const fst_client *c)
{
	if (!c)
		return "no connection to fstrackd";
	return c->error[0] ? c->error : "no error";
}

void fst_client_set_timeout(fst_client *c, unsigned timeout_ms)
{
	c->timeout_ms = timeout_ms;
}

int fst_client_fd(const fst_client *c)
{
	return c->fd;
}

static void call_begin(fst_client *c)
{
	c->error[0] = '\0';
	c->deadline_ns = c->timeout_ms ? monotonic_ns() + (uint64_t)c->timeout_ms * 1000000ull : 0;
}

/* Wait until fd is ready for events, within the call's deadline. */
static int wait_fd(fst_client *c, short events)
{
	struct pollfd p = {.fd = c->fd, .events = events};

	for (;;) {
		int timeout = -1, n;

		if (c->deadline_ns) {
			uint64_t now = monotonic_ns();
			if (now >= c->deadline_ns)
				return -ETIMEDOUT;
			uint64_t left_ms = (c->deadline_ns - now + 999999) / 1000000;
			timeout = left_ms > INT_MAX ? INT_MAX : (int)left_ms;
		}
		n = poll(&p, 1, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ETIMEDOUT;
		return 0;
	}
}

/* The connection can no longer be trusted to be in step with the daemon. */
static int transport_failed(fst_client *c, int r, const char *what)
{
	c->broken = true;
	if (r == -ETIMEDOUT)
		set_error(c, "fstrackd did not answer within %u ms while %s", c->timeout_ms, what);
	else if (r == -ECONNRESET || r == -EPIPE)
		set_error(c, "fstrackd closed the connection while %s (did it stop or crash?)",
			  what);
	else
		set_error(c, "lost the connection to fstrackd while %s: %s", what, strerror(-r));
	return r;
}

/*
 * The daemon may have turned the connection away with one line (too many
 * connections) and closed it before the request went out: that line is
 * the reason to give, not the broken pipe. 0 when none was there.
 */
static int refusal_reason(fst_client *c)
{
	char buf[1024];
	ssize_t n = recv(c->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	json_object *o, *v;
	char *nl;
	int err = 0;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	nl = strchr(buf, '\n');
	if (nl)
		*nl = '\0';
	o = json_tokener_parse(buf);
	if (o && json_object_object_get_ex(o, "error", &v) &&
	    json_object_is_type(v, json_type_string)) {
		set_error(c, "%s", json_object_get_string(v));
		err = EPROTO;
		if (json_object_object_get_ex(o, "errno", &v) && json_object_get_int(v) > 0)
			err = json_object_get_int(v);
	}
	json_object_put(o);
	return -err;
}

static int send_all(fst_client *c, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n;
		int r;

		if (c->deadline_ns) {
			r = wait_fd(c, POLLOUT);
			if (r < 0)
				return transport_failed(c, r, "sending a request");
		}
		n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			r = -errno;
			if (r == -EPIPE || r == -ECONNRESET) {
				int why = refusal_reason(c);
				if (why < 0) {
					c->broken = true;
					return why;
				}
			}
			return transport_failed(c, r, "sending a request");
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Make room for READ_CHUNK more bytes after c->len. */
static int buf_reserve(fst_client *c)
{
	if (c->start > 0) {
		memmove(c->buf, c->buf + c->start, c->len - c->start);
		c->len -= c->start;
		c->scanned -= c->start;
		c->start = 0;
	}
	if (c->cap - c->len < READ_CHUNK) {
		if (c->len >= LINE_MAX_BYTES)
			return -EMSGSIZE;
		if (GROW(c->buf, c->cap, c->len + READ_CHUNK) < 0)
			return -ENOMEM;
	}
	return 0;
}

/*
 * The next complete line, NUL-terminated in place (valid until the next
 * read). Returns 1 with *ret_line set, 0 if !block and no line is complete,
 * or a negative errno.
 */
static int read_line(fst_client *c, bool block, char **ret_line, size_t *ret_len)
{
	for (;;) {
		char *nl = NULL;
		ssize_t n;
		int r;

		if (c->scanned < c->start)
			c->scanned = c->start;
		if (c->scanned < c->len)
			nl = memchr(c->buf + c->scanned, '\n', c->len - c->scanned);
		if (nl) {
			*nl = '\0';
			*ret_line = c->buf + c->start;
			*ret_len = (size_t)(nl - (c->buf + c->start));
			c->start = (size_t)(nl - c->buf) + 1;
			c->scanned = c->start;
			return 1;
		}
		c->scanned = c->len;

		r = buf_reserve(c);
		if (r == -EMSGSIZE) {
			c->broken = true;
			set_error(c, "fstrackd sent a line longer than %u bytes", LINE_MAX_BYTES);
			return r;
		}
		if (r < 0)
			return transport_failed(c, r, "receiving an answer");
		if (block && c->deadline_ns) {
			r = wait_fd(c, POLLIN);
			if (r < 0)
				return transport_failed(c, r, "waiting for an answer");
		}
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, block ? 0 : MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (!block && (errno == EAGAIN || errno == EWOULDBLOCK))
				return 0;
			return transport_failed(c, -errno, "receiving an answer");
		}
		if (n == 0) {
			c->broken = true;
			if (c->len > c->start)
				set_error(
				    c, "fstrackd closed the connection in the middle of an answer");
			else
				set_error(c,
					  "fstrackd closed the connection (did it stop or crash?)");
			return -ECONNRESET;
		}
		c->len += (size_t)n;
	}
}

static int parse_line(fst_client *c, const char *line, size_t len, json_object **ret)
{
	json_tokener *tok = json_tokener_new();
	json_object *o;

	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, line, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		json_tokener_free(tok);
		c->broken = true;
		set_error(c, "fstrackd sent something that is not a JSON object: %.80s", line);
		return -EPROTO;
	}
	json_tokener_free(tok);
	*ret = o;
	return 0;
}

static const char *get_string(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/*
 * Check "v" and "ok" of a response. 0 if ok; the daemon's -errno (its
 * message in c->error) if not.
 */
static int check_response(fst_client *c, json_object *o)
{
	json_object *v, *ok, *e;
	const char *msg;
	int err = EPROTO;

	if (!json_object_object_get_ex(o, "v", &v) || !json_object_is_type(v, json_type_int)) {
		c->broken = true;
		set_error(c, "fstrackd sent a response without a protocol version");
		return -EPROTO;
	}
	if (json_object_get_int64(v) != FST_PROTOCOL_VERSION) {
		c->broken = true;
		set_error(c,
			  "fstrackd speaks protocol version %" PRId64 ", this client speaks %d; "
			  "use an fstrack that matches the daemon",
			  (int64_t)json_object_get_int64(v), FST_PROTOCOL_VERSION);
		return -EPROTO;
	}
	if (!json_object_object_get_ex(o, "ok", &ok) ||
	    !json_object_is_type(ok, json_type_boolean)) {
		c->broken = true;
		set_error(c, "fstrackd sent a response without \"ok\"");
		return -EPROTO;
	}
	if (json_object_get_boolean(ok))
		return 0;

	if (json_object_object_get_ex(o, "errno", &e) && json_object_is_type(e, json_type_int)) {
		int64_t n = json_object_get_int64(e);
		if (n > 0 && n < 4096)
			err = (int)n;
	}
	msg = get_string(o, "error");
	if (msg && *msg)
		set_error(c, "%s", msg);
	else
		set_error(c, "fstrackd refused the request: %s", strerror(err));
	return -err;
}

/* Send request (adding "v") and read one response object into *ret. */
static int exchange(fst_client *c, json_object *req, json_object **ret)
{
	const char *text;
	char *line;
	size_t len;
	int r;

	*ret = NULL;
	call_begin(c);
	if (c->broken) {
		set_error(c, "the connection to fstrackd failed earlier; connect again");
		return -ENOTCONN;
	}
	if (c->streaming) {
		set_error(c, "this connection carries a stream; open another one for requests");
		return -EBUSY;
	}
	if (!json_object_object_get_ex(req, "v", NULL) &&
	    json_object_object_add(req, "v", json_object_new_int(FST_PROTOCOL_VERSION)) < 0)
		return -ENOMEM;
	text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!text)
		return -ENOMEM;
	len = strlen(text);
	if (len >= 64 * 1024) {
		set_error(c, "request too long for the protocol (%zu bytes, limit 64 KiB)", len);
		return -E2BIG;
	}
	r = send_all(c, text, len);
	if (r == 0)
		r = send_all(c, "\n", 1);
	if (r < 0)
		return r;
	r = read_line(c, true, &line, &len);
	if (r < 0)
		return r;
	return parse_line(c, line, len, ret);
}

/* Send req and read a response that says ok (else the daemon's error is set). */
static int call(fst_client *c, json_object *req, json_object **ret_resp)
{
	int r = exchange(c, req, ret_resp);

	return r < 0 ? r : check_response(c, *ret_resp);
}

static json_object *new_request(const char *op)
{
	json_object *req = json_object_new_object();

	if (!req)
		return NULL;
	if (json_object_object_add(req, "v", json_object_new_int(FST_PROTOCOL_VERSION)) < 0 ||
	    json_object_object_add(req, "op", json_object_new_string(op)) < 0) {
		json_object_put(req);
		return NULL;
	}
	return req;
}

static int add_string(json_object *o, const char *key, const char *value)
{
	json_object *s = json_object_new_string(value);

	if (!s)
		return -ENOMEM;
	if (json_object_object_add(o, key, s) < 0) {
		json_object_put(s);
		return -ENOMEM;
	}
	return 0;
}

/*
 * The absolute form of dir: realpath() from the caller's working directory.
 * When dir does not resolve and allow_missing is set (unwatch of a directory
 * that is gone), its plain absolute spelling instead.
 */
static int absolute_dir(fst_client *c, const char *dir, bool allow_missing, char **ret)
{
	char *p;

	if (!dir || !*dir) {
		set_error(c, "no directory given");
		return -EINVAL;
	}
	p = realpath(dir, NULL);
	if (p) {
		*ret = p;
		return 0;
	}
	if (errno == ENOMEM)
		return -ENOMEM;
	if (allow_missing && (errno == ENOENT || errno == ENOTDIR)) {
		char cwd[PATH_MAX];

		if (dir[0] == '/') {
			p = strdup(dir);
		} else {
			if (!getcwd(cwd, sizeof(cwd))) {
				int r = -errno;
				set_error(c, "cannot get the working directory: %s", strerror(-r));
				return r;
			}
			if (asprintf(&p, "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, dir) < 0)
				p = NULL;
		}
		if (!p)
			return -ENOMEM;
		*ret = p;
		return 0;
	}
	int r = -errno;
	set_error(c, "cannot resolve %s: %s", dir, strerror(-r));
	return r;
}

/* A request about one directory; its response in *ret_resp. */
static int path_request(fst_client *c, const char *op, const char *dir, bool allow_missing,
			json_object *extra, json_object **ret_resp)
{
	json_object *req = NULL, *resp = NULL;
	char *abs = NULL;
	int r;

	*ret_resp = NULL;
	c->error[0] = '\0';
	r = absolute_dir(c, dir, allow_missing, &abs);
	if (r < 0)
		goto out;
	req = new_request(op);
	if (!req || add_string(req, "path", abs) < 0) {
		r = -ENOMEM;
		goto out;
	}
	if (extra) {
		json_object_object_foreach(extra, key, val)
		{
			if (json_object_object_add(req, key, json_object_get(val)) < 0) {
				r = -ENOMEM;
				goto out;
			}
		}
	}
	r = call(c, req, &resp);
	if (r < 0)
		goto out;
	*ret_resp = resp;
	resp = NULL;
out:
	json_object_put(resp);
	json_object_put(req);
	free(abs);
	return r;
}

static int take_token(fst_client *c, json_object *resp, char **ret_token)
{
	const char *t = get_string(resp, "token");

	if (!t || !*t) {
		set_error(c, "fstrackd answered without a token");
		return -EPROTO;
	}
	*ret_token = strdup(t);
	return *ret_token ? 0 : -ENOMEM;
}

static int token_op(fst_client *c, const char *op, const char *dir, char **ret_token)
{
	json_object *resp;
	int r;

	*ret_token = NULL;
	r = path_request(c, op, dir, false, NULL, &resp);
	if (r < 0)
		return r;
	r = take_token(c, resp, ret_token);
	json_object_put(resp);
	return r;
}

int fst_watch(fst_client *c, const char *dir, char **ret_token)
{
	return token_op(c, "watch", dir, ret_token);
}

int fst_token(fst_client *c, const char *dir, char **ret_token)
{
	return token_op(c, "token", dir, ret_token);
}

int fst_unwatch(fst_client *c, const char *dir)
{
	json_object *resp;
	int r = path_request(c, "unwatch", dir, true, NULL, &resp);

	json_object_put(resp);
	return r;
}

int fst_hello(fst_client *c, char **ret_version)
{
	json_object *req = new_request("hello"), *resp = NULL, *proto;
	const char *v;
	int r;

	*ret_version = NULL;
	if (!req)
		return -ENOMEM;
	r = call(c, req, &resp);
	if (r < 0)
		goto out;
	if (json_object_object_get_ex(resp, "protocol", &proto) &&
	    json_object_get_int64(proto) != FST_PROTOCOL_VERSION) {
		set_error(c, "fstrackd speaks protocol version %" PRId64 ", this client speaks %d",
			  (int64_t)json_object_get_int64(proto), FST_PROTOCOL_VERSION);
		r = -EPROTO;
		goto out;
	}
	v = get_string(resp, "version");
	*ret_version = strdup(v ? v : "unknown");
	if (!*ret_version)
		r = -ENOMEM;
out:
	json_object_put(resp);
	json_object_put(req);
	return r;
}

/* Kinds from a JSON array of names; an unknown name counts as recursive. */
static unsigned parse_kinds(json_object *arr)
{
	unsigned kinds = 0;

	if (!arr || !json_object_is_type(arr, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *k = json_object_array_get_idx(arr, i);
		unsigned bit = json_object_is_type(k, json_type_string)
				   ? fst_kind_from_name(json_object_get_string(k))
				   : 0;
		kinds |= bit ? bit : FST_RECURSIVE;
	}
	return kinds;
}

struct fst_changes *fst_changes_free(struct fst_changes *ch)
{
	if (!ch)
		return NULL;
	for (size_t i = 0; i < ch->n; i++)
		free(ch->v[i].path);
	free(ch->v);
	free(ch->token);
	free(ch);
	return NULL;
}

static int parse_changes(fst_client *c, json_object *resp, struct fst_changes *ch)
{
	json_object *fresh, *widened, *arr;
	size_t n;
	int r;

	r = take_token(c, resp, &ch->token);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(resp, "fresh", &fresh) ||
	    !json_object_is_type(fresh, json_type_boolean)) {
		set_error(c, "fstrackd answered changes without \"fresh\"");
		return -EPROTO;
	}
	ch->fresh = json_object_get_boolean(fresh);
	if (json_object_object_get_ex(resp, "widened", &widened))
		ch->widened = json_object_get_boolean(widened);
	if (!json_object_object_get_ex(resp, "changes", &arr) || !arr) {
		if (ch->fresh)
			return 0;
		set_error(c, "fstrackd answered changes without \"changes\"");
		return -EPROTO;
	}
	if (!json_object_is_type(arr, json_type_array)) {
		set_error(c, "fstrackd sent \"changes\" that is not an array");
		return -EPROTO;
	}
	n = json_object_array_length(arr);
	if (n == 0)
		return 0;
	ch->v = calloc(n, sizeof(*ch->v));
	if (!ch->v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i), *kinds = NULL;
		const char *path =
		    json_object_is_type(e, json_type_object) ? get_string(e, "path") : NULL;

		if (!path || !*path) {
			set_error(c, "fstrackd sent a change without a path");
			return -EPROTO;
		}
		json_object_object_get_ex(e, "kinds", &kinds);
		ch->v[ch->n].path = strdup(path);
		if (!ch->v[ch->n].path)
			return -ENOMEM;
		ch->v[ch->n].kinds = parse_kinds(kinds);
		ch->n++;
	}
	return 0;
}

int fst_changes(fst_client *c, const char *dir, const char *since, unsigned wait_ms,
		struct fst_changes **ret)
{
	json_object *extra = json_object_new_object(), *resp = NULL;
	struct fst_changes *ch = NULL;
	int r;

	*ret = NULL;
	if (!extra)
		return -ENOMEM;
	if (!since) {
		set_error(c, "no token given");
		r = -EINVAL;
		goto out;
	}
	r = add_string(extra, "since", since);
	if (r == 0 && wait_ms &&
	    json_object_object_add(extra, "wait_ms", json_object_new_int64(wait_ms)) < 0)
		r = -ENOMEM;
	if (r < 0)
		goto out;
	r = path_request(c, "changes", dir, false, extra, &resp);
	if (r < 0)
		goto out;
	ch = calloc(1, sizeof(*ch));
	if (!ch) {
		r = -ENOMEM;
		goto out;
	}
	r = parse_changes(c, resp, ch);
	if (r < 0)
		goto out;
	*ret = ch;
	ch = NULL;
out:
	fst_changes_free(ch);
	json_object_put(resp);
	json_object_put(extra);
	return r;
}

int fst_status_json(fst_client *c, char **ret_json)
{
	json_object *req = new_request("status"), *resp = NULL;
	const char *text;
	int r;

	*ret_json = NULL;
	if (!req)
		return -ENOMEM;
	r = call(c, req, &resp);
	if (r < 0)
		goto out;
	json_object_object_del(resp, "v");
	json_object_object_del(resp, "ok");
	text = json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PLAIN |
							JSON_C_TO_STRING_NOSLASHESCAPE);
	*ret_json = text ? strdup(text) : NULL;
	if (!*ret_json)
		r = -ENOMEM;
out:
	json_object_put(resp);
	json_object_put(req);
	return r;
}

int fst_request_raw(fst_client *c, const char *request_json, char **ret_response)
{
	json_tokener *tok;
	json_object *req, *resp = NULL;
	const char *text;
	int r;

	*ret_response = NULL;
	c->error[0] = '\0';
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	req = json_tokener_parse_ex(tok, request_json, (int)strlen(request_json));
	if (!req || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(req, json_type_object)) {
		json_object_put(req);
		json_tokener_free(tok);
		set_error(c, "the request is not a JSON object");
		return -EINVAL;
	}
	json_tokener_free(tok);
	r = exchange(c, req, &resp);
	if (r == 0) {
		text = json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PLAIN |
								JSON_C_TO_STRING_NOSLASHESCAPE);
		*ret_response = text ? strdup(text) : NULL;
		if (!*ret_response)
			r = -ENOMEM;
	}
	json_object_put(resp);
	json_object_put(req);
	return r;
}

int fst_stream_start(fst_client *c, const char *dir, const char *since)
{
	json_object *req = NULL;
	char *abs = NULL;
	const char *text;
	int r;

	c->error[0] = '\0';
	if (c->broken) {
		set_error(c, "the connection to fstrackd failed earlier; connect again");
		return -ENOTCONN;
	}
	if (c->streaming) {
		set_error(c, "this connection already carries a stream");
		return -EBUSY;
	}
	if (!since) {
		set_error(c, "no token given");
		return -EINVAL;
	}
	r = absolute_dir(c, dir, false, &abs);
	if (r < 0)
		return r;
	req = new_request("stream");
	if (!req || add_string(req, "path", abs) < 0 || add_string(req, "since", since) < 0) {
		r = -ENOMEM;
		goto out;
	}
	text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!text) {
		r = -ENOMEM;
		goto out;
	}
	call_begin(c);
	r = send_all(c, text, strlen(text));
	if (r == 0)
		r = send_all(c, "\n", 1);
	if (r == 0)
		c->streaming = true;
out:
	json_object_put(req);
	free(abs);
	return r;
}

void fst_stream_event_release(struct fst_stream_event *ev)
{
	if (!ev)
		return;
	free(ev->path);
	free(ev->token);
	free(ev->json);
	memset(ev, 0, sizeof(*ev));
}

static int fill_event(fst_client *c, json_object *o, const char *line, size_t len,
		      struct fst_stream_event *ev)
{
	static const struct {
		const char *name;
		enum fst_stream_type type;
	} types[] = {
	    {"change", FST_STREAM_CHANGE},
	    {"history_done", FST_STREAM_HISTORY_DONE},
	    {"gap", FST_STREAM_GAP},
	    {"fresh", FST_STREAM_FRESH},
	};
	const char *name = get_string(o, "event"), *s;
	json_object *kinds = NULL;

	memset(ev, 0, sizeof(*ev));
	ev->type = FST_STREAM_OTHER;
	for (size_t i = 0; name && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(name, types[i].name) == 0)
			ev->type = types[i].type;
	ev->json = strndup(line, len);
	if (!ev->json)
		return -ENOMEM;
	s = get_string(o, "token");
	if (s && !(ev->token = strdup(s)))
		goto nomem;
	s = get_string(o, "path");
	if (s && !(ev->path = strdup(s)))
		goto nomem;
	json_object_object_get_ex(o, "kinds", &kinds);
	ev->kinds = parse_kinds(kinds);
	if (ev->type == FST_STREAM_CHANGE && (!ev->path || !ev->token)) {
		fst_stream_event_release(ev);
		set_error(c, "fstrackd sent a change event without a path or token");
		return -EPROTO;
	}
	if (ev->type != FST_STREAM_CHANGE && ev->type != FST_STREAM_OTHER && !ev->token) {
		fst_stream_event_release(ev);
		set_error(c, "fstrackd sent a %s event without a token", name);
		return -EPROTO;
	}
	return 0;
nomem:
	fst_stream_event_release(ev);
	return -ENOMEM;
}

int fst_stream_next(fst_client *c, bool block, struct fst_stream_event *ev)
{
	json_object *o = NULL;
	char *line;
	size_t len;
	int r;

	memset(ev, 0, sizeof(*ev));
	if (!c->streaming) {
		set_error(c, "no stream was started on this connection");
		return -EINVAL;
	}
	if (c->broken) {
		set_error(c, "the stream from fstrackd ended or failed earlier");
		return -ENOTCONN;
	}
	c->error[0] = '\0';
	c->deadline_ns = 0; /* a stream may be quiet for as long as nothing changes */
	r = read_line(c, block, &line, &len);
	if (r <= 0)
		return r;
	r = parse_line(c, line, len, &o);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(o, "event", NULL)) {
		/* not an event: a response, which here means a refusal */
		r = check_response(c, o);
		if (r == 0) {
			set_error(c, "fstrackd answered the stream request with neither events "
				     "nor an error");
			r = -EPROTO;
		}
		c->broken = true;
		json_object_put(o);
		return r;
	}
	r = fill_event(c, o, line, len, ev);
	json_object_put(o);
	return r < 0 ? r : 1;
}
