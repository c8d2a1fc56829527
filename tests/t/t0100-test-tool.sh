#!/bin/sh
test_description='fst-test-tool: the ground truth can fail

Every other test trusts "fst-test-tool check" (and the git tests
"fst-test-tool gitcheck") to find false negatives. These tests prove that
they do: hand-written answers that miss a change
must fail, and a perfect answer with any one change left out must fail.
No daemon here.'

# This script tests the tool itself: take it from FSTRACK_BUILD (ASan).
unset FST_TOOL_BUILD
. "$(dirname "$0")"/../lib/test-lib.sh

# An answer document: answer FILE [PATH KIND[,KIND]]...
answer() {
	file=$1
	shift
	{
		printf '{"token": "fst1:00000000000000000000000000000000:1", "fresh": false, "changes": ['
		sep=
		while test $# -ge 2; do
			kinds=$(printf '%s' "$2" | sed 's/[^,][^,]*/"&"/g')
			printf '%s{"path": "%s", "kinds": [%s]}' "$sep" "$1" "$kinds"
			sep=', '
			shift 2
		done
		printf ']}\n'
	} >"$file"
}

# covered M1 M2 ANSWER: check passes
covered() {
	fst-test-tool check --before "$1" --after "$2" --answer "$3" >out 2>&1 || {
		cat out
		return 1
	}
}

# uncovered M1 M2 ANSWER PATH...: check fails, naming exactly these paths
uncovered() {
	m1=$1 m2=$2 a=$3
	shift 3
	test_expect_code 1 fst-test-tool check --before "$m1" --after "$m2" --answer "$a" >out 2>&1 || {
		cat out
		return 1
	}
	sed -n "s/^FALSE NEGATIVE: \([^ ]*\) .*/\1/p" out >got &&
	printf '%s\n' "$@" >want &&
	test_cmp want got
}

test_expect_success 'the tool is built' '
	test -x "$FST_TEST_TOOL"
'

test_expect_success 'manifest: every path once, sorted, the root as "."' '
	mkdir tree tree/d &&
	echo a >tree/d/f &&
	echo b >tree/g &&
	ln -s d/f tree/l &&
	fst-test-tool manifest tree >m &&
	cut -d" " -f1 m >paths &&
	printf "%s\n" . d d/f g l >expect &&
	test_cmp expect paths &&
	grep "^l l 0777 .* d/f [0-9]*\$" m &&
	grep "^d/f f 0644 .* 2 " m &&
	test $(awk "{ print NF }" m | sort -u) = 14
'

test_expect_success 'manifest: any byte of a name is escaped' '
	mkdir odd &&
	touch "odd/sp ace" "odd/new
line" "odd/100%" "odd/#x" "odd/$(printf "\\377")" &&
	fst-test-tool manifest odd | cut -d" " -f1 >paths &&
	printf "%s\n" "%23x" "%FF" . "100%25" "new%0Aline" "sp%20ace" >expect &&
	test_cmp expect paths
'

test_expect_success 'manifest: identical trees give identical manifests' '
	fst-test-tool manifest tree >m1 &&
	fst-test-tool manifest tree >m2 &&
	test_cmp m1 m2 &&
	answer empty.json &&
	covered m1 m2 empty.json &&
	grep "differing=0" out
'

# Each kind of change shows up in the fields the guarantee names.
# differs 'CHANGE' PATH FIELD...
differs() {
	rm -rf t && mkdir t t/sub && echo hello >t/f && echo other >t/sub/g &&
	fst-test-tool manifest t >m1 &&
	eval "$1" &&
	fst-test-tool manifest t >m2 &&
	answer empty.json &&
	test_expect_code 1 fst-test-tool check --before m1 --after m2 --answer empty.json >out &&
	line=$(grep "^FALSE NEGATIVE: $2 (" out) || { cat out; return 1; }
	shift 2
	for field
	do
		case "$line" in
		*"($field"*|*",$field"*) ;;
		*) echo "$field not in: $line"; return 1 ;;
		esac
	done
}

test_expect_success 'a write of the same size with mtime put back: content' '
	differs "touch -r t/f t/ref && echo HELLO >t/f && touch -r t/ref t/f && rm t/ref" f content
