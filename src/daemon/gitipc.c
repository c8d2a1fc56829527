/* SPDX-License-Identifier: MIT */
/*
 * gitipc: fstrackd answers git's builtin fsmonitor protocol (see gitipc.h).
 *
 * git's side, as found in git v2.55.0:
 *
 *  - With core.fsmonitor = true (fsmonitor-settings.c:119-126) git asks
 *    over IPC (fsmonitor.c:536-570): it sends the token of its index, or
 *    "builtin:fake" when it has none, and reads the answer: the new token,
 *    a NUL, then NUL-terminated paths; a first path "/" is the trivial
 *    answer, everything may have changed. Any failure counts as trivial
 *    and the index gets the token "builtin:fake". The answer is the hook's
 *    (version 2) answer byte for byte, so it is src/gitfsm's.
 *  - The socket (compat/fsmonitor/fsm-ipc-unix.c:14-35) is
 *    "fsmonitor--daemon.ipc" in the git directory of the work tree (the
 *    per-worktree one: .git/worktrees/NAME for a linked work tree), unless
 *    that directory is on a network filesystem (fsm-path-utils-linux.c:
 *    42-56: cifs, smb, smb2, nfs, afs, coda, fuse), where git uses
 *    fsmonitor.socketDir or ~/.git-fsmonitor-<sha1 of the work tree>
 *    (fsm-ipc-unix.c:37-55). The command finds the path with
 *    "git rev-parse --git-path" and refuses the network case. A remote
 *    work tree is refused by git itself unless fsmonitor.allowRemote
 *    (fsmonitor-settings.c:44-62).
 *  - Simple IPC over a Unix stream socket (compat/simple-ipc/
 *    ipc-unix-socket.c): the client connects, retrying ECONNREFUSED for up
 *    to 1 s (89-135, 151), writes the request as pkt-lines and a flush
 *    (192-215), and reads pkt-lines up to a flush (210-215). The server
 *    reads one request up to a flush (513-549), answers in pkt-lines of at
 *    most 65516 bytes of data (pkt-line.c:317-337, pkt-line.h:233-234),
 *    ends with a flush and closes. A connection that sends nothing is a
 *    probe ("is anyone there?", ipc_get_active_state, 18-74).
 *  - Who answers (fsmonitor-ipc.c:73-142): when nobody listens on the
 *    socket (no file, or ECONNREFUSED after the retries) git runs
 *    "git fsmonitor--daemon start" once and asks again; otherwise it takes
 *    the answer of whoever listens.
 *  - The builtin daemon (builtin/fsmonitor--daemon.c:677-930): "quit"
 *    stops it (no data, only the flush the IPC layer sends, 536, and
 *    "git fsmonitor--daemon stop" then waits up to 30 s for the socket to
 *    stop answering, 85-113); "flush" drops its history and answers
 *    trivially with a new token; anything not "builtin:<id>:<seq>", an
 *    <id> not its current one, or a <seq> older than it keeps answers
 *    trivially (731-760, 825-856). Its token is written with its NUL
 *    (816) and "/" as "/" and a NUL (853). git does not look into tokens:
 *    fstrackd hands out its own (fst1:..., with the hook's
 *    +untracked-rescan mark), which survive its restarts and overflows;
 *    a token that is not fstrackd's ("builtin:fake", a time stamp, the
 *    builtin daemon's) starts over: trivial, with a new token.
 *  - The builtin daemon makes its socket with the process umask
 *    (unix-socket.c:106-122) under a lock file "<socket>.lock", refusing
 *    when someone answers (unix-stream-server.c:33-89), and stops when its
 *    socket was removed or replaced (ipc-unix-socket.c:661-679,
 *    unix-stream-server.c:106-125).
 *
 * fstrackd's side. For each enabled work tree it listens on that socket,
 * made as its owner (the owner of the git directory: the thread takes the
 * owner's filesystem ids for the bind, so the socket is theirs and no
 * directory is written with root's rights), mode 0600, and answers only
 * its owner and root (SO_PEERCRED). When something else answers there
 * (git's own daemon, started while fstrackd was down), it is asked to
 * stop with "quit", as "git fsmonitor--daemon stop" would, and fstrackd
 * listens once it is gone. A socket removed or replaced is made again.
 * "quit" from git stops fstrackd answering for that work tree (it is
 * dropped from the list: git's own stop means just that). "flush" and a
 * token that is not fstrackd's get "/" with a new token.
 *
 * An answer: the loop thread opens the work tree as the caller, finds its
 * scope, plans and queries as the socket protocol's "changes" does (a
 * running catch-up scan may hold it up SCAN_WAIT_MS, then git gets "/"
 * and its own token back, as from the hook); the walks of the answer
 * (gitfsm) and the writing run on worker threads (jobs.c), with the
 * caller's filesystem credentials, so a big walk or a slow reader never
 * holds up the loop.
 */
#include "daemon/gitipc.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
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
#include "daemon/fsys.h"
#include "daemon/jobs.h"
#include "daemon/listfile.h"
#include "daemon/loop.h"
#include "daemon/perm.h"
#include "daemon/scope.h"
#include "daemon/sock.h"
#include "gitfsm/gitfsm.h"
#include "gitfsm/pktline.h"

