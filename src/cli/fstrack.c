/* SPDX-License-Identifier: MIT */
/*
 * fstrack: the command line of fstrackd. main() and the dispatch to the
 * commands; the commands that are a thin layer over the client library
 * (watch, token, changes, stream, unwatch, status, help, version) live
 * here, backup, git-fsmonitor and git-daemon in files of their own
 * (commands.h). Shared helpers are in cli-util.c and rsync-list.c, which
 * call nothing in a command file.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "basic/util.h"
#include "cli/cli-util.h"
#include "cli/commands.h"
#include "cli/rsync-list.h"
#include "fstrack.h"

#ifndef FST_VERSION
#define FST_VERSION "unknown"
#endif

/* ---- help ---- */

struct command {
	const char *name;
	int (*run)(const struct cli *cli, int argc, char **argv);
	const char *synopsis;
	const char *summary;
	const char *help;
};

static const struct command *find_command(const char *name);
static void print_main_help(FILE *f);

static int print_command_help(const struct command *cmd)
{
	return cli_print_help(cmd->synopsis, cmd->summary, cmd->help);
}

/* Every command takes --help and --socket. */
static const struct option common_long[] = {
    {"help", no_argument, NULL, 'h'},
    {"socket", required_argument, NULL, 'S'},
};

/* Options of one command: its own plus --help and --socket. */
struct opts {
	const char *cmd;
	const char *shortopts;
	struct option all[24];
};

static void opts_init(struct opts *o, const char *cmd, const char *shortopts,
		      const struct option *longopts)
{
	size_t n = 0;

	o->cmd = cmd;
	o->shortopts = shortopts;
	for (const struct option *l = longopts; l && l->name; l++)
		o->all[n++] = *l;
	for (size_t i = 0; i < ARRAY_SIZE(common_long); i++)
		o->all[n++] = common_long[i];
	memset(&o->all[n], 0, sizeof(o->all[n]));
	optind = 0; /* restart getopt for this argv */
	opterr = 0;
}

enum { OPT_DONE = -1, OPT_EXIT = -2 };

/*
 * The next option of the command: its value, OPT_DONE after the last, or
 * OPT_EXIT with *exit_code set (--help printed, or a usage error).
 */
static int opts_next(struct opts *o, struct cli *cli, int argc, char **argv, int *exit_code)
{
	char shortopts[64];
	int c;

	snprintf(shortopts, sizeof(shortopts), ":h%s", o->shortopts);
	for (;;) {
		c = getopt_long(argc, argv, shortopts, o->all, NULL);
		switch (c) {
		case 'h':
			*exit_code = print_command_help(find_command(o->cmd));
			return OPT_EXIT;
		case 'S':
			cli->socket = optarg;
			continue;
		case '?':
			if (optopt)
				*exit_code =
				    cli_usage_error(o->cmd, "unknown option '-%c'", optopt);
			else
				*exit_code = cli_usage_error(o->cmd, "unknown option '%s'",
							     argv[optind - 1]);
			return OPT_EXIT;
		case ':':
			*exit_code =
			    cli_usage_error(o->cmd, "option '%s' needs a value", argv[optind - 1]);
			return OPT_EXIT;
		default:
			return c;
		}
	}
}

/* Exactly one operand (a directory) after the options. */
static int one_operand(const char *cmd, int argc, char **argv, const char *what, const char **ret)
{
	if (optind >= argc)
		return cli_usage_error(cmd, "missing %s", what);
	if (optind + 1 < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
	*ret = argv[optind];
	return 0;
}

static int parse_uint(const char *cmd, const char *opt, const char *s, unsigned *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > UINT_MAX || s[0] == '-')
		return cli_usage_error(cmd, "%s needs a number, not '%s'", opt, s);
	*ret = (unsigned)v;
	return 0;
}

/* ---- watch, token, unwatch ---- */

static int token_command(const char *name, struct cli cli, int argc, char **argv,
			 int (*op)(fst_client *, const char *, char **))
{
	static const struct option longopts[] = {{NULL, 0, NULL, 0}};
	struct opts o;
	fst_client *c = NULL;
	const char *dir;
	char *token = NULL;
	int code, r, opt;

	opts_init(&o, name, "", longopts);
	while ((opt = opts_next(&o, &cli, argc, argv, &code)) != OPT_DONE)
		if (opt == OPT_EXIT)
			return code;
	code = one_operand(name, argc, argv, "directory", &dir);
	if (code)
		return code;
	code = cli_connect(&cli, &c);
	if (code)
		return code;
	r = op(c, dir, &token);
	if (r < 0) {
		code = cli_client_error(c, r);
	} else {
		printf("%s\n", token);
		code = EXIT_OK;
	}
	free(token);
	fst_client_free(c);
	return code;
}