'
test_expect_success 'chmod: mode and ctime' '
	differs "chmod 600 t/f" f mode ctime
'
test_expect_success ROOT 'chown: uid, gid' '
	differs "chown 1000:1001 t/f" f uid gid ctime
'
test_expect_success ROOT 'chown to the same owner: ctime alone' '
	sleep 0.01 &&
	differs "chown 0:0 t/f" f ctime &&
	! grep "^FALSE NEGATIVE: f (.*mode" out
'
test_expect_success 'utimes to an old time: mtime' '
	differs "touch -m -d 2001-02-03 t/f" f mtime
'
test_expect_success 'setfattr: xattrs' '
	differs "setfattr -n user.k -v v t/f" f xattrs
'
test_expect_success 'a hard link: nlink of the first name, a new name' '
	differs "ln t/f t/h" f nlink ctime &&
	grep "^FALSE NEGATIVE: h (created)" out &&
	grep "^FALSE NEGATIVE: \. (" out
'
test_expect_success 'a symlink replaced by another target: target' '
	differs "ln -s b t/s" s created &&
	differs "ln -s a t/s && fst-test-tool manifest t >m1 && rm t/s && ln -s b t/s" s target
'
test_expect_success 'file to directory: type' '
	differs "rm t/f && mkdir t/f" f type
'
test_expect_success 'a file in a subdirectory: the directory changes too' '
	differs "touch t/sub/new" sub mtime ctime &&
	grep "^FALSE NEGATIVE: sub/new (created)" out
'
test_expect_success 'reading a file is not a change (atime is not compared)' '
	rm -rf t && mkdir t && echo x >t/f &&
	touch -a -d 2001-01-01 t/f &&
	fst-test-tool manifest t >m1 &&
	cat t/f >/dev/null &&
	fst-test-tool manifest t >m2 &&
	test_cmp m1 m2
'

test_expect_success 'coverage: set up a modified file deep down' '
	rm -rf t && mkdir -p t/d/sub t/e t/d/su && echo 1 >t/d/sub/f && echo 2 >t/d/g &&
	echo 3 >t/e/x &&
	fst-test-tool manifest t >m1 &&
	echo changed >t/d/sub/f &&
	fst-test-tool manifest t >m2
'
test_expect_success 'coverage: an empty answer misses it' '
	answer a.json &&
	uncovered m1 m2 a.json d/sub/f
'
test_expect_success 'coverage: the path itself' '
	answer a.json d/sub/f modified && covered m1 m2 a.json
'
test_expect_success 'coverage: the parent with entries' '
	answer a.json d/sub entries && covered m1 m2 a.json
'
test_expect_success 'coverage: the parent without entries does not cover' '
	answer a.json d/sub modified,attrib && uncovered m1 m2 a.json d/sub/f
'
test_expect_success 'coverage: the grandparent with entries does not cover' '
	answer a.json d entries && uncovered m1 m2 a.json d/sub/f
'
test_expect_success 'coverage: an ancestor with recursive' '
	answer a.json d recursive && covered m1 m2 a.json &&
	answer a.json . recursive && covered m1 m2 a.json
'
test_expect_success 'coverage: recursive on a sibling or a name prefix does not cover' '
	answer a.json e recursive && uncovered m1 m2 a.json d/sub/f &&
	answer a.json d/su recursive d/s recursive && uncovered m1 m2 a.json d/sub/f
'
test_expect_success 'coverage: fresh covers everything' '
	printf "{\"token\": \"fst1:00000000000000000000000000000000:2\", \"fresh\": true, \"changes\": []}\n" >fresh.json &&
	covered m1 m2 fresh.json &&
	grep "fresh=yes" out
'
test_expect_success 'coverage: a new file needs its directory covered too' '
	fst-test-tool manifest t >m1 &&
	touch t/d/new &&
	fst-test-tool manifest t >m2 &&
	answer a.json d/new created &&
	uncovered m1 m2 a.json d &&
	answer a.json d/new created d entries &&
	covered m1 m2 a.json &&
	answer a.json d/new created . entries &&
	covered m1 m2 a.json
