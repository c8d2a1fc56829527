/* SPDX-License-Identifier: MIT */
/*
 * fstrackd: wires the parts together and runs the loop. The loop (loop.c)
 * serves the protocol server's socket and clients (server.c), git's
 * fsmonitor sockets of the work trees that ask (gitipc.c), every
 * filesystem's fanotify group and catch-up scans (the tracker), the
 * group-commit timer, the mount table, and the signals below. main.c
 * only builds and connects them.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/util.h"
#include "daemon/gitipc.h"
#include "daemon/loop.h"
#include "daemon/server.h"
#include "daemon/sock.h"
#include "daemon/tracker.h"
#include "daemon/wserver.h"
#include "fstrack.h"

#define DEFAULT_STATE_DIR "/var/lib/fstrack"
#define WATCHMAN_SOCKET_NAME "watchman.sock"
#define DEFAULT_WATCHMAN_SOCKET "/run/fstrack/" WATCHMAN_SOCKET_NAME

/* Everything the command line sets. */
struct options {
	struct tracker_config tracker;
	struct server_config server;
	const char *watchman_socket; /* NULL: next to the socket; "": none */
	bool foreground;
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: fstrackd [OPTIONS]\n"
	    "Record where filesystems change; answer 'what changed since T'.\n\n"
	    "  --state-dir DIR          journals and scope list (default %s)\n"
	    "  --socket PATH            listen here (default $FSTRACK_SOCKET or %s)\n"
	    "  --watchman-socket PATH   answer Watchman's clients here (default: watchman.sock\n"
	    "                           in the directory of --socket, %s)\n"
	    "  --no-watchman-socket     no Watchman socket\n"
	    "  --foreground             do not detach; log to stderr\n"
	    "  --verbose                log more (debug)\n"
	    "  --commit-ms N            group-commit interval (default 50)\n"
	    "  --max-journal-bytes N    per-filesystem journal cap (default 256 MiB)\n"
	    "  --segment-bytes N        journal segment size (default 16 MiB)\n"
	    "  --margin-ms N            catch-up scan look-back past the watermark (default 2000)\n"
	    "  --scan-threads N         catch-up scan threads (default: by CPUs)\n"
	    "  --scan-pause-ms N        for tests: each catch-up scan waits N ms before it reads\n"
	    "  --queue-events N         kernel event queue of N events per filesystem (bounded;\n"
	    "                           default: the kernel's max_queued_events, 16384)\n"
	    "  --unlimited-queue        FAN_UNLIMITED_QUEUE: never overflow (kernel memory grows)\n"
	    "  --stream-buffer-bytes N  a stream subscriber may lag this much before it gets\n"
	    "                           \"gap\" and is dropped (default 4 MiB)\n"
	    "  --max-clients N          connections in all (default 4096, less when the fd\n"
	    "                           limit is lower: 256 fds stay for the daemon's own work)\n"
	    "  --max-clients-per-user N connections of one user other than root (default 256)\n"
	    "  --max-scopes-per-user N  directories one user other than root may watch\n"
	    "                           (default 64)\n"
	    "  --read-delay-ms N        after reading the event queue, leave it N ms, so a burst\n"
	    "                           is read in batches (default 5; 0: read at once)\n"
	    "  --max-ignore-marks N     kernel ignore marks for files whose writes are on record,\n"
	    "                           at most N per epoch (default 65536; 0: none)\n"
	    "  --vanished-grace-s N     a watched directory gone for N seconds is no longer\n"
	    "                           watched (default 3600)\n"
	    "  --max-age N              tokens issued more than N seconds ago answer fresh\n"
	    "                           (default 2592000, 30 days; 0: no limit)\n"
	    "  --summary-places N       past the journal cap, the oldest history is folded into\n"
	    "                           a summary of N places at most before it coarsens\n"
	    "                           (default 262144)\n"
	    "  --no-compaction          past the cap, delete the oldest history (old tokens\n"
	    "                           answer fresh) instead of folding it into the summary\n"
	    "  --no-scope-filter        record changes in directories under no scope too (more\n"
	    "                           journal for nothing; for comparison)\n"
	    "  --help, --version\n",
	    DEFAULT_STATE_DIR, FST_DEFAULT_SOCKET, DEFAULT_WATCHMAN_SOCKET);
}