#define SOCKET_NAME "fsmonitor--daemon.ipc"
#define LIST_NAME "git-daemons.json"
#define REQUEST_MAX 4096    /* a token, "quit" or "flush" */
#define SCAN_WAIT_MS 1000   /* as the hook: a catch-up scan may hold git up this long */
#define IDLE_MS 30000	    /* a connection must have sent its request by then */
#define CONNS_PER_TREE 64   /* connections waiting for their answer, per work tree */
#define TREES_PER_UID 64    /* work trees one user other than root may enable */
#define JOBS_MAX 256	    /* answers queued for the writers */
#define WRITERS 2	    /* threads that make and send answers */
#define WRITE_MS 10000	    /* an answer must be taken by git within this */
#define TICK_MS 250	    /* the timer while an answer waits for a scan */
#define IDLE_TICK_MS 1000   /* the timer otherwise, while there are work trees */
#define RETRY_MS 1000	    /* a work tree whose socket cannot be made tries again */
#define CHECK_MS 5000	    /* is the socket still ours? */
#define ASK_AGAIN_MS 10000  /* ask another listener to stop at most this often */
#define ACCEPT_PAUSE_MS 200 /* out of fds: stop accepting for this long */
#define MS (1000000ull)	    /* ns */

enum tree_state { TREE_WAITING, TREE_LISTENING };

/* One enabled work tree. */
struct tree {
	struct tree *next;
	struct gitipc *g;
	char worktree[PATH_MAX]; /* as enabled: absolute */
	char socket[PATH_MAX];	 /* git's path for it */
	char sock_dir[PATH_MAX]; /* the git directory that holds it */
	uid_t uid;		 /* the socket's owner: who is answered (and root) */
	gid_t gid;
	enum tree_state state;
	char why[512]; /* waiting: why */
	int dir_fd;    /* listening: sock_dir (O_PATH) */
	int quit_fd;   /* the connection that asked another listener to stop */
	int listen_fd;
	struct loop_source *listen_src;
	dev_t sock_dev; /* listening: the socket made, to see it replaced */
	ino_t sock_ino;
	uint64_t next_try_ns, next_check_ns, asked_ns, paused_until_ns;
	struct conn *conns;
	unsigned n_conns;
	uint64_t answers, trivial;
	struct loop_defer free_node;
};

/* A connection of git's, until its answer goes to the writers. */
struct conn {
	struct conn *next;
	struct tree *tree;
	int fd;
	struct loop_source *src;
	struct loop_defer free_node;
	struct perm_caller caller;
	struct pktline_buf in;	/* bytes read, not taken yet */
	struct pktline_buf req; /* the request's data (NUL-terminated once complete) */
	bool complete;
	bool parked;	      /* waiting for a catch-up scan */
	uint64_t deadline_ns; /* parked: until then; else: its request must be in by then */
	bool dead;
};

/* An answer for the writers (jobs.c): ready, or to be made from changes. */
struct reply {
	int fd;	    /* the connection: answered, then closed */
	int top_fd; /* >= 0: make the answer from v, as the caller, in the work tree */
	struct perm_caller caller;
	char token[TOKEN_MAX];
	bool rescan;
	struct gitfsm_change *v; /* and the paths, in the same block */
	size_t n;
	struct gitfsm_answer answer;
};

struct gitipc {
	char list_path[PATH_MAX];
	struct loop *loop;
	struct tracker *tracker;
	struct tree *trees;
	struct loop_source *timer;
	unsigned timer_ms;
	struct jobs *jobs; /* the writers, from the first answer on */
};

static void timer_update(struct gitipc *g);

/* ---- the writers ---------------------------------------------------------- */

static struct reply *reply_new(void)
{
	struct reply *j = calloc(1, sizeof(*j));

	if (j)
		j->fd = j->top_fd = -1;
	return j;
}

static void reply_free(struct reply *j)
{
	safe_close(j->fd);
	safe_close(j->top_fd);
	gitfsm_answer_release(&j->answer);
	free(j->v);
	free(j);
}

/* Send all of buf on the (non-blocking) connection within WRITE_MS. */
static int send_all(int fd, const char *buf, size_t len)
{
	uint64_t end = now_monotonic_ns() + WRITE_MS * MS;

	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		uint64_t now;

		if (n >= 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		now = now_monotonic_ns();
		if (now >= end)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)((end - now) / MS) + 1) < 0 && errno != EINTR)
			return -errno;
	}
	return 0;
}

/*
 * Make the answer (the walks as the caller: what git's own process could
 * read, no more) and send it. When it cannot be sent, git checks
 * everything itself.
 */
static void reply_make_and_send(struct reply *j)
{
	struct pktline_buf out = {0};
	int r = 0;

	if (j->top_fd >= 0) {
		struct perm_saved saved;

		r = perm_become(&j->caller, &saved);
		if (r == 0) {
			r = gitfsm_answer_changes(&j->answer, j->token, false, j->rescan, j->v,
						  j->n, j->top_fd);
			perm_restore(&saved);
		}
		if (r < 0)
			r = gitfsm_answer_everything(&j->answer, j->token, true);
	}
	if (r == 0 && pktline_frame(j->answer.buf, j->answer.len, &out) == 0)
		send_all(j->fd, out.p, out.len);
	pktline_buf_release(&out);
}

static void reply_work(void *data, const atomic_bool *cancelled)
{
	if (!atomic_load(cancelled))
		reply_make_and_send(data);
}

