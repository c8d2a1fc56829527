/* SPDX-License-Identifier: MIT */
/*
 * fstrack git-daemon: have fstrackd answer git's builtin fsmonitor
 * protocol for a work tree (git >= 2.55 on Linux, core.fsmonitor = true):
 * git connects to the socket of its fsmonitor--daemon, finds fstrackd
 * there and starts no process at all (src/daemon/gitipc.c).
 *
 * enable: watch the work tree, have fstrackd listen on the socket git
 * names for it ("git rev-parse --git-path fsmonitor--daemon.ipc"), wait
 * until it does, then set core.fsmonitor = true (in that order: git would
 * start its own daemon if it found nobody there). disable: the other way
 * round. status and list: what fstrackd says (the "git-daemon" request of
 * docs/protocol.md). git itself is run for the paths and the config, as
 * the user who runs fstrack.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli-util.h"
#include "cli/commands.h"
#include "fstrack.h"

/* git talks to an fsmonitor daemon on Linux from this version on. */
#define GIT_MIN_MAJOR 2
#define GIT_MIN_MINOR 55
/* How long enable waits for fstrackd to listen (another daemon may be going away). */
#define LISTEN_WAIT_MS 5000

const char git_daemon_synopsis[] =
    "git-daemon enable [--force] [DIR] | disable [DIR] | status [--json] [DIR] | list [--json]";

const char git_daemon_summary[] =
    "Have fstrackd answer git's builtin fsmonitor protocol for a work tree";

const char git_daemon_help[] =
    "git 2.55 and later on Linux, with core.fsmonitor = true, ask an fsmonitor daemon on a\n"
    "socket in the repository (.git/fsmonitor--daemon.ipc) and start git's own daemon when\n"
    "nobody answers there. 'enable' has fstrackd answer there instead: git starts no\n"
    "process at all for its fsmonitor, and the tokens in its index survive restarts of\n"
    "fstrackd and overflows of the kernel's queue.\n"
    "\n"
    "  enable [DIR]    watch the work tree of DIR (default: .), have fstrackd listen on its\n"
    "                  socket (owned by the repository's owner, mode 0600; only that user\n"
    "                  and root are answered), then set core.fsmonitor = true; --force: even\n"
    "                  with a git older than 2.55 on PATH\n"
    "  disable [DIR]   unset core.fsmonitor (when true), stop listening, remove the socket;\n"
    "                  the work tree stays watched ('fstrack unwatch' stops that)\n"
    "  status [DIR]    whether fstrackd answers git for the work tree; exit 0 when it listens\n"
    "  list            every work tree fstrackd answers git for (root: all; others: theirs)\n"
    "\n"
    "git is run from PATH, as the user who runs fstrack: run it as the repository's owner.\n"
    "A repository whose git directory is on a network filesystem is refused (git puts the\n"
    "socket elsewhere there). 'git fsmonitor--daemon stop' makes fstrackd stop answering\n"
    "for the work tree, as it would stop git's own daemon.\n";

/*
 * Run git with args (NULL-terminated, "git" first); its stdout in *out
 * (NUL-terminated, caller frees) when out is not NULL, its stderr shown.
 * git's exit status (>= 0), or -errno when it could not run.
 */
