#!/usr/bin/env bash
# Fuzz the wire decoder with libFuzzer for SECONDS (default 60), starting
# from the checked-in corpus. New crashes are written to
# tests/fuzz/crashes/; minimise one with -minimize_crash=1 and add it to
# tests/fuzz/corpus/frame/ so the replay test in ./run test keeps it.
# Needs clang and libclang-rt-14-dev (.ci/run installs them).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}
out=${FUZZ_BUILD:-build-fuzz}
mkdir -p "$out" tests/fuzz/crashes
clang -g -O1 -std=c11 -D_GNU_SOURCE -DTR_FUZZ_LIBFUZZER \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-Iinclude -I. tests/fuzz/fuzz_frame.c net/wire.c runtime/mpack.c \
	runtime/pid.c -o "$out/fuzz_frame"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp tests/fuzz/corpus/frame/* "$work/"
"$out/fuzz_frame" -max_total_time="$secs" -max_len=4096 \
	-artifact_prefix=tests/fuzz/crashes/ "$work" 2>&1 | tail -n 3
echo "fuzz_frame: ${secs}s, no crash"
