/* SPDX-License-Identifier: MIT */
/*
 * fstrackd: wires the parts together. One epoll loop serves the socket,
 * every filesystem's fanotify group, the catch-up scans' completion
 * eventfds, a group-commit timer, signals and mount-table changes.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/util.h"
#include "daemon/daemon.h"
#include "fstrack.h"

#define DEFAULT_STATE_DIR "/var/lib/fstrack"
#define IDLE_WATERMARK_NS (30ull * 1000000000ull)

int daemon_epoll_add(struct daemon *d, int fd, uint32_t events, struct ev_tag *tag)
{
	struct epoll_event ev = {.events = events, .data.ptr = tag};

	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	return 0;
}

void daemon_epoll_del(struct daemon *d, int fd)
{
	if (fd >= 0)
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL);
}

/*
 * The commit timer ticks every commit_ms while there is work (records to
 * commit, scans, waiting queries, streams) and once a second when idle, so
 * an idle daemon does not wake 20 times a second. The watcher switches it
 * back to fast as soon as it appends a record.
 */
int daemon_timer(struct daemon *d, bool fast)
{
	unsigned ms = fast ? d->cfg.commit_ms : 1000;
	struct itimerspec its = {0};

	if (d->timer_fast == fast && d->timer_armed)
		return 0;
	its.it_interval.tv_sec = ms / 1000;
	its.it_interval.tv_nsec = (long)(ms % 1000) * 1000000L;
	its.it_value = its.it_interval;
	if (timerfd_settime(d->timer_fd, 0, &its, NULL) < 0)
		return -errno;
	d->timer_fast = fast;
	d->timer_armed = true;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: fstrackd [OPTIONS]\n"
		"Record where filesystems change; answer 'what changed since T'.\n\n"
		"  --state-dir DIR          journals and scope list (default %s)\n"
		"  --socket PATH            listen here (default $FSTRACK_SOCKET or %s)\n"
		"  --foreground             do not detach; log to stderr\n"
		"  --verbose                log more (debug)\n"
		"  --commit-ms N            group-commit interval (default 50)\n"
		"  --max-journal-bytes N    per-filesystem journal cap (default 256 MiB)\n"
		"  --segment-bytes N        journal segment size (default 16 MiB)\n"
		"  --margin-ms N            catch-up scan look-back past the watermark (default 2000)\n"
		"  --scan-threads N         catch-up scan threads (default: by CPUs)\n"
		"  --queue-events N         kernel event queue of N events per filesystem (bounded;\n"
		"                           default: the kernel's max_queued_events, 16384)\n"
		"  --unlimited-queue        FAN_UNLIMITED_QUEUE: never overflow (kernel memory grows)\n"
		"  --stream-buffer-bytes N  a stream subscriber may lag this much before it gets\n"
		"                           \"gap\" and is dropped (default 4 MiB)\n"
		"  --help, --version\n",
		DEFAULT_STATE_DIR, FST_DEFAULT_SOCKET);
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

