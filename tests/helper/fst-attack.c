/* SPDX-License-Identifier: MIT */
/*
 * fst-attack: what a hostile local user does to fstrackd's socket, for the
 * t3xxx shell tests and bench/soak.sh. Nothing here trusts the daemon: every
 * answer read is checked to be one JSON object per line.
 *
 *   connect SOCK N [--hold]
 *       open N connections (raising this process's fd limit to its hard
 *       limit), send nothing; print one summary line
 *       "attempts N accepted A refused R closed C failed F" and the first
 *       refusal line ("refusal: ..."); --hold keeps the accepted ones open
 *       until SIGTERM or SIGINT
 *   pipeline SOCK CONNS N OP|REQUEST
 *       CONNS connections, each sent N requests at once and nothing read:
 *       request i is {"v":1,"op":"mark-<i>"} when i % 10 == 9, else
 *       {"v":1,"op":"OP"} (or REQUEST itself when it starts with "{");
 *       prints "sent" and waits for SIGUSR1, then reads every answer and
 *       checks it: N lines per connection, the marks' errors in order, the
 *       others "ok":true (or EAGAIN: a catch-up scan ran past the wait).
 *       Prints a summary line; exit 1 when an answer is missing, malformed
 *       or out of order
 *   streams SOCK N PATH TOKEN
 *       N stream subscribers on PATH since TOKEN that never read (small
 *       receive buffers); prints "streams N" and waits for SIGTERM
 *   raw SOCK [--detach] [--timeout-ms T] [--no-shutdown]
 *       send all of stdin (binary) on one connection while reading, then
 *       shut down the sending side (unless --no-shutdown) and copy every
 *       byte received to stdout until EOF, or until nothing came for T ms
 *       (default 5000). --detach: the process that connected exits before
 *       anything is sent (its child talks): the daemon must know the
 *       caller from the connection, not from its pid
 *   chain DIR DEPTH NAME [--link FILE] [--touch NAME]
 *       DEPTH nested directories NAME/NAME/... in DIR (beyond PATH_MAX:
 *       walks with openat); --link FILE: a hard link "h" to FILE at the
 *       bottom; --touch NAME: append a line to the file NAME at the bottom
 *
 * Exit status: 0 success, 1 failure, 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attack-common.h"

static void usage(void)
{
	fprintf(stderr,
		"usage: fst-attack connect|pipeline|streams|raw|chain ... (see the source)\n");
	exit(2);
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("write: %s", strerror(errno));
		buf += n;
		len -= (size_t)n;
	}
}

/* ---- connect --------------------------------------------------------------- */

struct conns {
	int *fd;
	size_t n;
	unsigned refused, closed;
	char first_refusal[1024];
};

/* Read what turned-away connections got, close them; keep the silent ones. */
static void sweep(struct conns *cs, int timeout_ms)
{
	struct pollfd *p = calloc(cs->n ? cs->n : 1, sizeof(*p));
	size_t keep = 0;

	if (!p)
		die("out of memory");
	for (size_t i = 0; i < cs->n; i++)
		p[i] = (struct pollfd){.fd = cs->fd[i], .events = POLLIN};
	if (poll(p, cs->n, timeout_ms) < 0 && errno != EINTR)
		die("poll: %s", strerror(errno));
	for (size_t i = 0; i < cs->n; i++) {
		char buf[1024];
		ssize_t n;

		if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) {
			cs->fd[keep++] = cs->fd[i];
			continue;
		}
		n = read(cs->fd[i], buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = '\0';
			buf[strcspn(buf, "\n")] = '\0';
			if (!cs->refused)
				snprintf(cs->first_refusal, sizeof(cs->first_refusal), "%s", buf);
			cs->refused++;
		} else {
			cs->closed++;
		}
		close(cs->fd[i]);
	}
	cs->n = keep;
	free(p);
}

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

static void catch_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal};

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
}

static void wait_signal(void)
{
	while (!got_signal)
		pause();
}