static void reply_done(void *data, bool cancelled)
{
	reply_free(data); /* cancelled (the daemon stops): git checks everything itself */
}

/* ---- connections ------------------------------------------------------------ */

static void conn_free(void *data)
{
	struct conn *c = data;

	pktline_buf_release(&c->in);
	pktline_buf_release(&c->req);
	free(c);
}

/* Take c out of use: off its work tree, no more callbacks; freed at the end of the round. */
static void conn_unlink(struct conn *c)
{
	struct tree *tr = c->tree;

	for (struct conn **pp = &tr->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	tr->n_conns--;
	c->src = loop_del(c->src);
	c->dead = true;
	loop_defer_free(tr->g->loop, &c->free_node, conn_free, c);
}

static void conn_close(struct conn *c)
{
	if (c->dead)
		return;
	conn_unlink(c);
	c->fd = safe_close(c->fd);
}

/* Hand the connection and its answer j to the writers: c is done here. */
static void conn_send(struct conn *c, struct reply *j)
{
	struct tree *tr = c->tree;
	struct gitipc *g = tr->g;
	int r = g->jobs ? 0 : jobs_new(g->loop, WRITERS, JOBS_MAX, &g->jobs);

	j->fd = c->fd;
	c->fd = -1;
	j->caller = c->caller;
	conn_unlink(c);
	tr->answers++;
	if (r == 0)
		r = jobs_submit(g->jobs, g, reply_work, reply_done, j);
	if (r < 0) {
		log_ratelimited(LOG_LEVEL_WARN,
				"git IPC of %s: cannot answer (%s); git checks every file",
				tr->worktree, strerror(-r));
		reply_free(j);
	}
}

/* "/": git checks everything. token as gitfsm_answer_everything() takes it. */
static void answer_everything(struct conn *c, const char *token, bool mark)
{
	struct reply *j = reply_new();

	if (!j || gitfsm_answer_everything(&j->answer, token, mark) < 0) {
		if (j)
			reply_free(j);
		conn_close(c); /* git checks everything itself */
		return;
	}
	c->tree->trivial++;
	conn_send(c, j);
}

/* The answer from the changes cs, made by a writer in the work tree top_fd (taken). */
static void answer_changes(struct conn *c, const struct change_set *cs, const char *token,
			   bool rescan, int top_fd)
{
	size_t n = change_set_count(cs), bytes = 0;
	struct reply *j = reply_new();
	char *p;

	for (size_t i = 0; i < n; i++) {
		const char *path;
		unsigned k;

		change_set_get(cs, i, &path, &k);
		bytes += strlen(path) + 1;
	}
	if (j)
		j->v = malloc(n * sizeof(*j->v) + bytes + 1);
	if (!j || !j->v) {
		safe_close(top_fd);
		if (j)
			reply_free(j);
		answer_everything(c, token, true);
		return;
	}
	p = (char *)(j->v + n);
	for (size_t i = 0; i < n; i++) {
		const char *path;
		unsigned k;
		size_t len;

		change_set_get(cs, i, &path, &k);
		len = strlen(path) + 1;
		memcpy(p, path, len);
		j->v[i] = (struct gitfsm_change){.path = p, .kinds = k};
		p += len;
	}
	j->n = n;
	j->top_fd = top_fd;
	j->rescan = rescan;
	snprintf(j->token, sizeof(j->token), "%s", token);
	conn_send(c, j);
}

static void tree_remove(struct tree *tr, const char *why);
static int list_save(struct gitipc *g);

/* The work tree's scope, watching it again when its scope went (as the hook does). */
static int find_scope(struct conn *c, int fd, struct target *t)
{
	struct tree *tr = c->tree;
	struct scope *s;
	char err[512] = "";
	int r = scope_find(tr->g->tracker, fd, t, err, sizeof(err));

	if (r != -ENOENT)
		return r;
	r = scope_watch(tr->g->tracker, fd, tr->worktree, tr->uid, &s, err, sizeof(err));
	if (r < 0) {
		log_ratelimited(LOG_LEVEL_WARN, "git IPC: cannot watch %s again: %s", tr->worktree,
				err);
		return r;
	}
	log_info("git IPC: %s was not watched any more; watching it again", tr->worktree);
	return scope_find(tr->g->tracker, fd, t, err, sizeof(err));
}

/*
 * Answer c's request (the same steps as the socket protocol's "changes"),
 * or park it while a catch-up scan runs.
 */
static void conn_answer(struct conn *c)
{
	struct tree *tr = c->tree;
	const char *req = c->req.p;
	struct answer_plan plan;
	struct change_set *cs = NULL;
	struct perm_cache *pc = NULL;
	struct target t;
	struct token tk;
	char since[TOKEN_MAX], tok[TOKEN_MAX];
	size_t since_len;
	bool rescan, ours;
	int fd, r;

	c->parked = false;
	if (strlen(req) == c->req.len && strcmp(req, "quit") == 0) {
		struct reply *j = reply_new(); /* an empty answer: only the flush */

		if (j)
			conn_send(c, j);
		else
			conn_close(c);
		tree_remove(tr, "git asked it to stop (git fsmonitor--daemon stop)");
		list_save(tr->g);
		return;
	}
	rescan = gitfsm_token_marked(req, &since_len);
	ours = strlen(req) == c->req.len && since_len < sizeof(since) && strcmp(req, "flush") != 0;
	if (ours) {
		memcpy(since, req, since_len);
		since[since_len] = '\0';
		ours = token_parse(since, &tk) == 0;
	}
	fd = perm_open_as(&c->caller, tr->worktree, O_RDONLY | O_DIRECTORY);
	r = fd < 0 ? fd : find_scope(c, fd, &t);
	if (r < 0) {
		log_ratelimited(LOG_LEVEL_WARN,
				"git IPC: cannot answer for %s: %s; git checks every file",
				tr->worktree, strerror(-r));
		safe_close(fd);
		answer_everything(c, req, false); /* git's own token back */
		return;
	}
	if (!ours) {
		/* first use, a token of git's own daemon, or "flush": start over */
		r = fsys_token(t.fs, tok);
		safe_close(fd);
		answer_everything(c, r < 0 ? req : tok, r == 0);
		return;
	}
	/* once the wait is over, widened: a new token, and git checks everything */
	r = scope_plan_answer(t.scope, &tk, now_monotonic_ns() >= c->deadline_ns, &plan);
	if (r == 0 && plan.kind == ANSWER_WAIT) {
		safe_close(fd);
		c->parked = true;
		timer_update(tr->g);
		return;
	}
	if (r < 0 || plan.kind == ANSWER_FRESH || plan.widened) {
		safe_close(fd);
		answer_everything(c, r < 0 ? req : plan.token, r == 0);
		return;
	}
	if (c->caller.uid != 0 && !(pc = perm_cache_new(&c->caller)))
		r = -ENOMEM;
	else
		r = fsys_query(t.fs, plan.from, t.canon, pc, &cs);
	perm_cache_free(pc);
	if (r == -EBADMSG && scope_token_fresh(t.scope, &tk)) {
		safe_close(fd);
		answer_everything(c, plan.token, true);
		return;
	}
	if (r < 0) {
		safe_close(fd);
		answer_everything(c, req, false);
		return;
	}
	answer_changes(c, cs, plan.token, rescan, fd);
	change_set_free(cs);
}

/* Read the request: pkt-lines up to a flush. */
static void on_conn(void *data, uint32_t events)
{
	struct conn *c = data;

	if (c->complete) {
		if (events & (EPOLLHUP | EPOLLERR))
			conn_close(c); /* gone while its answer waited for a scan */
		return;
	}
	for (;;) {
		char buf[4096];
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		size_t used;
		int r;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			conn_close(c); /* a probe, or gone before it asked */
			return;
		}
		if (GROW(c->in.p, c->in.cap, c->in.len + (size_t)n) < 0) {
			conn_close(c);
			return;
		}
		memcpy(c->in.p + c->in.len, buf, (size_t)n);
		c->in.len += (size_t)n;
		r = pktline_take(c->in.p, c->in.len, &used, &c->req, REQUEST_MAX);
		memmove(c->in.p, c->in.p + used, c->in.len - used);
		c->in.len -= used;
		if (r < 0 || GROW(c->req.p, c->req.cap, c->req.len + 1) < 0) {
			log_ratelimited(LOG_LEVEL_DEBUG, "git IPC of %s: a request that is not one",
					c->tree->worktree);
			conn_close(c);
			return;
		}
		if (r == 1)
			break;
	}
	c->req.p[c->req.len] = '\0';
	c->complete = true;
	c->deadline_ns = now_monotonic_ns() + SCAN_WAIT_MS * MS;
	loop_mod_fd(c->src, 0); /* hang-ups only, from now on */
	conn_answer(c);
}

