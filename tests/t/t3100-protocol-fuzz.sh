#!/bin/sh
test_description='a bounded protocol fuzzer against the daemon (issue 9)

tests/helper/fst-fuzz.c sends thousands of damaged requests (bit flips,
truncations, huge and non-integer numbers, deep nesting, wrong types,
random ops, paths with "..", NUL and bytes that are not UTF-8, very long
lines, many lines in one write, lines split across writes, connections
closed early) as root and as a user, while the scope changes. Every line
that comes back must be a well-formed answer; the daemon (the ASan build
under make check) must not crash nor report anything; afterwards an answer
for the scope, across the whole fuzzing, must cover the ground truth.
FST_FUZZ_COUNT (default 20,000 per caller: about 7,000 of them answered, the rest
follow a request that closed the connection) and FST_FUZZ_SEED change the run.'

. "$(dirname "$0")"/../lib/test-lib.sh
. "$FST_SRC_DIR"/tests/lib/trust-lib.sh

U=fst3100u
COUNT=${FST_FUZZ_COUNT:-20000}
SEED=${FST_FUZZ_SEED:-3100}
ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=32"

# fuzz_area DIR: what fst-fuzz expects under DIR
fuzz_area() {
	mkdir -p "$1/a/x" "$1/b" "$1/c" "$1/sub dir" &&
	echo f >"$1/f" &&
	ln -s a "$1/link" &&
	ln -s nowhere "$1/dangling"
}

test_expect_success ROOT,FANOTIFY,TMPFS,USERADD 'tmpfs, a scope, fuzz areas for root and a user' '
	M=$PWD/m && S=$M/scope &&
	fst_mount_tmpfs "$M" &&
	mkdir "$S" && fst-test-tool workload --seed $SEED --ops 100 "$S" &&
	fuzz_area "$M/fz/q/r/s" &&
	trust_user $U &&
	mkdir -p "$M/u" && fuzz_area "$M/u/fz/q/r/s" && chown -R $U:$U "$M/u" &&
	fst_daemon_start &&
	fstrack watch "$S" >/dev/null &&
	fst_gt_begin fuzz "$S" &&
	test_set_prereq READY
'

test_expect_success READY "root: $COUNT damaged requests, the scope changing meanwhile" '
	trust_bg fst-test-tool workload --seed $SEED --start 101 --ops 3000 --max-entries 400 "$S" &&
	writer=$TRUST_BG_PID &&
	fst-fuzz "$FST_SOCK" --dir "$M/fz/q/r/s" --token "$(cat fuzz.tok)" --seed $SEED --count $COUNT >root.out 2>root.err &&
	wait $writer &&
	cat root.out &&
	fst_diag "root: $(tr "\n" " " <root.out)"
'

test_expect_success READY "a user: $COUNT damaged requests" '
	as_user $U fst-fuzz "$FST_SOCK" --dir "$M/u/fz/q/r/s" --token "$(cat fuzz.tok)" --seed $(($SEED + 1)) --count $COUNT >user.out 2>user.err &&
	cat user.out &&
	fst_diag "user: $(tr "\n" " " <user.out)"
'

test_expect_success READY 'more than 10,000 answers in all, none malformed' '
	a=$(sed -n "s/^answers \([0-9]*\):.*/\1/p" root.out) &&
	b=$(sed -n "s/^answers \([0-9]*\):.*/\1/p" user.out) &&
	fst_diag "$(($a + $b)) answers to damaged requests" &&
	test $(($a + $b)) -gt 10000 &&
	grep "malformed 0" root.out &&
	grep "malformed 0" user.out
'

test_expect_success READY 'no sanitizer report, the daemon alive' '
	fst_check_sanitizer &&
	fstrack status >/dev/null
'

test_expect_success READY 'the fuzzer kept to its directories: no other filesystem was ever tracked' '
	grep "fstrackd: tracking " "$FST_DAEMON_LOG" >tracked &&
	! grep -v "fstrackd: tracking $M (tmpfs" tracked
'

test_expect_success READY 'the answer across the fuzzing covers the ground truth, not fresh' '
	fst-test-tool workload --seed $SEED --start 3101 --ops 100 "$S" &&
	fst_gt_check fuzz "$S" &&
	fst_not_fresh fuzz
'

fst_done