static int cmd_connect(int argc, char **argv)
{
	struct conns cs = {0};
	unsigned long n, failed = 0;
	bool hold = argc > 3 && !strcmp(argv[3], "--hold");
	uint64_t t0;

	if (argc < 3)
		usage();
	n = strtoul(argv[2], NULL, 10);
	raise_fd_limit();
	catch_signals();
	cs.fd = calloc(n ? n : 1, sizeof(int));
	if (!cs.fd)
		die("out of memory");
	for (unsigned long i = 0; i < n && !got_signal; i++) {
		int fd = connect_to(argv[1]);

		if (fd < 0) {
			failed++;
			if (fd == -EMFILE || fd == -ENFILE)
				sweep(&cs, 100);
			continue;
		}
		cs.fd[cs.n++] = fd;
		if (i % 256 == 255)
			sweep(&cs, 0);
	}
	/* the last turned-away ones: until nothing more comes for 500 ms */
	t0 = now_ms();
	for (;;) {
		unsigned before = cs.refused + cs.closed;
		sweep(&cs, 500);
		if (cs.refused + cs.closed == before || now_ms() - t0 > 10000)
			break;
	}
	printf("attempts %lu accepted %zu refused %u closed %u failed %lu\n", n, cs.n, cs.refused,
	       cs.closed, failed);
	if (cs.refused)
		printf("refusal: %s\n", cs.first_refusal);
	fflush(stdout);
	if (hold)
		wait_signal();
	return 0;
}

/* ---- answers ----------------------------------------------------------------- */

/* One answer line: a JSON object with "v":1 and a boolean "ok". */
static struct json_object *parse_answer(const char *line, size_t len)
{
	struct json_tokener *tk = json_tokener_new();
	struct json_object *o, *v;

	if (!tk)
		die("out of memory");
	o = json_tokener_parse_ex(tk, line, (int)len);
	if (o && (json_tokener_get_error(tk) != json_tokener_success ||
		  (size_t)json_tokener_get_parse_end(tk) != len))
		o = (json_object_put(o), NULL);
	json_tokener_free(tk);
	if (!o)
		return NULL;
	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "v", &v) ||
	    json_object_get_int(v) != 1) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* ---- pipeline ---------------------------------------------------------------- */

struct piped {
	int fd;
	char *in;
	size_t len, cap;
	bool eof;
};

