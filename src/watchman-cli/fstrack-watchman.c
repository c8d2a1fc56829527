/* SPDX-License-Identifier: MIT */
/*
 * fstrack-watchman: the watchman command, for fstrackd's Watchman socket.
 * Whatever name it is called by (make install offers it as "watchman"),
 * it behaves as Watchman's command line:
 *
 *   watchman [OPTIONS] COMMAND [ARGS...]    the command as a JSON array of strings
 *   watchman [OPTIONS] -j < COMMAND.json    a command as JSON (or BSER) on stdin,
 *                                           as git's fsmonitor-watchman hook sends it
 *   watchman [OPTIONS]                      only check that the service answers
 *
 * The socket: --sockname (-U), else $WATCHMAN_SOCK, else fstrackd's default.
 * get-sockname, version and list-capabilities are answered here; every
 * other command goes to the socket, and the first answer (every answer
 * with --persistent) is printed: pretty JSON, one line with --no-pretty,
 * or --output-encoding json, bser, bser-v2. The daemon is spoken to in
 * --server-encoding (bser by default, as Watchman 4.9). Like Watchman's
 * command line, a root argument is made a real path first, and the exit
 * status is 0 when an answer was printed (even one with "error"), 1 when
 * none could be had (no daemon, a broken connection) or the arguments are
 * wrong. fstrackd is a system service: nothing is ever spawned, so
 * --no-spawn, --no-local and the server's own options are accepted and
 * change nothing.
 *
 * It links only src/watchman (BSER, framing, capabilities) and json-c.
 */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "watchman/caps.h"
#include "watchman/pdu.h"

#define DEFAULT_SOCKET "/run/fstrack/watchman.sock"
/* A command on stdin, an answer from the daemon: at most this long. */
#define STDIN_MAX (64u << 20)
#define ANSWER_MAX (1u << 30)

struct cli {
	const char *sockname;
	struct wpdu_format server, output;
	bool output_set, server_set;
	bool pretty, persistent, json_command;
};

/* The commands whose first argument is a root (Watchman's w_cmd_realpath_root). */
static const char *const root_commands[] = {
    "watch",	   "watch-project", "watch-del",  "clock",	 "query",
    "since",	   "find",	    "subscribe",  "unsubscribe", "flush-subscriptions",
    "state-enter", "state-leave",   "get-config", "trigger",	 "trigger-list",
    "trigger-del",
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: watchman [OPTIONS] COMMAND [ARGS...]\n"
		"       watchman [OPTIONS] -j < COMMAND.json\n"
		"Watchman's command line for fstrackd's Watchman socket (fstrack %s).\n\n"
		"  -U, --sockname PATH      the socket (default $WATCHMAN_SOCK, else %s)\n"
		"  -j, --json-command       read the command as JSON (or BSER) from stdin\n"
		"  -p, --persistent         print every answer until the connection ends\n"
		"      --no-pretty          print JSON on one line\n"
		"      --output-encoding E  json (default), bser or bser-v2\n"
		"      --server-encoding E  bser (default), bser-v2 or json\n"
		"      --no-spawn, --no-local, -n, --no-save-state, -o, --logfile PATH,\n"
		"      --log-level N, --pidfile PATH, --statefile PATH\n"
		"                           accepted; fstrackd is a system service and is never\n"
		"                           started from here\n"
		"  -h, --help, -v, --version\n\n"
		"get-sockname, version and list-capabilities are answered here; other\n"
		"commands go to fstrackd. See docs/watchman.md for what is supported.\n",
		FST_VERSION, DEFAULT_SOCKET);
}

/* Print v in the output encoding. */
static int print_pdu(const struct cli *cli, json_object *v)
{
	char *buf;
	size_t len;
	int r = wpdu_encode(v, &cli->output, &buf, &len);

	if (r < 0) {
		fprintf(stderr, "watchman: cannot encode the answer: %s\n", strerror(-r));
		return r;
	}
	if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0) {
		r = -errno;
		fprintf(stderr, "watchman: cannot write the answer: %s\n", strerror(errno));
	}
	free(buf);
	return r;
}

