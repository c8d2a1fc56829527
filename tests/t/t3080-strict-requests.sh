#!/bin/sh
test_description='strict requests on the raw socket (issue 9, case 9)

Raw bytes, not the client library: many small requests in one write are
answered one by one and in order even past 64 KiB; only a single line past
64 KiB is refused (and the connection closed); a NUL inside a string is
refused instead of cutting the path short; "v" must be the integer 1 ("1",
1.9, 1.0, true are refused with EPROTO and the connection is closed); a user
may watch at most --max-scopes-per-user directories (64), root is not
limited, and a directory already watched costs nothing.'

. "$(dirname "$0")"/../lib/test-lib.sh
. "$FST_SRC_DIR"/tests/lib/trust-lib.sh

U=fst3080u

# raw FILE: send FILE on one connection as root, the answers in FILE.out
raw() {
	fst-attack raw "$FST_SOCK" --timeout-ms 5000 <"$1" >"$1.out"
}

# 3000 small requests: mark-I (an error naming I), token of DIR, hello
gen_many() {
	awk -v S="$1" 'BEGIN {
		for (i = 0; i < 3000; i++)
			if (i % 3 == 0) printf "{\"v\":1,\"op\":\"mark-%d\"}\n", i
			else if (i % 3 == 1) printf "{\"v\":1,\"op\":\"token\",\"path\":\"%s\"}\n", S
			else printf "{\"v\":1,\"op\":\"hello\"}\n"
	}'
}

check_many() {
	awk 'NR % 3 == 1 { if (index($0, "unknown op \\\"mark-" (NR - 1) "\\\"") == 0) { print NR ": " $0; bad = 1 } }
	     NR % 3 == 2 { if ($0 !~ /"ok":true/ || $0 !~ /"token":"fst1:/) { print NR ": " $0; bad = 1 } }
	     NR % 3 == 0 { if ($0 !~ /"protocol":1/) { print NR ": " $0; bad = 1 } }
	     END { exit bad }' "$1"
}

# a hello request line of exactly $1 bytes (newline included), then $2 more hellos
gen_sized() {
	awk -v n="$1" -v more="$2" 'BEGIN {
		s = "{\"v\":1,\"op\":\"hello\",\"x\":\""
		printf "%s", s
		for (i = length(s) + 3; i < n; i++) printf "a"
		printf "\"}\n"
		for (i = 0; i < more; i++) printf "{\"v\":1,\"op\":\"hello\"}\n"
	}'
}

test_expect_success ROOT,FANOTIFY,TMPFS,USERADD 'tmpfs, daemon, a scope, a user' '
	M=$PWD/m && S=$M/scope &&
	fst_mount_tmpfs "$M" &&
	mkdir "$S" && echo a >"$S/f" &&
	trust_user $U &&
	mkdir "$M/u" && chown $U:$U "$M/u" &&
	fst_daemon_start &&
	fstrack watch "$S" >/dev/null &&
	test_set_prereq READY
'

test_expect_success READY 'more than 64 KiB of small requests in one write: every one answered, in order' '
	gen_many "$S" >many &&
	test $(wc -c <many) -gt 65536 &&
	raw many &&
	trust_lines 3000 many.out &&
	! grep "request longer" many.out &&
	check_many many.out
'

test_expect_success READY 'a single line past 64 KiB is refused and the connection closed' '
	gen_sized 70000 1 >long &&
	raw long &&
	trust_lines 1 long.out &&
	grep "\"errno\":22" long.out &&
	grep "request longer than 65536 bytes" long.out
'

test_expect_success READY 'a line of exactly 65536 bytes (and its newline) is still a request' '
	gen_sized 65537 0 >edge &&
	test $(wc -c <edge) = 65537 &&
	raw edge &&
	trust_lines 1 edge.out &&
	grep "\"ok\":true" edge.out
'

test_expect_success READY '... one byte more is refused, whether its newline came in the same read or not' '
	gen_sized 65538 0 >edge1 &&
	raw edge1 &&
	trust_lines 1 edge1.out &&
	grep "request longer than 65536 bytes" edge1.out &&
	gen_sized 70000 0 >edge2 &&
	raw edge2 &&
	trust_lines 1 edge2.out &&
	grep "request longer than 65536 bytes" edge2.out
'

for field in path since op
do
	test_expect_success READY "a NUL (\\u0000) inside \"$field\" is refused, the connection goes on" '
		case $field in
		path) req="{\"v\":1,\"op\":\"token\",\"path\":\"$S\\u0000/../..\"}" ;;
		since) req="{\"v\":1,\"op\":\"changes\",\"path\":\"$S\",\"since\":\"$(fstrack token "$S")\\u0000x\"}" ;;
		op) req="{\"v\":1,\"op\":\"hello\\u0000x\"}" ;;
		esac &&
		printf "%s\n{\"v\":1,\"op\":\"hello\"}\n" "$req" >nul-$field &&
		raw nul-$field &&
		trust_lines 2 nul-$field.out &&
		head -n 1 nul-$field.out | grep "\"errno\":22" &&
		head -n 1 nul-$field.out | grep "a string in the request contains a NUL byte" &&
		tail -n 1 nul-$field.out | grep "\"ok\":true"
	'
