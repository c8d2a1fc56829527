/* SPDX-License-Identifier: MIT */
/*
 * fstrack backup SRC DST: rsync driven by fstrack.
 *
 * 'fstrack changes --rsync' prints the file lists of rsync-list.c as one,
 * for one rsync with -I; backup runs two, the names that may have new
 * content [E] with --ignore-times and then the directories and deleted
 * names [D] with rsync's quick check:
 *
 *   rsync -a -I --delete --delete-missing-args --files-from=E --from0 -x SRC/ DST/
 *   rsync -a    --delete --delete-missing-args --files-from=D --from0 -x SRC/ DST/
 *
 * and DST equals SRC for everything the answer covers. rsync stays on SRC's
 * filesystem (-x), since fstrackd does not cross mount points.
 *
 * The backup state (source and token) lives in DST/.fstrack-backup, excluded
 * from every transfer (so --delete never removes it) and written atomically
 * only after rsync succeeded: a failed or interrupted run leaves the old
 * token, whose answer next time covers everything this run missed. A file
 * rather than a user.* xattr on DST, because every filesystem rsync can
 * write to holds a file, and a file is easy to inspect or delete (deleting
 * it makes the next run a full copy).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/util.h"
#include "cli/cli-util.h"
#include "cli/commands.h"
#include "cli/rsync-list.h"
#include "fstrack.h"

#define STATE_NAME ".fstrack-backup"
#define STATE_MAGIC "fstrack-backup 1"

const char backup_synopsis[] =
    "backup [--dry-run] [--full] [--hard-links] [--verbose] [--state FILE] [--rsync-opt OPT]... "
    "SRC DST";

const char backup_summary[] = "Bring a copy of SRC in DST up to date with rsync";

const char backup_help[] =
    "The first run watches SRC and copies it whole (rsync -a --delete -x SRC/ DST/,\n"
    "with --checksum when DST already holds files);\n"
    "later runs ask fstrackd what changed since the previous run and give rsync only\n"
    "those names: the ones that may have new content with --ignore-times, then the\n"
    "deleted names and the directories whose names changed unseen (after fstrackd\n"
    "was down) with --delete. The token is saved in\n"
    "DST/" STATE_NAME " only after rsync succeeded, so a failed run is simply\n"
    "repeated next time. Delete that file to force a full copy.\n"
    "\n"
    "Options:\n"
    "  -n, --dry-run      run rsync with --dry-run and save nothing\n"
    "  --full             copy everything this time, as on the first run\n"
    "  -H, --hard-links   keep hard links (rsync -H)\n"
    "  -v, --verbose      say what is done, and run rsync with -v\n"
    "  --state FILE       keep the backup state in FILE instead of DST/" STATE_NAME "\n"
    "                     (then DST may be anything rsync accepts, e.g. host:/path)\n"
    "  --rsync-opt OPT    pass OPT to rsync (repeatable), e.g. --rsync-opt=-AX\n"
    "\n"
    "DST must change only through fstrack backup. Other filesystems mounted below SRC\n"
    "are not copied (rsync -x), nor a file named " STATE_NAME " at the top of SRC.\n";

struct backup {
	const char *src_arg, *dst_arg;
	char *src;	  /* absolute, resolved */
	char *state_path; /* where the state lives */
	bool state_in_dst;
	bool dry_run, full, hard_links, verbose;
	const char **rsync_opts;
	size_t n_rsync_opts;
};

/* Saved state: the source it belongs to and the token. */
static int state_read(const struct backup *b, char **ret_token)
{
	char *text = NULL, *line, *save = NULL, *src = NULL, *token = NULL;
	bool magic = false;
	int r;

	*ret_token = NULL;
	r = read_file(b->state_path, &text, NULL);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strcmp(line, STATE_MAGIC) == 0)
			magic = true;
		else if (strncmp(line, "source ", 7) == 0)
			src = line + 7;
		else if (strncmp(line, "token ", 6) == 0)
			token = line + 6;
	}
	if (!magic || !src || !token) {
		cli_warn("%s is not a backup state written by fstrack; making a full copy",
			 b->state_path);
	} else if (strcmp(src, b->src) != 0) {
		cli_warn("%s belongs to a backup of %s, not of %s; making a full copy",
			 b->state_path, src, b->src);
	} else {
		*ret_token = strdup(token);
		if (!*ret_token)
			r = -ENOMEM;
	}
	free(text);
	return r;
}