static int run_git(const char *const args[], char **out)
{
	posix_spawn_file_actions_t fa;
	int pipefd[2] = {-1, -1}, r, status;
	size_t len = 0, cap = 0;
	char *buf = NULL;
	pid_t pid;

	if (out)
		*out = NULL;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	r = -posix_spawn_file_actions_init(&fa);
	if (r == 0)
		r = -posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
	if (r == 0)
		r = -posix_spawnp(&pid, "git", &fa, NULL, (char *const *)args, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	for (;;) {
		ssize_t n;

		if (r < 0)
			break;
		if (cap - len < 4096) {
			char *p = realloc(buf, cap + 65536);

			if (!p) {
				r = -ENOMEM;
				break;
			}
			buf = p;
			cap += 65536;
		}
		n = read(pipefd[0], buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(pipefd[0]);
	if (r == -ENOMEM)
		kill(pid, SIGTERM);
	if (r == 0 || r == -ENOMEM) {
		while (waitpid(pid, &status, 0) < 0)
			if (errno != EINTR)
				break;
		if (r == 0)
			r = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
	}
	if (r >= 0 && out) {
		if (!buf)
			buf = calloc(1, 1);
		else
			buf[len] = '\0';
		*out = buf;
		buf = NULL;
	}
	free(buf);
	return r;
}

/* "git -C dir ARGS...": at most 8 arguments after dir. */
#define GIT(dir, ...) ((const char *const[]){"git", "-C", (dir), __VA_ARGS__, NULL})

static int git_failed(int r, const char *what)
{
	if (r == -ENOENT)
		return cli_error("cannot run git: not found in PATH");
	if (r < 0)
		return cli_error("cannot run git: %s", strerror(-r));
	return cli_error("%s failed (git exited with %d)", what, r);
}

/* Is git's version at least 2.55? Its version text in ver. */
static bool git_is_new(char *ver, size_t size)
{
	char *out = NULL;
	int major = 0, minor = 0;
	int r = run_git((const char *const[]){"git", "version", NULL}, &out);

	snprintf(ver, size, "%s", r == 0 && out ? out : "unknown");
	ver[strcspn(ver, "\n")] = '\0';
	free(out);
	if (sscanf(ver, "git version %d.%d", &major, &minor) != 2)
		return false;
	return major > GIT_MIN_MAJOR || (major == GIT_MIN_MAJOR && minor >= GIT_MIN_MINOR);
}

/* The work tree of dir, git's socket path for it and the repository's common git directory. */
struct repo {
	char top[PATH_MAX];
	char socket[PATH_MAX];
	char common[PATH_MAX];
};

/* git's list of filesystems it calls remote (compat/fsmonitor/fsm-path-utils-linux.c). */
static bool on_network_fs(const char *path, const char **ret_type)
{
	static const struct {
		unsigned long magic;
		const char *name;
	} remote[] = {{0xff534d42, "cifs"}, {0x517b, "smb"},	 {0xfe534d42, "smb2"},
		      {0x6969, "nfs"},	    {0x5346414f, "afs"}, {0x73757245, "coda"},
		      {0x65735546, "fuse"}};
	struct statfs sf;

	if (statfs(path, &sf) < 0)
		return false;
	for (size_t i = 0; i < sizeof(remote) / sizeof(remote[0]); i++)
		if ((unsigned long)sf.f_type == remote[i].magic) {
			*ret_type = remote[i].name;
			return true;
		}
	return false;
}

static int find_repo(const char *dir, struct repo *ret)
{
	char *out = NULL, *line[3], *real, sock_dir[PATH_MAX];
	const char *fstype;
	int r = run_git(GIT(dir, "rev-parse", "--path-format=absolute", "--show-toplevel",
			    "--git-path", "fsmonitor--daemon.ipc", "--git-common-dir"),
			&out);

	if (r != 0) {
		free(out);
		if (r > 0)
			return cli_error("%s is not in the work tree of a git repository (git "
					 "rev-parse failed)",
					 dir);
		return git_failed(r, "git rev-parse");
	}
	line[0] = out;
	for (int i = 0; i < 3; i++) {
		char *nl = line[i] ? strchr(line[i], '\n') : NULL;

		if (!nl || nl == line[i]) {
			free(out);
			return cli_error(
			    "git rev-parse in %s did not say the work tree, socket and "
			    "git directory",
			    dir);
		}
		*nl = '\0';
		if (i < 2)
			line[i + 1] = nl + 1;
	}
	real = realpath(line[0], NULL);
	snprintf(ret->top, sizeof(ret->top), "%s", real ? real : line[0]);
	snprintf(ret->socket, sizeof(ret->socket), "%s", line[1]);
	snprintf(ret->common, sizeof(ret->common), "%s", line[2]);
	free(real);
	free(out);
	snprintf(sock_dir, sizeof(sock_dir), "%s", ret->socket);
	if (strrchr(sock_dir, '/'))
		*strrchr(sock_dir, '/') = '\0';
	if (on_network_fs(sock_dir, &fstype))
		return cli_error(
		    "the git directory %s is on %s, a network filesystem: git keeps "
		    "its fsmonitor socket elsewhere then, which fstrack does not serve",
		    sock_dir, fstype);
	return 0;
}

/* The daemon's "git-daemon" request; the parsed response (ok) or NULL (error said). */
static struct json_object *request(fst_client *c, const char *action, const struct repo *repo)
{
	struct json_object *req = json_object_new_object(), *resp = NULL, *ok, *err;
	char *text = NULL;
	int r;

	json_object_object_add(req, "op", json_object_new_string("git-daemon"));
	json_object_object_add(req, "action", json_object_new_string(action));
	if (repo) {
		json_object_object_add(req, "path", json_object_new_string(repo->top));
		json_object_object_add(req, "socket", json_object_new_string(repo->socket));
	}
	r = fst_request_raw(c, json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN), &text);
	json_object_put(req);
	if (r < 0) {
		cli_client_error(c, r);
		return NULL;
	}
	resp = json_tokener_parse(text);
	free(text);
	if (!resp || !json_object_object_get_ex(resp, "ok", &ok)) {
		json_object_put(resp);
		cli_error("fstrackd sent an answer that is not one");
		return NULL;
	}
	if (!json_object_get_boolean(ok)) {
		if (json_object_object_get_ex(resp, "errno", &err) &&
		    json_object_get_int(err) == EINVAL &&
		    strstr(json_object_to_json_string(resp), "unknown op"))
			cli_error("this fstrackd does not answer git's fsmonitor protocol; "
				  "upgrade it");
		else if (json_object_object_get_ex(resp, "error", &err))
			cli_error("%s", json_object_get_string(err));
		else
			cli_error("fstrackd refused the request");
		json_object_put(resp);
		return NULL;
	}
	return resp;
}

/* The daemon's entry for repo (NULL: not enabled), from a "list" response. */
static struct json_object *find_tree(struct json_object *list, const char *top)
{
	struct json_object *arr, *v;

	if (!json_object_object_get_ex(list, "worktrees", &arr))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);

		if (json_object_object_get_ex(o, "worktree", &v) &&
		    strcmp(json_object_get_string(v), top) == 0)
			return o;
	}
	return NULL;
}