static int cmd_watch(const struct cli *cli, int argc, char **argv)
{
	return token_command("watch", *cli, argc, argv, fst_watch);
}

static int cmd_token(const struct cli *cli, int argc, char **argv)
{
	return token_command("token", *cli, argc, argv, fst_token);
}

static int cmd_unwatch(const struct cli *cli_in, int argc, char **argv)
{
	static const struct option longopts[] = {{NULL, 0, NULL, 0}};
	struct cli cli = *cli_in;
	struct opts o;
	fst_client *c = NULL;
	const char *dir;
	int code, r, opt;

	opts_init(&o, "unwatch", "", longopts);
	while ((opt = opts_next(&o, &cli, argc, argv, &code)) != OPT_DONE)
		if (opt == OPT_EXIT)
			return code;
	code = one_operand("unwatch", argc, argv, "directory", &dir);
	if (code)
		return code;
	code = cli_connect(&cli, &c);
	if (code)
		return code;
	r = fst_unwatch(c, dir);
	code = r < 0 ? cli_client_error(c, r) : EXIT_OK;
	fst_client_free(c);
	return code;
}

/* ---- changes ---- */

/*
 * A path for a line of text: as is when it is plain, else in double quotes
 * with C escapes (like git's core.quotePath, but bytes >= 0x80 stay).
 */
static void print_path_line(FILE *f, const char *p)
{
	bool plain = true;

	for (const unsigned char *s = (const unsigned char *)p; *s; s++)
		if (*s < 0x20 || *s == 0x7f || *s == '"' || *s == '\\')
			plain = false;
	if (plain) {
		fputs(p, f);
		return;
	}
	fputc('"', f);
	for (const unsigned char *s = (const unsigned char *)p; *s; s++) {
		switch (*s) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (*s < 0x20 || *s == 0x7f)
				fprintf(f, "\\%03o", *s);
			else
				fputc(*s, f);
		}
	}
	fputc('"', f);
}

static int print_changes_text(const struct fst_changes *ch)
{
	printf("token %s\n", ch->token);
	if (ch->fresh)
		printf("fresh\n");
	for (size_t i = 0; i < ch->n; i++) {
		char kinds[FST_KINDS_TEXT_MAX];

		if (fst_kinds_format(ch->v[i].kinds, ',', kinds, sizeof(kinds)) < 0 || !kinds[0])
			strcpy(kinds, "-");
		printf("%s\t", kinds);
		print_path_line(stdout, ch->v[i].path);
		putchar('\n');
	}
	return 0;
}

static int print_changes_json(const struct fst_changes *ch)
{
	json_object *doc = json_object_new_object(), *arr = json_object_new_array();
	const char *text;
	int r = -ENOMEM;

	if (!doc || !arr)
		goto out;
	json_object_object_add(doc, "token", json_object_new_string(ch->token));
	json_object_object_add(doc, "fresh", json_object_new_boolean(ch->fresh));
	if (ch->widened)
		json_object_object_add(doc, "widened", json_object_new_boolean(true));
	for (size_t i = 0; i < ch->n; i++) {
		json_object *e = json_object_new_object(), *kinds = json_object_new_array();

		if (!e || !kinds) {
			json_object_put(e);
			json_object_put(kinds);
			goto out;
		}
		for (unsigned b = 0; b < FST_KIND_COUNT; b++)
			if (ch->v[i].kinds & (1u << b))
				json_object_array_add(kinds,
						      json_object_new_string(fst_kind_name(b)));
		json_object_object_add(e, "path", json_object_new_string(ch->v[i].path));
		json_object_object_add(e, "kinds", kinds);
		json_object_array_add(arr, e);
	}
	json_object_object_add(doc, "changes", arr);
	arr = NULL;
	text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!text)
		goto out;
	puts(text);
	r = 0;
out:
	json_object_put(arr);
	json_object_put(doc);
	return r;
}