'
test_expect_success 'coverage: a deleted tree needs recursive' '
	fst-test-tool manifest t >m1 &&
	rm -rf t/d &&
	fst-test-tool manifest t >m2 &&
	answer a.json d deleted . entries &&
	uncovered m1 m2 a.json d/g d/new d/su d/sub d/sub/f &&
	answer a.json d deleted,recursive . entries &&
	covered m1 m2 a.json
'
test_expect_success 'coverage: a renamed directory needs recursive on both names' '
	fst-test-tool manifest t >m1 &&
	mv t/e t/e2 &&
	fst-test-tool manifest t >m2 &&
	answer a.json e renamed_from e2 renamed_to . entries &&
	uncovered m1 m2 a.json e/x e2/x &&
	answer a.json e renamed_from,recursive e2 renamed_to,recursive . entries &&
	covered m1 m2 a.json
'

test_expect_success 'hard links: a change is covered under any one of its names' '
	rm -rf t && mkdir -p t/l t/k && echo 1 >t/l/a && ln t/l/a t/k/b &&
	fst-test-tool manifest t >m1 &&
	echo 2 >>t/l/a &&
	fst-test-tool manifest t >m2 &&
	answer a.json &&
	uncovered m1 m2 a.json k/b l/a &&
	answer a.json l/a modified && covered m1 m2 a.json &&
	answer a.json k/b modified && covered m1 m2 a.json
'
test_expect_success 'hard links: the rule covers inode changes, not a name that went away' '
	fst-test-tool manifest t >m1 &&
	rm t/k/b &&
	fst-test-tool manifest t >m2 &&
	answer a.json l/a attrib . entries &&
	uncovered m1 m2 a.json k/b &&
	answer a.json k/b deleted k entries &&
	covered m1 m2 a.json &&
	fst-test-tool check --report --before m1 --after m2 --answer a.json >report &&
	grep "^covered: l/a (.*) by hardlink via k/b" report
'

test_expect_success 'an answer that breaks the contract fails' '
	answer ok.json a created b/c entries,recursive . entries &&
	fst-test-tool validate ok.json &&
	for p in ./a /a a/ a//b a/../b a/./b ""
	do
		answer bad.json "$p" created &&
		test_expect_code 1 fst-test-tool validate bad.json 2>err &&
		grep "BAD ANSWER" err || return 1
	done &&
	answer bad.json a created a modified &&
	test_expect_code 1 fst-test-tool validate bad.json &&
	answer bad.json a made_up &&
	test_expect_code 1 fst-test-tool validate bad.json &&
	printf "{\"token\": \"fst1:x:1\", \"changes\": []}" >bad.json &&
	test_expect_code 1 fst-test-tool validate bad.json &&
	printf "{\"token\": 1, \"fresh\": false, \"changes\": []}" >bad.json &&
	test_expect_code 1 fst-test-tool validate bad.json &&
	printf "{\"token\": \"fst1:x:1\", \"fresh\": false, \"changes\": [{\"path\": \"a\", \"kinds\": []}]}" >bad.json &&
	test_expect_code 1 fst-test-tool validate bad.json &&
	printf "not json" >bad.json &&
	test_must_fail fst-test-tool validate bad.json
'

test_expect_success 'precision: the share of reported paths that really changed' '
	rm -rf t && mkdir t && echo 1 >t/a && echo 1 >t/b &&
	fst-test-tool manifest t >m1 &&
	echo 2 >t/a &&
	fst-test-tool manifest t >m2 &&
	answer a.json a modified b modified gone deleted &&
	covered m1 m2 a.json &&
	grep "reported=3 hits=1 unknown=1 precision=0.333" out &&
	fst-test-tool check --json --before m1 --after m2 --answer a.json >stats.json &&
	test "$(fst-test-tool json stats.json hits)" = 1 &&
	test "$(fst-test-tool json stats.json uncovered)" = 0
'

