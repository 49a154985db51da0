#!/bin/sh
# Every zkv command end to end against fake nodes (tests/cli/fake_node.c): a
# leader (id 1) and a follower (id 2) that redirects to it and names a third,
# dead member (id 3). Checks what each command prints in each format, exit
# codes, binary safety, scan paging, status discovery, trace and bench.
# Usage: test_cli_commands.sh path/to/zkv path/to/fake_node
set -u
zkv=$1
fake=$2
tmp=$(mktemp -d)
pids=
cleanup() {
    for pid in $pids; do
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
failures=0

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# start NAME ARGS...: run a fake node, wait for its endpoints line.
start() {
    name=$1
    shift
    "$fake" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    pids="$pids $!"
    for _ in $(seq 100); do
        [ -s "$tmp/$name.out" ] && return 0
        sleep 0.05
    done
    echo "fake node $name did not start: $(cat "$tmp/$name.err")"
    exit 1
}

field() { # field NAME KEY: an endpoint from a node's first line
    sed -n "s/.*$2=\([^ ]*\).*/\1/p" "$tmp/$1.out"
}

# expect NAME RC EXPECTED_STDOUT ARGS...: exact stdout, exit code, and one
# stderr line exactly when the exit code is not 0.
expect() {
    name=$1 want_rc=$2 want_out=$3
    shift 3
    "$zkv" --timeout 2s "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    rc=$?
    got=$(cat "$tmp/out")
    lines=$(wc -l <"$tmp/err")
    [ "$rc" -eq "$want_rc" ] || fail "$name: exit $rc, want $want_rc: $(cat "$tmp/err")"
    [ "$got" = "$want_out" ] || fail "$name: stdout
---- got
$got
---- want
$want_out"
    if [ "$want_rc" -eq 0 ]; then want_lines=0; else want_lines=1; fi
    [ "$lines" -eq "$want_lines" ] || fail "$name: $lines stderr lines: $(cat "$tmp/err")"
}

start leader --id 1 --page-max 10
leader=$(field leader client)
leader_trace=$(field leader trace)
start follower --id 2 --follower "$leader" --member "1=$leader" --member "3=tcp://127.0.0.1:1"
follower=$(field follower client)
export ZKV_ENDPOINTS=$follower

# put/get/del through the follower: redirected to the leader.
expect put 0 "OK" put greeting hello
expect get 0 "hello" get greeting
expect get-json 0 '{"key":"greeting","revision":1,"value":"hello","found":true}' get greeting -w json
expect get-table 0 "+----------+-------+
| KEY      | VALUE |
+----------+-------+
| greeting | hello |
+----------+-------+" get greeting -w table
expect get-serializable 1 "" get greeting --consistency s
expect get-serializable-leader 0 "hello" get greeting --consistency s --endpoints "$leader"
expect get-missing 1 "" get nothing
grep -q '^zkv: key not found: nothing$' "$tmp/err" || fail "get-missing: $(cat "$tmp/err")"
expect get-missing-json 1 '{"key":"nothing","revision":1,"value":null,"found":false}' get nothing -w json
expect put-prev 0 "OK
greeting
hello" put greeting bonjour --prev
expect put-prev-new 0 "OK" put fresh x --prev
expect put-prev-json 0 '{"key":"greeting","revision":4,"prev_found":true,"prev_value":"bonjour"}' put greeting hi --prev -w json
expect put-dash-key 0 "OK" put -- -dash v
expect get-dash-key 0 "v" get -- -dash
expect del 0 "1" del greeting
expect del-again 0 "0" del greeting
expect del-json 0 '{"key":"fresh","revision":7,"deleted":1}' del fresh -w json

# cas
expect cas-absent 0 "OK" cas --absent lock owner1
expect cas-absent-taken 1 "" cas --absent lock owner2
grep -q 'compare failed: the key exists' "$tmp/err" || fail "cas-absent-taken: $(cat "$tmp/err")"
expect cas-wrong 1 "" cas lock owner2 owner3
grep -q '^zkv: compare failed' "$tmp/err" || fail "cas-wrong: $(cat "$tmp/err")"
expect cas-right 0 "OK" cas lock owner1 owner3
expect cas-json 1 '{"key":"lock","revision":9,"succeeded":false}' cas lock owner1 x -w json
expect cas-check 0 "owner3" get lock

# Binary values: raw bytes in simple output, base64 in JSON when not UTF-8.
printf 'a\000b\377\n' >"$tmp/binary"
expect put-file 0 "OK" put bin --file "$tmp/binary"
"$zkv" get bin >"$tmp/got" || fail "get bin"
printf 'a\000b\377\n\n' >"$tmp/want"
cmp -s "$tmp/got" "$tmp/want" || fail "get bin: bytes differ"
expect get-bin-json 0 '{"key":"bin","revision":10,"value_base64":"YQBi/wo=","found":true}' get bin -w json
expect get-bin-table 0 '+-----+----------------+
| KEY | VALUE          |
+-----+----------------+
| bin | a\x00b\xff\x0a |
+-----+----------------+' get bin -w table
printf 'caf\303\251' | "$zkv" put utf8 --file - >/dev/null || fail "put from stdin"
expect get-utf8-json 0 '{"key":"utf8","revision":11,"value":"café","found":true}' get utf8 -w json
expect del-bin 0 "1" del bin
expect del-utf8 0 "1" del utf8

# scan: 25 keys; the leader pages at 10, so unlimited scans take 3 pages.
for i in $(seq -w 1 25); do
    "$zkv" put "k$i" "v$i" >/dev/null || fail "put k$i"
done
"$zkv" put other o >/dev/null
"$zkv" scan --prefix k >"$tmp/scan" || fail "scan --prefix"
[ "$(wc -l <"$tmp/scan")" -eq 50 ] || fail "scan --prefix: $(wc -l <"$tmp/scan") lines, want 50"
[ "$(sed -n '1p;2p;49p;50p' "$tmp/scan" | tr '\n' ' ')" = "k01 v01 k25 v25 " ] || fail "scan order: $(head -4 "$tmp/scan")"
expect scan-keys-reverse-limit 0 "k25
k24
k23
k22
k21
k20
k19
k18
k17
k16
k15
k14" scan --prefix k --keys-only --reverse --limit 12
expect scan-range 0 "k05
k06
k07
k08
k09" scan --from k05 --to k10 --keys-only
expect scan-range-reverse-paged 0 "$(seq -w 23 -1 2 | sed 's/^/k/')" scan --from k02 --to k24 --keys-only --reverse
expect scan-all-keys 0 "-dash
$(seq -w 1 25 | sed 's/^/k/')
lock
other" scan --keys-only
expect scan-json 0 '{"kvs":[{"key":"k01","value":"v01"},{"key":"k02","value":"v02"}],"count":2,"more":true,"revision":39}' scan --prefix k --limit 2 -w json
expect scan-json-all-pages 0 '{"kvs":[{"key":"lock"},{"key":"other"}],"count":2,"more":false,"revision":39}' scan --from l --keys-only -w json
expect scan-table 0 "+-------+-------+
| KEY   | VALUE |
+-------+-------+
| other | o     |
+-------+-------+" scan --prefix o -w table
expect scan-empty 0 "" scan --prefix zzz

# status: the follower names the leader and a dead member 3.
"$zkv" status --timeout 500ms >"$tmp/status" 2>"$tmp/err" || fail "status: $(cat "$tmp/err")"
[ "$(tr -s ' ' <"$tmp/status")" = "ID ENDPOINT ROLE TERM COMMIT APPLIED LEADER KEYS
1 $leader leader 3 39 39 1 28
2 $follower follower 3 0 0 - 0
3 tcp://127.0.0.1:1 unreachable - - - - -" ] || fail "status: $(cat "$tmp/status")"
"$zkv" status --timeout 500ms -w json >"$tmp/status.json" || fail "status -w json"
grep -q '"id":3,"endpoint":"tcp://127.0.0.1:1","reachable":false' "$tmp/status.json" || fail "status json: $(cat "$tmp/status.json")"
grep -q '"id":1,"endpoint":"'"$leader"'","reachable":true,"role":"leader","term":3,"commit_index":39' "$tmp/status.json" || fail "status json leader: $(cat "$tmp/status.json")"
"$zkv" status --timeout 500ms -w table | grep -q '^| 2  | ' || fail "status -w table"

# trace: two client events from the leader, then exit.
"$zkv" trace --trace-endpoints "$leader_trace" --kind client --node 1 --count 2 >"$tmp/trace" 2>"$tmp/trace.err" &
trace_pid=$!
sleep 0.5
for _ in 1 2 3 4; do "$zkv" get lock --endpoints "$leader" >/dev/null; done
for _ in $(seq 50); do
    kill -0 "$trace_pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$trace_pid" 2>/dev/null; then
    kill "$trace_pid"
    fail "trace did not stop after --count 2"
fi
wait "$trace_pid" || fail "trace exit status"
[ "$(wc -l <"$tmp/trace")" -eq 2 ] || fail "trace: $(cat "$tmp/trace")"
grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}\.[0-9]{3} node=1 client +term=3 index=39 latency=[0-9.]+ms status=ok$' "$tmp/trace" || fail "trace line: $(cat "$tmp/trace")"
"$zkv" trace --trace-endpoints "$leader_trace" --kind client --count 1 -w json >"$tmp/trace" &
trace_pid=$!
sleep 0.5
"$zkv" get lock --endpoints "$leader" >/dev/null
sleep 0.3
"$zkv" get lock --endpoints "$leader" >/dev/null
wait "$trace_pid" || fail "trace -w json exit status"
grep -q '"node":1,"kind":"client","term":3,"index":39,"latency_us":' "$tmp/trace" || fail "trace json: $(cat "$tmp/trace")"

# bench: writes follow the leader from both connections; reads are served too.
"$zkv" bench --endpoints "$follower,$leader" --conns 2 --inflight 8 --count 400 --read-ratio 0.5 \
    --key-space 50 >"$tmp/bench" 2>"$tmp/bench.err" || fail "bench: $(cat "$tmp/bench.err")"
grep -q '^requests  *400$' "$tmp/bench" || fail "bench requests: $(cat "$tmp/bench")"
grep -q '^errors  *0$' "$tmp/bench" || fail "bench errors: $(cat "$tmp/bench")"
grep -Eq '^latency p99.9  *[0-9]+\.[0-9]{3} ms$' "$tmp/bench" || fail "bench latency: $(cat "$tmp/bench")"
[ -s "$tmp/bench.err" ] && fail "bench wrote to stderr (not a terminal): $(cat "$tmp/bench.err")"
"$zkv" bench --endpoints "$leader" --inflight 4 --conns 2 --duration 300ms --sequential-keys -w json >"$tmp/bench.json" || fail "bench --duration"
grep -Eq '^\{"requests":[1-9][0-9]*,"errors":0,"canceled":0,"duration_s":0\.[2-3][0-9]*,"throughput_ops":[0-9.]+,"latency_ms":\{"p50":' "$tmp/bench.json" || fail "bench json: $(cat "$tmp/bench.json")"

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "all passed"