static int print_changes_nul(const struct fst_changes *ch)
{
	if (ch->fresh) {
		fputs(".", stdout);
		fputc('\0', stdout);
		return 0;
	}
	for (size_t i = 0; i < ch->n; i++) {
		fputs(ch->v[i].path, stdout);
		fputc('\0', stdout);
	}
	return 0;
}

enum changes_format { FMT_TEXT, FMT_JSON, FMT_NUL, FMT_RSYNC };

static int cmd_changes(const struct cli *cli_in, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"since", required_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},
	    {"null", no_argument, NULL, '0'},
	    {"rsync", no_argument, NULL, 'r'},
	    {"token-file", required_argument, NULL, 't'},
	    {"wait-ms", required_argument, NULL, 'w'},
	    {NULL, 0, NULL, 0},
	};
	struct cli cli = *cli_in;
	enum changes_format fmt = FMT_TEXT;
	const char *since = NULL, *token_file = NULL, *dir, *fmt_opt = NULL;
	unsigned wait_ms = 0;
	struct fst_changes *ch = NULL;
	fst_client *c = NULL;
	struct opts o;
	int code, r, opt;

	opts_init(&o, "changes", "0s:", longopts);
	while ((opt = opts_next(&o, &cli, argc, argv, &code)) != OPT_DONE) {
		enum changes_format f = FMT_TEXT;

		switch (opt) {
		case OPT_EXIT:
			return code;
		case 's':
			since = optarg;
			continue;
		case 't':
			token_file = optarg;
			continue;
		case 'w':
			code = parse_uint("changes", "--wait-ms", optarg, &wait_ms);
			if (code)
				return code;
			if (wait_ms == 0)
				wait_ms = 1; /* 0 means the daemon's default to the library */
			continue;
		case 'j':
			f = FMT_JSON;
			break;
		case '0':
			f = FMT_NUL;
			break;
		case 'r':
			f = FMT_RSYNC;
			break;
		default:
			return cli_usage_error("changes", "unexpected option");
		}
		if (fmt != FMT_TEXT && fmt != f)
			return cli_usage_error("changes", "%s and %s do not go together", fmt_opt,
					       argv[optind - 1]);
		fmt = f;
		fmt_opt = argv[optind - 1];
	}
	if (!since)
		return cli_usage_error("changes", "missing --since TOKEN (the token printed by "
						  "'fstrack watch' or by the previous 'changes')");
	code = one_operand("changes", argc, argv, "directory", &dir);
	if (code)
		return code;

	code = cli_connect(&cli, &c);
	if (code)
		return code;
	r = fst_changes(c, dir, since, wait_ms, &ch);
	if (r < 0) {
		if (r == -EAGAIN)
			code = cli_error("%s; try again later, or give more time with --wait-ms",
					 fst_client_error(c));
		else
			code = cli_client_error(c, r);
		goto out;
	}
	if (ch->widened)
		fprintf(stderr,
			"fstrack: a catch-up scan still runs: %s is listed as 'recursive' (give "
			"more --wait-ms for the exact answer)\n",
			dir);

	switch (fmt) {
	case FMT_TEXT:
		r = print_changes_text(ch);
		break;
	case FMT_JSON:
		r = print_changes_json(ch);
		break;
	case FMT_NUL:
		r = print_changes_nul(ch);
		break;
	case FMT_RSYNC: {
		char *abs = realpath(dir, NULL);

		if (!abs) {
			code = cli_error("cannot resolve %s: %s", dir, strerror(errno));
			goto out;
		}
		struct rsync_lists lists = {.exact = stdout, .dirs = stdout};

		r = rsync_list_write(&lists, abs, ch);
		free(abs);
		if (r < 0 && r != -EPIPE) {
			code =
			    cli_error("cannot build the rsync list for %s: %s", dir, strerror(-r));
			goto out;
		}
		break;
	}
	}
	if (r == -ENOMEM) {
		code = cli_error("out of memory");
		goto out;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		code = cli_error("cannot write the answer: %s; the token was not saved",
				 strerror(errno));
		goto out;
	}
	if ((fmt == FMT_NUL || fmt == FMT_RSYNC) && !token_file) {
		/* stdout carries names only: say the rest on stderr */
		fprintf(stderr, "token %s\n", ch->token);
		if (ch->fresh)
			fprintf(stderr, "fresh\n");
	}
	if (token_file) {
		r = cli_write_token_file(token_file, ch->token);
		if (r < 0) {
			code = cli_error("cannot write the token to %s: %s; the next run must use "
					 "the old token",
					 token_file, strerror(-r));
			goto out;
		}
	}
	code = EXIT_OK;
