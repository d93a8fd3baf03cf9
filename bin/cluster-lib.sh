# bin/cluster-lib.sh - start and stop troupe-node daemons from bash; used
# by bin/demo.sh and tests/bin/test_cli.sh. Source it, then set:
#   BIN   the directory holding troupe-node and troupe
#   WORK  a scratch directory (secret, logs); removed by cluster_cleanup
# Every daemon started here is SIGKILLed by cluster_cleanup (install it
# with: trap cluster_cleanup EXIT).

declare -A NODE_PID NODE_EP

# A fresh secret for this cluster, readable by its owner only.
cluster_secret() {
	umask 077
	head -c 32 /dev/urandom | base64 >"$WORK/secret"
	export TROUPE_SECRET_FILE="$WORK/secret"
}

# start_node NAME [JOIN_ENDPOINT] [extra flags...]: start a daemon on a
# free loopback port and wait (up to 15 s) for its "listening on" line.
# Sets NODE_PID[NAME] and NODE_EP[NAME].
start_node() {
	local name=$1 join=${2:-} fd line
	shift 2 || shift $#
	local args=(--name "$name" --listen tcp://127.0.0.1:0
		--secret-file "$WORK/secret" "$@")
	[ -n "$join" ] && args+=(--join "$join")
	exec {fd}< <(exec "$BIN/troupe-node" "${args[@]}" 2>>"$WORK/$name.log")
	NODE_PID[$name]=$!
	if ! read -r -t 15 -u "$fd" line; then
		echo "start_node $name: no 'listening on' line" >&2
		cat "$WORK/$name.log" >&2
		return 1
	fi
	exec {fd}<&-
	NODE_EP[$name]=${line##* }
	[ "$line" = "troupe-node $name listening on ${NODE_EP[$name]}" ] || {
		echo "start_node $name: unexpected line: $line" >&2
		return 1
	}
}

# until_ok TRIES CMD...: run CMD until it succeeds, at most TRIES times,
# 100 ms apart (cluster changes spread asynchronously).
until_ok() {
	local tries=$1 i
	shift
	for ((i = 0; i < tries; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	"$@"
}

cluster_cleanup() {
	local n
	for n in "${!NODE_PID[@]}"; do
		kill -9 "${NODE_PID[$n]}" 2>/dev/null || true
	done
	for n in "${!NODE_PID[@]}"; do
		wait "${NODE_PID[$n]}" 2>/dev/null || true
	done
	[ -n "${WORK:-}" ] && rm -rf "$WORK"
}
