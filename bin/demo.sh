#!/usr/bin/env bash
# bin/demo.sh BIN_DIR - the main job of `./run demo`: a troupe cluster on
# this machine, driven with the troupe CLI, narrated step by step with
# the CLI's real output. Every step checks what it shows; any surprise
# ends the demo with a non-zero status. It cleans up whatever happens.
set -euo pipefail
BIN=$(cd "${1:?usage: demo.sh BIN_DIR}" && pwd)
WORK=$(mktemp -d /tmp/troupe-demo.XXXXXX)
. "$(dirname "$0")/cluster-lib.sh"
trap cluster_cleanup EXIT
START=$SECONDS

if [ -t 1 ]; then
	say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	say() { printf '\n== %s\n' "$*"; }
fi
show() { # show CMD...: print the command line, run it, print its output
	printf '$ troupe %s\n' "$*"
	"$BIN/troupe" "$@"
}
die() {
	echo "demo: FAILED: $*" >&2
	exit 1
}
cli() { "$BIN/troupe" "$@"; }

say "1. Three nodes on loopback, one fresh cluster secret"
cluster_secret
start_node a
start_node b "${NODE_EP[a]}"
start_node c "${NODE_EP[a]}"
for n in a b c; do echo "troupe-node $n listening on ${NODE_EP[$n]}"; done
export TROUPE_NODE=${NODE_EP[a]}
three_up() { [ "$(cli --node "$1" nodes | grep -cE ' (up|self)$')" = 3 ]; }
for n in a b c; do until_ok 50 three_up "${NODE_EP[$n]}" || die "$n does not see 3 nodes"; done
show nodes

say "2. A supervised counter on b, registered globally, failing over"
out=$(show spawn counter --on b --global counter --supervised --failover)
echo "$out"
pid=$(tail -n 1 <<<"$out")
[[ $pid == \<*\> ]] || die "spawn printed no pid"
show names
show tree

say "3. Messages to the name 'counter' from every node"
for n in a b c; do
	printf '$ troupe --node %s send counter tick\n' "${NODE_EP[$n]}"
	cli --node "${NODE_EP[$n]}" send counter tick
done
count_is() { [ "$(cli call counter get)" = "[\"count\",$1]" ]; }
until_ok 30 count_is 3 || die "the counter did not count 3"
show call counter get

say "4. A fourth node joins (through c) and sees the names"
start_node d "${NODE_EP[c]}"
echo "troupe-node d listening on ${NODE_EP[d]}"
has_counter() { cli --node "${NODE_EP[d]}" whereis counter | grep -qF "$pid"; }
until_ok 50 has_counter || die "d does not see the counter"
show --node "${NODE_EP[d]}" names

say "5. kill -9 of b, the counter's node"
echo "$ kill -9 ${NODE_PID[b]}   # troupe-node b"
kill -9 "${NODE_PID[b]}"
wait "${NODE_PID[b]}" 2>/dev/null || true
unset 'NODE_PID[b]'
b_down() { cli nodes | grep -qE '^b .* down$'; }
until_ok 50 b_down || die "a did not see b go down"
show nodes
grep -h "nodedown b" "$WORK"/a.log "$WORK"/c.log "$WORK"/d.log | sed 's/^/  log: /'
moved() {
	local p
	p=$(cli whereis counter) && [ "$p" != "$pid" ]
}
until_ok 50 moved || die "the counter did not come back"
show names
node=$(cli --json whereis counter | sed -E 's/.*"node":"([^"]*)".*/\1/')
[ "$node" != b ] || die "the counter is still on b"
echo "the counter runs again on $node, under the same name (a restart:"
echo "its count starts again from 0)"
show --node "${NODE_EP[d]}" send counter tick
until_ok 30 count_is 1 || die "the restarted counter does not count"
show call counter get

say "6. A graceful leave: d leaves the cluster"
show --node "${NODE_EP[d]}" leave
d_left() { cli nodes | grep -qE '^d .* down$'; }
until_ok 50 d_left || die "a did not see d leave"
show nodes
grep -h "nodedown d: left" "$WORK"/a.log | sed 's/^/  log: /'
grep -q "nodedown d: left" "$WORK"/a.log || die "no 'left' nodedown on a"

say "7. SIGTERM stops the other nodes gracefully"
for n in d c a; do
	kill -TERM "${NODE_PID[$n]}"
	rc=0
	wait "${NODE_PID[$n]}" || rc=$?
	unset "NODE_PID[$n]"
	[ $rc = 0 ] || die "troupe-node $n exited $rc on SIGTERM"
	echo "troupe-node $n: exit 0"
done
echo
echo "demo: done in $((SECONDS - START)) s"
