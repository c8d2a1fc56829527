#!/bin/sh
test_description='fstrackd and fstrack: the command-line contract

Start and stop, status, watch/token/unwatch, exit codes (0 success, 1 error
with one line on stderr, 2 usage), tokens that are not tokens, unknown
directories, and a token of another journal giving a fresh answer.'

. "$(dirname "$0")"/../lib/test-lib.sh

# one_line_error CODE CMD...: fails with CODE and exactly one line on stderr
one_line_error() {
	code=$1
	shift
	test_expect_code "$code" "$@" >out 2>err &&
	test_line_count_1 err
}

test_line_count_1() {
	if test "$(wc -l <"$1")" != 1; then
		echo "expected one line on stderr, got:"
		cat "$1"
		return 1
	fi
}

token_re='^fst1:[0-9a-f]\{32\}:[0-9]\{1,\}$'

test_expect_success ROOT,TMPFS,FANOTIFY 'setup: a tmpfs and the daemon' '
	fst_mount_tmpfs mnt &&
	mkdir mnt/w mnt/other &&
	fst_daemon_start
'

test_expect_success ROOT,TMPFS,FANOTIFY 'status answers, as text and as JSON' '
	fstrack status >out &&
	test -s out &&
	fstrack status --json >status.json &&
	test "$(fst-test-tool json status.json daemon pid)" = "$FST_DAEMON_PID"
'

test_expect_success ROOT,TMPFS,FANOTIFY 'FSTRACK_SOCKET and --socket both reach the daemon' '
	fstrack --socket "$FST_SOCK" status >/dev/null &&
	(unset FSTRACK_SOCKET && "$FSTRACK" --socket "$FST_SOCK" status >/dev/null)
'

test_expect_success ROOT,TMPFS,FANOTIFY 'watch prints a token' '
	fstrack watch "$PWD/mnt/w" >tok &&
	test_line_count_1 tok &&
	grep "$token_re" tok
'

test_expect_success ROOT,TMPFS,FANOTIFY 'status lists the watched directory' '
	fstrack status --json >status.json &&
	fst-test-tool json status.json scopes "*" path >scopes &&
	grep -x "$PWD/mnt/w" scopes &&
	fstrack status >out &&
	grep "$PWD/mnt/w" out
'

# Tokens are opaque: with nothing changed since watch, token may print the
# same one. What it promises is that a change made after it is in the answer.
test_expect_success ROOT,TMPFS,FANOTIFY 'token prints a token that covers a change after it' '
	fstrack token "$PWD/mnt/w" >tok2 &&
	test_line_count_1 tok2 &&
	grep "$token_re" tok2 &&
	echo after >mnt/w/after-token &&
	fst_changes "$(cat tok2)" mnt/w t2.json &&
	fst-test-tool has t2.json after-token created &&
	test "$(fst-test-tool answer t2.json fresh)" = false
'

test_expect_success ROOT,TMPFS,FANOTIFY 'token with a relative path: the same directory' '
	(cd mnt && fstrack token w) >tok3 &&
	grep "$token_re" tok3 &&
	echo after >mnt/w/after-tok3 &&
	fst_changes "$(cat tok3)" "$PWD/mnt/w" t3.json &&
	fst-test-tool has t3.json after-tok3 created
'

test_expect_success ROOT,TMPFS,FANOTIFY 'changes --json: a created file, and a valid new token' '
	echo hello >mnt/w/new &&
	fst_changes "$(cat tok2)" mnt/w a.json &&
	fst-test-tool has a.json new created &&
	fst-test-tool answer a.json token | grep "$token_re" &&
	test "$(fst-test-tool answer a.json fresh)" = false
'

test_expect_success ROOT,TMPFS,FANOTIFY 'changes -0: NUL-terminated paths' '
	echo more >>mnt/w/new &&
	fstrack changes --since "$(fst-test-tool answer a.json token)" -0 mnt/w >z &&
	tr "\\0" "\\n" <z | grep -x new
'