static const char *str_of(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

/* core.fsmonitor of the work tree, as git reads it ("" when unset); caller frees. */
static char *config_value(const struct repo *repo)
{
	char *out = NULL;

	if (run_git(GIT(repo->top, "config", "--get", "core.fsmonitor"), &out) < 0) {
		free(out);
		return NULL;
	}
	if (out)
		out[strcspn(out, "\n")] = '\0';
	return out;
}

/* Is a boolean config key true for the work tree? */
static bool config_is_true(const struct repo *repo, const char *key)
{
	char *out = NULL;
	int r = run_git(GIT(repo->top, "config", "--type=bool", "--get", key), &out);
	bool yes = r == 0 && out && strncmp(out, "true", 4) == 0;

	free(out);
	return yes;
}

/*
 * Set core.fsmonitor = true, or unset it: in the work tree's own config
 * when the repository has them (extensions.worktreeConfig), else in the
 * repository's, which every work tree of it reads.
 */
static int set_config(const struct repo *repo, bool on)
{
	bool own = config_is_true(repo, "extensions.worktreeConfig");
	const char *scope = own ? "--worktree" : "--local";
	int r = on ? run_git(GIT(repo->top, "config", scope, "core.fsmonitor", "true"), NULL)
		   : run_git(GIT(repo->top, "config", scope, "--unset", "core.fsmonitor"), NULL);

	return r == 0 ? 0
		      : git_failed(r, on ? "git config core.fsmonitor true"
					 : "git config --unset core.fsmonitor");
}

/* How many work trees the repository has (1 without linked ones). */
static int count_worktrees(const struct repo *repo)
{
	char *out = NULL;
	int n = 0;

	if (run_git(GIT(repo->top, "worktree", "list", "--porcelain"), &out) == 0 && out)
		for (const char *p = out; (p = strstr(p, "worktree ")); p++)
			n += p == out || p[-1] == '\n';
	free(out);
	return n;
}

/* Another work tree of the same repository that fstrackd answers git for, or NULL. */
static const char *other_enabled(struct json_object *list, const struct repo *repo)
{
	struct json_object *arr;
	size_t len = strlen(repo->common);

	if (!json_object_object_get_ex(list, "worktrees", &arr))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);
		const char *sock = str_of(o, "socket");

		if (strcmp(str_of(o, "worktree"), repo->top) != 0 &&
		    strncmp(sock, repo->common, len) == 0 && sock[len] == '/')
			return str_of(o, "worktree");
	}
	return NULL;
}