static int state_write(const struct backup *b, const char *token)
{
	struct stat st;
	bool have_times = true;
	char *text;
	int r;

	if (asprintf(&text,
		     STATE_MAGIC
		     "\n"
		     "# written by 'fstrack backup'; delete this file to force a full copy\n"
		     "source %s\n"
		     "token %s\n",
		     b->src, token) < 0)
		return -ENOMEM;
	/*
	 * Writing the state into DST changes DST's times, which rsync has just
	 * made equal to SRC's: put them back.
	 */
	if (b->state_in_dst && stat(b->dst_arg, &st) < 0)
		have_times = false;
	r = write_file_atomic(b->state_path, text, strlen(text), 0644);
	free(text);
	if (r == 0 && b->state_in_dst && have_times) {
		struct timespec ts[2] = {st.st_atim, st.st_mtim};

		if (utimensat(AT_FDCWD, b->dst_arg, ts, 0) < 0)
			cli_warn("cannot restore the times of %s: %s", b->dst_arg, strerror(errno));
	}
	return r;
}

/*
 * Run rsync with the common options plus extra; if list is not NULL it is
 * fed to rsync's stdin (--files-from=-). Returns rsync's exit status (>= 0)
 * or -errno when rsync could not run.
 */
static int run_rsync(const struct backup *b, const char *const *extra, size_t n_extra,
		     const char *list, size_t list_len)
{
	const char *argv[64];
	size_t n = 0;
	char src_slash[PATH_MAX + 2], dst_slash[PATH_MAX + 2];
	posix_spawn_file_actions_t fa;
	int pipefd[2] = {-1, -1};
	pid_t pid;
	int r, status;

	if (b->n_rsync_opts + n_extra + 16 > ARRAY_SIZE(argv))
		return -E2BIG;
	snprintf(src_slash, sizeof(src_slash), "%s/", b->src);
	snprintf(dst_slash, sizeof(dst_slash), "%s/", b->dst_arg);

	argv[n++] = "rsync";
	argv[n++] = "-a";
	argv[n++] = "-x";
	argv[n++] = "--delete";
	if (b->hard_links)
		argv[n++] = "-H";
	if (b->dry_run)
		argv[n++] = "--dry-run";
	if (b->verbose)
		argv[n++] = "-v";
	if (b->state_in_dst) {
		argv[n++] = "--exclude=/" STATE_NAME;
		argv[n++] = "--exclude=/" STATE_NAME ".tmp";
	}
	for (size_t i = 0; i < n_extra; i++)
		argv[n++] = extra[i];
	for (size_t i = 0; i < b->n_rsync_opts; i++)
		argv[n++] = b->rsync_opts[i];
	argv[n++] = "--";
	argv[n++] = src_slash;
	argv[n++] = dst_slash;
	argv[n] = NULL;

	if (b->verbose) {
		fputs("fstrack: running", stderr);
		for (size_t i = 0; argv[i]; i++)
			fprintf(stderr, " %s", argv[i]);
		fputs(list ? " < list\n" : "\n", stderr);
	}

	r = posix_spawn_file_actions_init(&fa);
	if (r)
		return -r;
	if (list) {
		if (pipe2(pipefd, O_CLOEXEC) < 0) {
			r = -errno;
			posix_spawn_file_actions_destroy(&fa);
			return r;
		}
		r = posix_spawn_file_actions_adddup2(&fa, pipefd[0], STDIN_FILENO);
		if (r) {
			r = -r;
			goto out;
		}
	}
	r = posix_spawnp(&pid, "rsync", &fa, NULL, (char *const *)argv, environ);
	if (r) {
		r = -r;
		goto out;
	}
	if (list) {
		close(pipefd[0]);
		pipefd[0] = -1;
		/* rsync may stop reading early; its exit status tells why */
		(void)write_all(pipefd[1], list, list_len);
		close(pipefd[1]);
		pipefd[1] = -1;
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			r = -errno;
			goto out;
		}
	}
	if (WIFEXITED(status))
		r = WEXITSTATUS(status);
	else
		r = 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
out:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	posix_spawn_file_actions_destroy(&fa);
	return r;
}

/* 0 if rsync's status means DST now holds everything up to the token. */
static int rsync_result(int r)
{
	if (r == -ENOENT)
		return cli_error("cannot run rsync: not found; install it (apt-get install rsync)");
	if (r < 0)
		return cli_error("cannot run rsync: %s", strerror(-r));
	if (r == 24) {
		/* Files vanished while rsync ran: they changed after the token was
		 * issued, so the next run lists them. */
		cli_warn("some files vanished during the transfer; the next run catches up");
		return 0;
	}
	if (r != 0)
		return cli_error("rsync failed (exit status %d); the backup state was not updated, "
				 "so the next run retries these changes",
				 r);
	return 0;
}

static int finish(const struct backup *b, const char *token)
{
	int r;

	if (b->dry_run) {
		if (b->verbose)
			fprintf(stderr, "fstrack: dry run: backup state not saved\n");
		return EXIT_OK;
	}
	r = state_write(b, token);
	if (r < 0)
		return cli_error("rsync succeeded but saving the backup state to %s failed: %s; "
				 "the next run repeats this one",
				 b->state_path, strerror(-r));
	if (b->verbose)
		fprintf(stderr, "fstrack: backup state saved in %s\n", b->state_path);
	return EXIT_OK;
}

