#!/bin/sh
test_description='what a user may learn through the socket (issue 9, case 6)

The socket is open to every local user. A user is shown only the scopes it
watches or can list, and no filesystem counters; every request about a path
inside a directory it cannot search gives the one error it would get itself
("Permission denied"), whether the path exists, is a file, a directory, a
watched directory, or one whose directory is gone; a symlink that points
into such a directory is not followed, also when it is swapped during the
call; supplementary groups come from the connection (SO_PEERGROUPS), not from
/proc/PID of a process that may be gone. Requests are sent as raw protocol
lines: the command line tool would refuse some of them before the daemon
sees them.'

. "$(dirname "$0")"/../lib/test-lib.sh
. "$FST_SRC_DIR"/tests/lib/trust-lib.sh

U=fst3050u
V=fst3050v
G=fst3050g

# user_raw USER FILE: FILE sent as USER on one connection, the answers in FILE.out
user_raw() {
	as_user "$1" fst-attack raw "$FST_SOCK" <"$2" >"$2.out"
}

# req OP PATH: one request line
req() {
	printf '{"v":1,"op":"%s","path":"%s"%s}\n' "$1" "$2" \
		"$(test "$1" = changes || test "$1" = stream && printf ',"since":"%s"' "$TOK")"
}

test_expect_success ROOT,FANOTIFY,TMPFS,USERADD 'a tree with a secret, scopes of root and of a user' '
	M=$PWD/m &&
	fst_mount_tmpfs "$M" &&
	trust_user $U && trust_user $V && trust_group $G &&
	usermod -a -G $G $U &&
	mkdir -m 700 "$M/secret" &&
	mkdir "$M/secret/d" "$M/secret/w" "$M/secret/gone" &&
	echo s >"$M/secret/f" &&
	mkdir -p "$M/pub/scope" &&
	mkdir -m 750 "$M/grp" && chgrp $G "$M/grp" &&
	mkdir "$M/u" && chown $U:$U "$M/u" &&
	as_user $U mkdir "$M/u/mine" "$M/u/ok" &&
	fst_daemon_start &&
	fstrack watch "$M/secret/w" >/dev/null &&
	fstrack watch "$M/secret/gone" >/dev/null &&
	rmdir "$M/secret/gone" &&
	fstrack watch "$M/pub/scope" >/dev/null &&
	TOK=$(fstrack watch "$M/grp") &&
	as_user $U "$FSTRACK" watch "$M/u/mine" >/dev/null &&
	test_set_prereq READY
'

test_expect_success READY 'root sees every scope, the filesystems and the counters' '
	fstrack status --json >root.json &&
	fst-test-tool json root.json scopes "*" path >root.scopes &&
	grep -x "$M/secret/w" root.scopes &&
	grep -x "$M/u/mine" root.scopes &&
	fst-test-tool json root.json daemon state_dir &&
	fst-test-tool json root.json daemon clients &&
	fst-test-tool json root.json filesystems 0 mount
'

test_expect_success READY 'a user sees its own scopes and those it can list, nothing else' '
	as_user $U "$FSTRACK" status --json >user.json &&
	fst-test-tool json user.json scopes "*" path | sort >user.scopes &&
	printf "%s\n" "$M/grp" "$M/pub/scope" "$M/u/mine" | sort >expect &&
	test_cmp expect user.scopes &&
	! grep secret user.json &&
	! fst-test-tool json user.json daemon state_dir &&
	! fst-test-tool json user.json daemon clients &&
	! fst-test-tool json user.json filesystems 0 &&
	fst-test-tool json user.json scopes 0 tracking mount &&
	fst-test-tool json user.json scopes 0 tracking scan_running
'

test_expect_success READY 'another user, not in the group, does not see the group directory' '
	as_user $V "$FSTRACK" status --json >v.json &&
	fst-test-tool json v.json scopes "*" path | sort >v.scopes &&
	printf "%s\n" "$M/pub/scope" "$M/u/mine" | sort >expect &&
	test_cmp expect v.scopes
'

for op in token changes unwatch watch stream
do
	test_expect_success READY "$op inside a 0700 directory: one error, whatever is there" '
		for p in nonexistent f d w gone w/sub d/../w
		do
			req $op "$M/secret/$p" || return 1
		done >$op.req &&
		user_raw $U $op.req &&
		trust_lines 7 $op.req.out &&
		first=$(head -n 1 $op.req.out) &&
		echo "$first" | grep "Permission denied" &&
		echo "$first" | grep "\"errno\":13" &&
		n=1 &&
		for p in f d w gone w/sub d/../w
		do
			n=$(($n + 1)) &&
			trust_same_error "$first" "$(sed -n ${n}p $op.req.out)" \
				"$M/secret/nonexistent" "$M/secret/$p" || return 1
		done
	'
done

test_expect_success READY 'watch of a symlink into a 0700 directory is refused' '
	as_user $U ln -s "$M/secret/w" "$M/u/to-w" &&
	as_user $U ln -s "$M/secret" "$M/u/to-secret" &&
	{ req watch "$M/u/to-w" && req watch "$M/u/to-secret" && req token "$M/u/to-w"; } >sym &&
	user_raw $U sym &&
	trust_lines 3 sym.out &&
	test $(grep -c "Permission denied" sym.out) = 3 &&
	fstrack status --json >after-sym.json &&
	fst-test-tool json after-sym.json scopes "*" path >after-sym &&
	! grep -x "$M/secret" after-sym &&
	test $(grep -c "^$M/secret/w\$" after-sym) = 1
'

test_expect_success READY 'a symlink swapped during watch requests never wins' '
	as_user $U ln -s "$M/u/ok" "$M/u/race" &&
	trust_bg_as $U sh -c "
		cd \"$M/u\" &&
		while :; do
			ln -s \"$M/secret/d\" race.new && mv -T race.new race &&
			ln -s \"$M/u/ok\" race.new && mv -T race.new race
			done" &&
	swapper=$TRUST_BG_PID &&
	for i in $(seq 1 300)
	do
		req watch "$M/u/race" || return 1
	done >race &&
	user_raw $U race &&
	trust_stop $swapper &&
	trust_lines 300 race.out &&
	ok=$(grep -c "\"ok\":true" race.out) &&
	denied=$(grep -c "Permission denied" race.out) &&
	fst_diag "symlink race: $ok watches of the user directory, $denied refused" &&
	test $(($ok + $denied)) = 300 &&
	fstrack status --json >after-race.json &&
	fst-test-tool json after-race.json scopes "*" path >after-race &&
	! grep -x "$M/secret/d" after-race
'

test_expect_success READY 'groups come from the connection: a caller in the group may list it' '
	req token "$M/grp" >grp &&
	user_raw $U grp &&
	grep "\"ok\":true" grp.out &&
	user_raw $V grp &&
	grep "Permission denied" grp.out
'

test_expect_success READY '... also when the process that connected is gone before the request' '
	as_user $U fst-attack raw "$FST_SOCK" --detach <grp >detached.out &&
	trust_wait_for 10 test -s detached.out &&
	sleep 0.5 &&
	grep "\"ok\":true" detached.out
'

test_expect_success READY 'the user still gets exact answers on its own scope' '
	tok=$(as_user $U "$FSTRACK" token "$M/u/mine") &&
	as_user $U sh -c "echo x >\"$M/u/mine/new\"" &&
	as_user $U "$FSTRACK" changes --since "$tok" --json "$M/u/mine" >mine.json &&
	fst-test-tool has mine.json new created
'

fst_done