static void on_listen(void *data, uint32_t events)
{
	struct tree *tr = data;
	struct gitipc *g = tr->g;

	for (;;) {
		int fd = accept4(tr->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct perm_caller caller;
		struct ucred cred;
		struct conn *c;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				log_ratelimited(LOG_LEVEL_WARN, "git IPC: out of file descriptors");
				loop_mod_fd(tr->listen_src, 0);
				tr->paused_until_ns = now_monotonic_ns() + ACCEPT_PAUSE_MS * MS;
				timer_update(g);
			}
			return;
		}
		if (sock_peer(fd, &cred, &caller) < 0) {
			safe_close(fd);
			continue;
		}
		if (cred.uid != tr->uid && cred.uid != 0) {
			log_ratelimited(
			    LOG_LEVEL_WARN,
			    "git IPC of %s: uid %u is neither its owner (uid %u) nor root; "
			    "not answered",
			    tr->worktree, (unsigned)cred.uid, (unsigned)tr->uid);
			safe_close(fd);
			continue;
		}
		c = tr->n_conns < CONNS_PER_TREE ? calloc(1, sizeof(*c)) : NULL;
		if (!c) {
			safe_close(fd); /* git checks everything itself */
			continue;
		}
		c->tree = tr;
		c->fd = fd;
		c->caller = caller;
		c->deadline_ns = now_monotonic_ns() + IDLE_MS * MS;
		if (loop_add_fd(g->loop, fd, EPOLLIN, on_conn, c, &c->src) < 0) {
			safe_close(fd);
			free(c);
			continue;
		}
		c->next = tr->conns;
		tr->conns = c;
		tr->n_conns++;
		timer_update(g);
	}
}

/* ---- the sockets ------------------------------------------------------------ */