test_expect_success 'has, covers, answer' '
	answer a.json "sp ace" created d entries x recursive &&
	fst-test-tool has a.json "sp ace" &&
	fst-test-tool has a.json "sp ace" created &&
	test_must_fail fst-test-tool has a.json "sp ace" deleted 2>err &&
	grep "without \[deleted\]" err &&
	test_must_fail fst-test-tool has a.json nope 2>err &&
	grep "nope is not listed" err &&
	fst-test-tool covers a.json d/child &&
	fst-test-tool covers a.json x/y/z &&
	test_must_fail fst-test-tool covers a.json d/child/grandchild &&
	test "$(fst-test-tool answer a.json token)" = fst1:00000000000000000000000000000000:1 &&
	test "$(fst-test-tool answer a.json fresh)" = false &&
	test "$(fst-test-tool answer a.json count)" = 3 &&
	fst-test-tool answer a.json dump >dump &&
	printf "%s\n" "d entries" "sp%20ace created" "x recursive" >expect &&
	test_cmp expect dump
'

test_expect_success 'workload: chunks do what one run does' '
	mkdir w1 w2 &&
	fst-test-tool workload --seed 11 --ops 400 w1 &&
	fst-test-tool workload --seed 11 --ops 150 w2 &&
	fst-test-tool workload --seed 11 --ops 1 --start 151 w2 &&
	fst-test-tool workload --seed 11 --ops 249 --start 152 w2 &&
	fst-test-tool manifest w1 | cut -d" " -f1-6,9,11-13 >s1 &&
	fst-test-tool manifest w2 | cut -d" " -f1-6,9,11-13 >s2 &&
	test_cmp s1 s2 &&
	test $(wc -l <s1) -gt 20
'

test_expect_success 'workload: another seed, another tree' '
	mkdir w3 &&
	fst-test-tool workload --seed 12 --ops 400 w3 &&
	fst-test-tool manifest w3 | cut -d" " -f1-6,9,11-13 >s3 &&
	! test_cmp s1 s3 >/dev/null
'

test_expect_success ROOT 'workload: every kind of operation, within bounds' '
	mkdir w4 &&
	fst-test-tool workload --seed 5 --ops 2500 --log w4.log w4 &&
	for op in create write append truncate open-trunc-write chmod chown utimes \
		setxattr removexattr rename-file rename-file-across rename-over \
		rename-dir rename-dir-across mkdir unlink rmtree link symlink \
		unlink-create rmtree-mkdir exchange mmap-write punch-hole
	do
		grep "^[0-9]* $op " w4.log >/dev/null || { echo "no $op in the log"; return 1; }
	done &&
	fst-test-tool manifest w4 >m &&
	test $(wc -l <m) -le 300 &&
	awk "\$2 == \"d\" && gsub(\"/\", \"/\", \$1) > 4 { print; bad = 1 } END { exit bad }" m
'

test_expect_success 'workload: a perfect answer passes, and missing any one change fails' '
	mkdir w5 &&
	fst-test-tool workload --seed 21 --ops 300 w5 &&
	fst-test-tool manifest w5 >m1 &&
	fst-test-tool workload --seed 21 --start 301 --ops 100 w5 &&
	fst-test-tool manifest w5 >m2 &&
	fst-test-tool oracle m1 m2 >oracle.json &&
	covered m1 m2 oracle.json &&
	grep "precision=1.000" out &&
	n=$(fst-test-tool answer oracle.json count) &&
	test "$n" -gt 20 &&
	caught=0 hardlinked=0 i=0 &&
	while test $i -lt $n
	do
		fst-test-tool oracle --omit $i m1 m2 >omit.json 2>omitted &&
		p=$(cat omitted) &&
		if fst-test-tool check --report --before m1 --after m2 --answer omit.json >out
		then
			# Only another name of the same inode may cover it.
			grep "^covered: $p (.*) by hardlink via " out ||
			{ echo "leaving out $p went unnoticed"; cat out; return 1; }
			hardlinked=$(($hardlinked + 1))
		else
			test "$(grep -c "^FALSE NEGATIVE: " out)" = 1 &&
			grep "^FALSE NEGATIVE: $p (" out ||
			{ echo "leaving out $p: wrong report"; cat out; return 1; }
			caught=$(($caught + 1))
		fi
		i=$(($i + 1))
	done &&
	fst_diag "left out each of $n changes: $caught caught, $hardlinked covered by another name" &&
	test $caught -gt 0
'

# A raw answer of git's fsmonitor protocol: gitanswer FILE PATH...: the
# token, then each PATH, each followed by a NUL.
gitanswer() {
	file=$1
	shift
	{
		printf "fst1:00000000000000000000000000000000:1\0"
		for p in "$@"; do printf "%s\0" "$p"; done
	} >"$file"
}