/* Does the local directory dst hold anything but the backup state? */
static bool dst_has_files(const char *dst)
{
	DIR *d = opendir(dst);
	struct dirent *de;
	bool any = false;

	if (!d)
		return errno != ENOENT;
	while (!any && (de = readdir(d)))
		any = strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
		      strncmp(de->d_name, STATE_NAME, strlen(STATE_NAME)) != 0;
	closedir(d);
	return any;
}

/*
 * Everything may have changed. Into a copy that already holds files, rsync
 * compares contents (--checksum): its quick check would keep a file that
 * was rewritten with its size and mtime put back.
 */
static int full_copy(const struct backup *b, const char *token)
{
	static const char *const checksum[] = {"--checksum"};
	bool compare = !b->state_in_dst || dst_has_files(b->dst_arg);
	int code = rsync_result(run_rsync(b, checksum, compare ? 1 : 0, NULL, 0));

	return code ? code : finish(b, token);
}

static int incremental(const struct backup *b, const struct fst_changes *ch)
{
	static const char *const exact_opts[] = {"--ignore-times", "--delete-missing-args",
						 "--files-from=-", "--from0"};
	static const char *const dirs_opts[] = {"--delete-missing-args", "--files-from=-",
						"--from0"};
	struct rsync_lists lists = {0};
	char *exact = NULL, *dirs = NULL;
	size_t exact_len = 0, dirs_len = 0;
	int r, code = 0;

	if (ch->n == 0) {
		if (b->verbose)
			fprintf(stderr, "fstrack: nothing changed under %s\n", b->src);
		return finish(b, ch->token);
	}
	lists.exact = open_memstream(&exact, &exact_len);
	lists.dirs = open_memstream(&dirs, &dirs_len);
	r = lists.exact && lists.dirs ? rsync_list_write(&lists, b->src, ch) : -ENOMEM;
	if (lists.exact && fclose(lists.exact) != 0 && r == 0)
		r = -ENOMEM;
	if (lists.dirs && fclose(lists.dirs) != 0 && r == 0)
		r = -ENOMEM;
	if (r == -EBADMSG)
		code = cli_error("fstrackd sent a path that is not inside %s; this is a bug in "
				 "fstrackd; use --full",
				 b->src);
	else if (r < 0)
		code = cli_error("cannot list the changes of %s: %s", b->src, strerror(-r));
	if (code == 0 && b->verbose)
		fprintf(stderr,
			"fstrack: %zu changed paths since the last backup; rsync of %zu names, "
			"then of %zu directories and deleted names\n",
			ch->n, lists.n_exact, lists.n_dirs);
	/* First what changed (every listed file is sent), then directories. */
	if (code == 0 && lists.n_exact)
		code = rsync_result(
		    run_rsync(b, exact_opts, ARRAY_SIZE(exact_opts), exact, exact_len));
	if (code == 0 && lists.n_dirs)
		code = rsync_result(run_rsync(b, dirs_opts, ARRAY_SIZE(dirs_opts), dirs, dirs_len));
	free(exact);
	free(dirs);
	return code ? code : finish(b, ch->token);
}

/* Watch SRC (or take a token if it is watched already). */
static int start_tracking(fst_client *c, const char *src, char **ret_token)
{
	int r = fst_watch(c, src, ret_token);

	if (r == -EEXIST)
		r = fst_token(c, src, ret_token);
	return r;
}

/* DST inside SRC would copy the copy into itself. */
static int check_dst(const struct backup *b)
{
	char *dst = realpath(b->dst_arg, NULL), *parent = NULL;
	const char *rel;
	bool inside;

	if (!dst) {
		char *slash;

		if (errno != ENOENT)
			return cli_error("cannot resolve %s: %s", b->dst_arg, strerror(errno));
		parent = strdup(b->dst_arg);
		if (!parent)
			return cli_error("out of memory");
		slash = strrchr(parent, '/');
		if (slash && slash != parent)
			*slash = '\0';
		else if (slash)
			slash[1] = '\0';
		else
			strcpy(parent, ".");
		dst = realpath(parent, NULL);
		free(parent);
		if (!dst)
			return cli_error("cannot use %s: its parent directory does not resolve: %s",
					 b->dst_arg, strerror(errno));
	}
	inside = path_under(dst, b->src, &rel);
	free(dst);
	if (inside)
		return cli_error("%s is inside %s; choose a destination outside the source",
				 b->dst_arg, b->src_arg);
	return 0;
}

