#!/usr/bin/env bash
# tests/bin/test_cli.sh BIN_DIR - the troupe CLI against real troupe-node
# daemons: every command, text and --json output, exit codes, the errors
# a user meets (unknown node, wrong secret, unknown name, bad usage),
# join, leave, SIGTERM. TAP output. All daemons are killed on exit.
set -uo pipefail
export BIN=$(cd "${1:?usage: test_cli.sh BIN_DIR}" && pwd)
WORK=$(mktemp -d /tmp/troupe-cli-test.XXXXXX)
. "$(dirname "$0")/../../bin/cluster-lib.sh"
trap cluster_cleanup EXIT

n=0 failed=0
ok() { # ok DESC CMD...: one TAP line for CMD's success
	local desc=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc"
		failed=$((failed + 1))
	fi
}
# run CMD...: capture stdout, stderr and status in OUT, ERR, RC. The CLI
# exits 0, 1 or 2: anything else (a crash, a sanitizer's report) is a
# failure of its own, whatever the case then checks.
run() {
	OUT=$("$@" 2>"$WORK/err")
	RC=$?
	ERR=$(cat "$WORK/err")
	if [ "$RC" -gt 2 ]; then
		n=$((n + 1))
		failed=$((failed + 1))
		echo "not ok $n - $* exited $RC"
		sed 's/^/# /' "$WORK/err" | head -n 20
	fi
}
cli() { "$BIN/troupe" "$@"; }
# json CODE: the last run succeeded and its JSON output satisfies CODE
json() { [ "$RC" = 0 ] && python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }

cluster_secret
start_node a || exit 1
start_node b "${NODE_EP[a]}" || exit 1
start_node c "${NODE_EP[a]}" || exit 1
export TROUPE_NODE=${NODE_EP[a]}
three_up() { [ "$(cli nodes | grep -cE ' (up|self)$')" = 3 ]; }
until_ok 50 three_up

# ---- ping, nodes ----
run cli ping
ok "ping answers pong" test "$RC:$OUT" = "0:pong"
run cli --json ping
ok "ping --json names the node" test "$OUT" = '{"pong":"a"}'
run cli nodes
ok "nodes: a header and three nodes, a first as self" \
	bash -c '[ "$(sed -n 1p <<<"$0" | tr -s " ")" = "NAME ENDPOINT INCARNATION STATE" ] &&
	         grep -qE "^a +tcp://127.0.0.1:[0-9]+ +[0-9]+ +self$" <<<"$0" &&
	         [ "$(grep -cE " up$" <<<"$0")" = 2 ]' "$OUT"
run cli --json nodes
ok "nodes --json: objects with name, endpoint, incarnation, state" \
	json 'assert sorted(x["name"] for x in d)==["a","b","c"]; assert all(set(x)=={"name","endpoint","incarnation","state"} for x in d)' <<<"$OUT"

# ---- spawn, whereis, names, call, send ----
run cli spawn echo --on b --global e1
E1=$OUT
ok "spawn echo on b with a global name prints its pid" \
	bash -c '[ $1 = 0 ] && [[ $0 == \<*\> ]]' "$OUT" "$RC"
run cli --node "${NODE_EP[c]}" whereis e1
ok "whereis from another node gives the same pid" test "$RC:$OUT" = "0:$E1"
run cli --json whereis e1
ok "whereis --json says the node" json 'assert d["node"]=="b" and d["pid"]=="'"$E1"'"' <<<"$OUT"
run cli names
ok "names lists e1 on b" bash -c 'grep -qE "^e1 +<[^>]+> +b$" <<<"$0"' "$OUT"
run cli call e1 '["hi", 1, [2, "x"], {"k": true}]'
ok "call returns what echo answered" test "$OUT" = '["hi",1,[2,"x"],{"k":true}]'
run cli --json call e1 hello
ok "call --json wraps the reply" test "$OUT" = '{"reply":["hello"]}'
run cli spawn counter --on c --global ctr --supervised
CTR=$OUT
ok "spawn a supervised counter on c" bash -c '[ $1 = 0 ] && [[ $0 == \<*\> ]]' "$OUT" "$RC"
run cli send ctr tick
ok "send prints ok" test "$RC:$OUT" = "0:ok"
cli --node "${NODE_EP[b]}" send ctr '["tock", 5]' >/dev/null
count_is() { [ "$(cli call ctr get)" = "[\"count\",$1]" ]; }
ok "the counter counted both sends" until_ok 30 count_is 2