/* Wait for fstrackd to listen for repo: its entry, or NULL with the reason said. */
static struct json_object *wait_listening(fst_client *c, const struct repo *repo)
{
	for (int waited = 0;; waited += 100) {
		struct json_object *list = request(c, "list", NULL), *tr, *copy = NULL;
		bool listening;

		if (!list)
			return NULL;
		tr = find_tree(list, repo->top);
		listening = tr && strcmp(str_of(tr, "state"), "listening") == 0;
		if (listening || waited >= LISTEN_WAIT_MS) {
			if (listening)
				json_object_deep_copy(tr, &copy, NULL);
			else if (!tr)
				cli_error("fstrackd no longer answers git for %s", repo->top);
			else
				cli_error("fstrackd cannot listen on %s yet: %s; it keeps trying, "
					  "core.fsmonitor is left as it was (run 'fstrack "
					  "git-daemon enable' again, or 'disable')",
					  repo->socket, str_of(tr, "why"));
			json_object_put(list);
			return copy;
		}
		json_object_put(list);
		usleep(100 * 1000);
	}
}

static int do_enable(fst_client *c, const struct repo *repo, bool force)
{
	struct json_object *resp, *tr;
	char ver[128], *token = NULL, *old;
	int r;

	if (!git_is_new(ver, sizeof(ver)) && !force)
		return cli_error("%s talks to an fsmonitor daemon on Linux from git %d.%d on; with "
				 "it, core.fsmonitor = true would make git check every file. Use "
				 "'fstrack git-fsmonitor' as the hook instead, or --force",
				 ver, GIT_MIN_MAJOR, GIT_MIN_MINOR);
	r = fst_watch(c, repo->top, &token);
	free(token);
	if (r < 0)
		return cli_error("cannot watch %s: %s", repo->top, fst_client_error(c));
	resp = request(c, "enable", repo);
	if (!resp)
		return EXIT_ERROR;
	json_object_put(resp);
	tr = wait_listening(c, repo);
	if (!tr)
		return EXIT_ERROR;
	json_object_put(tr);
	old = config_value(repo);
	if (set_config(repo, true) != 0) {
		free(old);
		return EXIT_ERROR;
	}
	printf("fstrackd answers git's fsmonitor requests for %s (socket %s); core.fsmonitor = "
	       "true",
	       repo->top, repo->socket);
	if (old && old[0] && strcmp(old, "true") != 0)
		printf(" (was \"%s\")", old);
	printf("\n");
	free(old);
	if (!config_is_true(repo, "core.fsmonitor"))
		cli_warn("git does not read core.fsmonitor as true in %s", repo->top);
	if (!config_is_true(repo, "extensions.worktreeConfig") && count_worktrees(repo) > 1)
		cli_warn("core.fsmonitor is shared by the %d work trees of this repository: in "
			 "those fstrackd does not answer for, git starts its own fsmonitor daemon "
			 "(enable them too)",
			 count_worktrees(repo));
	return EXIT_OK;
}

static int do_disable(fst_client *c, const struct repo *repo)
{
	struct json_object *list = request(c, "list", NULL), *resp;
	bool enabled = list && find_tree(list, repo->top);
	bool own = config_is_true(repo, "extensions.worktreeConfig");
	const char *other = list && !own ? other_enabled(list, repo) : NULL;
	char keep[PATH_MAX];

	snprintf(keep, sizeof(keep), "%s", other ? other : "");
	json_object_put(list);
	if (!list)
		return EXIT_ERROR;
	if (!enabled)
		return cli_error("fstrackd does not answer git for %s", repo->top);
	/* first the config: git must not find the socket gone and start its own daemon */
	if (!keep[0] && config_is_true(repo, "core.fsmonitor") && set_config(repo, false) != 0)
		return EXIT_ERROR;
	resp = request(c, "disable", repo);
	if (!resp)
		return EXIT_ERROR;
	json_object_put(resp);
	if (keep[0])
		printf("fstrackd no longer answers git for %s; core.fsmonitor stays true: the "
		       "repository's work tree %s reads it too, and fstrackd answers there (git "
		       "starts its own daemon in %s)\n",
		       repo->top, keep, repo->top);
	else
		printf("fstrackd no longer answers git for %s; core.fsmonitor is unset (%s stays "
		       "watched)\n",
		       repo->top, repo->top);
	return EXIT_OK;
}