static struct perm_caller owner_of(const struct tree *tr)
{
	return (struct perm_caller){.uid = tr->uid, .gid = tr->gid};
}

static void set_waiting(struct tree *tr, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_waiting(struct tree *tr, const char *fmt, ...)
{
	char why[sizeof(tr->why)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	tr->state = TREE_WAITING;
	if (strcmp(why, tr->why) != 0)
		log_info("git IPC of %s waits: %s", tr->worktree, why);
	snprintf(tr->why, sizeof(tr->why), "%s", why);
}

/*
 * The socket's name through the directory's fd: short (sun_path holds 108
 * bytes), and bound to the directory that was checked.
 */
static void socket_name(int dir_fd, struct sockaddr_un *sa)
{
	*sa = (struct sockaddr_un){.sun_family = AF_UNIX};
	snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", dir_fd, SOCKET_NAME);
}

/*
 * Does someone answer on the socket? 1 yes, 0 no, or -errno. When ask, it
 * is asked to stop with "quit", as "git fsmonitor--daemon stop" does, on a
 * connection kept open in *quit_fd until the next try: git's daemon drops
 * a request whose sender hung up before it read it.
 */
static int probe(const struct sockaddr_un *sa, bool ask, int *quit_fd)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), err;

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno == EAGAIN) {
		if (ask && send(fd, "0008quit0000", 12, MSG_NOSIGNAL | MSG_DONTWAIT) == 12) {
			*quit_fd = fd;
			return 1;
		}
		safe_close(fd);
		return 1;
	}
	err = errno;
	safe_close(fd);
	return err == ECONNREFUSED || err == ENOENT ? 0 : -err;
}

/* Make the socket in dir_fd, as its owner: the listening fd, or -errno (why says). */
static int make_socket(struct tree *tr, int dir_fd, struct stat *ret_st, char *why, size_t len)
{
	struct perm_caller owner = owner_of(tr);
	uint64_t now = now_monotonic_ns();
	struct perm_saved saved;
	struct sockaddr_un sa;
	struct stat st;
	int fd = -1, r;

	socket_name(dir_fd, &sa);
	r = perm_become(&owner, &saved);
	if (r < 0) {
		snprintf(why, len, "cannot take the credentials of uid %u: %s", (unsigned)tr->uid,
			 strerror(-r));
		return r;
	}
	if (lstat(sa.sun_path, &st) == 0) {
		bool ask = tr->asked_ns == 0 || now >= tr->asked_ns + ASK_AGAIN_MS * MS;

		if (!S_ISSOCK(st.st_mode)) {
			r = -EEXIST;
			snprintf(why, len, "%s is in the way (not a socket)", tr->socket);
		} else if ((r = probe(&sa, ask, &tr->quit_fd)) > 0) {
			if (ask)
				tr->asked_ns = now;
			r = -EADDRINUSE;
			snprintf(why, len,
				 "another process answers on %s (git's own fsmonitor--daemon?); it "
				 "was asked to stop, as 'git fsmonitor--daemon stop' does",
				 tr->socket);
		} else if (r == 0 && unlink(sa.sun_path) < 0 && errno != ENOENT) {
			r = -errno; /* a socket nobody answers on: left by a crash */
		}
	}
	if (r == 0) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    chmod(sa.sun_path, 0600) < 0 || listen(fd, 64) < 0 ||
		    lstat(sa.sun_path, ret_st) < 0)
			r = -errno;
	}
	perm_restore(&saved);
	if (r < 0) {
		if (!why[0])
			snprintf(why, len, "cannot listen on %s: %s", tr->socket, strerror(-r));
		safe_close(fd);
		return r;
	}
	return fd;
}

/* Listen on the work tree's socket, or say why not (and try again later). */
static void tree_listen(struct tree *tr)
{
	struct perm_caller owner = owner_of(tr);
	char why[sizeof(tr->why)] = "";
	struct stat st;
	int dir_fd, fd;

	tr->next_try_ns = now_monotonic_ns() + RETRY_MS * MS;
	tr->quit_fd = safe_close(tr->quit_fd); /* asked a while ago: it had its time */
	dir_fd = perm_open_as(&owner, tr->sock_dir, O_PATH | O_DIRECTORY);
	if (dir_fd < 0) {
		set_waiting(tr, "cannot open %s: %s", tr->sock_dir, strerror(-dir_fd));
		return;
	}
	if (fstat(dir_fd, &st) < 0 || (tr->uid != 0 && st.st_uid != tr->uid)) {
		set_waiting(tr, "%s is not owned by uid %u any more", tr->sock_dir,
			    (unsigned)tr->uid);
		safe_close(dir_fd);
		return;
	}
	fd = make_socket(tr, dir_fd, &st, why, sizeof(why));
	if (fd >= 0 && loop_add_fd(tr->g->loop, fd, EPOLLIN, on_listen, tr, &tr->listen_src) < 0) {
		snprintf(why, sizeof(why), "out of memory");
		fd = safe_close(fd);
	}
	if (fd < 0) {
		set_waiting(tr, "%s", why);
		safe_close(dir_fd);
		return;
	}
	tr->dir_fd = dir_fd;
	tr->listen_fd = fd;
	tr->sock_dev = st.st_dev;
	tr->sock_ino = st.st_ino;
	tr->state = TREE_LISTENING;
	tr->why[0] = '\0';
	tr->next_check_ns = now_monotonic_ns() + CHECK_MS * MS;
	log_info("git IPC: answering git's fsmonitor requests for %s on %s", tr->worktree,
		 tr->socket);
}