# gitcovered ANSWER [ARGS...]: gitcheck of g1, g2 passes
gitcovered() {
	a=$1
	shift
	fst-test-tool gitcheck --before g1 --after g2 --answer "$a" "$@" >out 2>&1 || {
		cat out
		return 1
	}
}

# gituncovered ANSWER LINE...: gitcheck fails, with exactly these
# "FALSE NEGATIVE: PATH" and "NOT RE-READ: the listing of DIR" lines (the
# rest of each line left out)
gituncovered() {
	a=$1
	shift
	test_expect_code 1 fst-test-tool gitcheck --before g1 --after g2 --answer "$a" \
		$gitopts >out 2>&1 || {
		cat out
		return 1
	}
	sed -n "s/^\(FALSE NEGATIVE: [^ ]*\) .*/\1/p; s/^\(NOT RE-READ: the listing of [^ ]*\) .*/\1/p" \
		out >got &&
	printf "%s\n" "$@" >want &&
	test_cmp want got
}

test_expect_success 'gitcheck: a changed file: "f" or "A/" above it, not a bare "A"' '
	rm -rf gt && mkdir -p gt/d/sub gt/.git && echo 1 >gt/d/sub/f && echo 2 >gt/d/g &&
	fst-test-tool manifest gt >g1 &&
	echo changed >gt/d/sub/f &&
	echo index >gt/.git/index &&
	fst-test-tool manifest gt >g2 &&
	gitanswer ga && gituncovered ga "FALSE NEGATIVE: d/sub/f" &&
	gitanswer ga d/sub/f && gitcovered ga &&
	gitanswer ga d/sub/ && gitcovered ga &&
	gitanswer ga d/ && gitcovered ga &&
	gitanswer ga d/sub && gituncovered ga "FALSE NEGATIVE: d/sub/f" &&
	gitanswer ga d/sub/f/ && gituncovered ga "FALSE NEGATIVE: d/sub/f" &&
	gitanswer ga d/su/ && gituncovered ga "FALSE NEGATIVE: d/sub/f" &&
	gitanswer ga / && gitcovered ga &&
	grep "answer=everything" out
'

test_expect_success 'gitcheck: a new file: its index entry and the listing of its directory' '
	fst-test-tool manifest gt >g1 &&
	echo n >gt/d/new &&
	fst-test-tool manifest gt >g2 &&
	gitanswer ga d/new && gitcovered ga &&
	gitanswer ga d/ &&
	gituncovered ga "FALSE NEGATIVE: d/new" &&
	grep "the listing of d is not re-read" out &&
	gitanswer ga d/ d/sub/ && gitcovered ga &&
	gitanswer ga d/ d/g && gitcovered ga &&
	gitanswer ga d/new/ && gituncovered ga "FALSE NEGATIVE: d/new" &&
	grep "its index entry is not re-checked" out
'

test_expect_success 'gitcheck: new and removed directories; a directory'\''s own change needs nothing' '
	fst-test-tool manifest gt >g1 &&
	mkdir gt/d/sub/deeper &&
	rmdir gt/d/sub/deeper &&
	mkdir gt/e &&
	chmod 700 gt/d/sub &&
	fst-test-tool manifest gt >g2 &&
	gitanswer ga && gituncovered ga "FALSE NEGATIVE: e" &&
	grep "the listing of . is not re-read" out &&
	grep "own directory changes=2" out &&
	gitanswer ga e && gitcovered ga &&
	gitanswer ga e/ && gitcovered ga &&
	gitanswer ga d/ && gitcovered ga &&
	gitanswer ga e/x && gituncovered ga "FALSE NEGATIVE: e" &&
	fst-test-tool manifest gt >g1 &&
	rmdir gt/e &&
	rm gt/d/g &&
	fst-test-tool manifest gt >g2 &&
	gitanswer ga d/g && gituncovered ga "FALSE NEGATIVE: e" &&
	gitanswer ga d/g e && gitcovered ga
'