done

n=0
for v in '"1"' 1.9 1.0 true 2 0 null '[1]' 4294967297 -4294967295
do
	n=$(($n + 1))
	test_expect_success READY "\"v\":$v is refused with EPROTO and the connection closed" '
		printf "{\"v\":%s,\"op\":\"token\",\"path\":\"%s\"}\n{\"v\":1,\"op\":\"hello\"}\n" "$v" "$S" >v$n &&
		raw v$n &&
		trust_lines 1 v$n.out &&
		grep "\"errno\":71" v$n.out &&
		grep "speaks protocol version 1" v$n.out
	'
done

test_expect_success READY 'no "v" at all is refused the same way' '
	printf "{\"op\":\"hello\"}\n{\"v\":1,\"op\":\"hello\"}\n" >nov &&
	raw nov &&
	trust_lines 1 nov.out &&
	grep "\"errno\":71" nov.out
'

test_expect_success READY 'a user may watch 64 directories, not 65' '
	as_user $U sh -c "cd \"$M/u\" && for i in \$(seq 1 70); do mkdir d\$i; done" &&
	for i in $(seq 1 65)
	do
		echo "{\"v\":1,\"op\":\"watch\",\"path\":\"$M/u/d$i\"}" || return 1
	done >quota &&
	as_user $U fst-attack raw "$FST_SOCK" <quota >quota.out &&
	trust_lines 65 quota.out &&
	test $(head -n 64 quota.out | grep -c "\"ok\":true") = 64 &&
	tail -n 1 quota.out | grep "\"errno\":122" &&
	tail -n 1 quota.out | grep "you watch 64 directories, the most one user may; unwatch one first"
'

test_expect_success READY '... a directory already watched costs nothing, over the quota too' '
	echo "{\"v\":1,\"op\":\"watch\",\"path\":\"$M/u/d7\"}" >again &&
	as_user $U fst-attack raw "$FST_SOCK" <again >again.out &&
	grep "\"ok\":true" again.out
'

test_expect_success READY '... after an unwatch, one more may be watched; still not two' '
	printf "%s\n" "{\"v\":1,\"op\":\"unwatch\",\"path\":\"$M/u/d1\"}" \
		"{\"v\":1,\"op\":\"watch\",\"path\":\"$M/u/d66\"}" \
		"{\"v\":1,\"op\":\"watch\",\"path\":\"$M/u/d67\"}" >swap &&
	as_user $U fst-attack raw "$FST_SOCK" <swap >swap.out &&
	trust_lines 3 swap.out &&
	head -n 2 swap.out | grep -c "\"ok\":true" >n && test "$(cat n)" = 2 &&
	tail -n 1 swap.out | grep "\"errno\":122"
'

test_expect_success READY '... root is not limited' '
	for i in $(seq 1 70)
	do
		mkdir -p "$M/r/d$i" &&
		echo "{\"v\":1,\"op\":\"watch\",\"path\":\"$M/r/d$i\"}" || return 1
	done >rootq &&
	raw rootq &&
	test $(grep -c "\"ok\":true" rootq.out) = 70
'

test_expect_success READY '... the quota survives a restart (scopes keep their owner)' '
	fst_daemon_stop &&
	fst_daemon_start &&
	echo "{\"v\":1,\"op\":\"watch\",\"path\":\"$M/u/d68\"}" >after &&
	as_user $U fst-attack raw "$FST_SOCK" <after >after.out &&
	grep "\"errno\":122" after.out
'

test_expect_success READY 'watching and unwatching new directories in a loop does not grow the scope index' '
	as_user $U sh -c "cd \"$M/u\" && for i in \$(seq 1 500); do mkdir c\$i; done" &&
	for i in $(seq 1 500)
	do
		echo "{\"v\":1,\"op\":\"unwatch\",\"path\":\"$M/u/d$i\"}" &&
		echo "{\"v\":1,\"op\":\"watch\",\"path\":\"$M/u/c$i\"}" &&
		echo "{\"v\":1,\"op\":\"unwatch\",\"path\":\"$M/u/c$i\"}" || return 1
	done >cycle &&
	as_user $U fst-attack raw "$FST_SOCK" <cycle >cycle.out &&
	trust_lines 1500 cycle.out &&
	test $(grep -c "\"ok\":true" cycle.out) -ge 1000 &&
	fstrack status --json >cycle.json &&
	scopes=$(fst-test-tool json cycle.json filesystems 0 scopes) &&
	entries=$(fst-test-tool json cycle.json filesystems 0 scope_index_entries) &&
	fst_diag "after 500 watch/unwatch cycles: $scopes scopes, $entries index entries" &&
	test $entries -le $((2 * $scopes + 65))
'

test_expect_success READY 'the daemon still answers and its scope is exact' '
	fst_gt_begin end "$S" &&
	echo more >>"$S/f" && mkdir "$S/new" &&
	fst_gt_check end "$S" &&
	fst_not_fresh end
'

fst_done
