#!/usr/bin/env bash
# bench/run_bench.sh BUILD_DIR [NAME...] - run each benchmark on troupe and
# on its Erlang/OTP twin, side by side, and print one line per benchmark:
#
#   RESULT <name> troupe=<value> erlang=<value> unit=<unit> ratio=<x>
#
# and, for remote_throughput and remote_pingpong, the raw ZeroMQ floor of
# the same work in the same run:
#
#   FLOOR <name> zeromq=<value> unit=<unit> troupe_fraction=<x>
#
# Benchmarks without an Erlang twin (registry_sync_100k: Erlang's global
# did not finish registering 100,000 names in 15 minutes) print
# erlang=none ratio=none.
#
# ratio > 1 means troupe is better (for times and sizes erlang/troupe, for
# rates troupe/erlang). BENCH_REPEAT=N runs each side N times and keeps the
# median, alternating the two sides. Exits non-zero if any side failed.
set -u
build=${1:?usage: run_bench.sh BUILD_DIR [NAME...]}
shift
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(spawn_flat spawn_tree mailbox pingpong ring idle_memory dynamic_children restart_latency
	remote_throughput remote_pingpong detect_nodedown
	global_register global_register_p99 global_whereis registry_sync
	registry_sync_100k failover failover_max)
repeat=${BENCH_REPEAT:-1}
here=$(cd "$(dirname "$0")" && pwd)
tr_bench=$build/bench/tr_bench
tr_bench_net=$build/bench/tr_bench_net
tr_bench_global=$build/bench/tr_bench_global

if ! command -v erl >/dev/null || ! command -v erlc >/dev/null; then
	echo "run_bench: erl/erlc not found (apt-get install erlang-nox)" >&2
	exit 2
fi
[ -x "$tr_bench" ] || { echo "run_bench: $tr_bench not built" >&2; exit 2; }
ebin=$build/bench/ebin
mkdir -p "$ebin"
erlc -o "$ebin" "$here/erlang/tr_bench.erl" "$here/erlang/tr_bench_dist.erl" \
	"$here/erlang/tr_bench_global.erl" || exit 2


# run_once CMD...: prints "value unit peak_rss_mb" of one run.
run_once() {
	local out line
	out=$("$@" 2>/dev/null) || return 1
	line=$(grep '^VALUE ' <<<"$out") || return 1
	echo "$(awk '{print $2, $3}' <<<"$line") $(grep '^PEAK_RSS_MB ' <<<"$out" | awk '{print $2}')"
}

# med FILE: the median line of "value unit rss" lines (by value).
med() { sort -g "$1" | awk '{l[NR]=$0} END {if (NR) print l[int((NR+1)/2)]}'; }

ratio() { # value_troupe value_erlang unit
	awk -v t="$1" -v e="$2" -v u="$3" 'BEGIN {
		lower = (u == "s" || u == "B/actor" || u == "MB" || u == "ms" || u == "us" || u == "ns")
		if (t <= 0 || e <= 0) { print "nan"; exit }
		printf "%.2f", lower ? e / t : t / e }'
}

fmt() { awk -v v="$1" 'BEGIN { if (v >= 1000) printf "%.0f", v; else printf "%.4g", v }'; }

failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for name in "${names[@]}"; do
	: >"$tmp/t"
	: >"$tmp/e"
	ok=1
	# Alternate the two sides so both meet the same machine states (this
	# kind of VM switches between a fast and a slow mode for cross-core
	# traffic; see docs/benchmarks.md).
	# Distribution benchmarks: two troupe nodes (tr_bench_net) against two
	# Erlang nodes (tr_bench_dist, distribution at its defaults), plus the
	# raw ZeroMQ floor of the same work, measured in the same run.
	floor=
	case $name in
	remote_throughput) floor=zmq_throughput ;;
	remote_pingpong) floor=zmq_pingpong ;;
	esac
	: >"$tmp/z"
	for ((i = 0; i < repeat; i++)); do
		case $name in
		registry_sync_100k)
			run_once "$tr_bench_global" "$name" >>"$tmp/t" || ok=0
			;;
		global_* | registry_sync | failover*)
			# the global registry: troupe's against Erlang's global,
			# each on a local cluster of separate OS processes;
			# failover: a supervised child with a global name whose
			# node is killed (OTP: a hand-written restarter, see
			# bench/erlang/tr_bench_global.erl)
			run_once "$tr_bench_global" "$name" >>"$tmp/t" || ok=0
			run_once erl -noshell -sname "trg$$_$i" -setcookie trbench \
				-pa "$ebin" -s tr_bench_global main "$name" >>"$tmp/e" || ok=0
			;;
		remote_* | detect_nodedown)
			run_once "$tr_bench_net" "$name" >>"$tmp/t" || ok=0
			run_once erl -noshell -sname "trb$$_$i" -setcookie trbench \
				-pa "$ebin" -s tr_bench_dist main "$name" >>"$tmp/e" || ok=0
			[ -z "$floor" ] || run_once "$tr_bench_net" "$floor" >>"$tmp/z" || ok=0
			;;
		*)
			run_once "$tr_bench" "$name" >>"$tmp/t" || ok=0
			run_once erl -noshell +P 4000000 -pa "$ebin" -s tr_bench main "$name" >>"$tmp/e" || ok=0
			;;
		esac
	done
	t=$(med "$tmp/t")
	e=$(med "$tmp/e")
	if [ $name = registry_sync_100k ] && [ $ok = 1 ] && [ -n "$t" ]; then
		read -r tv tu _ <<<"$t"
		echo "RESULT $name troupe=$(fmt "$tv") erlang=none unit=$tu ratio=none"
		continue
	fi
	if [ $ok = 0 ] || [ -z "$t" ] || [ -z "$e" ]; then
		echo "run_bench: $name failed" >&2
		echo "RESULT $name troupe=${t%% *} erlang=${e%% *} unit=? ratio=nan"
		failed=1
		continue
	fi
	read -r tv tu trss <<<"$t"
	read -r ev _ erss <<<"$e"
	echo "RESULT $name troupe=$(fmt "$tv") erlang=$(fmt "$ev") unit=$tu ratio=$(ratio "$tv" "$ev" "$tu")"
	if [ -s "$tmp/z" ]; then
		# FLOOR: raw ZeroMQ, same work; fraction = troupe / floor
		read -r zv zu _ <<<"$(med "$tmp/z")"
		echo "FLOOR $name zeromq=$(fmt "$zv") unit=$zu troupe_fraction=$(ratio "$tv" "$zv" "$zu")"
	fi
	if [ -n "${trss:-}" ] && [ -n "${erss:-}" ]; then
		echo "RESULT ${name}_rss troupe=$(fmt "$trss") erlang=$(fmt "$erss") unit=MB ratio=$(ratio "$trss" "$erss" MB)"
	fi
done
exit $failed
