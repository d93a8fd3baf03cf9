#!/usr/bin/env bash
# bench/run_bench.sh BUILD_DIR [NAME...] - run each benchmark on troupe and
# on its Erlang/OTP twin, side by side, and print one line per benchmark:
#
#   RESULT <name> troupe=<value> erlang=<value> unit=<unit> ratio=<x>
#
# ratio > 1 means troupe is better (for times and sizes erlang/troupe, for
# rates troupe/erlang). BENCH_REPEAT=N runs each side N times and keeps the
# median. Exits non-zero if any side failed.
set -u
build=${1:?usage: run_bench.sh BUILD_DIR [NAME...]}
shift
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(spawn_flat spawn_tree mailbox pingpong ring idle_memory)
repeat=${BENCH_REPEAT:-1}
here=$(cd "$(dirname "$0")" && pwd)
tr_bench=$build/bench/tr_bench

if ! command -v erl >/dev/null || ! command -v erlc >/dev/null; then
	echo "run_bench: erl/erlc not found (apt-get install erlang-nox)" >&2
	exit 2
fi
[ -x "$tr_bench" ] || { echo "run_bench: $tr_bench not built" >&2; exit 2; }
ebin=$build/bench/ebin
mkdir -p "$ebin"
erlc -o "$ebin" "$here/erlang/tr_bench.erl" || exit 2

median() { sort -g | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]}'; }

# run_side CMD...: prints "value unit peak_rss_mb" (median value).
run_side() {
	local vals=() unit="" rss="" out
	for ((i = 0; i < repeat; i++)); do
		out=$("$@" 2>/dev/null) || return 1
		local line
		line=$(grep '^VALUE ' <<<"$out") || return 1
		vals+=("$(awk '{print $2}' <<<"$line")")
		unit=$(awk '{print $3}' <<<"$line")
		rss=$(grep '^PEAK_RSS_MB ' <<<"$out" | awk '{print $2}')
	done
	echo "$(printf '%s\n' "${vals[@]}" | median) $unit ${rss:-}"
}

ratio() { # value_troupe value_erlang unit
	awk -v t="$1" -v e="$2" -v u="$3" 'BEGIN {
		lower = (u == "s" || u == "B/actor" || u == "MB" || u == "us" || u == "ns")
		if (t <= 0 || e <= 0) { print "nan"; exit }
		printf "%.2f", lower ? e / t : t / e }'
}

fmt() { awk -v v="$1" 'BEGIN { if (v >= 1000) printf "%.0f", v; else printf "%.4g", v }'; }

failed=0
for name in "${names[@]}"; do
	t=$(run_side "$tr_bench" "$name") || t=""
	e=$(run_side erl -noshell +P 4000000 -pa "$ebin" -s tr_bench main "$name") || e=""
	if [ -z "$t" ] || [ -z "$e" ]; then
		echo "run_bench: $name failed on the ${t:+erlang}${t:-troupe} side" >&2
		echo "RESULT $name troupe=${t%% *} erlang=${e%% *} unit=? ratio=nan"
		failed=1
		continue
	fi
	read -r tv tu trss <<<"$t"
	read -r ev _ erss <<<"$e"
	echo "RESULT $name troupe=$(fmt "$tv") erlang=$(fmt "$ev") unit=$tu ratio=$(ratio "$tv" "$ev" "$tu")"
	if [ -n "${trss:-}" ] && [ -n "${erss:-}" ]; then
		echo "RESULT ${name}_rss troupe=$(fmt "$trss") erlang=$(fmt "$erss") unit=MB ratio=$(ratio "$trss" "$erss" MB)"
	fi
done
exit $failed