static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		return -EINVAL;
	*ret = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	enum {
		O_STATE = 256,
		O_SOCKET,
		O_FG,
		O_VERBOSE,
		O_COMMIT,
		O_MAXJ,
		O_SEG,
		O_MARGIN,
		O_SCANT,
		O_UNLIM,
		O_HELP,
		O_VERSION,
		O_QUEUE,
		O_STREAMBUF,
		O_MAXCLIENTS,
		O_MAXCLIENTS_UID,
		O_MAXSCOPES_UID,
		O_READDELAY,
		O_MAXMARKS,
		O_GRACE,
		O_MAXAGE,
		O_SUMPLACES,
		O_NOCOMPACT,
		O_NOFILTER,
		O_SCANPAUSE,
		O_WSOCKET,
		O_NO_WSOCKET
	};
	static const struct option opts[] = {
	    {"state-dir", required_argument, NULL, O_STATE},
	    {"socket", required_argument, NULL, O_SOCKET},
	    {"foreground", no_argument, NULL, O_FG},
	    {"verbose", no_argument, NULL, O_VERBOSE},
	    {"commit-ms", required_argument, NULL, O_COMMIT},
	    {"max-journal-bytes", required_argument, NULL, O_MAXJ},
	    {"segment-bytes", required_argument, NULL, O_SEG},
	    {"margin-ms", required_argument, NULL, O_MARGIN},
	    {"scan-threads", required_argument, NULL, O_SCANT},
	    {"unlimited-queue", no_argument, NULL, O_UNLIM},
	    {"help", no_argument, NULL, O_HELP},
	    {"version", no_argument, NULL, O_VERSION},
	    {"queue-events", required_argument, NULL, O_QUEUE},
	    {"stream-buffer-bytes", required_argument, NULL, O_STREAMBUF},
	    {"max-clients", required_argument, NULL, O_MAXCLIENTS},
	    {"max-clients-per-user", required_argument, NULL, O_MAXCLIENTS_UID},
	    {"max-scopes-per-user", required_argument, NULL, O_MAXSCOPES_UID},
	    {"read-delay-ms", required_argument, NULL, O_READDELAY},
	    {"max-ignore-marks", required_argument, NULL, O_MAXMARKS},
	    {"vanished-grace-s", required_argument, NULL, O_GRACE},
	    {"max-age", required_argument, NULL, O_MAXAGE},
	    {"summary-places", required_argument, NULL, O_SUMPLACES},
	    {"no-compaction", no_argument, NULL, O_NOCOMPACT},
	    {"no-scope-filter", no_argument, NULL, O_NOFILTER},
	    {"scan-pause-ms", required_argument, NULL, O_SCANPAUSE},
	    {"watchman-socket", required_argument, NULL, O_WSOCKET},
	    {"no-watchman-socket", no_argument, NULL, O_NO_WSOCKET},
	    {0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		uint64_t v = 0;
		bool num = c == O_COMMIT || c == O_MAXJ || c == O_SEG || c == O_MARGIN ||
			   c == O_SCANT || c == O_QUEUE || c == O_STREAMBUF || c == O_MAXCLIENTS ||
			   c == O_MAXCLIENTS_UID || c == O_MAXSCOPES_UID || c == O_READDELAY ||
			   c == O_MAXMARKS || c == O_GRACE || c == O_MAXAGE || c == O_SUMPLACES ||
			   c == O_SCANPAUSE;

		if (num && parse_u64(optarg, &v) < 0) {
			fprintf(stderr, "fstrackd: --%s needs a whole number, not '%s'\n",
				opts[c - O_STATE].name, optarg);
			return 2;
		}
		switch (c) {
		case O_STATE:
			o->tracker.state_dir = o->server.state_dir = optarg;
			break;
		case O_SOCKET:
			o->server.socket_path = optarg;
			break;
		case O_FG:
			o->foreground = true;
			break;
		case O_VERBOSE:
			log_set_level(LOG_LEVEL_DEBUG);
			break;
		case O_COMMIT:
			o->tracker.commit_ms = v ? (unsigned)v : 1;
			break;
		case O_MAXJ:
			o->tracker.max_journal_bytes = v;
			break;
		case O_SEG:
			o->tracker.segment_bytes = v;
			break;
		case O_MARGIN:
			o->tracker.margin_ms = (unsigned)v;
			break;
		case O_SCANT:
			o->tracker.scan_threads = (unsigned)v;
			break;
		case O_SCANPAUSE:
			o->tracker.scan_pause_ms = v > 600000 ? 600000 : (unsigned)v;
			break;
		case O_UNLIM:
			o->tracker.unlimited_queue = true;
			break;
		case O_QUEUE:
			o->tracker.queue_events = (unsigned long)v;
			break;
		case O_STREAMBUF:
			o->server.stream_buffer_max = (size_t)v;
			break;
		case O_MAXCLIENTS:
			o->server.max_clients = v > UINT_MAX ? UINT_MAX : (unsigned)v;
			break;
		case O_MAXCLIENTS_UID:
			o->server.max_clients_per_uid = v > UINT_MAX ? UINT_MAX : (unsigned)v;
			break;
		case O_MAXSCOPES_UID:
			o->server.max_scopes_per_uid = v > UINT_MAX ? UINT_MAX : (unsigned)v;
			break;
		case O_READDELAY:
			o->tracker.read_delay_ms = v > 1000 ? 1000 : (unsigned)v;
			break;
		case O_MAXMARKS:
			o->tracker.max_ignore_marks = (size_t)v;
			break;
		case O_GRACE:
			o->tracker.vanished_grace_s = v > UINT_MAX ? UINT_MAX : (unsigned)v;
			break;
		case O_MAXAGE:
			o->tracker.max_age_s = v > UINT_MAX ? UINT_MAX : (unsigned)v;
			break;
		case O_SUMPLACES:
			o->tracker.summary_places = v;
			break;
		case O_NOCOMPACT:
			o->tracker.no_compaction = true;
			break;
		case O_NOFILTER:
			o->tracker.no_scope_filter = true;
			break;
		case O_WSOCKET:
			if (!optarg[0]) {
				fprintf(stderr, "fstrackd: --watchman-socket needs a path\n");
				return 2;
			}
			o->watchman_socket = optarg;
			break;
		case O_NO_WSOCKET:
			o->watchman_socket = "";
			break;
		case O_HELP:
			usage(stdout);
			return 0;
		case O_VERSION:
			printf("fstrackd %s\n", FST_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "fstrackd: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}
	return -1; /* go on */
}

/*
 * The Watchman socket: --watchman-socket, or watchman.sock in the
 * directory of the main socket (so a daemon with its own --socket does not
 * take another's). False: none.
 */
static bool watchman_socket_path(const struct options *o, char *buf, size_t size)
{
	const char *slash;

	if (o->watchman_socket) {
		snprintf(buf, size, "%s", o->watchman_socket);
		return o->watchman_socket[0] != '\0';
	}
	slash = strrchr(o->server.socket_path, '/');
	if (!slash)
		snprintf(buf, size, "%s", WATCHMAN_SOCKET_NAME);
	else
		snprintf(buf, size, "%.*s/%s", (int)(slash - o->server.socket_path),
			 o->server.socket_path, WATCHMAN_SOCKET_NAME);
	return true;
}

static int detach(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(0);
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		safe_close(fd);
	}
	return 0;
}

struct signals {
	int fd;
	struct loop *loop;
	struct tracker *tracker;
	struct loop_source *src;
};

static void on_signal(void *data, uint32_t events)
{
	struct signals *sg = data;
	struct signalfd_siginfo si;

	while (read(sg->fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			log_info("SIGHUP: checking mounts and scopes again");
			tracker_recheck_mounts(sg->tracker);
			continue;
		}
		log_info("signal %u: stopping", si.ssi_signo);
		loop_quit(sg->loop);
	}
}

static int setup_signals(struct signals *sg)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return log_errno(LOG_LEVEL_ERR, -errno, "sigprocmask");
	signal(SIGPIPE, SIG_IGN);
	sg->fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sg->fd < 0)
		return log_errno(LOG_LEVEL_ERR, -errno, "signalfd");
	return loop_add_fd(sg->loop, sg->fd, EPOLLIN, on_signal, sg, &sg->src);
}