out:
	fst_changes_free(ch);
	fst_client_free(c);
	return code;
}

/* ---- stream ---- */

static int cmd_stream(const struct cli *cli_in, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"since", required_argument, NULL, 's'},
	    {NULL, 0, NULL, 0},
	};
	struct cli cli = *cli_in;
	const char *since = NULL, *dir;
	fst_client *c = NULL;
	struct opts o;
	int code, r, opt;

	opts_init(&o, "stream", "s:", longopts);
	while ((opt = opts_next(&o, &cli, argc, argv, &code)) != OPT_DONE) {
		if (opt == OPT_EXIT)
			return code;
		if (opt == 's')
			since = optarg;
	}
	if (!since)
		return cli_usage_error("stream", "missing --since TOKEN");
	code = one_operand("stream", argc, argv, "directory", &dir);
	if (code)
		return code;
	code = cli_connect(&cli, &c);
	if (code)
		return code;
	r = fst_stream_start(c, dir, since);
	if (r < 0) {
		code = cli_client_error(c, r);
		goto out;
	}
	for (;;) {
		struct fst_stream_event ev;

		r = fst_stream_next(c, true, &ev);
		if (r < 0) {
			if (r == -ECONNRESET)
				code =
				    cli_error("fstrackd ended the stream (did it stop?); resume "
					      "with 'fstrack changes --since' and the last token");
			else
				code = cli_client_error(c, r);
			goto out;
		}
		if (r == 0)
			continue;
		fputs(ev.json, stdout);
		fputc('\n', stdout);
		if (fflush(stdout) != 0) {
			fst_stream_event_release(&ev);
			code = cli_error("cannot write: %s", strerror(errno));
			goto out;
		}
		if (ev.type == FST_STREAM_GAP) {
			fprintf(stderr,
				"fstrack: the stream fell behind and ended; run 'fstrack changes "
				"--since %s %s' to catch up\n",
				ev.token, dir);
			fst_stream_event_release(&ev);
			code = EXIT_GAP;
			goto out;
		}
		fst_stream_event_release(&ev);
	}
out:
	fst_client_free(c);
	return code;
}

/* ---- status ---- */

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !v)
		return NULL;
	return json_object_get_string(v);
}

static bool jint(json_object *o, const char *key, int64_t *ret)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !v ||
	    !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
		return false;
	*ret = json_object_get_int64(v);
	return true;
}

static void fmt_int(char *buf, size_t size, json_object *o, const char *key)
{
	int64_t v;

	if (jint(o, key, &v))
		snprintf(buf, size, "%" PRId64, v);
	else
		snprintf(buf, size, "-");
}

static void fmt_bytes(char *buf, size_t size, json_object *o, const char *key)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	int64_t v;
	double d;
	unsigned u = 0;

	if (!jint(o, key, &v)) {
		snprintf(buf, size, "-");
		return;
	}
	d = (double)v;
	while (d >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%" PRId64 " B", v);
	else
		snprintf(buf, size, "%.1f %s", d, units[u]);
}

static void fmt_duration(char *buf, size_t size, int64_t s)
{
	if (s < 120)
		snprintf(buf, size, "%" PRId64 "s", s);
	else if (s < 7200)
		snprintf(buf, size, "%" PRId64 "m", s / 60);
	else if (s < 172800)
		snprintf(buf, size, "%" PRId64 "h%02" PRId64 "m", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, size, "%" PRId64 "d%02" PRId64 "h", s / 86400, s % 86400 / 3600);
}

#define STATUS_COLS 8
#define CELL 96

struct table {
	size_t rows, cols;
	char (*cells)[CELL]; /* rows * cols */
};

static char *cell(struct table *t, size_t row, size_t col)
{
	return t->cells[row * t->cols + col];
}

static void table_print(struct table *t)
{
	size_t width[STATUS_COLS] = {0};

	for (size_t r = 0; r < t->rows; r++)
		for (size_t c = 0; c < t->cols; c++)
			if (strlen(cell(t, r, c)) > width[c])
				width[c] = strlen(cell(t, r, c));
	for (size_t r = 0; r < t->rows; r++) {
		for (size_t c = 0; c < t->cols; c++) {
			if (c + 1 == t->cols)
				printf("%s", cell(t, r, c));
			else
				printf("%-*s  ", (int)width[c], cell(t, r, c));
		}
		putchar('\n');
	}
}

