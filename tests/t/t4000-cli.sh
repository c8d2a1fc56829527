#!/bin/sh
test_description='fstrack: help, output formats, --token-file, stream, messages

What the command line adds around the contract of t1000: help for every
command, the default text format of changes (token line, kinds TAB path,
C-quoted odd names), -0 and --token-file (written only once the answer is
out), stream as JSON lines, and the message when no daemon answers.'

. "$(dirname "$0")"/../lib/test-lib.sh

token_re='^fst1:[0-9a-f]\{32\}:[0-9]\{1,\}$'

# test_lines N FILE: FILE has N lines (says what it has otherwise)
test_lines() {
	if test "$(wc -l <"$2")" != "$1"; then
		echo "expected $1 lines in $2, got:"
		cat "$2"
		return 1
	fi
}

test_expect_success 'help: fstrack --help, help COMMAND, COMMAND --help, --version' '
	fstrack --help >out &&
	grep "^usage: fstrack" out &&
	for c in watch token changes stream unwatch status backup git-fsmonitor
	do
		fstrack help $c >h1 &&
		fstrack $c --help >h2 &&
		test_cmp h1 h2 &&
		grep "^usage: fstrack .*$c" h1 || { echo "help of $c"; return 1; }
	done &&
	grep -e --token-file h1 >/dev/null || fstrack help changes | grep -e --token-file &&
	fstrack --version | grep "^fstrack [0-9]"
'

fst_lazy_prereq NM '
	command -v nm >/dev/null || { echo "nm (binutils) is not installed"; exit 1; }
'

# The layers of src/cli, read from the objects of the build: who calls
# (or reads) a global symbol defined in another file. fstrack.c reaches
# backup.c, git-fsmonitor.c and git-daemon.c only through commands.h; the command files
# use only the helpers; rsync-list.c uses cli-util.c, cli-util.c uses no
# other file of src/cli (the hard-link walk and relative paths are in
# src/basic, git's answer in src/gitfsm: shared with the daemon).
cli_files="fstrack backup git-fsmonitor git-daemon cli-util rsync-list"

test_expect_success NM 'the files of src/cli call one way: commands, then helpers' '
	o=$FST_BUILD_DIR/fstrack.p &&
	for f in $cli_files
	do
		test -f "$o/src_cli_$f.c.o" || { echo "no object of $f.c in $o"; return 1; }
		nm --defined-only "$o/src_cli_$f.c.o" >nm.out &&
		awk -v f=$f "\$2 ~ /^[TDRB]\$/ { print \$3, f }" nm.out || return 1
	done >defined &&
	for f in $cli_files
	do
		nm -u "$o/src_cli_$f.c.o" >nm.out &&
		awk -v f=$f "{ print f, \$NF }" nm.out || return 1
	done >used &&
	awk "NR == FNR { def[\$1] = \$2; next } (\$2 in def) && def[\$2] != \$1 { print \$1, def[\$2], \$2 }" \
		defined used >edges &&
	grep -q "^fstrack backup cmd_backup\$" edges &&
	grep -q "^rsync-list cli-util cli_recursive_set\$" edges &&
	while read from to sym
	do
		case "$from $to $sym" in
		"fstrack backup cmd_"* | "fstrack backup backup_"*) ;;
		"fstrack git-fsmonitor cmd_"* | "fstrack git-fsmonitor git_fsmonitor_"*) ;;
		"fstrack git-daemon cmd_"* | "fstrack git-daemon git_daemon_"*) ;;
		"fstrack "* | "backup "* | "git-fsmonitor "* | "git-daemon "*)
			case $to in
			cli-util | rsync-list) ;;
			*) echo "$from.c uses $sym of $to.c"; return 1 ;;
			esac ;;
		"rsync-list cli-util "*) ;;
		*) echo "$from.c uses $sym of $to.c"; return 1 ;;
		esac
	done <edges
'

test_expect_success 'usage errors name the command and where to look' '
	test_expect_code 2 fstrack changes --json -0 --since x dir 2>err &&
	grep "fstrack changes: .*help changes" err &&
	test_expect_code 2 fstrack help no-such-command 2>err &&
	test_lines 1 err
'

test_expect_success 'no daemon: exit 1, one line that says how to start it' '
	test_expect_code 1 fstrack --socket "$PWD/none.sock" status 2>err &&
	test_lines 1 err &&
	grep "cannot connect to fstrackd at $PWD/none.sock" err &&
	grep "is the daemon running" err
'

test_expect_success ROOT,TMPFS,FANOTIFY 'setup: a tmpfs, the daemon, a watched directory' '
	fst_mount_tmpfs "$PWD/mnt" &&
	mkdir mnt/w &&
	fst_daemon_start &&
	fstrack watch mnt/w >tok &&
	grep "$token_re" tok
'

test_expect_success ROOT,TMPFS,FANOTIFY '--socket may follow the command' '
	(unset FSTRACK_SOCKET && "$FSTRACK" status --socket "$FST_SOCK" >/dev/null)
