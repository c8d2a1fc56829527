/* SPDX-License-Identifier: MIT */
/*
 * fst-test-tool: the ground truth of the shell tests, and the workloads
 * they run. Nothing here trusts fstrack: a manifest is read from the
 * filesystem itself, and "check" applies the coverage rule of
 * docs/design.md to two manifests and one `fstrack changes --json` answer.
 * `fst-test-tool help` lists the commands; tool.h says which file does what.
 */
#include "tool.h"

#include <string.h>

static int cmd_help(int argc, char **argv)
{
	printf("usage: %s COMMAND ...\n"
	       "  manifest DIR                  one line per path under DIR (stdout)\n"
	       "  check --before M1 --after M2 --answer A.json [--report] [--json]\n"
	       "                                every differing path is covered by the answer\n"
	       "  validate A.json               the answer keeps the command-line contract\n"
	       "  has A.json PATH [KIND...]     PATH is listed in the answer (with every KIND)\n"
	       "  covers A.json PATH            PATH is covered by the answer\n"
	       "  answer A.json token|fresh|count|dump\n"
	       "  oracle [--omit N] M1 M2       the exact answer for two manifests (JSON),\n"
	       "                                without its Nth change (named on stderr)\n"
	       "  gitcheck --before M1 --after M2 --answer FILE [--all-listings] [--report]\n"
	       "                                an answer of git's fsmonitor protocol (raw bytes)\n"
	       "                                covers every change the way git uses it\n"
	       "  json FILE [KEY...]            print the value at KEY/KEY ('*': every element)\n"
	       "  probe-fanotify DIR            can a filesystem mark be put on DIR's fs?\n"
	       "  mmap-write [--close-first] [--wait] FILE OFFSET STRING\n"
	       "                                write through a shared mapping\n"
	       "  splice-write FILE OFFSET STRING                 write with splice(2)\n"
	       "  copy-range SRC DST            copy_file_range(2) SRC over DST\n"
	       "  workload --seed N --ops K [--start I] [--log FILE] [--max-entries N]\n"
	       "           [--max-depth N] DIR  deterministic random operations in DIR\n"
	       "  storm DIR N                   N quick create+write+close(+unlink) rounds\n"
	       "  shutdown [--flush|--logflush|--nologflush] MOUNTPOINT\n"
	       "                                FS_IOC_SHUTDOWN (default: no log flush)\n",
	       prog);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} cmds[] = {
	    {"manifest", cmd_manifest},
	    {"check", cmd_check},
	    {"validate", cmd_validate},
	    {"has", cmd_has},
	    {"covers", cmd_covers},
	    {"answer", cmd_answer},
	    {"oracle", cmd_oracle},
	    {"gitcheck", cmd_gitcheck},
	    {"json", cmd_json},
	    {"workload", cmd_workload},
	    {"storm", cmd_storm},
	    {"shutdown", cmd_shutdown},
	    {"mmap-write", cmd_mmap_write},
	    {"splice-write", cmd_splice_write},
	    {"copy-range", cmd_copy_range},
	    {"probe-fanotify", cmd_probe_fanotify},
	    {"help", cmd_help},
	    {"--help", cmd_help},
	};

	if (argc < 2)
		usage_error("no command");
	for (size_t i = 0; i < N_OF(cmds); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	usage_error("unknown command '%s'", argv[1]);
}
