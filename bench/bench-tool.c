/* SPDX-License-Identifier: MIT */
/*
 * bench-tool: the workload driver of the bench scripts (built by
 * bench/lib.sh with cc into a temporary directory, not by meson).
 *
 *   bench-tool mktree DIR NFILES PER_DIR SIZE
 *        NFILES files of SIZE bytes (distinct contents), PER_DIR to a
 *        directory: DIR/gGGG/dDDD/fFFFFF.txt, 32 leaf directories to a group.
 *   bench-tool change DIR K MODE [LIST]
 *        change K files found under DIR (not below .git or storm):
 *        MODE modify: append a line to each;
 *        MODE mixed: in turn modify, create a new file next to it, delete it,
 *        rename it into another directory. With LIST, append every path
 *        touched (relative to DIR, old and new names) to the file LIST.
 *   bench-tool storm-rewrite DIR NFILES ROUNDS
 *        make NFILES files in DIR, then rewrite each (open O_TRUNC, write,
 *        close) ROUNDS times; prints: operations seconds
 *   bench-tool storm-churn DIR N
 *        create N empty files in 100 directories under DIR, then delete
 *        them all; prints: operations seconds
 *   bench-tool rewrite DIR NFILES ROUNDS
 *        rewrite the files DIR/rNNNNNN that 'storm-rewrite DIR NFILES 0'
 *        made (open O_TRUNC, write 18 bytes, close), ROUNDS times each
 *   bench-tool append DIR NFILES N
 *        N appends of one byte (open O_APPEND, write, close) to NFILES files
 *        DIR/aNN in turn (made if missing)
 *   bench-tool git-ipc-query SOCKET
 *        ask git's builtin fsmonitor daemon (git >= 2.38) for the changes
 *        since a token it does not know, through its simple-ipc socket
 *        (.git/fsmonitor--daemon.ipc): pkt-line framing, the request a
 *        flush-terminated message, the answer pkt-lines up to a flush. The
 *        daemon answers after it has seen a cookie file it creates in .git,
 *        that is after it has read every event queued before the request.
 *        Prints the answer's token and its size; exit 1 on no answer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DIRS_PER_GROUP 32

static void die(const char *what)
{
	fprintf(stderr, "bench-tool: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void xmkdir(const char *p)
{
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		die(p);
}

static void write_file(const char *p, const char *buf, size_t len, int flags)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0644);

	if (fd < 0)
		die(p);
	if (len && write(fd, buf, len) != (ssize_t)len)
		die(p);
	if (close(fd) < 0)
		die(p);
}

static int mktree(const char *dir, long nfiles, long per_dir, long size)
{
	char path[4096], *buf = malloc((size_t)size + 64);
	long ndirs = (nfiles + per_dir - 1) / per_dir;

	if (!buf)
		die("malloc");
	xmkdir(dir);
	for (long d = 0; d < ndirs; d++) {
		if (d % DIRS_PER_GROUP == 0) {
			snprintf(path, sizeof(path), "%s/g%03ld", dir, d / DIRS_PER_GROUP);
			xmkdir(path);
		}
		snprintf(path, sizeof(path), "%s/g%03ld/d%03ld", dir, d / DIRS_PER_GROUP,
			 d % DIRS_PER_GROUP);
		xmkdir(path);
		for (long f = d * per_dir; f < nfiles && f < (d + 1) * per_dir; f++) {
			size_t len = 0;

			while (len < (size_t)size)
				len +=
				    (size_t)snprintf(buf + len, 64, "file %ld line %zu\n", f, len);
			snprintf(path, sizeof(path), "%s/g%03ld/d%03ld/f%06ld.txt", dir,
				 d / DIRS_PER_GROUP, d % DIRS_PER_GROUP, f);
			write_file(path, buf, (size_t)size, O_EXCL);
		}
	}
	free(buf);
	return 0;
}

/* ---- change ---- */

static char **files;
static size_t n_files, cap_files;
static size_t top_len;

static int collect(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	const char *base = p + ftw->base;

	if (type == FTW_D && ftw->level > 0 &&
	    (strcmp(base, ".git") == 0 || strcmp(base, "storm") == 0))
		return FTW_SKIP_SUBTREE;
	if (type != FTW_F || !S_ISREG(st->st_mode) || ftw->level == 0)
		return FTW_CONTINUE;
	if (ftw->level == 1)
		return FTW_CONTINUE; /* files at the top (markers, state): not ours */
	if (n_files == cap_files) {
		cap_files = cap_files ? cap_files * 2 : 4096;
		files = realloc(files, cap_files * sizeof(*files));
		if (!files)
			die("realloc");
	}
	files[n_files] = strdup(p + top_len + 1);
	if (!files[n_files])
		die("strdup");
	n_files++;
	return FTW_CONTINUE;
}