'

test_expect_success ROOT,TMPFS,FANOTIFY 'changes, text: a token line, then kinds TAB path' '
	echo a >mnt/w/plain &&
	mkdir mnt/w/dir &&
	fstrack changes --since "$(cat tok)" mnt/w >out &&
	head -n 1 out | sed "s/^token //" | grep "$token_re" &&
	printf "created\tdir\n" >expect.dir &&
	grep -F -x "$(cat expect.dir)" out &&
	grep "^[a-z_,]*created[a-z_,]*	plain\$" out &&
	! grep "^fresh\$" out
'

test_expect_success ROOT,TMPFS,FANOTIFY 'changes, text: odd names are C-quoted, one line each' '
	t=$(fstrack token mnt/w) &&
	: >"mnt/w/new
line" &&
	: >"mnt/w/tab	and \"quote\"" &&
	fstrack changes --since "$t" mnt/w >out &&
	grep -F "	\"new\\nline\"" out &&
	grep -F "	\"tab\\tand \\\"quote\\\"\"" out &&
	test "$(grep -c "	\"" out)" = 2 &&
	test "$(grep -c "	" out)" = "$(($(wc -l <out) - 1))"
'

test_expect_success ROOT,TMPFS,FANOTIFY 'changes --json is one document that keeps the contract' '
	fstrack changes --since "$(cat tok)" --json mnt/w >a.json &&
	test_lines 1 a.json &&
	fst-test-tool validate a.json &&
	fst-test-tool has a.json plain created
'

test_expect_success ROOT,TMPFS,FANOTIFY '-0 --token-file: names alone on stdout, the token in the file' '
	t=$(fstrack token mnt/w) &&
	echo more >>mnt/w/plain &&
	fstrack changes --since "$t" -0 --token-file next.tok mnt/w >z 2>err &&
	test_must_be_empty err &&
	tr "\\0" "\\n" <z >names &&
	grep -x plain names &&
	! grep token names &&
	grep "$token_re" next.tok &&
	test_lines 1 next.tok
'

test_expect_success ROOT,TMPFS,FANOTIFY '-0 without --token-file: the token goes to stderr' '
	fstrack changes --since "$(cat next.tok)" -0 mnt/w >z 2>err &&
	sed -n "s/^token //p" err | grep "$token_re"
'

test_expect_success ROOT,TMPFS,FANOTIFY '--token-file is left alone when the answer cannot be written' '
	cp next.tok before.tok &&
	test -w /dev/full &&
	test_expect_code 1 fstrack changes --since "$(cat next.tok)" --json --token-file next.tok \
		mnt/w >/dev/full 2>err &&
	test_lines 1 err &&
	test_cmp before.tok next.tok
'

test_expect_success ROOT,TMPFS,FANOTIFY 'a fresh answer: "fresh" line in text, "." alone with -0' '
	forged=$(sed "s/^fst1:[0-9a-f]*:/fst1:0123456789abcdef0123456789abcdef:/" tok) &&
	fstrack changes --since "$forged" mnt/w >out &&
	sed -n 2p out | grep -x fresh &&
	fstrack changes --since "$forged" -0 mnt/w >z 2>err &&
	printf ".\\0" >expect &&
	test_cmp expect z &&
	grep -x fresh err
'

test_expect_success ROOT,TMPFS,FANOTIFY 'stream: history, history_done, then live changes as JSON lines' '
	t=$(fstrack token mnt/w) &&
	echo x >mnt/w/before &&
	(fstrack stream --since "$t" mnt/w >stream.out 2>stream.err & echo $! >stream.pid) &&
	n=0 &&
	while ! grep -q history_done stream.out && test $n -lt 100
	do
		sleep 0.1; n=$(($n + 1))
	done &&
	echo y >mnt/w/live &&
	n=0 &&
	while ! grep -q "\"live\"" stream.out && test $n -lt 100
	do
		sleep 0.1; n=$(($n + 1))
	done &&
	kill $(cat stream.pid) &&
	grep "\"event\":\"change\".*\"path\":\"before\"" stream.out &&
	grep "\"event\":\"history_done\"" stream.out &&
	grep "\"event\":\"change\".*\"path\":\"live\"" stream.out &&
	test "$(sed -n "/history_done/=" stream.out)" -lt "$(sed -n "/\"live\"/=" stream.out)"
'

test_expect_success ROOT,TMPFS,FANOTIFY 'status: tables of filesystems and scopes' '
	fstrack status >out &&
	grep "^FILESYSTEM *TYPE *JOURNAL" out &&
	grep "^SCOPE *STATE" out &&
	grep "$PWD/mnt/w *active" out &&
	grep "tmpfs" out
'

# Unmount before sharness removes the trash directory (its rm -rf must not
# walk into the mount).
test_expect_success ROOT,TMPFS,FANOTIFY 'stop the daemon, unmount' '
	fst_daemon_stop &&
	umount "$PWD/mnt"
'

fst_done