test_expect_success 'gitcheck: paths git refuses count for nothing; .git is not checked' '
	fst-test-tool manifest gt >g1 &&
	echo n >gt/d/other &&
	mkdir "gt/d/tab$(printf "\t")dir" &&
	echo again >gt/.git/index &&
	fst-test-tool manifest gt >g2 &&
	gitanswer ga d/ d/.git d/GIT~1 "d/.Git. " "d/x\\.git" &&
	gituncovered ga "FALSE NEGATIVE: d/other" "FALSE NEGATIVE: d/tab%09dir" &&
	grep "refused_by_git=4" out &&
	gitanswer ga d/ "d/back\\slash" && gitcovered ga
'

test_expect_success 'gitcheck --all-listings: every directory has a path directly in it' '
	fst-test-tool manifest gt >g1 &&
	cp g1 g2 &&
	gitopts=--all-listings &&
	gitanswer ga d/g "d/sub/f" &&
	gituncovered ga "NOT RE-READ: the listing of ." "NOT RE-READ: the listing of d/tab%09dir" &&
	gitanswer ga d/g "d/sub/f" x "d/tab$(printf "\t")dir/.fstrack-rescan" &&
	gitcovered ga --all-listings &&
	grep "directories=4 not_re_read=0" out &&
	gitanswer ga / && gitcovered ga --all-listings &&
	gitopts=
'

test_expect_success 'gitcheck: an answer that is not one fails' '
	cp g1 g2 &&
	printf "no-nul" >bad && test_expect_code 1 fst-test-tool gitcheck --before g1 --after g2 --answer bad &&
	printf "\0x\0" >bad && test_expect_code 1 fst-test-tool gitcheck --before g1 --after g2 --answer bad &&
	for p in "a//b" "../x" "./x" "/abs" "a/./b" "x//" "."
	do
		gitanswer bad "$p" &&
		test_expect_code 1 fst-test-tool gitcheck --before g1 --after g2 --answer bad 2>err &&
		grep "BAD ANSWER: path" err || return 1
	done &&
	gitanswer bad / x && test_expect_code 1 fst-test-tool gitcheck --before g1 --after g2 --answer bad &&
	gitanswer bad x / && test_expect_code 1 fst-test-tool gitcheck --before g1 --after g2 --answer bad &&
	printf "T\0x" >bad && test_expect_code 1 fst-test-tool gitcheck --before g1 --after g2 --answer bad 2>err &&
	grep "the last path has no NUL" err &&
	printf "T\0x\0\0" >bad && test_expect_code 1 fst-test-tool gitcheck --before g1 --after g2 --answer bad 2>err &&
	grep "an empty path" err &&
	gitanswer good x y/ && fst-test-tool gitcheck --before g1 --after g2 --answer good &&
	test_expect_code 2 fst-test-tool gitcheck --before g1 --answer good
'

test_expect_success 'storm: creates and deletes, leaves every 97th' '
	mkdir s &&
	fst-test-tool storm s 1000 &&
	test $(ls s | wc -l) = 11
'

test_expect_success 'usage errors exit 2' '
	test_expect_code 2 fst-test-tool &&
	test_expect_code 2 fst-test-tool bogus &&
	test_expect_code 2 fst-test-tool check --before m1 &&
	test_expect_code 2 fst-test-tool workload --ops 3 w1 &&
	test_expect_code 2 fst-test-tool has a.json &&
	fst-test-tool help >/dev/null
'

test_expect_success ROOT,LOOP,EXT4 'mounting an image; shutdown stops writes; remount' '
	fst_mount_image ext4 mnt &&
	echo kept >mnt/a &&
	sync &&
	fst-test-tool shutdown mnt &&
	test_must_fail sh -c "echo lost >mnt/b" &&
	fst_remount mnt &&
	test "$(cat mnt/a)" = kept
'

test_expect_success ROOT,TMPFS 'fst_set_sysctl remembers the old value' '
	old=$(cat /proc/sys/fs/fanotify/max_queued_events) &&
	fst_set_sysctl /proc/sys/fs/fanotify/max_queued_events 1000 &&
	test $(cat /proc/sys/fs/fanotify/max_queued_events) = 1000 &&
	fst_set_sysctl /proc/sys/fs/fanotify/max_queued_events 2000 &&
	fst_cleanup &&
	test $(cat /proc/sys/fs/fanotify/max_queued_events) = "$old" &&
	! mountpoint -q mnt
'

fst_done
