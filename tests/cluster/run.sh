#!/usr/bin/env bash
# tests/cluster/run.sh - the cluster fault harness (docs/reliability.md,
# "Cluster fault scenarios").
#
#   tests/cluster/run.sh [SCENARIO...]        every scenario (or those
#                                             named: R4 R7 R1 ...), once,
#                                             with seed $SEED (default 1)
#   SEED=1234 tests/cluster/run.sh R4         replay one seed
#   tests/cluster/run.sh --soak MINUTES [SCENARIO...]
#                                             random scenarios and seeds
#                                             until the time is up
#   options: --tap (TAP lines, for meson), --keep (keep every history),
#            --out DIR (histories there), --loopback (no namespaces)
#
# Environment: BUILD_DIR (default build; its bin/ and tests/ are used),
# or TROUPE_BIN, TROUPE_TESTS_BIN, TROUPE_CHAOS_APP one by one.
# As root with iproute2 and nftables, the nodes run in network namespaces
# (made and removed by the harness, named tc<PID>...); otherwise on
# loopback, with kills and pauses only, and the network-fault scenarios
# are skipped (the output says so). Whatever happens, every daemon,
# namespace and cgroup it made is gone when it exits.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$root/build}
bin=${TROUPE_BIN:-$build/bin}
tbin=${TROUPE_TESTS_BIN:-$build/tests}
app=${TROUPE_CHAOS_APP:-$tbin/libchaos_app.so}
for f in "$bin/troupe-node" "$bin/troupe" "$tbin/rogue" "$app"; do
	if [ ! -e "$f" ]; then
		echo "run.sh: $f is missing: build first (ninja -C $build)" >&2
		exit 2
	fi
done

# The harness cleans up after itself (and on SIGINT/SIGTERM); this trap is
# the second line: namespaces and cgroups named after this run's harness.
harness_pid=
cleanup() {
	local tag ns cg
	[ -n "$harness_pid" ] || return 0
	kill -TERM "$harness_pid" 2>/dev/null && wait "$harness_pid" 2>/dev/null
	tag="tc$((harness_pid % 100000))"
	if [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then
		for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$tag" || true); do
			ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
			ip netns del "$ns" 2>/dev/null
		done
		for cg in /sys/fs/cgroup/*/"$tag"*; do
			[ -d "$cg" ] && rmdir "$cg" 2>/dev/null
		done
	fi
	return 0
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap cleanup EXIT

seed=()
[ -n "${SEED:-}" ] && seed=(--seed "$SEED")
# Under the sanitizer builds (meson test --setup sanitize sets these) the
# daemons are several times slower and detection times mean little: run
# the hostile-input scenarios only, where ASan and UBSan matter most.
if [ $# -le 1 ] && [ -n "${ASAN_OPTIONS:-}${TSAN_OPTIONS:-}" ]; then
	echo "# sanitizer build: the hostile-input scenarios only (R11 R12)"
	set -- "$@" R11 R12
fi
python3 "$here/harness.py" --bin "$bin" --bin-tests "$tbin" --app "$app" \
	"${seed[@]}" "$@" &
harness_pid=$!
wait "$harness_pid"
rc=$?
harness_pid=
exit $rc