/* Is the socket at git's path still the one made? */
static bool still_ours(const struct tree *tr)
{
	struct sockaddr_un sa;
	struct stat st;

	socket_name(tr->dir_fd, &sa);
	return lstat(sa.sun_path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == tr->sock_dev &&
	       st.st_ino == tr->sock_ino;
}

/* Stop listening; remove the socket when it is still ours (git then starts nothing in its place).
 */
static void tree_unlisten(struct tree *tr, bool remove)
{
	if (tr->state != TREE_LISTENING)
		return;
	tr->listen_src = loop_del(tr->listen_src);
	tr->listen_fd = safe_close(tr->listen_fd);
	if (remove && still_ours(tr)) {
		struct perm_caller owner = owner_of(tr);
		struct perm_saved saved;
		struct sockaddr_un sa;

		socket_name(tr->dir_fd, &sa);
		if (perm_become(&owner, &saved) == 0) {
			unlink(sa.sun_path);
			perm_restore(&saved);
		}
	}
	tr->dir_fd = safe_close(tr->dir_fd);
	tr->state = TREE_WAITING;
}

/* ---- work trees ------------------------------------------------------------- */

static void tree_free(void *data)
{
	free(data);
}

static struct tree *tree_add(struct gitipc *g, const char *worktree, const char *socket, uid_t uid,
			     gid_t gid)
{
	struct tree *tr;
	char *slash;

	if (strlen(worktree) >= PATH_MAX || strlen(socket) >= PATH_MAX)
		return NULL;
	tr = calloc(1, sizeof(*tr));
	if (!tr)
		return NULL;
	tr->g = g;
	tr->dir_fd = tr->listen_fd = tr->quit_fd = -1;
	snprintf(tr->worktree, sizeof(tr->worktree), "%s", worktree);
	snprintf(tr->socket, sizeof(tr->socket), "%s", socket);
	snprintf(tr->sock_dir, sizeof(tr->sock_dir), "%s", socket);
	slash = strrchr(tr->sock_dir, '/');
	if (slash)
		slash[slash == tr->sock_dir] = '\0'; /* "/x" keeps its "/" */
	tr->uid = uid;
	tr->gid = gid;
	tr->state = TREE_WAITING;
	tr->next = g->trees;
	g->trees = tr;
	return tr;
}

static struct tree *tree_by_worktree(struct gitipc *g, const char *worktree)
{
	for (struct tree *tr = g->trees; tr; tr = tr->next)
		if (strcmp(tr->worktree, worktree) == 0)
			return tr;
	return NULL;
}

/* Stop answering for tr and forget it (the caller saves the list). */
static void tree_remove(struct tree *tr, const char *why)
{
	struct gitipc *g = tr->g;

	for (struct tree **pp = &g->trees; *pp; pp = &(*pp)->next)
		if (*pp == tr) {
			*pp = tr->next;
			break;
		}
	while (tr->conns)
		conn_close(tr->conns);
	tree_unlisten(tr, true);
	tr->quit_fd = safe_close(tr->quit_fd);
	log_info("git IPC: no longer answering for %s: %s", tr->worktree, why);
	loop_defer_free(g->loop, &tr->free_node, tree_free, tr);
	timer_update(g);
}

/* ---- the list on disk ------------------------------------------------------- */

static int list_save(struct gitipc *g)
{
	struct json_object *arr = json_object_new_array();

	for (struct tree *tr = g->trees; arr && tr; tr = tr->next) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "worktree", json_object_new_string(tr->worktree));
		json_object_object_add(o, "socket", json_object_new_string(tr->socket));
		json_object_object_add(o, "uid", json_object_new_uint64(tr->uid));
		json_object_object_add(o, "gid", json_object_new_uint64(tr->gid));
		json_object_array_add(arr, o);
	}
	return listfile_save(g->list_path, "worktrees", arr);
}

static const char *get_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int gitipc_load(struct gitipc *g)
{
	struct json_object *root, *arr, *v;
	int r = listfile_load(g->list_path, "worktrees", &root, &arr);

	if (r == -EBADMSG) {
		log_error("%s is not a list of work trees; git IPC answers for none", g->list_path);
		return -EINVAL;
	}
	if (r < 0 || !root)
		return r;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);
		const char *wt = get_str(o, "worktree"), *sock = get_str(o, "socket");
		uid_t uid =
		    json_object_object_get_ex(o, "uid", &v) ? (uid_t)json_object_get_uint64(v) : 0;
		gid_t gid =
		    json_object_object_get_ex(o, "gid", &v) ? (gid_t)json_object_get_uint64(v) : 0;
		struct tree *tr;

		if (!wt || !sock || wt[0] != '/' || sock[0] != '/' || tree_by_worktree(g, wt)) {
			log_warn("%s: entry %zu is not a work tree; left out", g->list_path, i);
			continue;
		}
		tr = tree_add(g, wt, sock, uid, gid);
		if (tr)
			tree_listen(tr);
	}
	json_object_put(root);
	timer_update(g);
	return 0;
}

/* ---- requests of the socket protocol ------------------------------------ */

static struct json_object *error_reply(int err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static struct json_object *error_reply(int err, const char *fmt, ...)
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
	return o;
}