static int cmd_pipeline(int argc, char **argv)
{
	unsigned long conns, n, bad = 0, answers = 0, bytes = 0, waited = 0;
	struct piped *pc;
	char line[512];
	uint64_t last;

	if (argc < 5)
		usage();
	conns = strtoul(argv[2], NULL, 10);
	n = strtoul(argv[3], NULL, 10);
	raise_fd_limit();
	catch_signals();
	pc = calloc(conns ? conns : 1, sizeof(*pc));
	if (!pc)
		die("out of memory");
	for (unsigned long c = 0; c < conns; c++) {
		char *all = NULL;
		size_t all_len = 0;
		FILE *f = open_memstream(&all, &all_len);

		if (!f)
			die("out of memory");
		pc[c].fd = connect_patient(argv[1]);
		if (pc[c].fd < 0)
			die("connect %s: %s", argv[1], strerror(-pc[c].fd));
		for (unsigned long i = 0; i < n; i++) {
			if (i % 10 == 9)
				fprintf(f, "{\"v\":1,\"op\":\"mark-%lu\"}\n", i);
			else
				fprintf(f, argv[4][0] == '{' ? "%s\n" : "{\"v\":1,\"op\":\"%s\"}\n",
					argv[4]);
		}
		fclose(f);
		write_all(pc[c].fd, all, all_len);
		free(all);
	}
	printf("sent %lu requests on %lu connections\n", n * conns, conns);
	fflush(stdout);
	wait_signal();

	/* read until every connection gave n lines, or 30 s without news */
	for (unsigned long c = 0; c < conns; c++)
		fcntl(pc[c].fd, F_SETFL, O_NONBLOCK);
	last = now_ms();
	for (;;) {
		bool all_done = true, news = false;

		for (unsigned long c = 0; c < conns; c++) {
			size_t lines = 0;
			for (size_t i = 0; i < pc[c].len; i++)
				lines += pc[c].in[i] == '\n';
			if (lines >= n || pc[c].eof)
				continue;
			all_done = false;
			for (;;) {
				ssize_t r;
				if (pc[c].cap - pc[c].len < 65536) {
					pc[c].cap = pc[c].cap * 2 + 65536;
					pc[c].in = realloc(pc[c].in, pc[c].cap);
					if (!pc[c].in)
						die("out of memory");
				}
				r = read(pc[c].fd, pc[c].in + pc[c].len, pc[c].cap - pc[c].len);
				if (r <= 0) {
					if (r == 0)
						pc[c].eof = true;
					break;
				}
				pc[c].len += (size_t)r;
				bytes += (unsigned long)r;
				news = true;
			}
		}
		if (all_done)
			break;
		if (news)
			last = now_ms();
		else if (now_ms() - last > 30000)
			break;
		else
			usleep(2000);
	}

	for (unsigned long c = 0; c < conns; c++) {
		char *p = pc[c].in, *end = pc[c].in + pc[c].len;
		unsigned long i = 0;

		while (p && p < end) {
			char *nl = memchr(p, '\n', (size_t)(end - p));
			struct json_object *o, *ok, *err;
			if (!nl)
				break;
			o = parse_answer(p, (size_t)(nl - p));
			if (!o) {
				if (bad++ < 5)
					fprintf(stderr, "conn %lu answer %lu is not an answer\n", c,
						i);
			} else if (i % 10 == 9) {
				snprintf(line, sizeof(line), "unknown op \"mark-%lu\"", i);
				if (!json_object_object_get_ex(o, "error", &err) ||
				    strcmp(json_object_get_string(err), line) != 0) {
					if (bad++ < 5)
						fprintf(stderr,
							"conn %lu answer %lu: %s, not the mark\n",
							c, i, json_object_to_json_string(o));
				}
			} else if (json_object_object_get_ex(o, "ok", &ok) &&
				   !json_object_get_boolean(ok) &&
				   json_object_object_get_ex(o, "errno", &err) &&
				   json_object_get_int(err) == EAGAIN) {
				waited++; /* a scan ran past its wait: an answer too */
			} else if (!json_object_object_get_ex(o, "ok", &ok) ||
				   !json_object_get_boolean(ok)) {
				if (bad++ < 5)
					fprintf(stderr, "conn %lu answer %lu: %.200s\n", c, i,
						json_object_to_json_string(o));
			}
			json_object_put(o);
			answers++;
			i++;
			p = nl + 1;
		}
		if (i != n) {
			bad++;
			fprintf(stderr, "conn %lu: %lu answers of %lu%s\n", c, i, n,
				pc[c].eof ? " (closed by the daemon)" : "");
		}
		close(pc[c].fd);
		free(pc[c].in);
	}
	free(pc);
	printf("answers %lu of %lu (%lu of them EAGAIN), %lu bytes, %s\n", answers, n * conns,
	       waited, bytes, bad ? "NOT in order or incomplete" : "all in order");
	return bad ? 1 : 0;
}

/* ---- streams ----------------------------------------------------------------- */

static int cmd_streams(int argc, char **argv)
{
	unsigned long n;
	int opened = 0;
	char *req;

	if (argc < 5)
		usage();
	n = strtoul(argv[2], NULL, 10);
	raise_fd_limit();
	catch_signals();
	if (asprintf(&req, "{\"v\":1,\"op\":\"stream\",\"path\":\"%s\",\"since\":\"%s\"}\n",
		     argv[3], argv[4]) < 0)
		die("out of memory");
	for (unsigned long i = 0; i < n; i++) {
		int fd = connect_patient(argv[1]), small = 4096;

		if (fd < 0)
			die("connect %s: %s", argv[1], strerror(-fd));
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
		write_all(fd, req, strlen(req));
		opened++;
	}
	free(req);
	printf("streams %d\n", opened);
	fflush(stdout);
	wait_signal();
	return 0;
}

/* ---- raw --------------------------------------------------------------------- */

