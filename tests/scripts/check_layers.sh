#!/usr/bin/env bash
# Lower layers never include higher ones: runtime <- net <- registry <-
# supervisor <- bin. Fails listing every upward include.
set -u
cd "$(dirname "$0")/../.."
layers=(runtime net registry supervisor bin)
bad=0
for i in "${!layers[@]}"; do
	low=${layers[$i]}
	[ -d "$low" ] || continue
	for j in "${!layers[@]}"; do
		[ "$j" -gt "$i" ] || continue
		high=${layers[$j]}
		if grep -rnE "#include \"$high/" "$low" --include='*.c' --include='*.h'; then
			echo "layering: $low/ includes $high/" >&2
			bad=1
		fi
	done
done
# bin/ uses only the public API.
if [ -d bin ] && grep -rnE '#include "(runtime|net|registry|supervisor)/' bin --include='*.c'; then
	echo "layering: bin/ includes internal headers" >&2
	bad=1
fi
# Public headers include only public headers and the C library.
if grep -nE '#include "' include/troupe/*.h; then
	echo "layering: a public header includes an internal one" >&2
	bad=1
fi
[ $bad = 0 ] && echo "layers ok"
exit $bad