static struct json_object *tree_json(const struct tree *tr)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "worktree", json_object_new_string(tr->worktree));
	json_object_object_add(o, "socket", json_object_new_string(tr->socket));
	json_object_object_add(o, "uid", json_object_new_uint64(tr->uid));
	json_object_object_add(
	    o, "state",
	    json_object_new_string(tr->state == TREE_LISTENING ? "listening" : "waiting"));
	if (tr->state != TREE_LISTENING)
		json_object_object_add(o, "why", json_object_new_string(tr->why));
	json_object_object_add(o, "answers", json_object_new_uint64(tr->answers));
	json_object_object_add(o, "trivial", json_object_new_uint64(tr->trivial));
	json_object_object_add(o, "connections", json_object_new_uint64(tr->n_conns));
	return o;
}

static struct json_object *ok_object(void)
{
	struct json_object *o = json_object_new_object();

	if (o)
		json_object_object_add(o, "ok", json_object_new_boolean(1));
	return o;
}

static struct json_object *ok_tree(const struct tree *tr)
{
	struct json_object *o = tree_json(tr);

	json_object_object_add(o, "ok", json_object_new_boolean(1));
	return o;
}

static unsigned trees_of(const struct gitipc *g, uid_t uid)
{
	unsigned n = 0;

	for (const struct tree *tr = g->trees; tr; tr = tr->next)
		n += tr->uid == uid;
	return n;
}

static struct json_object *do_enable(struct gitipc *g, const struct perm_caller *caller,
				     struct json_object *req)
{
	const char *path = get_str(req, "path"), *sock = get_str(req, "socket"), *base;
	char err[512] = "", dir[PATH_MAX];
	struct target t;
	struct tree *tr;
	struct stat st;
	int fd, r;