int cmd_backup(const struct cli *cli_in, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"dry-run", no_argument, NULL, 'n'},
	    {"full", no_argument, NULL, 'F'},
	    {"hard-links", no_argument, NULL, 'H'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"state", required_argument, NULL, 'T'},
	    {"rsync-opt", required_argument, NULL, 'R'},
	    {"help", no_argument, NULL, 'h'},
	    {"socket", required_argument, NULL, 'S'},
	    {NULL, 0, NULL, 0},
	};
	struct cli cli = *cli_in;
	struct backup b = {0};
	const char *state_opt = NULL;
	struct fst_changes *ch = NULL;
	fst_client *c = NULL;
	char *old = NULL, *token = NULL;
	struct stat st;
	int opt, r, code;

	b.rsync_opts = calloc((size_t)argc + 1, sizeof(*b.rsync_opts));
	if (!b.rsync_opts)
		return cli_error("out of memory");
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":hnHv", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			code = cli_print_help(backup_synopsis, backup_summary, backup_help);
			goto out;
		case 'S':
			cli.socket = optarg;
			break;
		case 'n':
			b.dry_run = true;
			break;
		case 'F':
			b.full = true;
			break;
		case 'H':
			b.hard_links = true;
			break;
		case 'v':
			b.verbose = true;
			break;
		case 'T':
			state_opt = optarg;
			break;
		case 'R':
			b.rsync_opts[b.n_rsync_opts++] = optarg;
			break;
		case ':':
			code = cli_usage_error("backup", "option '%s' needs a value",
					       argv[optind - 1]);
			goto out;
		default:
			if (optopt)
				code = cli_usage_error("backup", "unknown option '-%c'", optopt);
			else
				code = cli_usage_error("backup", "unknown option '%s'",
						       argv[optind - 1]);
			goto out;
		}
	}
	if (argc - optind != 2) {
		code = cli_usage_error("backup", argc - optind < 2 ? "missing SRC or DST"
								   : "too many arguments");
		goto out;
	}
	b.src_arg = argv[optind];
	b.dst_arg = argv[optind + 1];
	b.src = realpath(b.src_arg, NULL);
	if (!b.src || stat(b.src, &st) < 0) {
		code = cli_error("cannot use %s as the source: %s", b.src_arg, strerror(errno));
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		code = cli_error("%s is not a directory; fstrack backup copies directories",
				 b.src_arg);
		goto out;
	}
	if (state_opt) {
		b.state_path = strdup(state_opt);
	} else {
		if (strchr(b.dst_arg, ':') &&
		    (!strchr(b.dst_arg, '/') || strchr(b.dst_arg, ':') < strchr(b.dst_arg, '/'))) {
			code =
			    cli_error("%s is a remote destination; keep the backup state locally "
				      "with --state FILE",
				      b.dst_arg);
			goto out;
		}
		if (asprintf(&b.state_path, "%s/" STATE_NAME, b.dst_arg) < 0)
			b.state_path = NULL;
		b.state_in_dst = true;
	}
	if (!b.state_path) {
		code = cli_error("out of memory");
		goto out;
	}
	if (b.state_in_dst) {
		code = check_dst(&b);
		if (code)
			goto out;
	}

	/* SIGPIPE would kill us when rsync stops reading its list early. */
	signal(SIGPIPE, SIG_IGN);

	code = cli_connect(&cli, &c);
	if (code)
		goto out;
	if (!b.full) {
		r = state_read(&b, &old);
		if (r < 0) {
			code = cli_error("cannot read the backup state %s: %s", b.state_path,
					 strerror(-r));
			goto out;
		}
	}
	if (old) {
		r = fst_changes(c, b.src, old, 0, &ch);
		if (r == 0 && ch->fresh) {
			cli_warn(
			    "fstrackd cannot tell what changed since the last backup (the token "
			    "is too old or from another journal); making a full copy");
			code = full_copy(&b, ch->token);
			goto out;
		}
		if (r == 0) {
			code = incremental(&b, ch);
			goto out;
		}
		if (r != -ENOENT && r != -EINVAL) {
			code = r == -EAGAIN ? cli_error("%s; run the backup again later",
							fst_client_error(c))
					    : cli_client_error(c, r);
			goto out;
		}
		cli_warn("%s; making a full copy", fst_client_error(c));
	}
	r = start_tracking(c, b.src, &token);
	if (r < 0) {
		code = cli_client_error(c, r);
		goto out;
	}
	if (b.verbose)
		fprintf(stderr, "fstrack: full copy of %s to %s\n", b.src, b.dst_arg);
	code = full_copy(&b, token);
out:
	fst_changes_free(ch);
	fst_client_free(c);
	free(old);
	free(token);
	free(b.src);
	free(b.state_path);
	free(b.rsync_opts);
	return code;
}
