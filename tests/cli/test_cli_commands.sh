#!/bin/sh
# Every zkv command end to end against fake nodes (tests/cli/fake_node.c): a
# leader (id 1) and a follower (id 2) that redirects to it and names a third,
# dead member (id 3). Checks what each command prints in each format, exit
# codes, binary safety, scan paging, status discovery, trace, bench, the
# membership commands (with what reaches each node, from the nodes' logs),
# and, on nodes of their own, snapshot save (a real snapshot file served in
# pieces), check (digests of members named by a node's membership) and CURVE
# (a node that lets in one client's key). The fake nodes are plaintext, as
# zkvd --insecure, unless started with --curve: ZKV_INSECURE=1 until then, and
# ZKV_CERT_DIR empty, so that no certificate of the developer's is read.
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
export ZKV_INSECURE=1 ZKV_CERT_DIR="$tmp/no-certs"
mkdir "$ZKV_CERT_DIR"

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

requests() { # requests NAME [BODY]: how many requests (of that body) a node has received
    grep -c "^request ${2:-}" "$tmp/$1.out"
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
expect get-json 0 '{"key":"greeting","revision":1,"value":"hello","create_revision":1,"mod_revision":1,"version":1,"lease":0,"found":true}' get greeting -w json
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

# Binary values: raw bytes in simple output, base64 in JSON when not UTF-8. Into a file
# (stdout is no terminal) or with --file, the value's bytes alone, no newline added.
printf 'a\000b\377\n' >"$tmp/binary"
expect put-file 0 "OK" put bin --file "$tmp/binary"
"$zkv" get bin >"$tmp/got" || fail "get bin"
cmp -s "$tmp/got" "$tmp/binary" || fail "get bin: bytes differ"
expect get-file 0 "" get bin --file "$tmp/got-file"
cmp -s "$tmp/got-file" "$tmp/binary" || fail "get bin --file: bytes differ"
expect get-file-absent 1 "" get nothing --file "$tmp/absent-file"
[ -e "$tmp/absent-file" ] && fail "get --file of an absent key created the file"
expect get-bin-json 0 '{"key":"bin","revision":10,"value_base64":"YQBi/wo=","create_revision":10,"mod_revision":10,"version":1,"lease":0,"found":true}' get bin -w json
expect get-bin-table 0 '+-----+----------------+
| KEY | VALUE          |
+-----+----------------+
| bin | a\x00b\xff\x0a |
+-----+----------------+' get bin -w table
printf 'caf\303\251' | "$zkv" put utf8 --file - >/dev/null || fail "put from stdin"
expect get-utf8-json 0 '{"key":"utf8","revision":11,"value":"café","create_revision":11,"mod_revision":11,"version":1,"lease":0,"found":true}' get utf8 -w json
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
expect scan-json 0 '{"kvs":[{"key":"k01","value":"v01","create_revision":14,"mod_revision":14,"version":1,"lease":0},{"key":"k02","value":"v02","create_revision":15,"mod_revision":15,"version":1,"lease":0}],"count":2,"more":true,"revision":39}' scan --prefix k --limit 2 -w json
expect scan-json-all-pages 0 '{"kvs":[{"key":"lock","create_revision":8,"mod_revision":9,"version":2,"lease":0},{"key":"other","create_revision":39,"mod_revision":39,"version":1,"lease":0}],"count":2,"more":false,"revision":39}' scan --from l --keys-only -w json
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

# status through other addresses (a container's published port, say): a member the
# answers name at an address not listed, silent like a listed endpoint, shows once, at
# the listed endpoint (the one the user reaches): paired by port, else as the one left.
start nat --id 1 --member "2=tcp://127.0.0.2:2"
nat=$(field nat client)
start nat2 --id 1 --member "2=tcp://172.28.71.12:7102"
nat2=$(field nat2 client)
for n in "$nat" "$nat2"; do
    "$zkv" status --endpoints "$n,127.0.0.1:2" >"$tmp/status" 2>"$tmp/err" ||
        fail "status via $n: $(cat "$tmp/err")"
    [ "$(tr -s ' ' <"$tmp/status")" = "ID ENDPOINT ROLE TERM COMMIT APPLIED LEADER KEYS
1 $n leader 3 0 0 1 0
2 tcp://127.0.0.1:2 unreachable - - - - -" ] || fail "status via $n: $(cat "$tmp/status")"
done
"$zkv" status --endpoints "$nat,127.0.0.1:2" -w json | grep -q \
    '"id":2,"endpoint":"tcp://127.0.0.1:2","reachable":false,"member_endpoint":"tcp://127.0.0.2:2"' ||
    fail "status json: the member's own endpoint"

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
[ "$(cat "$tmp/trace.err")" = "zkv: trace: connected to $leader_trace; waiting for events" ] ||
    fail "trace stderr: $(cat "$tmp/trace.err")"
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
grep -Eq "^keys: deleted [1-9][0-9]* keys under 'bench/'$" "$tmp/bench" ||
    fail "bench keys: $(cat "$tmp/bench")"
expect bench-keys-gone 0 "" scan --prefix bench/ --keys-only --endpoints "$leader"
grep -Eq '^latency p99.9  *[0-9]+\.[0-9]{3} ms$' "$tmp/bench" || fail "bench latency: $(cat "$tmp/bench")"
[ -s "$tmp/bench.err" ] && fail "bench wrote to stderr (not a terminal): $(cat "$tmp/bench.err")"
"$zkv" bench --endpoints "$leader" --inflight 4 --conns 2 --duration 300ms --sequential-keys -w json >"$tmp/bench.json" || fail "bench --duration"
grep -Eq '^\{"requests":[1-9][0-9]*,"errors":0,"canceled":0,"duration_s":0\.[2-9][0-9]*,"throughput_ops":[0-9.]+,"latency_ms":\{"p50":' "$tmp/bench.json" || fail "bench json: $(cat "$tmp/bench.json")"
grep -Eq '"prefix":"bench/","deleted":[1-9][0-9]*,"stopped":null\}$' "$tmp/bench.json" ||
    fail "bench json keys: $(cat "$tmp/bench.json")"
# --prefix and --keep-keys: the keys stay, and the output says where. Sequential
# keys, so that every one of the five is written (random ones miss one in 87 runs).
"$zkv" bench --endpoints "$leader" --count 20 --key-space 5 --prefix b2/ --keep-keys \
    --sequential-keys >"$tmp/bench" || fail "bench --keep-keys"
grep -q "^keys: left under 'b2/' (zkv del --prefix 'b2/' deletes them)$" "$tmp/bench" ||
    fail "bench --keep-keys: $(cat "$tmp/bench")"
"$zkv" scan --prefix b2/ --keys-only --endpoints "$leader" | grep -q '^b2/0000000000004$' ||
    fail "bench --keep-keys: b2/0000000000004 is not there"
"$zkv" del --prefix b2/ --endpoints "$leader" >/dev/null || fail "del --prefix b2/"

# member and move-leader. The fake membership: voters 1, 2, 3 at config index 7.
# Range deletes, and cas on a version or a revision.
for k in r/1 r/2 r0; do "$zkv" put "$k" v >/dev/null || fail "put $k"; done
expect del-prefix 0 "2" del --prefix r/
expect del-prefix-none 0 "0" del --prefix r/
"$zkv" del --from r0 --to r1 -w json >"$tmp/out" || fail "del-range-json"
grep -q '"key":"r0","revision":[0-9]*,"deleted":1}$' "$tmp/out" || fail "del-range: $(cat "$tmp/out")"
expect cas-version-0 0 "OK" cas vkey one --version 0
expect cas-version-stale 1 "" cas vkey two --version 0
grep -q "compare failed: the key's version differs" "$tmp/err" || fail "cas-version: $(cat "$tmp/err")"
expect cas-version-1 0 "OK" cas vkey two --version 1
rev=$("$zkv" get vkey -w json | sed -n 's/.*"mod_revision":\([0-9]*\).*/\1/p')
[ -n "$rev" ] || fail "no mod_revision in get -w json"
expect cas-mod-rev 0 "OK" cas vkey three --mod-rev "$rev"
expect cas-mod-rev-stale 1 "" cas vkey four --mod-rev "$rev"
expect cas-mod-rev-check 0 "three" get vkey

# A member list is served by the node asked (here the follower, which knows no leader).
leader_lists=$(requests leader member_list)
want="cluster 1234abcd5678ef00, config index 7
ID  ROLE   LEADER  PEER                 CLIENT
1   voter  -       127.0.0.1:7201:7301  tcp://127.0.0.1:7101
2   voter  -       127.0.0.1:7202:7302  tcp://127.0.0.1:7102
3   voter  -       127.0.0.1:7203:7303  tcp://127.0.0.1:7103"
expect member-list-follower 0 "$want" member list
[ "$(requests follower member_list)" -eq 1 ] || fail "member list: not asked of the follower"
[ "$(requests leader member_list)" -eq "$leader_lists" ] || fail "member list: sent to the leader"
want="cluster 1234abcd5678ef00, config index 7
ID  ROLE   LEADER  PEER                 CLIENT
1   voter  yes     127.0.0.1:7201:7301  tcp://127.0.0.1:7101
2   voter  no      127.0.0.1:7202:7302  tcp://127.0.0.1:7102
3   voter  no      127.0.0.1:7203:7303  tcp://127.0.0.1:7103"
expect member-list 0 "$want" member list --endpoints "$leader"
rule="+----+-------+--------+---------------------+----------------------+"
expect member-list-table 0 "cluster 1234abcd5678ef00, config index 7
$rule
| ID | ROLE  | LEADER | PEER                | CLIENT               |
$rule
| 1  | voter | yes    | 127.0.0.1:7201:7301 | tcp://127.0.0.1:7101 |
| 2  | voter | no     | 127.0.0.1:7202:7302 | tcp://127.0.0.1:7102 |
| 3  | voter | no     | 127.0.0.1:7203:7303 | tcp://127.0.0.1:7103 |
$rule" member list -w table --endpoints "$leader"

# json NAME ARGS...: run zkv into $tmp/out, which must hold one line.
json() {
    name=$1
    shift
    "$zkv" "$@" -w json >"$tmp/out" 2>"$tmp/err" || fail "$name: $(cat "$tmp/err")"
    [ "$(wc -l <"$tmp/out")" -eq 1 ] || fail "$name: not one line: $(cat "$tmp/out")"
}
has() { # has NAME TEXT...: $tmp/out holds each TEXT
    name=$1
    shift
    for text in "$@"; do
        grep -qF -- "$text" "$tmp/out" || fail "$name: lacks $text: $(cat "$tmp/out")"
    done
}
member_json() { # member_json ID LEARNER [HOST]: a member in JSON
    h=${3:-127.0.0.1}
    printf '{"id":%s,"learner":%s,"host":"%s",' "$1" "$2" "$h"
    printf '"pub_port":720%s,"router_port":730%s,"client_port":710%s,' "$1" "$1" "$1"
    printf '"client_endpoint":"tcp://%s:710%s"}' "$h" "$1"
}
json member-list-json-follower member list
has member-list-json-follower '{"cluster_id":"1234abcd5678ef00","config_index":7,"leader":null,'
json member-list-json member list --endpoints "$leader"
has member-list-json '{"cluster_id":"1234abcd5678ef00","config_index":7,"leader":1,"members":[' \
    "[$(member_json 1 false),$(member_json 2 false),$(member_json 3 false)]" '],"removed":[]}'

said() { # said NAME TEXT: stderr is exactly "zkv: TEXT"
    [ "$(cat "$tmp/err")" = "zkv: $2" ] || fail "$1: stderr: $(cat "$tmp/err")"
}

said_like() { # said_like NAME REGEX: stderr is "zkv: " and a line REGEX matches
    grep -Eq -- "^zkv: $2" "$tmp/err" || fail "$1: stderr: $(cat "$tmp/err")"
}

# Changes go to the leader: the follower answers NOT_LEADER and the client follows.
# The fake refuses a membership request that carries a client id or sequence.
want="member 4 added as learner
cluster 1234abcd5678ef00, config index 8
ID  ROLE     LEADER  PEER                 CLIENT
1   voter    yes     127.0.0.1:7201:7301  tcp://127.0.0.1:7101
2   voter    no      127.0.0.1:7202:7302  tcp://127.0.0.1:7102
3   voter    no      127.0.0.1:7203:7303  tcp://127.0.0.1:7103
4   learner  no      127.0.0.1:7204:7304  tcp://127.0.0.1:7104"
expect member-add 0 "$want" member add 4 127.0.0.1:7204:7304 tcp://127.0.0.1:7104 --learner
[ "$(requests follower member_add)" -eq 1 ] || fail "member add: not tried on the follower first"
[ "$(requests leader member_add)" -eq 1 ] || fail "member add: not redirected to the leader"
expect member-add-exists 1 "" member add 2 127.0.0.1:7202:7302 127.0.0.1:7102
said member-add-exists "member 2 exists"
[ "$(requests leader member_add)" -eq 2 ] || fail "member-add-exists: FAILED_PRECONDITION retried"
want="member 4 promoted to voter
cluster 1234abcd5678ef00, config index 9
ID  ROLE   LEADER  PEER                 CLIENT
1   voter  yes     127.0.0.1:7201:7301  tcp://127.0.0.1:7101
2   voter  no      127.0.0.1:7202:7302  tcp://127.0.0.1:7102
3   voter  no      127.0.0.1:7203:7303  tcp://127.0.0.1:7103
4   voter  no      127.0.0.1:7204:7304  tcp://127.0.0.1:7104"
expect member-promote 0 "$want" member promote 4
expect member-promote-voter 1 "" member promote 4
said member-promote-voter "member 4 is a voter"
json member-add-json member add 5 localhost:7205:7305 localhost:7105
has member-add-json '{"cluster_id":"1234abcd5678ef00","config_index":10,"leader":1,"members":[' \
    "$(member_json 4 false),$(member_json 5 false localhost)],\"removed\":[]}"
expect member-remove-absent 1 "" member remove 9
said member-remove-absent "no member 9"
json member-remove-json member remove 5
has member-remove-json '"config_index":11,' "$(member_json 4 false)],\"removed\":[5]}"
grep -qF '"id":5' "$tmp/out" && fail "member-remove-json: 5 still listed: $(cat "$tmp/out")"
want="member 3 removed
cluster 1234abcd5678ef00, config index 12
ID  ROLE   LEADER  PEER                 CLIENT
1   voter  yes     127.0.0.1:7201:7301  tcp://127.0.0.1:7101
2   voter  no      127.0.0.1:7202:7302  tcp://127.0.0.1:7102
4   voter  no      127.0.0.1:7204:7304  tcp://127.0.0.1:7104"
expect member-remove 0 "$want" member remove 3
json member-list-json-after member list --endpoints "$leader"
has member-list-json-after '"config_index":12,' '"removed":[5,3]}'
expect member-add-removed 1 "" member add 5 127.0.0.1:7205:7305 127.0.0.1:7105
said member-add-removed "member 5 was removed"
expect move-leader 0 "leader is now 2" move-leader 2
expect move-leader-json 0 '{"leader":2}' move-leader 2 -w json
[ "$(requests leader move_leader)" -eq 2 ] || fail "move-leader: not sent to the leader"
expect move-leader-removed 1 "" move-leader 3
said move-leader-removed "no voter 3"

# Bad command lines: exit 2 with one line on stderr, and nothing reaches a node.
# bad NAME ERROR_REGEX ARGS...
bad() {
    name=$1 err_re=$2
    shift 2
    before=$(($(requests leader) + $(requests follower)))
    "$zkv" --endpoints "$follower,$leader" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    rc=$?
    err=$(cat "$tmp/err")
    [ "$rc" -eq 2 ] || fail "$name: exit $rc, want 2: $err"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$name: stderr not one line: $err"
    grep -Eq -- "^zkv: .*$err_re" "$tmp/err" || fail "$name: stderr lacks /$err_re/: $err"
    [ -s "$tmp/out" ] && fail "$name: stdout: $(cat "$tmp/out")"
    after=$(($(requests leader) + $(requests follower)))
    [ "$after" -eq "$before" ] || fail "$name: $((after - before)) request(s) reached the nodes"
}
peer=127.0.0.1:7206:7306
client=127.0.0.1:7106
wants_id="ID wants a whole number from 1 to 4294967295, not"
wants_peer='PEER_ENDPOINT wants HOST:PUB_PORT:ROUTER_PORT, ports from 1 to 65535, not'
wants_client='CLIENT_ENDPOINT wants HOST:PORT or tcp://HOST:PORT, port from 1 to 65535, not'
bad member-none 'member: missing subcommand; usage: zkv member list' member
bad member-unknown "unknown subcommand 'join'" member join
bad member-unknown-flag "unknown flag '--bogus' \(see 'zkv member --help'\)" member --bogus list
bad member-list-extra 'member list: too many arguments; usage: zkv member list$' member list 4
bad member-list-flag "unknown flag '--learner'" member list --learner
bad member-add-none 'member add: missing arguments; usage: zkv member add ID PEER' member add
bad member-add-short 'member add: missing arguments' member add 6 "$peer"
bad member-add-extra 'member add: too many arguments' member add 6 "$peer" "$client" 7
bad member-add-id-text "member add: $wants_id 'six'$" member add six "$peer" "$client"
bad member-add-id-zero "member add: $wants_id '0'$" member add 0 "$peer" "$client"
bad member-add-id-big "$wants_id '4294967296'$" member add 4294967296 "$peer" "$client"
bad member-add-id-negative "unknown flag '-6'" member add -6 "$peer" "$client"
bad member-add-peer-one-port "member add: $wants_peer '127.0.0.1:7206'$" \
    member add 6 127.0.0.1:7206 "$client"
bad member-add-peer-no-host "$wants_peer ':7206:7306'$" member add 6 :7206:7306 "$client"
bad member-add-peer-port-zero "$wants_peer '127.0.0.1:0:7306'$" \
    member add 6 127.0.0.1:0:7306 "$client"
bad member-add-peer-port-big "$wants_peer '127.0.0.1:7206:65536'$" \
    member add 6 127.0.0.1:7206:65536 "$client"
bad member-add-peer-port-text "$wants_peer '127.0.0.1:pub:7306'$" \
    member add 6 127.0.0.1:pub:7306 "$client"
bad member-add-peer-scheme "$wants_peer 'tcp://$peer'$" member add 6 "tcp://$peer" "$client"
bad member-add-client-no-port "member add: $wants_client '127.0.0.1'$" \
    member add 6 "$peer" 127.0.0.1
bad member-add-client-port-big "$wants_client 'tcp://127.0.0.1:70000'$" \
    member add 6 "$peer" tcp://127.0.0.1:70000
bad member-add-client-port-zero "$wants_client '127.0.0.1:0'$" member add 6 "$peer" 127.0.0.1:0
bad member-add-client-ipc "$wants_client 'ipc:///tmp/zkv'$" member add 6 "$peer" ipc:///tmp/zkv
bad member-add-client-space "$wants_client '127.0.0.1 :7106'$" \
    member add 6 "$peer" '127.0.0.1 :7106'
bad member-add-two-hosts \
    "member add: PEER_ENDPOINT and CLIENT_ENDPOINT name different hosts, '127.0.0.1' and 'local" \
    member add 6 "$peer" localhost:7106
bad member-add-unknown-flag "unknown flag '--voter' \(see 'zkv member add --help'\)" \
    member add 6 "$peer" "$client" --voter
bad member-add-learner-value 'flag --learner takes no value' \
    member add 6 "$peer" "$client" --learner=yes
bad member-add-bad-format 'unknown output format' member add 6 "$peer" "$client" -w yaml
bad member-promote-none 'member promote: missing arguments; usage: zkv member promote ID$' \
    member promote
bad member-promote-extra 'member promote: too many arguments' member promote 4 5
bad member-promote-id "member promote: $wants_id 'x4'$" member promote x4
bad member-promote-zero "$wants_id '0'$" member promote 0
bad member-remove-none 'member remove: missing arguments; usage: zkv member remove ID$' \
    member remove
bad member-remove-id "member remove: $wants_id '3.0'$" member remove 3.0
bad member-remove-zero "$wants_id '0'$" member remove 0
bad member-remove-flag "unknown flag '--force'" member remove 3 --force
bad move-leader-none 'move-leader: missing arguments; usage: zkv move-leader ID$' move-leader
bad move-leader-extra 'move-leader: too many arguments' move-leader 2 3
bad move-leader-id "move-leader: $wants_id 'two'$" move-leader two
bad move-leader-zero "$wants_id '0'$" move-leader 0
bad move-leader-big "$wants_id '99999999999'$" move-leader 99999999999
bad move-leader-flag "unknown flag '--bogus' \(see 'zkv move-leader --help'\)" move-leader 2 --bogus

bad snapshot-save-none \
    'snapshot save: missing arguments; usage: zkv snapshot save FILE \[--force\]$' snapshot save
bad snapshot-save-extra 'snapshot save: too many arguments' snapshot save "$tmp/a" "$tmp/b"
bad snapshot-save-directory "snapshot save: $tmp is a directory$" snapshot save "$tmp" --force
bad check-extra 'check: too many arguments; usage: zkv check \[--wait DURATION\]$' check 1
bad check-wait "--wait wants a duration such as 500ms, 5s or 2m, not '0s'" check --wait 0s

# snapshot save. Each node below serves a real snapshot file (index 42) from its
# own directory, 1000 bytes a piece, read from the file at each request.
start snap --id 1 --snapshot-dir "$tmp/snap"
snap=$(field snap client)
served=$(ls "$tmp"/snap/*.snap)
size=$(wc -c <"$served")
pieces=$(((size + 999) / 1000))
[ "$pieces" -ge 5 ] || fail "snapshot: a file of $size bytes needs too few pieces"
saved() { # saved FILE: the line a successful save prints
    echo "saved snapshot at index 42 ($size bytes) to $1"
}
absent() { # absent NAME FILE...: none of the files exists
    name=$1
    shift
    for f in "$@"; do
        [ ! -e "$f" ] || fail "$name: $f exists"
    done
}
# Only the first endpoint is asked, for every piece.
expect snapshot-save 0 "$(saved "$tmp/backup.snap")" \
    snapshot save "$tmp/backup.snap" --endpoints "$snap,$leader"
cmp -s "$served" "$tmp/backup.snap" || fail "snapshot-save: the file differs from the node's"
[ "$(requests snap snapshot)" -eq "$pieces" ] ||
    fail "snapshot-save: $(requests snap snapshot) requests for $pieces pieces"
[ "$(requests leader snapshot)" -eq 0 ] || fail "snapshot-save: a piece asked of another node"
absent snapshot-save "$tmp/backup.snap.part"
# The second time FILE exists: refused before any node is asked, FILE untouched.
bad snapshot-save-exists "snapshot save: $tmp/backup.snap exists \(--force replaces it\)$" \
    snapshot save "$tmp/backup.snap"
cmp -s "$served" "$tmp/backup.snap" || fail "snapshot-save-exists: FILE changed"
echo old >"$tmp/backup.snap"
expect snapshot-save-force 0 "$(saved "$tmp/backup.snap")" \
    snapshot save "$tmp/backup.snap" --force --endpoints "$snap"
cmp -s "$served" "$tmp/backup.snap" || fail "snapshot-save-force: FILE not replaced"
expect snapshot-save-json 0 "{\"file\":\"$tmp/json.snap\",\"index\":42,\"size\":$size}" \
    snapshot save "$tmp/json.snap" -w json --endpoints "$snap"
cmp -s "$served" "$tmp/json.snap" || fail "snapshot-save-json: the file differs from the node's"

# A node that has no snapshot yet, then replaces it once midway: the save
# waits on that node alone, then starts again from the first piece.
start replaced --snapshot-dir "$tmp/replaced" --no-snapshot-yet 2 --replaced 1
replaced=$(field replaced client)
expect snapshot-save-restart 0 "$(saved "$tmp/restarted.snap")" \
    snapshot save "$tmp/restarted.snap" --endpoints "$replaced,$leader"
cmp -s "$(ls "$tmp"/replaced/*.snap)" "$tmp/restarted.snap" || fail "snapshot-save-restart: file"
[ "$(requests replaced snapshot)" -eq $((2 + 2 + pieces)) ] ||
    fail "snapshot-save-restart: $(requests replaced snapshot) requests, want $((4 + pieces))"
[ "$(requests leader snapshot)" -eq 0 ] || fail "snapshot-save-restart: asked another node"
# One that replaces it every time: 3 restarts, then exit 1 with nothing saved.
start stale --snapshot-dir "$tmp/stale" --replaced 4
expect snapshot-save-given-up 1 "" \
    snapshot save "$tmp/stale.snap" --endpoints "$(field stale client)"
said snapshot-save-given-up "snapshot save: given up after 3 restarts: \
the node took a newer snapshot meanwhile: start again"
[ "$(requests stale snapshot)" -eq 8 ] || fail "snapshot-save-given-up: $(requests stale snapshot)"
absent snapshot-save-given-up "$tmp/stale.snap" "$tmp/stale.snap.part"

# One byte of the served file flipped: the save fails verification, exit 1, no
# file left; with --force an existing FILE stays as it was.
start damaged --snapshot-dir "$tmp/damaged"
damaged=$(ls "$tmp"/damaged/*.snap)
at=$((size / 2))
byte=$(od -An -tu1 -j "$at" -N1 "$damaged" | tr -d ' ')
printf "\\$(printf %o $((255 - byte)))" | dd of="$damaged" bs=1 seek="$at" conv=notrunc status=none
cmp -s "$served" "$damaged" && fail "snapshot-save-damaged: the byte was not flipped"
expect snapshot-save-damaged 1 "" \
    snapshot save "$tmp/damaged.snap" --endpoints "$(field damaged client)"
grep -Eq "^zkv: snapshot save: the snapshot from tcp://[0-9.:]+ does not verify \
\(.*/damaged.snap.part: offset [0-9]+: .*\); nothing saved$" "$tmp/err" ||
    fail "snapshot-save-damaged: $(cat "$tmp/err")"
absent snapshot-save-damaged "$tmp/damaged.snap" "$tmp/damaged.snap.part"
echo old >"$tmp/kept.snap"
expect snapshot-save-damaged-force 1 "" \
    snapshot save "$tmp/kept.snap" --force --endpoints "$(field damaged client)"
[ "$(cat "$tmp/kept.snap")" = old ] || fail "snapshot-save-damaged-force: FILE changed"
absent snapshot-save-damaged-force "$tmp/kept.snap.part"

# check. The node asked (c1 and the like) names the members by --config; each
# member is asked at that endpoint. Member 2 answers its first two digests one
# index behind, so the first round does not line up.
start c2 --id 2 --applied 39 --lag 2
start c3 --id 3 --applied 39
start d3 --id 3 --applied 39 --digest fedcba9876543210
c2=$(field c2 client)
c3=$(field c3 client)
d3=$(field d3 client)
start c1 --id 1 --applied 39 --config 1=self --config "2=$c2" --config "3=$c3"
c1=$(field c1 client)
expect check 0 "3 members agree at index 39: digest 0123456789abcdef" check --endpoints "$c1"
[ "$(requests c1 member_list)" -eq 1 ] || fail "check: membership not asked of the node"
[ "$(requests c2 digest)" -eq 3 ] || fail "check: member 2 asked $(requests c2 digest) times, not 3"
[ "$(requests c3 digest)" -eq 3 ] || fail "check: member 3 asked $(requests c3 digest) times, not 3"
digest_json() { # digest_json ID ENDPOINT REVISION DIGEST: a member in check's JSON
    printf '{"id":%s,"endpoint":"%s","revision":%s,"digest":"%s"}' "$1" "$2" "$3" "$4"
}
d=0123456789abcdef
e=fedcba9876543210
expect check-json 0 "{\"index\":39,\"agree\":true,\"members\":[$(digest_json 1 "$c1" 39 $d),\
$(digest_json 2 "$c2" 39 $d),$(digest_json 3 "$c3" 39 $d)]}" check -w json --endpoints "$c1"
# Member 3 holds another digest at the same index.
start d1 --id 1 --applied 39 --config 1=self --config "2=$c2" --config "3=$d3"
d1=$(field d1 client)
expect check-differs 1 "ID  ENDPOINT               INDEX  DIGEST
1   $d1  39     $d
2   $c2  39     $d
3   $d3  39     $e" check --endpoints "$d1"
said check-differs "member 3 differs from the majority at index 39"
expect check-differs-json 1 "{\"index\":39,\"agree\":false,\"members\":[\
$(digest_json 1 "$d1" 39 $d),$(digest_json 2 "$c2" 39 $d),$(digest_json 3 "$d3" 39 $e)]}" \
    check -w json --endpoints "$d1"
"$zkv" check -w table --endpoints "$d1" 2>/dev/null | grep -q "^| 3  | $d3 | 39    | $e |$" ||
    fail "check-differs-table"
# Member 4 does not answer; the others agree.
start e1 --id 1 --applied 39 --config 1=self --config "2=$c2" --config 4=tcp://127.0.0.1:1
e1=$(field e1 client)
expect check-silent 1 "ID  ENDPOINT               INDEX  DIGEST
1   $e1  39     $d
2   $c2  39     $d
4   tcp://127.0.0.1:1      -      -" check --endpoints "$e1" --timeout 500ms
said check-silent "member 4 (tcp://127.0.0.1:1) did not answer"
"$zkv" check -w json --endpoints "$e1" --timeout 500ms >"$tmp/out" 2>/dev/null
has check-silent-json '{"index":39,"agree":false,' \
    '{"id":4,"endpoint":"tcp://127.0.0.1:1","revision":null,"digest":null,"error":"did not answer"}'
# Member 1 stays one index behind: writes in flight, as far as check can tell.
start f1 --id 1 --applied 39 --lag 1000000 --config 1=self --config "2=$c3"
f1=$(field f1 client)
asked=$(requests c3 digest)
expect check-in-flight 1 "ID  ENDPOINT               INDEX  DIGEST
1   $f1  38     $d
2   $c3  39     $d" check --endpoints "$f1" --wait 1s
said check-in-flight "members did not reach the same applied index within 1s (writes in flight?)"
rounds=$(($(requests c3 digest) - asked))
[ "$rounds" -ge 2 ] && [ "$rounds" -le 8 ] || fail "check-in-flight: $rounds rounds in 1s"
"$zkv" check -w json --endpoints "$f1" --wait 300ms >"$tmp/out" 2>/dev/null
has check-in-flight-json '{"index":null,"agree":false,'

# CURVE: a node whose certificate is server.cert lets in alice, whose public
# certificate is in its allowed clients (read by czmq's zauth), and no other key.
keys=$tmp/keys
"$zkv" cert new server --dir "$keys" >/dev/null || fail "cert new server"
"$zkv" cert new alice --dir "$keys/allowed" >/dev/null || fail "cert new alice"
"$zkv" cert new mallory --dir "$keys" >/dev/null || fail "cert new mallory"
# zauth reads every file there but *_secret; zkv reads alice.cert_secret beside alice.cert.
start curve --id 1 --curve "$keys/server.cert" --allow "$keys/allowed"
curve=$(field curve client)
curve_trace=$(field curve trace)
alice="--cert $keys/allowed/alice.cert --server-key $keys/server.cert"
mallory="--cert $keys/mallory.cert --server-key $keys/server.cert"
# shellcheck disable=SC2086 # $alice and $mallory are flags
{
    expect curve-put 0 "OK" put k v --endpoints "$curve" $alice
    expect curve-get 0 "v" get k --endpoints "$curve" $alice
    expect curve-key-refused 2 "" get k --endpoints "$curve" $mallory
    said curve-key-refused "the node at $curve refused our key (not in its allowed clients)"
    expect curve-put-refused 2 "" put k w --endpoints "$curve" $mallory
    said curve-put-refused "opening the client's session failed (the node at $curve refused our \
key (not in its allowed clients)): the write was not sent"
    "$zkv" status --endpoints "$curve" $mallory >"$tmp/out" 2>"$tmp/err"
    [ $? -eq 2 ] || fail "curve-status-refused: exit status"
    [ "$(tr -s ' ' <"$tmp/out")" = "ID ENDPOINT ROLE TERM COMMIT APPLIED LEADER KEYS
? $curve handshake refused - - - - -" ] || fail "curve-status-refused: $(cat "$tmp/out")"
    said curve-status-refused "no member answered at $curve: the node at $curve refused our key \
(not in its allowed clients)"
    expect curve-watch-refused 2 "" watch k --endpoints "$curve" $mallory
    said curve-watch-refused "watch: the node at $curve refused our key (not in its allowed \
clients)"
    expect curve-trace-refused 2 "" trace --trace-endpoints "$curve_trace" $mallory --duration 5s
    said curve-trace-refused "trace: the node at $curve_trace refused our key (not in its \
allowed clients)"
    # The node drops every handshake: named once the attempt timeout is over.
    expect curve-server-key-wrong 2 "" get k --endpoints "$curve" \
        --cert "$keys/allowed/alice.cert" --server-key "$keys/mallory.cert"
    said curve-server-key-wrong "the node at $curve closed the connection during the CURVE \
handshake (is --server-key the nodes' key? does it run --insecure?)"
    # CURVE on one side only: mostly said at once; now and then the node's reset beats its
    # greeting (libzmq's race), and the dropped handshakes are named instead.
    expect curve-insecure 2 "" get k --endpoints "$curve"
    said_like curve-insecure "the node at $curve (requires CURVE \(give|closed the connection \
during the handshake \(does it require CURVE\? then give) --cert and --server-key\)\$"
    expect curve-plaintext-node 2 "" get k --endpoints "$leader" $alice
    said_like curve-plaintext-node "the node at $leader (does not speak CURVE \(it runs \
--insecure\? then zkv --insecure|closed the connection during the CURVE handshake \(is \
--server-key the nodes' key\? does it run --insecure\?)\)\$"
}
# The keys from the variables, then from the certificate directory; flags win.
server_key=$("$zkv" cert show "$keys/server.cert" | sed -n 's/^public-key: //p')
(
    unset ZKV_INSECURE
    export ZKV_CERT="$keys/allowed/alice.cert" ZKV_SERVER_KEY="$server_key"
    expect curve-env 0 "v" get k --endpoints "$curve"
    expect curve-env-flag-wins 2 "" get k --endpoints "$curve" --cert "$keys/mallory.cert"
    said curve-env-flag-wins "the node at $curve refused our key (not in its allowed clients)"
    unset ZKV_CERT ZKV_SERVER_KEY
    mkdir "$tmp/certdir"
    cp "$keys/allowed/alice.cert" "$tmp/certdir/client.cert"
    cp -p "$keys/allowed/alice.cert_secret" "$tmp/certdir/client.cert_secret"
    cp "$keys/server.cert" "$tmp/certdir/server.cert"
    export ZKV_CERT_DIR="$tmp/certdir"
    expect curve-cert-dir 0 "v" get k --endpoints "$curve"
    expect curve-cert-dir-insecure 2 "" get k --endpoints "$curve" --insecure
    exit "$failures"
) || failures=$((failures + $?))

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "all passed"