/*
 * One daemon per state directory: two would write the same journals. The
 * lock is an flock on state_dir/lock, held for the daemon's life (it
 * survives detaching: the lock belongs to the open file, which the
 * daemon's process inherits); the file says who holds it.
 */
static int lock_state_dir(const char *dir, int *ret_fd)
{
	char path[PATH_MAX], pid[32] = "";
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		fprintf(stderr, "fstrackd: cannot open %s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int r = -errno;
		if (r == -EWOULDBLOCK) {
			n = pread(fd, pid, sizeof(pid) - 1, 0);
			pid[n > 0 ? n : 0] = '\0';
			pid[strcspn(pid, "\n")] = '\0';
			fprintf(
			    stderr,
			    "fstrackd: another fstrackd (pid %s) uses the state directory %s; stop "
			    "it first, or give this one another --state-dir\n",
			    pid[0] ? pid : "unknown", dir);
		} else {
			fprintf(stderr, "fstrackd: cannot lock %s: %s\n", path, strerror(-r));
		}
		safe_close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

/* Say who holds the lock (after detaching: the daemon's own pid). */
static void write_lock_pid(int fd)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());

	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
		log_errno(LOG_LEVEL_WARN, -errno, "cannot write the pid into the state lock");
}

/*
 * As many fds as the hard limit allows: clients are bounded by their own
 * limits, below this one, so that the journals, scans and handle look-ups
 * always find an fd.
 */
