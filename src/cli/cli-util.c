/* SPDX-License-Identifier: MIT */
/* cli-util: what the parts of the fstrack command share (see cli-util.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/hashmap.h"
#include "basic/util.h"
#include "cli/cli-util.h"
#include "fstrack.h"

int cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("fstrack: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_ERROR;
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;

	fputs("fstrack: warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fstrack%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "; see 'fstrack help%s%s'\n", cmd ? " " : "", cmd ? cmd : "");
	return EXIT_USAGE;
}

int cli_print_help(const char *synopsis, const char *summary, const char *help)
{
	printf("usage: fstrack [--socket PATH] %s\n\n%s.\n", synopsis, summary);
	if (help && *help)
		printf("\n%s", help);
	printf("\nSee fstrack(1) for more.\n");
	return EXIT_OK;
}

int cli_connect(const struct cli *cli, fst_client **ret)
{
	char msg[1024];
	int r = fst_connect(cli->socket, ret);

	if (r == 0)
		return 0;
	fst_connect_strerror(cli->socket, r, msg, sizeof(msg));
	return cli_error("%s", msg);
}

int cli_client_error(fst_client *c, int r)
{
	if (r == -ENOMEM)
		return cli_error("out of memory");
	return cli_error("%s", fst_client_error(c));
}

int cli_write_token_file(const char *path, const char *token)
{
	size_t len = strlen(token);
	char *buf = malloc(len + 2);
	int r;

	if (!buf)
		return -ENOMEM;
	memcpy(buf, token, len);
	buf[len] = '\n';
	r = write_file_atomic(path, buf, len + 1, 0666);
	free(buf);
	return r;
}

bool cli_path_is_clean(const char *p)
{
	if (strcmp(p, ".") == 0)
		return true;
	if (!*p || *p == '/')
		return false;
	for (const char *s = p; *s;) {
		const char *e = strchrnul(s, '/');
		size_t n = (size_t)(e - s);

		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		if (!*e)
			break;
		s = e + 1;
		if (!*s)
			return false; /* trailing slash */
	}
	return true;
}

struct hashmap *cli_recursive_set(const struct fst_changes *ch)
{
	struct hashmap *set = hashmap_new();

	for (size_t i = 0; set && i < ch->n; i++) {
		uintptr_t *slot;

		if ((ch->v[i].kinds & FST_RECURSIVE) &&
		    hashmap_upsert(set, ch->v[i].path, strlen(ch->v[i].path), &slot) < 0)
			set = hashmap_free(set);
	}
	return set;
}

bool cli_under_recursive(const struct hashmap *set, const char *path)
{
	if (strcmp(path, ".") == 0)
		return false;
	if (hashmap_get(set, ".", 1))
		return true;
	for (const char *s = strchr(path, '/'); s; s = strchr(s + 1, '/'))
		if (hashmap_get(set, path, (size_t)(s - path)))
			return true;
	return false;
}

int cli_pathq_push(struct cli_pathq *q, char *p)
{
	if (!p)
		return -ENOMEM;
	if (GROW(q->v, q->cap, q->n + 1) < 0) {
		free(p);
		return -ENOMEM;
	}
	q->v[q->n++] = p;
	return 0;
}

void cli_pathq_release(struct cli_pathq *q)
{
	for (size_t i = q->head; i < q->n; i++)
		free(q->v[i]);
	free(q->v);
}

char *cli_child_path(const char *dir, const char *name)
{
	char *p;

	if (strcmp(dir, ".") == 0)
		return strdup(name);
	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return NULL;
	return p;
}