/* A failure before anything is sent: an answer with cli_validated, exit 1. */
static int cli_error(const struct cli *cli, const char *msg)
{
	json_object *o = wcap_response();

	json_object_object_add(o, "error", json_object_new_string(msg));
	json_object_object_add(o, "cli_validated", json_object_new_boolean(1));
	print_pdu(cli, o);
	json_object_put(o);
	return 1;
}

static int parse_encoding(const char *opt, const char *name, struct wpdu_format *ret)
{
	if (wpdu_parse_encoding(name, ret) < 0) {
		fprintf(stderr, "watchman: %s must be json, bser or bser-v2, not '%s'\n", opt,
			name);
		return -EINVAL;
	}
	return 0;
}

/* 0 go on, 1 done with exit 0, < 0 exit 1. */
static int parse_args(int argc, char **argv, struct cli *cli)
{
	enum {
		O_OUTENC = 256,
		O_SERVENC,
		O_NOPRETTY,
		O_NOSPAWN,
		O_NOLOCAL,
		O_LOGLEVEL,
		O_PIDFILE,
		O_STATEFILE,
		O_INETD,
		O_TESTSTATE,
	};
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'v'},
	    {"sockname", required_argument, NULL, 'U'},
	    {"logfile", required_argument, NULL, 'o'},
	    {"log-level", required_argument, NULL, O_LOGLEVEL},
	    {"pidfile", required_argument, NULL, O_PIDFILE},
	    {"persistent", no_argument, NULL, 'p'},
	    {"no-save-state", no_argument, NULL, 'n'},
	    {"statefile", required_argument, NULL, O_STATEFILE},
	    {"json-command", no_argument, NULL, 'j'},
	    {"output-encoding", required_argument, NULL, O_OUTENC},
	    {"server-encoding", required_argument, NULL, O_SERVENC},
	    {"foreground", no_argument, NULL, 'f'},
	    {"no-pretty", no_argument, NULL, O_NOPRETTY},
	    {"no-spawn", no_argument, NULL, O_NOSPAWN},
	    {"no-local", no_argument, NULL, O_NOLOCAL},
	    {"inetd", no_argument, NULL, O_INETD},
	    {"test-state-dir", required_argument, NULL, O_TESTSTATE},
	    {0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "hvU:o:pnjf", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 1;
		case 'v':
			printf("%s\n", WCAP_VERSION);
			return 1;
		case 'U':
			cli->sockname = optarg;
			break;
		case 'p':
			cli->persistent = true;
			break;
		case 'j':
			cli->json_command = true;
			break;
		case O_OUTENC:
			if (parse_encoding("--output-encoding", optarg, &cli->output) < 0)
				return -EINVAL;
			cli->output_set = true;
			break;
		case O_SERVENC:
			if (parse_encoding("--server-encoding", optarg, &cli->server) < 0)
				return -EINVAL;
			cli->server_set = true;
			break;
		case O_NOPRETTY:
			cli->pretty = false;
			break;
		case 'f':
		case O_INETD:
			fprintf(stderr,
				"watchman: this watchman is fstrack's command line: it runs no "
				"server (fstrackd is the server, a system service)\n");
			return -EINVAL;
		case 'o':
		case 'n':
		case O_NOSPAWN:
		case O_NOLOCAL:
		case O_LOGLEVEL:
		case O_PIDFILE:
		case O_STATEFILE:
		case O_TESTSTATE:
			break; /* nothing to spawn, nothing to keep */
		default:
			fprintf(stderr, "watchman: unknown or invalid option (see --help)\n");
			return -EINVAL;
		}
	}
	if (!cli->output_set)
		cli->output.enc = cli->pretty ? WPDU_JSON_PRETTY : WPDU_JSON;
	return 0;
}

/*
 * The command from stdin: a BSER PDU (then BSER is spoken and printed,
 * unless asked otherwise, as Watchman does) or a JSON value over any
 * number of lines. Read until the value is whole, not until EOF (a client
 * may keep stdin open, as it may with Watchman's command).
 */