static int do_status(fst_client *c, const struct repo *repo, bool json)
{
	struct json_object *list = request(c, "list", NULL), *tr;
	char *cfg;
	int code;

	if (!list)
		return EXIT_ERROR;
	tr = find_tree(list, repo->top);
	if (json) {
		puts(tr ? json_object_to_json_string_ext(tr, JSON_C_TO_STRING_PLAIN |
								 JSON_C_TO_STRING_NOSLASHESCAPE)
			: "null");
	} else if (!tr) {
		printf("fstrackd does not answer git for %s\n", repo->top);
	} else {
		cfg = config_value(repo);
		printf("work tree:      %s\nsocket:         %s\nstate:          %s%s%s\n"
		       "answers:        %s (%s of them \"everything\")\ncore.fsmonitor: %s\n",
		       repo->top, str_of(tr, "socket"), str_of(tr, "state"),
		       strcmp(str_of(tr, "state"), "listening") ? ": " : "", str_of(tr, "why"),
		       str_of(tr, "answers"), str_of(tr, "trivial"),
		       cfg && cfg[0] ? cfg : "(unset)");
		free(cfg);
	}
	code = tr && strcmp(str_of(tr, "state"), "listening") == 0 ? EXIT_OK : EXIT_ERROR;
	json_object_put(list);
	return code;
}

static int do_list(fst_client *c, bool json)
{
	struct json_object *list = request(c, "list", NULL), *arr;

	if (!list)
		return EXIT_ERROR;
	if (json_object_object_get_ex(list, "worktrees", &arr)) {
		if (json)
			puts(json_object_to_json_string_ext(
			    arr, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		for (size_t i = 0; !json && i < json_object_array_length(arr); i++) {
			struct json_object *o = json_object_array_get_idx(arr, i);

			printf("%-9s %s%s%s\n", str_of(o, "state"), str_of(o, "worktree"),
			       strcmp(str_of(o, "state"), "listening") ? "  # " : "",
			       str_of(o, "why"));
		}
	}
	json_object_put(list);
	return EXIT_OK;
}

int cmd_git_daemon(const struct cli *cli, int argc, char **argv)
{
	const char *action = argc >= 2 ? argv[1] : NULL, *dir = NULL;
	bool json = false, force = false;
	struct repo repo;
	fst_client *c = NULL;
	int code;

	if (!action)
		return cli_usage_error("git-daemon", "expected enable, disable, status or list");
	if (strcmp(action, "--help") == 0 || strcmp(action, "-h") == 0)
		return cli_print_help(git_daemon_synopsis, git_daemon_summary, git_daemon_help);
	if (strcmp(action, "enable") && strcmp(action, "disable") && strcmp(action, "status") &&
	    strcmp(action, "list"))
		return cli_usage_error("git-daemon",
				       "no action '%s' (enable, disable, status, list)", action);
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 &&
		    (!strcmp(action, "status") || !strcmp(action, "list")))
			json = true;
		else if (strcmp(argv[i], "--force") == 0 && !strcmp(action, "enable"))
			force = true;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return cli_print_help(git_daemon_synopsis, git_daemon_summary,
					      git_daemon_help);
		else if (argv[i][0] == '-' || dir || !strcmp(action, "list"))
			return cli_usage_error("git-daemon", "unexpected argument '%s'", argv[i]);
		else
			dir = argv[i];
	}
	if (strcmp(action, "list") != 0 && (code = find_repo(dir ? dir : ".", &repo)) != 0)
		return code;
	code = cli_connect(cli, &c);
	if (code)
		return code;
	if (!strcmp(action, "enable"))
		code = do_enable(c, &repo, force);
	else if (!strcmp(action, "disable"))
		code = do_disable(c, &repo);
	else if (!strcmp(action, "status"))
		code = do_status(c, &repo, json);
	else
		code = do_list(c, json);
	fst_client_free(c);
	return code;
}
