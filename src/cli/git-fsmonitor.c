/* SPDX-License-Identifier: MIT */
/*
 * fstrack git-fsmonitor: git's core.fsmonitor hook, hook protocol version 2.
 *
 * git runs "<hook> 2 <token>" through the shell in the root of the work
 * tree and reads from stdout: the new token, a NUL, then NUL-separated
 * paths relative to the work tree that may have changed. A first path "/"
 * means "everything may have changed" (git then checks every file and does
 * not trust its untracked cache). A failing hook makes git do the same.
 *
 * What the answer names, and why, is src/gitfsm/gitfsm.c's business
 * (shared with fstrackd's git IPC, which sends the same answer).
 *
 * Safety: any doubt gives "/" with a token that is still right. When the
 * daemon cannot answer and git's token is ours, that token goes back
 * unchanged with "/": git checks everything now, and the next call asks
 * again since the same token. On first use (git's token is a timestamp or
 * empty) the work tree is watched and its new token comes with "/".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli-util.h"
#include "cli/commands.h"
#include "fstrack.h"
#include "gitfsm/gitfsm.h"

/* How long a catch-up scan may hold git up before git checks everything itself. */
#define SCAN_WAIT_MS 1000
/* How long the daemon may take at all before git checks everything itself. */
#define ANSWER_TIMEOUT_MS 30000

const char git_fsmonitor_synopsis[] = "git-fsmonitor VERSION TOKEN";

const char git_fsmonitor_summary[] = "Answer git's core.fsmonitor hook (hook protocol version 2)";

const char git_fsmonitor_help[] =
    "Use it as git's fsmonitor hook, in the work tree of a repository:\n"
    "  git config core.fsmonitor \"fstrack git-fsmonitor\"\n"
    "  git config core.untrackedCache true     # optional, makes untracked files fast too\n"
    "The first git command watches the work tree (as 'fstrack watch' would) and\n"
    "checks every file once; later ones only look at what changed. With a --socket,\n"
    "put it before the command: \"fstrack --socket PATH git-fsmonitor\".\n"
    "\n"
    "Speaks hook protocol version 2; for version 1 it answers \"everything may have\n"
    "changed\". When fstrackd cannot answer, git checks every file (and fstrack says\n"
    "why on stderr): a missed change is never the result.\n";

/* Print the answer; an exit code. */
static int print_answer(const struct gitfsm_answer *a)
{
	if (fwrite(a->buf, 1, a->len, stdout) != a->len || fflush(stdout) != 0)
		return EXIT_ERROR;
	return EXIT_OK;
}

/* The answer when nothing better can be said: token, then "/" (see gitfsm.h). */
static int answer_everything(const char *token, bool mark)
{
	struct gitfsm_answer a = {0};
	int code = gitfsm_answer_everything(&a, token, mark) < 0 ? cli_error("out of memory")
								 : print_answer(&a);

	gitfsm_answer_release(&a);
	return code;
}

/* First use, or the scope is gone: watch the work tree, check everything. */
static int start_over(fst_client *c, const char *top)
{
	char *token = NULL;
	int r, code;

	r = fst_watch(c, top, &token);
	if (r == -EEXIST)
		r = fst_token(c, top, &token);
	if (r < 0) {
		/* git falls back to checking everything when the hook fails */
		return cli_error("cannot watch the work tree %s: %s", top, fst_client_error(c));
	}
	code = answer_everything(token, true);
	free(token);
	return code;
}

/* The answer to fstrackd's answer ch, from the work tree (the cwd). */
static int answer_changes(const struct fst_changes *ch, bool rescan_untracked)
{
	struct gitfsm_change *v = calloc(ch->n ? ch->n : 1, sizeof(*v));
	struct gitfsm_answer a = {0};
	int top_fd = -1, code, r = v ? 0 : -ENOMEM;

	for (size_t i = 0; v && i < ch->n; i++)
		v[i] = (struct gitfsm_change){.path = ch->v[i].path, .kinds = ch->v[i].kinds};
	if (r == 0 && !ch->fresh) {
		top_fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (top_fd < 0)
			cli_warn("cannot open the work tree: %s; git checks every file",
				 strerror(errno));
	}
	if (r == 0 && top_fd < 0 && !ch->fresh)
		r = gitfsm_answer_everything(&a, ch->token, true);
	else if (r == 0)
		r = gitfsm_answer_changes(&a, ch->token, ch->fresh, rescan_untracked, v, ch->n,
					  top_fd);
	code = r < 0 ? cli_error("out of memory") : print_answer(&a);
	if (top_fd >= 0)
		close(top_fd);
	gitfsm_answer_release(&a);
	free(v);
	return code;
}

int cmd_git_fsmonitor(const struct cli *cli, int argc, char **argv)
{
	const char *version, *last;
	char *since = NULL;
	struct fst_changes *ch = NULL;
	fst_client *c = NULL;
	char *top = NULL;
	size_t since_len;
	bool ours, rescan_untracked;
	int r, code;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
		return cli_print_help(git_fsmonitor_synopsis, git_fsmonitor_summary,
				      git_fsmonitor_help);
	if (argc != 3)
		return cli_usage_error("git-fsmonitor",
				       "expected VERSION and TOKEN (git passes them; configure "
				       "core.fsmonitor=\"fstrack git-fsmonitor\")");
	version = argv[1];
	last = argv[2];
	if (strcmp(version, "1") == 0) {
		/* Version 1 asks by time, which fstrackd cannot answer: everything. */
		fputs("/", stdout);
		return fflush(stdout) == 0 ? EXIT_OK : EXIT_ERROR;
	}
	if (strcmp(version, "2") != 0)
		return cli_error("git asked for fsmonitor hook protocol version %s; only 2 is "
				 "supported (git config core.fsmonitorHookVersion 2)",
				 version);

	top = realpath(".", NULL);
	if (!top)
		return cli_error("cannot resolve the work tree: %s", strerror(errno));
	rescan_untracked = gitfsm_token_marked(last, &since_len);
	since = strndup(last, since_len);
	if (!since) {
		free(top);
		return cli_error("out of memory");
	}
	ours = fst_token_is_valid(since);

	r = fst_connect(cli->socket, &c);
	if (r < 0) {
		char msg[1024];

		fst_connect_strerror(cli->socket, r, msg, sizeof(msg));
		if (ours) {
			cli_warn("%s; git checks every file", msg);
			code = answer_everything(last, false);
		} else {
			code = cli_error("%s", msg);
		}
		goto out;
	}
	fst_client_set_timeout(c, ANSWER_TIMEOUT_MS);
	if (!ours) {
		code = start_over(c, top);
		goto out;
	}
	r = fst_changes(c, top, since, SCAN_WAIT_MS, &ch);
	if (r == -ENOENT || r == -EINVAL) {
		/* not watched (any more), or the daemon does not know the token */
		code = start_over(c, top);
		goto out;
	}
	if (r == -EAGAIN) {
		/* a catch-up scan is running: git checks everything this time */
		code = answer_everything(last, false);
		goto out;
	}
	if (r < 0) {
		cli_warn("%s; git checks every file", fst_client_error(c));
		code = answer_everything(last, false);
		goto out;
	}
	code = answer_changes(ch, rescan_untracked);
out:
	fst_changes_free(ch);
	fst_client_free(c);
	free(since);
	free(top);
	return code;
}