static int command_from_stdin(struct cli *cli, json_object **ret)
{
	struct json_tokener *tk = json_tokener_new();
	size_t len = 0, cap = 0, fed = 0;
	enum json_tokener_error jerr = json_tokener_continue;
	char *buf = NULL, err[256] = "";
	bool bser = false;
	int r = 0;

	*ret = NULL;
	if (!tk)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *nb;

			cap = cap ? cap * 2 : 65536;
			nb = cap <= STDIN_MAX ? realloc(buf, cap) : NULL;
			if (!nb) {
				r = cap > STDIN_MAX ? -EMSGSIZE : -ENOMEM;
				break;
			}
			buf = nb;
		}
		n = read(STDIN_FILENO, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		len += (size_t)n;
		if (len >= 2 && buf[0] == 0 && (buf[1] == 1 || buf[1] == 2)) {
			struct wpdu_format fmt;
			size_t used;

			bser = true;
			r = wpdu_decode(buf, len, STDIN_MAX, ret, &used, &fmt, err, sizeof(err));
			if (r > 0) {
				if (!cli->server_set)
					cli->server = fmt;
				if (!cli->output_set)
					cli->output = fmt;
				r = 0;
				break;
			}
			if (r < 0 || n == 0) {
				r = r < 0 ? r : -EINVAL;
				snprintf(err, sizeof(err), "%s",
					 r == -EINVAL ? "truncated BSER" : err);
				break;
			}
			continue;
		}
		if (n == 0 && len == fed) {
			/* EOF: the value ends here, or there is none */
			*ret = json_tokener_parse_ex(tk, "", 0);
			jerr = json_tokener_get_error(tk);
			r = jerr == json_tokener_success ? 0 : -EINVAL;
			break;
		}
		if (len > fed) {
			*ret = json_tokener_parse_ex(tk, buf + fed, (int)(len - fed));
			fed = len;
			jerr = json_tokener_get_error(tk);
			if (jerr == json_tokener_success) {
				r = 0;
				break;
			}
			if (jerr != json_tokener_continue) {
				r = -EINVAL;
				break;
			}
		}
	}
	if (r < 0) {
		json_object_put(*ret);
		*ret = NULL;
		if (bser || r != -EINVAL)
			fprintf(stderr, "watchman: failed to parse command from stdin: %s\n",
				err[0] ? err : strerror(-r));
		else
			fprintf(stderr, "watchman: failed to parse command from stdin: %s\n",
				!len				? "no command"
				: jerr == json_tokener_continue ? "the JSON ends too early"
								: json_tokener_error_desc(jerr));
	}
	json_tokener_free(tk);
	free(buf);
	return r;
}