static int cmd_raw(int argc, char **argv)
{
	bool detach = false, shut = true;
	long timeout_ms = 5000;
	char *in = NULL, buf[65536];
	size_t in_len = 0, in_cap = 0, off = 0;
	uint64_t last;
	int fd;

	if (argc < 2)
		usage();
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--detach"))
			detach = true;
		else if (!strcmp(argv[i], "--no-shutdown"))
			shut = false;
		else if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc)
			timeout_ms = strtol(argv[++i], NULL, 10);
		else
			usage();
	}
	for (;;) {
		ssize_t n;
		if (in_cap - in_len < 65536) {
			in_cap = in_cap * 2 + 65536;
			in = realloc(in, in_cap);
			if (!in)
				die("out of memory");
		}
		n = read(0, in + in_len, in_cap - in_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("read stdin: %s", strerror(errno));
		if (n == 0)
			break;
		in_len += (size_t)n;
	}
	fd = connect_patient(argv[1]);
	if (fd < 0)
		die("connect %s: %s", argv[1], strerror(-fd));
	if (detach) {
		pid_t parent = getpid(), child = fork();
		if (child < 0)
			die("fork: %s", strerror(errno));
		if (child > 0)
			_exit(0); /* the connecting process is gone before a request is sent */
		while (getppid() == parent)
			usleep(1000);
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	last = now_ms();
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN | (off < in_len ? POLLOUT : 0)};
		int r = poll(&p, 1, 100);

		if (r < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (p.revents & POLLOUT) {
			ssize_t n = send(fd, in + off, in_len - off, MSG_NOSIGNAL);
			if (n > 0) {
				off += (size_t)n;
				if (off == in_len && shut)
					shutdown(fd, SHUT_WR);
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				off = in_len; /* closed by the daemon */
			}
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(fd, buf, sizeof(buf));
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				break;
			if (n > 0) {
				write_all(1, buf, (size_t)n);
				last = now_ms();
			}
		}
		if (in_len == 0 && off == 0 && shut) {
			shutdown(fd, SHUT_WR);
			shut = false;
		}
		if (now_ms() - last > (uint64_t)timeout_ms)
			break;
	}
	close(fd);
	free(in);
	return 0;
}

/* ---- chain ------------------------------------------------------------------- */

static int cmd_chain(int argc, char **argv)
{
	const char *link_to = NULL, *touch = NULL;
	unsigned long depth;
	int fd;

	if (argc < 4)
		usage();
	depth = strtoul(argv[2], NULL, 10);
	for (int i = 4; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--link"))
			link_to = argv[i + 1];
		else if (!strcmp(argv[i], "--touch"))
			touch = argv[i + 1];
		else
			usage();
	}
	fd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		die("open %s: %s", argv[1], strerror(errno));
	for (unsigned long i = 0; i < depth; i++) {
		int sub;

		if (mkdirat(fd, argv[3], 0755) < 0 && errno != EEXIST)
			die("mkdir at depth %lu: %s", i, strerror(errno));
		sub = openat(fd, argv[3], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			die("open at depth %lu: %s", i, strerror(errno));
		close(fd);
		fd = sub;
	}
	if (link_to && linkat(AT_FDCWD, link_to, fd, "h", 0) < 0)
		die("link %s at the bottom: %s", link_to, strerror(errno));
	if (touch) {
		int f = openat(fd, touch, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (f < 0 || write(f, "x\n", 2) != 2)
			die("append to %s at the bottom: %s", touch, strerror(errno));
		close(f);
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(argv[1], "connect"))
		return cmd_connect(argc - 1, argv + 1);
	if (!strcmp(argv[1], "pipeline"))
		return cmd_pipeline(argc - 1, argv + 1);
	if (!strcmp(argv[1], "streams"))
		return cmd_streams(argc - 1, argv + 1);
	if (!strcmp(argv[1], "raw"))
		return cmd_raw(argc - 1, argv + 1);
	if (!strcmp(argv[1], "chain"))
		return cmd_chain(argc - 1, argv + 1);
	usage();
}
