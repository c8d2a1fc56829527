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