test_expect_success ROOT,TMPFS,FANOTIFY 'changes from the new token only: nothing old, the new change' '
	fst_changes "$(fst-test-tool answer a.json token)" mnt/w b.json &&
	echo x >mnt/w/second &&
	fst_changes "$(fst-test-tool answer b.json token)" mnt/w c.json &&
	fst-test-tool has c.json second created &&
	test_must_fail fst-test-tool has c.json new 2>/dev/null
'

test_expect_success ROOT,TMPFS,FANOTIFY 'a change outside the directory is not reported for it' '
	t=$(fstrack token mnt/w) &&
	echo x >mnt/other/f &&
	fst_changes "$t" mnt/w d.json &&
	! grep other d.json
'

test_expect_success ROOT,TMPFS,FANOTIFY 'usage errors exit 2' '
	test_expect_code 2 fstrack &&
	test_expect_code 2 fstrack no-such-command &&
	test_expect_code 2 fstrack watch &&
	test_expect_code 2 fstrack token &&
	test_expect_code 2 fstrack unwatch &&
	test_expect_code 2 fstrack changes mnt/w &&
	test_expect_code 2 fstrack changes --since "$(cat tok)" &&
	test_expect_code 2 fstrack changes --since "$(cat tok)" --json --bogus mnt/w &&
	test_expect_code 2 fstrack watch mnt/w mnt/other &&
	test_expect_code 2 fstrack status --bogus
'

test_expect_success ROOT,TMPFS,FANOTIFY 'usage errors say so in one line' '
	one_line_error 2 fstrack no-such-command &&
	one_line_error 2 fstrack watch
'

test_expect_success ROOT,TMPFS,FANOTIFY 'a string that is not a token: exit 1, "not a token"' '
	for t in x fst1: fst1:zz:1 "fst1:00000000000000000000000000000000:" \
		"fst1:00000000000000000000000000000000:-1" \
		"fst1:0000000000000000000000000000000:1" "fst2:00000000000000000000000000000000:1" \
		"fst1:00000000000000000000000000000000:1 " "$(cat tok)x"
	do
		one_line_error 1 fstrack changes --since "$t" --json mnt/w &&
		grep "not a token" err || { echo "token: $t"; return 1; }
	done
'

test_expect_success ROOT,TMPFS,FANOTIFY 'a directory that is not watched: exit 1, a clear line' '
	one_line_error 1 fstrack token mnt/other &&
	grep "mnt/other" err && grep "not watched" err &&
	one_line_error 1 fstrack changes --since "$(cat tok)" --json mnt/other &&
	grep "mnt/other" err
'

test_expect_success ROOT,TMPFS,FANOTIFY 'a directory that does not exist: exit 1, a clear line' '
	one_line_error 1 fstrack watch mnt/nope &&
	grep "mnt/nope" err &&
	one_line_error 1 fstrack token mnt/nope &&
	one_line_error 1 fstrack changes --since "$(cat tok)" --json mnt/nope
'

test_expect_success ROOT,TMPFS,FANOTIFY 'a file is not a directory to watch' '
	one_line_error 1 fstrack watch mnt/w/new
'

test_expect_success ROOT,TMPFS,FANOTIFY 'no daemon at the socket: exit 1, one line' '
	one_line_error 1 fstrack --socket "$PWD/no.sock" status &&
	grep "no.sock" err &&
	one_line_error 1 fstrack --socket "$PWD/no.sock" token mnt/w
'

test_expect_success ROOT,TMPFS,FANOTIFY 'a token of another journal instance gives fresh' '
	forged=$(sed "s/^fst1:[0-9a-f]*:/fst1:0123456789abcdef0123456789abcdef:/" tok) &&
	fst_changes "$forged" mnt/w f.json &&
	test "$(fst-test-tool answer f.json fresh)" = true &&
	test "$(fst-test-tool answer f.json count)" = 0 &&
	fst-test-tool answer f.json token | grep "$token_re"
'