static const char *fs_mount_by_id(json_object *filesystems, const char *id)
{
	if (!id)
		return NULL;
	for (size_t i = 0; filesystems && i < json_object_array_length(filesystems); i++) {
		json_object *fs = json_object_array_get_idx(filesystems, i);
		const char *fid = jstr(fs, "id");

		if (fid && strcmp(fid, id) == 0)
			return jstr(fs, "mount");
	}
	return NULL;
}

static int print_status_text(const char *text)
{
	json_object *doc = json_tokener_parse(text), *daemon = NULL, *fss = NULL, *scopes = NULL;
	struct table t = {0};
	char up[32] = "?";
	int64_t v;
	size_t nfs, nscopes;

	if (!doc)
		return cli_error("fstrackd sent a status that is not JSON; try 'fstrack status "
				 "--json'");
	json_object_object_get_ex(doc, "daemon", &daemon);
	json_object_object_get_ex(doc, "filesystems", &fss);
	json_object_object_get_ex(doc, "scopes", &scopes);
	if (fss && !json_object_is_type(fss, json_type_array))
		fss = NULL;
	if (scopes && !json_object_is_type(scopes, json_type_array))
		scopes = NULL;

	if (jint(daemon, "uptime_s", &v))
		fmt_duration(up, sizeof(up), v);
	printf("fstrackd %s, pid %s, up %s, state in %s\n",
	       jstr(daemon, "version") ? jstr(daemon, "version") : "?",
	       jstr(daemon, "pid") ? jstr(daemon, "pid") : "?", up,
	       jstr(daemon, "state_dir") ? jstr(daemon, "state_dir") : "?");

	nfs = fss ? json_object_array_length(fss) : 0;
	nscopes = scopes ? json_object_array_length(scopes) : 0;
	printf("\n");
	if (nfs == 0) {
		printf("No filesystems tracked.\n");
	} else {
		static const char *const head[STATUS_COLS] = {
		    "FILESYSTEM", "TYPE",      "JOURNAL", "RECORDS",
		    "EVENTS",	  "OVERFLOWS", "SEQ",	  "SCAN",
		};
		t.cols = STATUS_COLS;
		t.rows = nfs + 1;
		t.cells = calloc(t.rows * t.cols, CELL);
		if (!t.cells) {
			json_object_put(doc);
			return cli_error("out of memory");
		}
		for (size_t c = 0; c < STATUS_COLS; c++)
			snprintf(cell(&t, 0, c), CELL, "%s", head[c]);
		for (size_t i = 0; i < nfs; i++) {
			json_object *fs = json_object_array_get_idx(fss, i), *scan = NULL;
			size_t r = i + 1;
			int64_t a, b, d;

			snprintf(cell(&t, r, 0), CELL, "%s",
				 jstr(fs, "mount") ? jstr(fs, "mount") : "?");
			snprintf(cell(&t, r, 1), CELL, "%s",
				 jstr(fs, "fstype") ? jstr(fs, "fstype") : "?");
			fmt_bytes(cell(&t, r, 2), CELL, fs, "journal_bytes");
			fmt_int(cell(&t, r, 3), CELL, fs, "records_written");
			fmt_int(cell(&t, r, 4), CELL, fs, "events_seen");
			fmt_int(cell(&t, r, 5), CELL, fs, "overflows");
			if (jint(fs, "first_seq", &a) && jint(fs, "next_seq", &b))
				snprintf(cell(&t, r, 6), CELL, "%" PRId64 "..%" PRId64, a, b);
			else
				snprintf(cell(&t, r, 6), CELL, "-");
			json_object *running = NULL;

			json_object_object_get_ex(fs, "scan", &scan);
			if (scan)
				json_object_object_get_ex(scan, "running", &running);
			if (running && json_object_get_boolean(running)) {
				if (!jint(scan, "dirs", &a))
					a = 0;
				if (!jint(scan, "inodes", &b))
					b = 0;
				if (!jint(scan, "emitted", &d))
					d = 0;
				snprintf(cell(&t, r, 7), CELL,
					 "running: %" PRId64 " dirs, %" PRId64 " inodes, %" PRId64
					 " changed",
					 a, b, d);
			} else {
				snprintf(cell(&t, r, 7), CELL, scan ? "idle" : "-");
			}
		}
		table_print(&t);
		free(t.cells);
	}

	printf("\n");
	if (nscopes == 0) {
		printf("No directories watched; start with 'fstrack watch DIR'.\n");
	} else {
		t.cols = 3;
		t.rows = nscopes + 1;
		t.cells = calloc(t.rows * t.cols, CELL);
		if (!t.cells) {
			json_object_put(doc);
			return cli_error("out of memory");
		}
		snprintf(cell(&t, 0, 0), CELL, "SCOPE");
		snprintf(cell(&t, 0, 1), CELL, "STATE");
		snprintf(cell(&t, 0, 2), CELL, "FILESYSTEM");
		for (size_t i = 0; i < nscopes; i++) {
			json_object *s = json_object_array_get_idx(scopes, i);
			const char *fsid = jstr(s, "filesystem"),
				   *mount = fs_mount_by_id(fss, fsid);

			snprintf(cell(&t, i + 1, 0), CELL, "%s",
				 jstr(s, "path") ? jstr(s, "path") : "?");
			snprintf(cell(&t, i + 1, 1), CELL, "%s",
				 jstr(s, "state") ? jstr(s, "state") : "?");
			snprintf(cell(&t, i + 1, 2), CELL, "%s",
				 mount ? mount : (fsid ? fsid : "-"));
		}
		table_print(&t);
		free(t.cells);
	}
	json_object_put(doc);
	return EXIT_OK;
}