static void dirname_of(const char *p, char *out, size_t size)
{
	const char *slash = strrchr(p, '/');

	snprintf(out, size, "%.*s", slash ? (int)(slash - p) : 1, slash ? p : ".");
}

static int change(const char *dir, long k, const char *mode, const char *list_path)
{
	bool mixed = strcmp(mode, "mixed") == 0;
	FILE *list = NULL;
	char from[4096], to[4096], d[4096], rel[4096];
	unsigned tag;
	long counts[4] = {0};

	if (!mixed && strcmp(mode, "modify") != 0) {
		fprintf(stderr, "bench-tool: change: MODE is modify or mixed\n");
		return 2;
	}
	top_len = strlen(dir);
	while (top_len > 1 && dir[top_len - 1] == '/')
		top_len--;
	if (nftw(dir, collect, 64, FTW_PHYS | FTW_ACTIONRETVAL) < 0)
		die(dir);
	if ((size_t)k > n_files) {
		fprintf(stderr, "bench-tool: change: only %zu files under %s\n", n_files, dir);
		return 1;
	}
	if (list_path) {
		list = fopen(list_path, "a");
		if (!list)
			die(list_path);
	}
	srandom((unsigned)(getpid() ^ (unsigned)(now_s() * 1e6)));
	tag = (unsigned)random();
	/* k distinct files: a partial Fisher-Yates shuffle */
	for (long i = 0; i < k; i++) {
		size_t j = (size_t)i + (size_t)random() % (n_files - (size_t)i);
		char *t = files[i];
		int op = mixed ? (int)(i % 4) : 0;

		files[i] = files[j];
		files[j] = t;
		snprintf(from, sizeof(from), "%.*s/%s", (int)top_len, dir, files[i]);
		switch (op) {
		case 0:
			write_file(from, "changed\n", 8, O_APPEND);
			if (list)
				fprintf(list, "%s\n", files[i]);
			break;
		case 1:
			dirname_of(files[i], d, sizeof(d));
			snprintf(rel, sizeof(rel), "%s/new-%08x-%ld.txt", d, tag, i);
			snprintf(to, sizeof(to), "%.*s/%s", (int)top_len, dir, rel);
			write_file(to, "new\n", 4, O_EXCL);
			if (list)
				fprintf(list, "%s\n", rel);
			break;
		case 2:
			if (unlink(from) < 0)
				die(from);
			if (list)
				fprintf(list, "%s\n", files[i]);
			break;
		case 3:
			/* into the directory of some other file */
			dirname_of(files[(size_t)random() % n_files], d, sizeof(d));
			snprintf(rel, sizeof(rel), "%s/mv-%08x-%ld.txt", d, tag, i);
			snprintf(to, sizeof(to), "%.*s/%s", (int)top_len, dir, rel);
			if (rename(from, to) < 0)
				die(from);
			if (list)
				fprintf(list, "%s\n%s\n", files[i], rel);
			break;
		}
		counts[op]++;
	}
	if (list && fclose(list) != 0)
		die(list_path);
	printf("modified %ld created %ld deleted %ld renamed %ld\n", counts[0], counts[1],
	       counts[2], counts[3]);
	return 0;
}

/* ---- storms ---- */

static int storm_rewrite(const char *dir, long nfiles, long rounds)
{
	char path[4096];
	double t0;

	xmkdir(dir);
	for (long f = 0; f < nfiles; f++) {
		snprintf(path, sizeof(path), "%s/r%06ld", dir, f);
		write_file(path, "x", 1, O_TRUNC);
	}
	t0 = now_s();
	for (long r = 0; r < rounds; r++)
		for (long f = 0; f < nfiles; f++) {
			snprintf(path, sizeof(path), "%s/r%06ld", dir, f);
			write_file(path, "rewritten content\n", 18, O_TRUNC);
		}
	printf("%ld %.6f\n", nfiles * rounds, now_s() - t0);
	return 0;
}

static int storm_churn(const char *dir, long n)
{
	char path[4096];
	double t0;

	xmkdir(dir);
	for (int d = 0; d < 100; d++) {
		snprintf(path, sizeof(path), "%s/c%02d", dir, d);
		xmkdir(path);
	}
	t0 = now_s();
	for (long f = 0; f < n; f++) {
		snprintf(path, sizeof(path), "%s/c%02ld/f%07ld", dir, f % 100, f);
		write_file(path, NULL, 0, O_EXCL);
	}
	for (long f = 0; f < n; f++) {
		snprintf(path, sizeof(path), "%s/c%02ld/f%07ld", dir, f % 100, f);
		if (unlink(path) < 0)
			die(path);
	}
	printf("%ld %.6f\n", 2 * n, now_s() - t0);
	return 0;
}