static rlim_t raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur;
}

/* Log to state_dir/fstrackd.log once detached. */
static int detach_and_log(const struct options *o)
{
	char logpath[PATH_MAX];
	int fd, r;

	snprintf(logpath, sizeof(logpath), "%s/fstrackd.log", o->tracker.state_dir);
	printf("fstrackd: listening on %s, state in %s, log in %s\n", o->server.socket_path,
	       o->tracker.state_dir, logpath);
	fflush(stdout);
	r = detach();
	if (r < 0) {
		fprintf(stderr, "fstrackd: cannot detach: %s\n", strerror(-r));
		return r;
	}
	fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd >= 0) {
		dup2(fd, STDERR_FILENO);
		safe_close(fd);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *env_socket = getenv(FST_SOCKET_ENV);
	struct options o = {
	    .tracker = {.state_dir = DEFAULT_STATE_DIR,
			.commit_ms = 50,
			.max_journal_bytes = 256ull << 20,
			.segment_bytes = 16ull << 20,
			.margin_ms = 2000,
			.recorder_max = 1u << 18,
			.read_delay_ms = 5,
			.max_ignore_marks = 65536,
			.vanished_grace_s = 3600,
			.max_age_s = 30u * 24 * 3600},
	    .server = {.socket_path = env_socket && *env_socket ? env_socket : FST_DEFAULT_SOCKET,
		       .state_dir = DEFAULT_STATE_DIR,
		       .query_wait_ms = 60000,
		       .stream_buffer_max = 4u << 20},
	};
	struct signals sg = {.fd = -1};
	int lock_fd = -1;
	struct tracker_observer obs, wobs, git_obs;
	struct gitipc *git = NULL;
	struct server *srv = NULL;
	struct wserver *wsrv = NULL;
	struct sock_listener *listener = NULL, *wlistener = NULL;
	char wsock[PATH_MAX];
	struct tracker *t = NULL;
	struct loop *loop = NULL;
	int r;

	r = parse_args(argc, argv, &o);
	if (r >= 0)
		return r;
	if (geteuid() != 0) {
		fprintf(stderr, "fstrackd: must run as root (fanotify filesystem marks and "
				"open_by_handle_at need CAP_SYS_ADMIN and CAP_DAC_READ_SEARCH)\n");
		return 1;
	}
	r = mkdir_p(o.tracker.state_dir, 0700);
	if (r < 0) {
		fprintf(stderr, "fstrackd: cannot create state directory %s: %s\n",
			o.tracker.state_dir, strerror(-r));
		return 1;
	}
	if (lock_state_dir(o.tracker.state_dir, &lock_fd) < 0)
		return 1;
	o.server.fd_limit = raise_fd_limit();
	r = loop_new(&loop);
	if (r < 0) {
		fprintf(stderr, "fstrackd: cannot create the event loop: %s\n", strerror(-r));
		return 1;
	}
	r = server_new(&o.server, loop, &srv);
	if (r == 0)
		r = sock_listener_new(loop, o.server.socket_path, 0666, server_accept,
				      server_refusal, srv, &listener);
	if (r < 0) {
		fprintf(stderr, "fstrackd: cannot listen on %s: %s\n", o.server.socket_path,
			strerror(-r));
		goto fail_start;
	}
	if (watchman_socket_path(&o, wsock, sizeof(wsock))) {
		struct wserver_config wc = {.socket_path = wsock,
					    .query_wait_ms = o.server.query_wait_ms,
					    .fd_limit = o.server.fd_limit,
					    .max_clients = o.server.max_clients,
					    .max_clients_per_uid = o.server.max_clients_per_uid,
					    .max_scopes_per_uid = o.server.max_scopes_per_uid};

		r = wserver_new(&wc, loop, &wsrv);
		if (r == 0)
			r = sock_listener_new(loop, wsock, 0666, wserver_accept, wserver_refusal,
					      wsrv, &wlistener);
		if (r < 0) {
			fprintf(stderr, "fstrackd: cannot listen on %s: %s\n", wsock, strerror(-r));
			goto fail_start;
		}
	}
	if (!o.foreground && detach_and_log(&o) < 0)
		goto fail_start;
	write_lock_pid(lock_fd);
	server_observer(srv, &obs);
	sg.loop = loop;
	r = tracker_new(&o.tracker, loop, &t);
	if (r == 0)
		r = tracker_add_observer(t, &obs);
	if (r == 0 && wsrv) {
		wserver_observer(wsrv, &wobs);
		r = tracker_add_observer(t, &wobs);
		wserver_set_tracker(wsrv, t);
	}
	if (r == 0)
		r = gitipc_new(&(struct gitipc_config){.state_dir = o.tracker.state_dir}, loop, t,
			       &git);
	if (r == 0) {
		gitipc_observer(git, &git_obs);
		r = tracker_add_observer(t, &git_obs);
	}
	if (r == 0)
		r = server_add_op(srv, "git-daemon", gitipc_request, git);
	if (r == 0) {
		server_set_tracker(srv, t);
		sg.tracker = t;
		r = setup_signals(&sg);
	}
	if (r == 0) {
		log_info("fstrackd %s started (pid %d), state %s, socket %s", FST_VERSION,
			 (int)getpid(), o.tracker.state_dir, o.server.socket_path);
		tracker_load(t);
		gitipc_load(git);
		r = loop_run(loop);
		if (r < 0)
			log_errno(LOG_LEVEL_ERR, r, "epoll_wait");
	}
	/* no new client, then the clients, then what they waited for, then the journals */
	listener = sock_listener_free(listener); /* the sockets unlinked */
	wlistener = sock_listener_free(wlistener);
	git = gitipc_free(git);
	srv = server_free(srv);
	wsrv = wserver_free(wsrv);
	loop_finish_round(loop);
	if (t)
		tracker_shutdown(t);
	loop_finish_round(loop);
	t = tracker_free(t);
	sg.src = loop_del(sg.src);
	safe_close(sg.fd);
	loop_finish_round(loop);
	loop_free(loop);
	log_info("stopped");
	safe_close(lock_fd); /* the next daemon may start */
	return r < 0 ? 1 : 0;

fail_start: /* before anything was tracked: every pointer is NULL or live */
	sock_listener_free(wlistener);
	sock_listener_free(listener);
	wserver_free(wsrv);
	server_free(srv);
	loop_finish_round(loop);
	loop_free(loop);
	return 1;
}