static int cmd_status(const struct cli *cli_in, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {NULL, 0, NULL, 0},
	};
	struct cli cli = *cli_in;
	bool json = false;
	fst_client *c = NULL;
	char *text = NULL;
	struct opts o;
	int code, r, opt;

	opts_init(&o, "status", "", longopts);
	while ((opt = opts_next(&o, &cli, argc, argv, &code)) != OPT_DONE) {
		if (opt == OPT_EXIT)
			return code;
		if (opt == 'j')
			json = true;
	}
	if (optind < argc)
		return cli_usage_error("status", "unexpected argument '%s'", argv[optind]);
	code = cli_connect(&cli, &c);
	if (code)
		return code;
	r = fst_status_json(c, &text);
	if (r < 0)
		code = cli_client_error(c, r);
	else if (json)
		code = puts(text) < 0 ? cli_error("cannot write: %s", strerror(errno)) : EXIT_OK;
	else
		code = print_status_text(text);
	free(text);
	fst_client_free(c);
	return code;
}

/* ---- help, version, dispatch ---- */

static int cmd_help(const struct cli *cli, int argc, char **argv)
{
	const struct command *cmd;

	if (argc < 2) {
		print_main_help(stdout);
		return EXIT_OK;
	}
	cmd = find_command(argv[1]);
	if (!cmd)
		return cli_usage_error(NULL, "no command '%s'", argv[1]);
	return print_command_help(cmd);
}

static int cmd_version(const struct cli *cli, int argc, char **argv)
{
	printf("fstrack %s (protocol %d)\n", FST_VERSION, FST_PROTOCOL_VERSION);
	return EXIT_OK;
}

