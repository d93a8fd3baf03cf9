#!/usr/bin/env bash
# Every public header compiles on its own, in C11 and in C++ (extern "C"),
# with all warnings as errors.
set -u
cd "$(dirname "$0")/../.."
cc=${CC:-cc}
bad=0
for h in include/troupe/*.h; do
	name=troupe/$(basename "$h")
	if ! printf '#include <%s>\nint main(void) { return 0; }\n' "$name" |
		"$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror -Iinclude -fsyntax-only -x c -; then
		echo "header $name does not compile alone (C11)" >&2
		bad=1
	fi
	if command -v c++ >/dev/null &&
		! printf '#include <%s>\nint main() { return 0; }\n' "$name" |
		c++ -std=c++17 -Wall -Wextra -Werror -Iinclude -fsyntax-only -x c++ -; then
		echo "header $name does not compile alone (C++)" >&2
		bad=1
	fi
done
[ $bad = 0 ] && echo "headers ok"
exit $bad
