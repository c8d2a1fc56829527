# Shared by the Watchman tests (t50xx); sourced after test-lib.sh.
#
#   $FST_WSOCK        the daemon's Watchman socket (watchman.sock next to $FST_SOCK,
#                     where fstrackd puts it by default)
#   $FST_WATCHMAN     build/fstrack-watchman; a "watchman" symlink to it is in
#                     $FST_WBIN (put that first in PATH to make it *the* watchman)
#   $PY               the python3 that has pywatchman (Debian's, /usr/bin/python3)
#   wm ARGS...        fstrack-watchman with --sockname $FST_WSOCK
#   wm_json FILE KEY...   a value of a JSON answer (fst-test-tool json)
#   prerequisites: PYWATCHMAN, WATCHMAN49 (Debian's watchman 4.9 command),
#                  FB_WATCHMAN (node and npm's fb-watchman, installed into
#                  $FST_BUILD_DIR/node on first use), SETPRIV, PERL_JSON

FST_WSOCK=$SHARNESS_TRASH_DIRECTORY/watchman.sock
FST_WATCHMAN=$FST_BUILD_DIR/fstrack-watchman
FST_WBIN=$SHARNESS_TRASH_DIRECTORY/.wbin
mkdir -p "$FST_WBIN" && ln -sf "$FST_WATCHMAN" "$FST_WBIN/watchman" || exit 1
PY=/usr/bin/python3
FST_NODE_DIR=$FST_BUILD_DIR/node
export FST_WSOCK FST_WATCHMAN PY FST_NODE_DIR

wm() {
	"$FST_WATCHMAN" --sockname "$FST_WSOCK" "$@"
}

wm_json() {
	fst-test-tool json "$@"
}

fst_lazy_prereq PYWATCHMAN '
	test -x "$PY" || { echo "$PY not found (Debian python3)"; exit 1; }
	"$PY" -c "import pywatchman, pywatchman.bser" ||
		{ echo "pywatchman is not installed (apt-get install python3-pywatchman)"; exit 1; }
'

# Debian's watchman (4.9): installed by make test-deps; as root, installed here if missing.
fst_lazy_prereq WATCHMAN49 '
	if ! test -x /usr/bin/watchman && test "$(id -u)" = 0; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q watchman >/dev/null 2>&1
	fi
	test -x /usr/bin/watchman || { echo "/usr/bin/watchman (Debian watchman 4.9) is not installed and apt-get could not install it"; exit 1; }
	v=$(HOME=$PWD /usr/bin/watchman --version 2>/dev/null)
	case "$v" in
	4.9*) ;;
	*) echo "/usr/bin/watchman is version \"$v\", not 4.9"; exit 1 ;;
	esac
'

# Node and fb-watchman from npm, installed once into the build directory.
fst_lazy_prereq FB_WATCHMAN '
	command -v node >/dev/null || { echo "node is not installed"; exit 1; }
	if ! test -f "$FST_NODE_DIR/node_modules/fb-watchman/index.js"; then
		command -v npm >/dev/null || { echo "npm is not installed"; exit 1; }
		mkdir -p "$FST_NODE_DIR" &&
		npm install --prefix "$FST_NODE_DIR" --no-audit --no-fund --silent fb-watchman \
			>npm.out 2>&1 || { tail -n 3 npm.out; echo "npm install fb-watchman failed"; exit 1; }
	fi
	test -f "$FST_NODE_DIR/node_modules/fb-watchman/index.js"
'

fst_lazy_prereq SETPRIV '
	command -v setpriv >/dev/null || { echo "setpriv (util-linux) not found"; exit 1; }
	setpriv --reuid=65534 --regid=65534 --clear-groups true
'

fst_lazy_prereq PERL_JSON '
	perl -MJSON::PP -e 1 || { echo "perl JSON::PP is missing"; exit 1; }
'

as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}

# wm_wrapper DIR: DIR/watchman is fstrack-watchman with --sockname $FST_WSOCK,
# for clients that run "watchman get-sockname" to find the socket.
wm_wrapper() {
	mkdir -p "$1" &&
	cat >"$1/watchman" <<-WRAPPER &&
	#!/bin/sh
	exec "$FST_WATCHMAN" --sockname "$FST_WSOCK" "\$@"
	WRAPPER
	chmod +x "$1/watchman"
}