static int rewrite(const char *dir, long nfiles, long rounds)
{
	char path[4096];

	for (long r = 0; r < rounds; r++)
		for (long f = 0; f < nfiles; f++) {
			snprintf(path, sizeof(path), "%s/r%06ld", dir, f);
			write_file(path, "rewritten content\n", 18, O_TRUNC);
		}
	return 0;
}

static int append(const char *dir, long nfiles, long n)
{
	char path[4096];

	xmkdir(dir);
	for (long i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/a%02ld", dir, i % nfiles);
		write_file(path, "x", 1, O_APPEND);
	}
	return 0;
}

/* ---- git's fsmonitor daemon: a simple-ipc client ---- */

static void xwrite(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write to git's fsmonitor daemon");
		buf += n;
		len -= (size_t)n;
	}
}

static bool xread(int fd, char *buf, size_t len)
{
	while (len) {
		ssize_t n = read(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("read from git's fsmonitor daemon");
		if (n == 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

static int git_ipc_query(const char *sock)
{
	static const char request[] = "builtin:bench-tool:0";
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char hdr[5] = {0}, pkt[65536], token[256] = "";
	size_t total = 0;
	int fd;

	if (strlen(sock) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "bench-tool: socket path too long: %s\n", sock);
		return 1;
	}
	strcpy(sa.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "bench-tool: %s: %s\n", sock, strerror(errno));
		return 1;
	}
	alarm(600);
	snprintf(hdr, sizeof(hdr), "%04zx", strlen(request) + 4);
	xwrite(fd, hdr, 4);
	xwrite(fd, request, strlen(request));
	xwrite(fd, "0000", 4);
	for (;;) {
		unsigned len;

		if (!xread(fd, hdr, 4)) {
			fprintf(stderr,
				"bench-tool: git's fsmonitor daemon closed the connection\n");
			return 1;
		}
		if (sscanf(hdr, "%4x", &len) != 1 || (len != 0 && len < 4)) {
			fprintf(stderr, "bench-tool: bad pkt-line header '%s'\n", hdr);
			return 1;
		}
		if (len == 0)
			break;
		if (!xread(fd, pkt, len - 4)) {
			fprintf(stderr, "bench-tool: short pkt-line from git's fsmonitor daemon\n");
			return 1;
		}
		if (total == 0)
			snprintf(token, sizeof(token), "%.*s", (int)strnlen(pkt, len - 4), pkt);
		total += len - 4;
	}
	close(fd);
	printf("token %s bytes %zu\n", token, total);
	return 0;
}

static long num(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 0) {
		fprintf(stderr, "bench-tool: not a number: %s\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	if (argc == 6 && strcmp(argv[1], "mktree") == 0)
		return mktree(argv[2], num(argv[3]), num(argv[4]) ?: 1, num(argv[5]));
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "change") == 0)
		return change(argv[2], num(argv[3]), argv[4], argc == 6 ? argv[5] : NULL);
	if (argc == 5 && strcmp(argv[1], "storm-rewrite") == 0)
		return storm_rewrite(argv[2], num(argv[3]), num(argv[4]));
	if (argc == 4 && strcmp(argv[1], "storm-churn") == 0)
		return storm_churn(argv[2], num(argv[3]));
	if (argc == 5 && strcmp(argv[1], "rewrite") == 0)
		return rewrite(argv[2], num(argv[3]), num(argv[4]));
	if (argc == 5 && strcmp(argv[1], "append") == 0)
		return append(argv[2], num(argv[3]) ?: 1, num(argv[4]));
	if (argc == 3 && strcmp(argv[1], "git-ipc-query") == 0)
		return git_ipc_query(argv[2]);
	fprintf(stderr, "usage: bench-tool mktree DIR NFILES PER_DIR SIZE\n"
			"       bench-tool change DIR K modify|mixed [LIST]\n"
			"       bench-tool storm-rewrite DIR NFILES ROUNDS\n"
			"       bench-tool storm-churn DIR N\n"
			"       bench-tool rewrite DIR NFILES ROUNDS\n"
			"       bench-tool append DIR NFILES N\n"
			"       bench-tool git-ipc-query SOCKET\n");
	return 2;
}