	if (!path || path[0] != '/' || !sock || sock[0] != '/' || strlen(path) >= PATH_MAX ||
	    strlen(sock) >= PATH_MAX)
		return error_reply(EINVAL, "the request needs an absolute \"path\" (the work tree) "
					   "and \"socket\" (git's path of its fsmonitor socket)");
	base = strrchr(sock, '/') + 1;
	if (strcmp(base, SOCKET_NAME) != 0)
		return error_reply(EINVAL, "git's fsmonitor socket is named %s, not %s",
				   SOCKET_NAME, base);
	fd = perm_open_as(caller, path, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return error_reply(fd, "cannot open %s: %s", path, strerror(-fd));
	r = scope_find(g->tracker, fd, &t, err, sizeof(err));
	safe_close(fd);
	if (r == -ENOENT)
		return error_reply(r, "%s is not watched: run 'fstrack watch %s' first", path,
				   path);
	if (r < 0)
		return error_reply(r, "%s: %s", path, err);
	snprintf(dir, sizeof(dir), "%.*s", (int)(base - 1 - sock), sock);
	fd = perm_open_as(caller, dir[0] ? dir : "/", O_PATH | O_DIRECTORY);
	if (fd < 0)
		return error_reply(fd, "cannot open %s: %s", dir, strerror(-fd));
	r = fstat(fd, &st) == 0 ? 0 : -errno;
	if (r == 0) {
		struct stat head;

		r = fstatat(fd, "HEAD", &head, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -ENOTDIR;
	}
	safe_close(fd);
	if (r < 0)
		return error_reply(r, "%s is not a git directory (it has no HEAD)", dir);
	if (caller->uid != 0 && st.st_uid != caller->uid)
		return error_reply(EPERM,
				   "%s belongs to uid %u: only that user or root may have fstrackd "
				   "answer git there",
				   dir, (unsigned)st.st_uid);
	tr = tree_by_worktree(g, path);
	if (tr && caller->uid != 0 && tr->uid != caller->uid)
		return error_reply(EPERM, "fstrackd answers git for %s as uid %u's", path,
				   (unsigned)tr->uid);
	if (!tr && caller->uid != 0 && trees_of(g, caller->uid) >= TREES_PER_UID)
		return error_reply(EDQUOT,
				   "fstrackd answers git for %u work trees of yours, the most one "
				   "user may have; disable one first",
				   TREES_PER_UID);
	if (tr && (strcmp(tr->socket, sock) != 0 || tr->uid != st.st_uid)) {
		tree_remove(tr, "enabled again with another socket or owner");
		tr = NULL;
	}
	if (!tr) {
		tr = tree_add(g, path, sock, st.st_uid, st.st_gid);
		if (!tr)
			return NULL;
		log_info("git IPC enabled for %s (socket %s, uid %u)", path, sock,
			 (unsigned)tr->uid);
	}
	tr->asked_ns = 0; /* whoever answers there now is asked to stop at once */
	if (tr->state != TREE_LISTENING)
		tree_listen(tr);
	r = list_save(g);
	timer_update(g);
	if (r < 0)
		return error_reply(r, "cannot save the list of work trees in %s: %s", g->list_path,
				   strerror(-r));
	return ok_tree(tr);
}

static struct json_object *do_disable(struct gitipc *g, const struct perm_caller *caller,
				      struct json_object *req)
{
	const char *path = get_str(req, "path");
	struct tree *tr = path ? tree_by_worktree(g, path) : NULL;
	int r;

	if (!tr)
		return error_reply(ENOENT, "fstrackd does not answer git for %s",
				   path ? path : "(no \"path\")");
	if (caller->uid != 0 && caller->uid != tr->uid)
		return error_reply(EPERM, "only root or uid %u may disable git IPC for %s",
				   (unsigned)tr->uid, path);
	tree_remove(tr, "disabled");
	r = list_save(g);
	if (r < 0)
		return error_reply(r, "cannot save the list of work trees in %s: %s", g->list_path,
				   strerror(-r));
	return ok_object();
}

static struct json_object *do_list(struct gitipc *g, const struct perm_caller *caller,
				   struct json_object *req)
{
	const char *path = get_str(req, "path");
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();

	if (!o || !arr) {
		json_object_put(o);
		json_object_put(arr);
		return NULL;
	}
	for (struct tree *tr = g->trees; tr; tr = tr->next) {
		if (caller->uid != 0 && caller->uid != tr->uid)
			continue;
		if (path && strcmp(path, tr->worktree) != 0)
			continue;
		json_object_array_add(arr, tree_json(tr));
	}
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	json_object_object_add(o, "worktrees", arr);
	return o;
}

struct json_object *gitipc_request(void *data, const struct perm_caller *caller,
				   struct json_object *req)
{
	struct gitipc *g = data;
	const char *action = get_str(req, "action");

	if (action && strcmp(action, "enable") == 0)
		return do_enable(g, caller, req);
	if (action && strcmp(action, "disable") == 0)
		return do_disable(g, caller, req);
	if (action && strcmp(action, "list") == 0)
		return do_list(g, caller, req);
	return error_reply(EINVAL, "\"git-daemon\" takes an \"action\": enable, disable or list");
}

/* ---- the timer and the tracker's news ----------------------------------- */

/* Tick fast while an answer waits for a scan or accepting is paused; else once a second. */
static void timer_update(struct gitipc *g)
{
	unsigned ms = 0;

	for (struct tree *tr = g->trees; tr; tr = tr->next) {
		if (!ms)
			ms = IDLE_TICK_MS;
		if (tr->paused_until_ns)
			ms = TICK_MS;
		for (struct conn *c = tr->conns; c; c = c->next)
			if (c->parked)
				ms = TICK_MS;
	}
	if (ms != g->timer_ms) {
		g->timer_ms = ms;
		loop_timer_set(g->timer, ms);
	}
}

static void on_tick(void *data)
{
	struct gitipc *g = data;
	uint64_t now = now_monotonic_ns();

	for (struct tree *tr = g->trees; tr; tr = tr->next) {
		struct conn *c, *next;

		if (tr->paused_until_ns && now >= tr->paused_until_ns) {
			tr->paused_until_ns = 0;
			if (tr->state == TREE_LISTENING)
				loop_mod_fd(tr->listen_src, EPOLLIN);
		}
		if (tr->state == TREE_WAITING && now >= tr->next_try_ns) {
			tree_listen(tr);
		} else if (tr->state == TREE_LISTENING && now >= tr->next_check_ns) {
			tr->next_check_ns = now + CHECK_MS * MS;
			if (!still_ours(tr)) {
				tree_unlisten(tr, false);
				set_waiting(tr, "its socket %s was removed or replaced",
					    tr->socket);
				tree_listen(tr);
			}
		}
		for (c = tr->conns; c; c = next) {
			next = c->next;
			if (now < c->deadline_ns)
				continue;
			if (c->parked)
				answer_everything(c, c->req.p, false); /* git's own token back */
			else if (!c->complete)
				conn_close(c); /* connected and said nothing */
		}
	}
	timer_update(g);
}

/* A scan ended, or a filesystem went: answers waiting for it go on. */
static void on_ready(void *data, struct fsys *fs)
{
	struct gitipc *g = data;

	for (struct tree *tr = g->trees; tr; tr = tr->next) {
		struct conn *c, *next;

		for (c = tr->conns; c; c = next) {
			next = c->next;
			if (c->parked)
				conn_answer(c);
		}
	}
	timer_update(g);
}

void gitipc_observer(struct gitipc *g, struct tracker_observer *ret)
{
	*ret = (struct tracker_observer){.data = g, .ready = on_ready, .detached = on_ready};
}

int gitipc_new(const struct gitipc_config *cfg, struct loop *loop, struct tracker *t,
	       struct gitipc **ret)
{
	struct gitipc *g = calloc(1, sizeof(*g));
	int r;

	if (!g)
		return -ENOMEM;
	g->loop = loop;
	g->tracker = t;
	snprintf(g->list_path, sizeof(g->list_path), "%s/%s", cfg->state_dir, LIST_NAME);
	r = loop_add_timer(loop, 0, on_tick, g, &g->timer);
	if (r < 0) {
		gitipc_free(g);
		return r;
	}
	*ret = g;
	return 0;
}

struct gitipc *gitipc_free(struct gitipc *g)
{
	if (!g)
		return NULL;
	while (g->trees) {
		struct tree *tr = g->trees;

		g->trees = tr->next;
		while (tr->conns)
			conn_close(tr->conns);
		tree_unlisten(tr, true);
		safe_close(tr->quit_fd);
		free(tr);
	}
	g->jobs = jobs_free(g->jobs); /* what is queued is dropped: git checks itself */
	g->timer = loop_del(g->timer);
	free(g);
	return NULL;
}