test_expect_success ROOT,TMPFS,FANOTIFY 'a token from the future of this journal is not trusted' '
	future=$(sed "s/:[0-9]*\$/:999999999/" tok) &&
	if fstrack changes --since "$future" --json mnt/w >g.json 2>err
	then
		test "$(fst-test-tool answer g.json fresh)" = true
	else
		test $? = 1 && test_line_count_1 err
	fi
'

fst_lazy_prereq SETPRIV '
	command -v setpriv >/dev/null || { echo "setpriv (util-linux) not found"; exit 1; }
	setpriv --reuid=65534 --regid=65534 --clear-groups true
'
as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}

test_expect_success ROOT,TMPFS,FANOTIFY,SETPRIV 'an unprivileged client never learns a name it cannot list' '
	chmod 755 . mnt mnt/w &&
	mkdir -p mnt/w/pub mnt/w/priv &&
	chmod 755 mnt/w/pub && chmod 700 mnt/w/priv &&
	echo old >mnt/w/priv/old &&
	mkdir -p mnt/w/priv2 && chmod 700 mnt/w/priv2 &&
	echo l >mnt/w/priv2/linked && ln -f mnt/w/priv2/linked mnt/outside-link &&
	t=$(as_nobody "$FSTRACK" token "$PWD/mnt/w") &&
	echo changed >>mnt/w/priv/old &&
	echo changed >>mnt/outside-link &&
	echo x >mnt/w/priv/secret-name &&
	mkdir mnt/w/priv/secret-dir &&
	echo y >mnt/w/priv/secret-dir/secret2 &&
	echo z >mnt/w/pub/visible &&
	as_nobody "$FSTRACK" changes --since "$t" --json "$PWD/mnt/w" >nobody.json &&
	fst-test-tool validate nobody.json &&
	fst-test-tool has nobody.json pub/visible created &&
	! grep secret nobody.json &&
	fst-test-tool covers nobody.json priv/secret-name &&
	fst-test-tool covers nobody.json priv/secret-dir/secret2 &&
	fst-test-tool covers nobody.json priv/old &&
	fst-test-tool covers nobody.json priv2/linked &&
	test_expect_code 1 as_nobody "$FSTRACK" changes --since "$t" --json "$PWD/mnt/w/priv" 2>err &&
	test "$(wc -l <err)" = 1 &&
	test_expect_code 1 as_nobody "$FSTRACK" watch "$PWD/mnt/w/priv" 2>err
'

test_expect_success ROOT,TMPFS,FANOTIFY 'unwatch: the directory is no longer known' '
	fstrack unwatch mnt/w &&
	fstrack status --json >status.json &&
	! fst-test-tool json status.json scopes "*" path 2>/dev/null | grep -x "$PWD/mnt/w" &&
	one_line_error 1 fstrack token mnt/w &&
	grep "not watched" err &&
	one_line_error 1 fstrack unwatch mnt/w
'

test_expect_success ROOT,TMPFS,FANOTIFY 'SIGTERM stops the daemon cleanly' '
	fst_daemon_stop &&
	test_must_fail fstrack status 2>/dev/null
'

test_expect_success ROOT,TMPFS,FANOTIFY 'after the state is wiped, an old token gives fresh' '
	fst_daemon_start &&
	fstrack watch mnt/w >old &&
	echo x >mnt/w/y &&
	fstrack unwatch mnt/w &&
	fst_daemon_stop &&
	rm -rf "$FST_STATE" &&
	fst_daemon_start &&
	fstrack watch mnt/w >new &&
	echo z >mnt/w/z &&
	fst_changes "$(cat old)" mnt/w h.json &&
	test "$(fst-test-tool answer h.json fresh)" = true &&
	fst_changes "$(fst-test-tool answer h.json token)" mnt/w i.json &&
	test "$(fst-test-tool answer i.json fresh)" = false
'

test_expect_success ROOT,TMPFS,FANOTIFY 'unknown daemon options are refused' '
	test_must_fail "$FSTRACKD" --no-such-option 2>err &&
	test -s err
'

fst_done
