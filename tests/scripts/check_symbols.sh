#!/usr/bin/env bash
# libtroupe exports only tr_* symbols (internal tr__ names stay hidden,
# except the test hook tr__alloc_fail_after). Usage: check_symbols.sh LIB.so
set -u
lib=$1
syms=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/ {print $3}')
# (ASan adds an __odr_asan.<name> symbol for every exported variable.)
bad=$(echo "$syms" | grep -vE '^tr_[a-z]|^__odr_asan\.tr_[a-z]' |
	grep -vx 'tr__alloc_fail_after')
if [ -n "$bad" ]; then
	echo "symbols exported that are not tr_*:" >&2
	echo "$bad" >&2
	exit 1
fi
n=$(echo "$syms" | grep -c '^tr_')
echo "symbols ok: $n exported"