static int parse_args(int argc, char **argv, struct daemon_config *cfg)
{
	enum { O_STATE = 256, O_SOCKET, O_FG, O_VERBOSE, O_COMMIT, O_MAXJ, O_SEG, O_MARGIN, O_SCANT,
	       O_UNLIM, O_HELP, O_VERSION, O_QUEUE, O_STREAMBUF };
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
		{0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		uint64_t v = 0;
		bool num = c == O_COMMIT || c == O_MAXJ || c == O_SEG || c == O_MARGIN ||
			   c == O_SCANT || c == O_QUEUE || c == O_STREAMBUF;

		if (num && parse_u64(optarg, &v) < 0) {
			fprintf(stderr, "fstrackd: --%s needs a whole number, not '%s'\n",
				opts[c - O_STATE].name, optarg);
			return 2;
		}
		switch (c) {
		case O_STATE:
			cfg->state_dir = optarg;
			break;
		case O_SOCKET:
			cfg->socket_path = optarg;
			break;
		case O_FG:
			cfg->foreground = true;
			break;
		case O_VERBOSE:
			log_set_level(LOG_LEVEL_DEBUG);
			break;
		case O_COMMIT:
			cfg->commit_ms = v ? (unsigned)v : 1;
			break;
		case O_MAXJ:
			cfg->max_journal_bytes = v;
			break;
		case O_SEG:
			cfg->segment_bytes = v;
			break;
		case O_MARGIN:
			cfg->margin_ms = (unsigned)v;
			break;
		case O_SCANT:
			cfg->scan_threads = (unsigned)v;
			break;
		case O_UNLIM:
			cfg->unlimited_queue = true;
			break;
		case O_QUEUE:
			cfg->queue_events = (unsigned long)v;
			break;
		case O_STREAMBUF:
			cfg->stream_buffer_max = (size_t)v;
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

static int setup_loop(struct daemon *d)
{
	static struct ev_tag listen_tag = {EV_LISTEN, NULL}, timer_tag = {EV_TIMER, NULL},
			     signal_tag = {EV_SIGNAL, NULL}, mounts_tag = {EV_MOUNTS, NULL};
	sigset_t mask;
	int r;

	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0)
		return log_errno(LOG_LEVEL_ERR, -errno, "epoll_create1");
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return log_errno(LOG_LEVEL_ERR, -errno, "sigprocmask");
	signal(SIGPIPE, SIG_IGN);
	d->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->signal_fd < 0)
		return log_errno(LOG_LEVEL_ERR, -errno, "signalfd");
	d->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (d->timer_fd < 0)
		return log_errno(LOG_LEVEL_ERR, -errno, "timerfd_create");
	r = daemon_timer(d, true);
	if (r < 0)
		return log_errno(LOG_LEVEL_ERR, r, "timerfd_settime");
	/* The mount table: EPOLLPRI when it changes. */
	d->mountinfo_fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (d->mountinfo_fd < 0)
		return log_errno(LOG_LEVEL_ERR, -errno, "open /proc/self/mountinfo");
	if ((r = daemon_epoll_add(d, d->listen_fd, EPOLLIN, &listen_tag)) < 0 ||
	    (r = daemon_epoll_add(d, d->timer_fd, EPOLLIN, &timer_tag)) < 0 ||
	    (r = daemon_epoll_add(d, d->signal_fd, EPOLLIN, &signal_tag)) < 0 ||
	    (r = daemon_epoll_add(d, d->mountinfo_fd, EPOLLPRI, &mounts_tag)) < 0)
		return log_errno(LOG_LEVEL_ERR, r, "epoll_ctl");
	return 0;
}

/* Group commit: every commit_ms, and a watermark alone every 30 s. */
static void on_timer(struct daemon *d)
{
	uint64_t v, now = now_monotonic_ns();

	if (read(d->timer_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_errno(LOG_LEVEL_WARN, -errno, "timerfd");
	bool busy = server_busy(d);

	for (struct fsys *fs = d->filesystems; fs; fs = fs->next) {
		fsys_kick(fs);
		bool idle_due = now - fs->idle_commit_ns >= IDLE_WATERMARK_NS;

		busy |= fsys_scan_busy(fs) || fs->last_commit_error;
		if (!journal_dirty(fs->journal) && !idle_due)
			continue;
		busy |= journal_dirty(fs->journal);
		fs->idle_commit_ns = now;
		if (fsys_commit(fs) == 0)
			server_after_commit(d, fs);
	}
	server_tick(d);
	if (daemon_timer(d, busy) < 0)
		log_errno(LOG_LEVEL_WARN, -errno, "timerfd_settime");
}

static void on_signal(struct daemon *d)
{
	struct signalfd_siginfo si;

	while (read(d->signal_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			log_info("SIGHUP: checking mounts and scopes again");
			daemon_recheck_mounts(d);
			continue;
		}
		log_info("signal %u: stopping", si.ssi_signo);
		d->quit = true;
	}
}

static int run(struct daemon *d)
{
	while (!d->quit) {
		struct epoll_event evs[64];
		int n = epoll_wait(d->epfd, evs, 64, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return log_errno(LOG_LEVEL_ERR, -errno, "epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			struct ev_tag *t = evs[i].data.ptr;
			enum ev_kind kind = t->kind; /* t may be freed below */

			switch (kind) {
			case EV_LISTEN:
				server_accept(d);
				break;
			case EV_CLIENT:
				server_client_event(d, t->ptr, evs[i].events);
				/* the client may be gone: later events of this
				 * batch for it are dropped by the loop below */
				break;
			case EV_FANOTIFY:
				watcher_read(t->ptr);
				break;
			case EV_SCAN:
				fsys_scan_finished(t->ptr);
				break;
			case EV_TIMER:
				on_timer(d);
				break;
			case EV_SIGNAL:
				on_signal(d);
				break;
			case EV_MOUNTS:
				daemon_recheck_mounts(d);
				break;
			}
			/* a filesystem may have been freed (unwatch, unmount): the
			 * rest of this batch may point into it, so poll again */
			if (kind == EV_CLIENT || kind == EV_MOUNTS)
				break;
		}
		server_reap(d); /* clients closed in this round */
		/* hold no mount busy between rounds */
		for (struct fsys *fs = d->filesystems; fs; fs = fs->next)
			fsys_release_mount(fs);
	}
	return 0;
}

static void shutdown_clean(struct daemon *d)
{
	server_close_all(d);
	while (d->filesystems) {
		struct fsys *fs = d->filesystems;
		int r;

		d->filesystems = fs->next;
		fsys_drain(fs);
		if (fs->scan) {
			/* An unfinished scan: the gap stays open for the next start. */
			scan_cancel(fs->scan);
			scan_join_free(fs->scan);
			fs->scan = NULL;
		}
		r = fsys_commit(fs);
		if (r == 0 && !fsys_scan_busy(fs))
			r = journal_close_clean(fs->journal, now_realtime_ns());
		if (r < 0)
			log_errno(LOG_LEVEL_WARN, r, "journal of %s not closed cleanly",
				  fs->mount_path);
		fsys_free(fs);
	}
	while (d->scopes) {
		struct scope *s = d->scopes;
		d->scopes = s->next;
		free(s);
	}
	safe_close(d->timer_fd);
	safe_close(d->signal_fd);
	safe_close(d->mountinfo_fd);
	safe_close(d->epfd);
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

int main(int argc, char **argv)
{
	struct daemon d = {
		.cfg = {.state_dir = DEFAULT_STATE_DIR,
			.socket_path = getenv(FST_SOCKET_ENV) ? getenv(FST_SOCKET_ENV)
							     : FST_DEFAULT_SOCKET,
			.commit_ms = 50,
			.max_journal_bytes = 256ull << 20,
			.segment_bytes = 16ull << 20,
			.margin_ms = 2000,
			.query_wait_ms = 60000,
			.recorder_max = 1u << 18,
			.stream_buffer_max = 4u << 20},
		.listen_fd = -1,
		.timer_fd = -1,
		.signal_fd = -1,
		.mountinfo_fd = -1,
		.epfd = -1,
	};
	char logpath[PATH_MAX];
	int r;

	r = parse_args(argc, argv, &d.cfg);
	if (r >= 0)
		return r;
	if (geteuid() != 0) {
		fprintf(stderr, "fstrackd: must run as root (fanotify filesystem marks and "
				"open_by_handle_at need CAP_SYS_ADMIN and CAP_DAC_READ_SEARCH)\n");
		return 1;
	}
	r = mkdir_p(d.cfg.state_dir, 0700);
	if (r < 0) {
		fprintf(stderr, "fstrackd: cannot create state directory %s: %s\n", d.cfg.state_dir,
			strerror(-r));
		return 1;
	}
	snprintf(d.scopes_path, sizeof(d.scopes_path), "%s/scopes.json", d.cfg.state_dir);
	r = server_open(&d);
	if (r < 0) {
		fprintf(stderr, "fstrackd: cannot listen on %s: %s\n", d.cfg.socket_path,
			strerror(-r));
		return 1;
	}
	if (!d.cfg.foreground) {
		int fd;
		snprintf(logpath, sizeof(logpath), "%s/fstrackd.log", d.cfg.state_dir);
		printf("fstrackd: listening on %s, state in %s, log in %s\n", d.cfg.socket_path,
		       d.cfg.state_dir, logpath);
		fflush(stdout);
		r = detach();
		if (r < 0) {
			fprintf(stderr, "fstrackd: cannot detach: %s\n", strerror(-r));
			return 1;
		}
		fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dup2(fd, STDERR_FILENO);
			safe_close(fd);
		}
	}
	d.pid = getpid();
	d.start_ns = now_monotonic_ns();
	r = setup_loop(&d);
	if (r < 0)
		return 1;
	log_info("fstrackd %s started (pid %d), state %s, socket %s", FST_VERSION, (int)d.pid,
		 d.cfg.state_dir, d.cfg.socket_path);
	scopes_load(&d);
	r = run(&d);
	shutdown_clean(&d);
	log_info("stopped");
	return r < 0 ? 1 : 0;
}