static const char *arg_str(json_object *cmd, size_t i)
{
	json_object *v = json_object_array_get_idx(cmd, i);

	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/*
 * Watchman's command line makes a root argument a real path before it
 * sends the command (a root that does not resolve is sent as it is, for
 * the daemon to refuse). 0, or 1 after printing the validation error.
 */
static int validate(const struct cli *cli, json_object *cmd)
{
	const char *name = arg_str(cmd, 0), *root;
	char real[PATH_MAX];
	bool takes_root = false;

	if (!name)
		return 0;
	for (size_t i = 0; i < sizeof(root_commands) / sizeof(root_commands[0]); i++)
		takes_root |= strcmp(name, root_commands[i]) == 0;
	if (!takes_root)
		return 0;
	if (json_object_array_length(cmd) < 2)
		return cli_error(cli, "wrong number of arguments");
	root = arg_str(cmd, 1);
	if (!root)
		return cli_error(cli, "second argument must be a string");
	if (realpath(root, real))
		json_object_array_put_idx(cmd, 1, json_object_new_string(real));
	return 0;
}

/* The commands answered here: 1 answered (printed), 0 not one of them. */
static int answer_locally(const struct cli *cli, json_object *cmd, int *ret_rc)
{
	const char *name = arg_str(cmd, 0);
	json_object *o;

	if (!name)
		return 0;
	if (strcmp(name, "get-sockname") == 0) {
		o = wcap_response();
		json_object_object_add(o, "sockname", json_object_new_string(cli->sockname));
	} else if (strcmp(name, "version") == 0) {
		o = wcap_version(cmd);
	} else if (strcmp(name, "list-capabilities") == 0) {
		o = wcap_list();
	} else {
		return 0;
	}
	*ret_rc = print_pdu(cli, o) < 0 ? 1 : 0;
	json_object_put(o);
	return 1;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

struct reader {
	int fd;
	char *buf;
	size_t len, cap;
};

/* The next PDU from the daemon: 1 with *ret, 0 at the end of the connection, < 0 an error. */
static int next_pdu(struct reader *rd, json_object **ret)
{
	for (;;) {
		struct wpdu_format fmt;
		char err[256];
		size_t used;
		ssize_t n;
		int r =
		    wpdu_decode(rd->buf, rd->len, ANSWER_MAX, ret, &used, &fmt, err, sizeof(err));

		if (r > 0) {
			memmove(rd->buf, rd->buf + used, rd->len - used);
			rd->len -= used;
			return 1;
		}
		if (r < 0) {
			fprintf(stderr, "watchman: failed to parse the answer: %s\n",
				err[0] ? err : strerror(-r));
			return r;
		}
		if (rd->len == rd->cap) {
			size_t cap = rd->cap ? rd->cap * 2 : 65536;
			char *nb = realloc(rd->buf, cap);

			if (!nb)
				return -ENOMEM;
			rd->buf = nb;
			rd->cap = cap;
		}
		n = recv(rd->fd, rd->buf + rd->len, rd->cap - rd->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			fprintf(stderr, "watchman: cannot read the answer: %s\n", strerror(errno));
			return r;
		}
		if (n == 0) {
			if (rd->len)
				fprintf(stderr, "watchman: the connection ended in an answer\n");
			return rd->len ? -EPIPE : 0;
		}
		rd->len += (size_t)n;
	}
}

int main(int argc, char **argv)
{
	struct cli cli = {.server = {.enc = WPDU_BSER_V1}, .pretty = true};
	const char *env = getenv("WATCHMAN_SOCK");
	struct reader rd = {.fd = -1};
	json_object *cmd = NULL, *answer;
	char *buf;
	size_t len;
	int r, rc = 1;

	r = parse_args(argc, argv, &cli);
	if (r != 0)
		return r > 0 ? 0 : 1;
	if (!cli.sockname)
		cli.sockname = env && *env ? env : DEFAULT_SOCKET;
	if (cli.json_command) {
		if (command_from_stdin(&cli, &cmd) < 0)
			return 1;
	} else if (optind < argc) {
		cmd = json_object_new_array();
		for (int i = optind; i < argc; i++)
			json_object_array_add(cmd, json_object_new_string(argv[i]));
	}
	if (cmd && json_object_is_type(cmd, json_type_array)) {
		if (validate(&cli, cmd)) {
			json_object_put(cmd);
			return 1;
		}
		if (answer_locally(&cli, cmd, &rc)) {
			json_object_put(cmd);
			return rc;
		}
	}
	rd.fd = connect_to(cli.sockname);
	if (rd.fd < 0) {
		fprintf(stderr, "watchman: unable to talk to your watchman on %s! (%s)\n",
			cli.sockname, strerror(-rd.fd));
		json_object_put(cmd);
		return 1;
	}
	if (!cmd) { /* no command: it answers, that is all */
		close(rd.fd);
		return 0;
	}
	r = wpdu_encode(cmd, &cli.server, &buf, &len);
	json_object_put(cmd);
	if (r < 0) {
		fprintf(stderr, "watchman: cannot encode the command: %s\n", strerror(-r));
		close(rd.fd);
		return 1;
	}
	r = send_all(rd.fd, buf, len);
	free(buf);
	if (r < 0) {
		fprintf(stderr, "watchman: cannot send the command to %s: %s\n", cli.sockname,
			strerror(-r));
		close(rd.fd);
		return 1;
	}
	do {
		r = next_pdu(&rd, &answer);
		if (r <= 0)
			break;
		r = print_pdu(&cli, answer);
		json_object_put(answer);
		if (r < 0)
			break;
		rc = 0;
	} while (cli.persistent);
	if (r == 0 && rc != 0)
		fprintf(stderr, "watchman: %s closed the connection without an answer\n",
			cli.sockname);
	if (r < 0)
		rc = 1;
	free(rd.buf);
	close(rd.fd);
	return rc;
}