static const struct command commands[] = {
    {"watch", cmd_watch, "watch DIR", "Start tracking DIR and print a token for it",
     "Tracking starts at once and survives restarts of the daemon until 'fstrack unwatch'.\n"
     "Watching a directory that is already watched prints a new token.\n"
     "DIR may be relative; it is made absolute (symbolic links resolved) first.\n"},
    {"token", cmd_token, "token DIR", "Print a new token for the watched directory DIR",
     "The token names this moment: 'fstrack changes --since TOKEN DIR' later lists what\n"
     "changed under DIR after it.\n"},
    {"changes", cmd_changes,
     "changes --since TOKEN [--json | -0 | --rsync] [--token-file FILE] [--wait-ms N] DIR",
     "List what changed under DIR since TOKEN, and a new token to continue from",
     "Options:\n"
     "  --since TOKEN      the token of the previous call ('fstrack watch', 'token' or\n"
     "                     'changes' printed it)\n"
     "  --json             one JSON document: {\"token\": ..., \"fresh\": false,\n"
     "                     \"changes\": [{\"path\": \"a/b\", \"kinds\": [\"modified\"]}]}\n"
     "  -0, --null         changed paths only, each ended by a NUL byte; \".\" alone when\n"
     "                     everything may have changed\n"
     "  --rsync            a NUL-separated list for rsync that brings a copy up to date:\n"
     "                       rsync " RSYNC_LIST_OPTIONS " DIR/ COPY/\n"
     "                     (--delete removes names that vanished from directories\n"
     "                     reported as 'entries' or 'recursive'; -I sends a listed\n"
     "                     file even when its size and mtime match the copy's)\n"
     "  --token-file FILE  write the new token to FILE (atomically) once the answer is\n"
     "                     written; with -0 and --rsync the token goes to stderr without it\n"
     "  --wait-ms N        wait up to N ms for a catch-up scan in progress (0: do not\n"
     "                     wait; default: the daemon's, 60000); past it the answer is\n"
     "                     widened: DIR itself as 'recursive' (--json: \"widened\": true)\n"
     "\n"
     "Default output: a line 'token TOKEN', a line 'fresh' when everything under DIR may\n"
     "have changed (rescan it all), then one line per changed path: its kinds separated\n"
     "by commas, a tab, the path relative to DIR (\".\" is DIR itself). Paths with control\n"
     "characters, '\"' or '\\' are quoted C-style.\n"
     "\n"
     "Kinds: created deleted modified attrib renamed_from renamed_to, and for directories\n"
     "entries (names directly inside were added or removed) and recursive (anything below\n"
     "may have changed).\n"},
    {"stream", cmd_stream, "stream --since TOKEN DIR",
     "Print the changes since TOKEN, then live changes, as JSON lines",
     "Each line is the daemon's event as sent ('change', 'history_done', 'fresh', 'gap'),\n"
     "flushed at once. The command runs until interrupted. When the daemon drops a\n"
     "subscriber that fell behind, it prints the 'gap' line and exits with status 3:\n"
     "continue with 'fstrack changes --since' and the gap's token.\n"},
    {"unwatch", cmd_unwatch, "unwatch DIR", "Stop tracking DIR",
     "Tokens issued for DIR become useless. Only root or the owner of DIR may do it.\n"},
    {"status", cmd_status, "status [--json]",
     "Show the daemon's filesystems and watched directories",
     "Options:\n"
     "  --json   print the daemon's status document (one line of JSON) instead of tables\n"},
    {"backup", cmd_backup, backup_synopsis, backup_summary, backup_help},
    {"git-fsmonitor", cmd_git_fsmonitor, git_fsmonitor_synopsis, git_fsmonitor_summary,
     git_fsmonitor_help},
    {"git-daemon", cmd_git_daemon, git_daemon_synopsis, git_daemon_summary, git_daemon_help},
    {"help", cmd_help, "help [COMMAND]", "Show help for fstrack or one of its commands", NULL},
    {"version", cmd_version, "version", "Show the version", NULL},
};

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void print_main_help(FILE *f)
{
	fprintf(f, "usage: fstrack [--socket PATH] COMMAND [ARGS]\n"
		   "\n"
		   "Ask fstrackd what changed under a directory since a token.\n"
		   "\n"
		   "Commands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n"
		   "Options:\n"
		   "  --socket PATH  the daemon's socket (default: $" FST_SOCKET_ENV
		   ", else " FST_DEFAULT_SOCKET ")\n"
		   "  -h, --help     show this help; 'fstrack help COMMAND' shows a command's\n"
		   "  -V, --version  show the version\n"
		   "\n"
		   "Exit status: 0 success, 1 error, 2 bad usage, 3 a stream ended with a gap.\n"
		   "See fstrack(1).\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"socket", required_argument, NULL, 'S'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct cli cli = {0};
	const struct command *cmd;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'S':
			cli.socket = optarg;
			break;
		case 'h':
			print_main_help(stdout);
			return EXIT_OK;
		case 'V':
			return cmd_version(&cli, 0, NULL);
		case ':':
			return cli_usage_error(NULL, "option '%s' needs a value", argv[optind - 1]);
		default:
			if (optopt)
				return cli_usage_error(NULL, "unknown option '-%c'", optopt);
			return cli_usage_error(NULL, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc) {
		print_main_help(stderr);
		return EXIT_USAGE;
	}
	cmd = find_command(argv[optind]);
	if (!cmd)
		return cli_usage_error(NULL, "no command '%s'", argv[optind]);
	return cmd->run(&cli, argc - optind, argv + optind);
}
