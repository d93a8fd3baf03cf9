#!/usr/bin/env bash
# Fuzz with libFuzzer, starting from the checked-in corpora:
#
#   tests/fuzz/run.sh [TARGET|all] [SECONDS]     (default: all, 60 s each)
#   tests/fuzz/run.sh SECONDS                    (all, SECONDS each)
#
# Targets: frame handshake registry config message reply (tests/fuzz/
# fuzz_TARGET.c; docs/reliability.md, "Fuzzing"). Each is built with
# clang -fsanitize=fuzzer,address,undefined, together with the library's
# sources (runtime, net, registry, supervisor) instrumented for coverage, in
# FUZZ_BUILD (default build-fuzz). New inputs go to a scratch copy of
# the corpus; crashes to tests/fuzz/crashes/TARGET-*: minimise one with
# `build-fuzz/fuzz_TARGET -minimize_crash=1 -runs=10000 FILE` and add it
# to tests/fuzz/corpus/TARGET/ so the replay test in ./run test keeps
# it. One line per target: "fuzz_TARGET: N runs in S s, no crash".
# Exit 1 if any target crashed. Needs clang and libclang-rt-14-dev
# (.ci/run installs them).
set -euo pipefail
cd "$(dirname "$0")/../.."
all="frame handshake registry config message reply"
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then
	targets=$all
	secs=$1
else
	targets=${1:-all}
	[ "$targets" = all ] && targets=$all
	secs=${2:-60}
fi
out=${FUZZ_BUILD:-build-fuzz}
mkdir -p "$out/obj" tests/fuzz/crashes
flags=(-g -O1 -std=c11 -D_GNU_SOURCE -fno-sanitize-recover=all -Iinclude -I.)
mp=msgpack-c
pkg-config --exists msgpack-c || mp=msgpack # the name before msgpack-c 6
deps=$(pkg-config --cflags --libs libzmq libsodium $mp jansson libmicrohttpd)

# The library, instrumented (rebuilt when a source is newer).
lib="$out/libtroupe_fuzz.a"
srcs=$(ls runtime/*.c net/*.c registry/*.c supervisor/*.c)
if [ ! -f "$lib" ] || [ "$srcs" != "$(cat "$out/srcs" 2>/dev/null)" ] ||
	[ -n "$(find runtime net registry supervisor include -newer "$lib" \
		-name '*.[ch]' | head -n 1)" ]; then
	rm -f "$out"/obj/*.o "$lib"
	for s in $srcs; do
		o="$out/obj/$(echo "$s" | tr / _).o"
		clang "${flags[@]}" -fsanitize=fuzzer-no-link,address,undefined \
			-c "$s" -o "$o" &
		# two at a time (2 cores)
		while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n; done
	done
	wait
	ar rcs "$lib" "$out"/obj/*.o
	echo "$srcs" >"$out/srcs"
fi

rc=0
for t in $targets; do
	case $t in
	frame) extra=() ;;
	config) extra=(bin/config.c bin/metrics.c) ;;
	message | reply) extra=(bin/message.c) ;;
	handshake | registry) extra=() ;;
	*) echo "run.sh: unknown target $t (one of: $all)" >&2; exit 2 ;;
	esac
	# shellcheck disable=SC2086
	clang "${flags[@]}" -fsanitize=fuzzer,address,undefined \
		"tests/fuzz/fuzz_$t.c" "${extra[@]}" "$lib" $deps -lm -lpthread \
		-o "$out/fuzz_$t"
	work=$(mktemp -d)
	cp tests/fuzz/corpus/"$t"/* "$work/"
	dict=()
	[ -f "tests/fuzz/dict/$t.dict" ] && dict=(-dict="tests/fuzz/dict/$t.dict")
	log="$out/fuzz_$t.log"
	set +e
	# with nodes running, memory in flight between inputs is no leak:
	# libFuzzer's per-input leak check would run LeakSanitizer on
	# every input (a third of the speed); the replay in ./run test
	# checks leaks at exit
	leaks=1
	case $t in handshake | registry) leaks=0 ;; esac
	"$out/fuzz_$t" -max_total_time="$secs" -max_len=4096 -timeout=10 \
		-rss_limit_mb=2048 -detect_leaks=$leaks "${dict[@]}" \
		-artifact_prefix="tests/fuzz/crashes/$t-" "$work" >"$log" 2>&1
	st=$?
	set -e
	rm -rf "$work"
	runs=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -n 1 |
		awk '{print $2 " runs in " $5 " s"}')
	if [ "$st" = 0 ]; then
		echo "fuzz_$t: ${runs:-?}, no crash"
	else
		rc=1
		tail -n 30 "$log"
		echo "fuzz_$t: CRASH (exit $st), see $log and tests/fuzz/crashes/"
	fi
done
exit $rc