# ---- kill: the supervisor restarts the counter ----
run cli kill ctr
ok "kill ctr says ok" test "$RC:$OUT" = "0:ok"
restarted() { local p; p=$(cli whereis ctr) && [ "$p" != "$CTR" ]; }
ok "the supervised counter is back under its name" until_ok 50 restarted
ok "the restarted counter starts from 0" count_is 0
run cli kill e1 normal
ok "kill with reason normal does not end a process" bash -c '[ "$("$BIN/troupe" whereis e1)" = "$0" ]' "$E1"

# ---- tree, ps, status ----
run cli tree
ok "tree shows a's root supervisor and the counter on c" \
	bash -c 'grep -qE "^a  troupe_sup  <" <<<"$0" && grep -qE "  #[0-9]+  <[^>]+> -> <[^>]+>  on c  worker$" <<<"$0"' "$OUT"
run cli --json tree
ok "tree --json: a node per cluster member, the child placed on c" \
	json 'assert sorted(x["node"] for x in d)==["a","b","c"]; a=[x for x in d if x["node"]=="a"][0]; assert a["children"][0]["node"]=="c" and a["children"][0]["type"]=="worker"' <<<"$OUT"
run cli ps
ok "ps lists the root supervisor" bash -c 'grep -qE "^<[^>]+> +troupe_sup +supervisor +[0-9]+$" <<<"$0"' "$OUT"
run cli --json ps
ok "ps --json has pid, name, behaviour, mailbox" \
	json 'assert any(x["name"]=="troupe_sup" for x in d); assert all(set(x)=={"pid","name","behaviour","mailbox"} for x in d)' <<<"$OUT"
run cli status
ok "status shows schedulers, actors, rates and peers" \
	bash -c 'grep -qE "^schedulers +[0-9]+$" <<<"$0" && grep -qE "^actors +[0-9]+$" <<<"$0" && grep -qE "^messages_per_s +[0-9]+$" <<<"$0" && grep -qE "^peers +2$" <<<"$0"' "$OUT"
run cli --json status
ok "status --json" json 'assert d["node"]=="a" and len(d["peers"])==2 and d["global_names"]==2' <<<"$OUT"

# ---- supervisors of supervisors across nodes ----
run cli spawn dynsup --on b --supervised
INNER=$OUT
ok "a DynamicSupervisor placed on b, supervised from a" \
	bash -c '[ $1 = 0 ] && [[ $0 == \<*\> ]]' "$OUT" "$RC"
run cli --node "${NODE_EP[b]}" spawn counter --on c --supervised --under "$INNER" --global deep
ok "a counter on c under b's supervisor" bash -c '[ $1 = 0 ] && [[ $0 == \<*\> ]]' "$OUT" "$RC"
run cli tree
ok "tree: a's supervisor -> the supervisor on b -> the counter on c" \
	bash -c 'grep -A1 -F -- "-> $1  on b  supervisor" <<<"$0" | tail -n 1 | grep -qE "^    #[0-9]+  <[^>]+> -> <[^>]+>  on c  worker$"' "$OUT" "$INNER"
run cli --json tree
ok "tree --json nests it" \
	json 'a=[x for x in d if x["node"]=="a"][0]; s=[c for c in a["children"] if c["type"]=="supervisor"][0]; assert s["node"]=="b" and s["children"][0]["node"]=="c"' <<<"$OUT"
run cli spawn counter --supervised --under "$INNER"
ok "--under a supervisor of another node: exit 1" \
	test "$RC:$ERR" = "1:troupe: spawn: --under: no such supervisor on this node"
run cli spawn counter --under "$INNER"
ok "--under without --supervised: exit 2" test "$RC" = 2

