/* SPDX-License-Identifier: MIT */
/*
 * commands: the commands of fstrack that have a file of their own, for the
 * dispatcher in fstrack.c (which alone calls them). Each takes argv with
 * the command's name in argv[0] and returns an exit code of cli-util.h.
 */
#ifndef FST_CLI_COMMANDS_H
#define FST_CLI_COMMANDS_H

#include "cli/cli-util.h"

int cmd_backup(const struct cli *cli, int argc, char **argv);
extern const char backup_synopsis[];
extern const char backup_summary[];
extern const char backup_help[];

int cmd_git_fsmonitor(const struct cli *cli, int argc, char **argv);
extern const char git_fsmonitor_synopsis[];
extern const char git_fsmonitor_summary[];
extern const char git_fsmonitor_help[];

int cmd_git_daemon(const struct cli *cli, int argc, char **argv);
extern const char git_daemon_synopsis[];
extern const char git_daemon_summary[];
extern const char git_daemon_help[];

#endif