# ---- errors ----
run cli whereis nope
ok "unknown name: exit 1, not found" test "$RC:$ERR" = "1:troupe: nope: not found"
run cli call nope get
ok "call to an unknown name: exit 1" test "$RC:$ERR" = "1:troupe: nope: not found"
run cli spawn nosuchkind
ok "unknown kind: exit 1" test "$RC:$ERR" = "1:troupe: spawn: unknown kind"
run cli spawn echo --on nosuchnode
ok "unknown node for --on: exit 1" test "$RC:$ERR" = "1:troupe: spawn: unknown node"
run cli spawn echo --global e1
ok "a taken name: exit 1" test "$RC:$ERR" = "1:troupe: spawn: name taken"
head -c 40 /dev/urandom | base64 >"$WORK/wrong"
run cli --secret-file "$WORK/wrong" ping
ok "wrong secret: exit 1, authentication refused" \
	bash -c '[ $1 = 1 ] && grep -q "authentication refused" <<<"$0"' "$ERR" "$RC"
run cli --node tcp://127.0.0.1:1 --timeout 300 ping
ok "no node there: exit 1, one clear line" \
	test "$RC:$ERR" = "1:troupe: tcp://127.0.0.1:1: no troupe node answered within 300 ms"
run cli --secret-file /nonexistent ping
ok "unreadable secret file: exit 2" bash -c '[ $1 = 2 ] && grep -q "/nonexistent" <<<"$0"' "$ERR" "$RC"
run cli
ok "no command: exit 2 with usage" bash -c '[ $1 = 2 ] && grep -q "^usage: troupe" <<<"$0"' "$ERR" "$RC"
run cli frobnicate
ok "unknown command: exit 2" bash -c '[ $1 = 2 ] && grep -q "unknown command: frobnicate" <<<"$0"' "$ERR" "$RC"
run cli spawn echo --failover
ok "--failover without --supervised: exit 2" test "$RC" = 2
run cli call e1 '["unclosed"'
ok "a MESSAGE that is not JSON: exit 2" bash -c '[ $1 = 2 ] && grep -q "MESSAGE" <<<"$0"' "$ERR" "$RC"
run cli send e1 '[1, 2]'
ok "a MESSAGE without a string tag: exit 2" test "$RC" = 2
run cli whereis
ok "a missing argument: exit 2" test "$RC" = 2

# ---- join, leave, SIGTERM ----
start_node e
run cli --node "${NODE_EP[e]}" join "${NODE_EP[b]}"
ok "join: e joins through b" test "$RC:$OUT" = "0:ok"
e_in() { [ "$(cli nodes | grep -cE '^e .* up$')" = 1 ]; }
ok "a sees e" until_ok 50 e_in
e_sees() { cli --node "${NODE_EP[e]}" whereis ctr >/dev/null; }
ok "e has the global names" until_ok 50 e_sees
run cli --node "${NODE_EP[e]}" join tcp://127.0.0.1:1
ok "join to nothing: exit 1" bash -c '[ $1 = 1 ] && grep -q "join" <<<"$0"' "$ERR" "$RC"
run cli --node "${NODE_EP[e]}" leave
ok "leave: ok" test "$RC:$OUT" = "0:ok"
e_gone() { cli nodes | grep -qE '^e .* down$'; }
ok "a sees e down" until_ok 50 e_gone
ok "a logged nodedown e: left" until_ok 50 grep -q "nodedown e: left" "$WORK/a.log"
ok "e still answers, on its own" bash -c '[ "$("$BIN/troupe" --node "$0" ping)" = pong ]' "${NODE_EP[e]}"
run cli --node "${NODE_EP[e]}" join "${NODE_EP[a]}"
ok "e joins again after its leave" test "$RC:$OUT" = "0:ok"
ok "a sees e up again" until_ok 50 e_in
kill -TERM "${NODE_PID[c]}"
wait "${NODE_PID[c]}"
RC=$?
unset 'NODE_PID[c]'
ok "SIGTERM: c exits 0" test "$RC" = 0
ok "a logged nodedown c: left" until_ok 50 grep -q "nodedown c: left" "$WORK/a.log"
ok "c logged its leave" grep -q "SIGTERM: leaving" "$WORK/c.log"

echo "1..$n"
[ $failed = 0 ]
