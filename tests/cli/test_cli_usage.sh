#!/bin/sh
# The zkv command's usage and failure behaviour, without a cluster: help texts,
# exit codes, and the rule that a failure prints exactly one line on stderr,
# "zkv: <error>". Requests go to a closed port (tcp://127.0.0.1:1) and must fail
# cleanly within their --timeout, or once the connection has been refused for an
# attempt timeout. Plaintext (ZKV_INSECURE=1) but where certificates are tested,
# with ZKV_CERT_DIR empty, so that no certificate of the developer's is read.
# Usage: test_cli_usage.sh path/to/zkv VERSION
set -u
zkv=$1
version=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export ZKV_INSECURE=1 ZKV_CERT_DIR="$tmp/no-certs"
mkdir "$ZKV_CERT_DIR"
dead=tcp://127.0.0.1:1
failures=0

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

# run NAME EXPECTED_RC STDERR_LINES [--out REGEX]... [--err REGEX] [--max-ms N] -- ARGS...
run() {
    name=$1 want_rc=$2 want_lines=$3
    shift 3
    out_res= err_re= max_ms=
    while [ "$1" != "--" ]; do
        case $1 in
        --out) out_res="$out_res
$2" ;;
        --err) err_re=$2 ;;
        --max-ms) max_ms=$2 ;;
        esac
        shift 2
    done
    shift
    start=$(now_ms)
    "$zkv" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    rc=$?
    took=$(($(now_ms) - start))
    lines=$(wc -l <"$tmp/err")
    [ "$rc" -eq "$want_rc" ] || fail "$name: exit $rc, want $want_rc ($(head -c 300 "$tmp/err"))"
    [ "$lines" -eq "$want_lines" ] || fail "$name: $lines lines on stderr, want $want_lines: $(head -c 300 "$tmp/err")"
    if [ "$want_lines" -eq 1 ]; then
        grep -q '^zkv: ' "$tmp/err" || fail "$name: stderr does not start with 'zkv: '"
    fi
    while IFS= read -r out_re; do
        [ -z "$out_re" ] || grep -Eq -- "$out_re" "$tmp/out" ||
            fail "$name: stdout lacks /$out_re/: $(head -c 300 "$tmp/out")"
    done <<EOF
$out_res
EOF
    if [ -n "$err_re" ]; then
        grep -Eq -- "$err_re" "$tmp/err" || fail "$name: stderr lacks /$err_re/"
    fi
    if [ -n "$max_ms" ] && [ "$took" -gt "$max_ms" ]; then
        fail "$name: took $took ms, limit $max_ms"
    fi
}

# Help and version.
run help-flag 0 0 --out '^Commands:' --out 'bench' -- --help
run version 0 0 --out "^zkv $version\$" -- --version
run help-command 0 0 --out 'Usage: zkv \[global flags\]' -- help
run help-put 0 0 --out '^Usage: zkv put KEY VALUE' -- help put
run put-help 0 0 --out '^Usage: zkv put KEY VALUE' --out '--prev' -- put --help
for cmd in get del scan cas txn status trace bench cert; do
    run "$cmd-help" 0 0 --out "^Usage: zkv $cmd" --out 'Global flags' -- "$cmd" -h
done
run help-lists-membership 0 0 --out '^  member  +List, add, promote or remove members' \
    --out '^  move-leader +Hand leadership' -- --help
run member-help 0 0 --out '^Usage: zkv member list \| add ID' \
    --out '^  promote +make a learner a voter' -- member --help
run help-member 0 0 --out '^Usage: zkv member list \| add ID' -- help member
for sub in list add promote remove; do
    run "member-$sub-help" 0 0 --out "^Usage: zkv member $sub" --out 'Global flags' \
        -- member "$sub" -h
    run "help-member-$sub" 0 0 --out "^Usage: zkv member $sub" -- help member "$sub"
    run "member-help-before-$sub" 0 0 --out "^Usage: zkv member $sub" -- member --help "$sub"
done
run member-add-help 0 0 --out '^ +--learner +join as a learner' \
    --out '^Usage: zkv member add ID PEER_ENDPOINT CLIENT_ENDPOINT \[--learner\]$' -- member add -h
run move-leader-help 0 0 --out '^Usage: zkv move-leader ID$' --out 'Global flags' -- move-leader -h
run help-move-leader 0 0 --out '^Usage: zkv move-leader ID$' -- help move-leader
run help-lists-backup 0 0 --out '^  snapshot +Save a backup of one node' \
    --out '^  check +Compare every member' -- --help
run snapshot-help 0 0 --out '^Usage: zkv snapshot save FILE \[--force\]$' --out '^  save  ' \
    -- snapshot --help
run snapshot-save-help 0 0 --out '^Usage: zkv snapshot save FILE \[--force\]$' \
    --out '^ +--force +replace FILE if it exists$' --out 'zkvd --restore FILE' \
    --out 'Global flags' -- snapshot save -h
run help-snapshot-save 0 0 --out '^Usage: zkv snapshot save FILE' -- help snapshot save
run snapshot-help-before-save 0 0 --out '^Usage: zkv snapshot save FILE' -- snapshot --help save
run check-help 0 0 --out '^Usage: zkv check \[--wait DURATION\]$' --out '^ +--wait DURATION ' \
    --out 'Global flags' -- check -h
run help-check 0 0 --out '^Usage: zkv check \[--wait DURATION\]$' -- help check

# Bad command lines: exit 2, one line.
run no-command 2 1 --err 'no command' --
run unknown-command 2 1 --err "unknown command 'frobnicate' \(see 'zkv --help'\)$" -- frobnicate
run typo-command 2 1 --err "unknown command 'stauts'; did you mean 'status'\?" -- stauts
run typo-command-short 2 1 --err "unknown command 'pt'; did you mean 'put'\?" -- pt k v
run typo-help 2 1 --err "help: unknown command 'gte'; did you mean 'get'\?" -- help gte
run typo-subcommand 2 1 --err "member: unknown subcommand 'lsit'; did you mean 'list'\?" \
    -- member lsit
run help-unknown 2 1 -- help frobnicate
run help-member-unknown 2 1 --err "unknown subcommand 'frobnicate'" -- help member frobnicate
run help-put-extra 2 1 --err 'help: too many arguments' -- help put extra
run unknown-flag 2 1 --err "unknown flag '--bogus'" -- get k --bogus
run unknown-global-flag 2 1 --err "unknown flag '--bogus'" -- --bogus get k
run unknown-flag-value 2 1 --err "unknown flag '--bogus'" -- get k --bogus=1
run put-no-args 2 1 --err 'missing arguments' -- put
run put-no-value 2 1 --err 'missing VALUE' -- put k
run put-value-and-file 2 1 --err 'not both' -- put k v --file /dev/null
run get-no-key 2 1 --err 'missing arguments' -- get
run get-two-keys 2 1 --err 'too many arguments' -- get a b
run del-no-key 2 1 -- del
run cas-short 2 1 -- cas k
run cas-absent-long 2 1 --err 'absent' -- cas --absent k a b
run cas-two-compares 2 1 --err 'at most one of' -- cas k v --version 1 --mod-rev 2
run cas-version-three-args 2 1 --err 'KEY NEW with that flag' -- cas k a b --version 1
run cas-version-negative 2 1 -- cas k v --version -1
run del-key-and-prefix 2 1 --err 'give KEY, --prefix P' -- del k --prefix p
run del-prefix-and-from 2 1 --err 'give KEY, --prefix P' -- del --prefix p --from a
run del-to-alone 2 1 --err 'give KEY, --prefix P' -- del --to b
run txn-extra-arg 2 1 -- txn x
run txn-missing-file 2 1 --err 'cannot open' -- txn --file /nonexistent/txn
run scan-extra-arg 2 1 -- scan x
run scan-prefix-and-from 2 1 -- scan --prefix a --from b
run scan-to-alone 2 1 -- scan --to b
run flag-no-value 2 1 --err 'needs a value' -- get k --timeout
run bad-duration 2 1 --err 'duration' -- get k --timeout 5parsecs
run zero-duration 2 1 -- get k --timeout 0s
run bad-format 2 1 --err 'output format' -- get k -w yaml
run bad-consistency 2 1 --err 'consistency' -- get k --consistency x
run bad-endpoints 2 1 --err 'bad endpoint' -- get k --endpoints 'tcp://127.0.0.1:1,,x'
# A port out of range is said at once, not found out by connecting.
run endpoint-port-high 2 1 --max-ms 2000 \
    --err "bad endpoint '127.0.0.1:99999': the port is out of range \(1 to 65535\)$" \
    -- get k --endpoints 127.0.0.1:99999
run endpoint-port-zero 2 1 --max-ms 2000 --err "bad endpoint 'h:0': the port is out of range" \
    -- status --endpoints 127.0.0.1:7101,h:0
run endpoint-no-port 2 1 --err "bad endpoint '127.0.0.1': no port" -- get k --endpoints 127.0.0.1
run trace-endpoint-port 2 1 --err "bad endpoint '127.0.0.1:70000': the port is out of range" \
    -- trace --trace-endpoints 127.0.0.1:70000
run bad-limit 2 1 -- scan --limit -3
run bench-count-and-duration 2 1 -- bench --count 5 --duration 1s
run bench-ratio 2 1 --err '0 to 1' -- bench --read-ratio 1.5
run bench-key-size 2 1 --err 'too small' -- bench --key-size 2 --key-space 1000
run bench-inflight 2 1 --err 'at least' -- bench --conns 4 --inflight 2
run trace-kind 2 1 -- trace --kind 'role,,vote' --duration 100ms
run trace-node 2 1 -- trace --node zero --duration 100ms
# A backup's FILE is checked before any node is asked: at once, even with nobody listening.
run snapshot-none 2 1 --err 'snapshot: missing subcommand; usage: zkv snapshot save' -- snapshot
run snapshot-unknown 2 1 --err "snapshot: unknown subcommand 'restore'" -- snapshot restore f
run help-snapshot-extra 2 1 --err 'help: too many arguments' -- help snapshot save f
run snapshot-save-no-file 2 1 --err 'snapshot save: missing arguments; usage: zkv snapshot save' \
    -- snapshot save
run snapshot-save-extra 2 1 --err 'snapshot save: too many arguments' -- snapshot save a b
run snapshot-save-force-value 2 1 --err 'flag --force takes no value' -- snapshot save a --force=1
echo old >"$tmp/exists.snap"
run snapshot-save-exists 2 1 --err "snapshot save: $tmp/exists.snap exists \(--force replaces" \
    --max-ms 10000 -- snapshot save "$tmp/exists.snap" --endpoints $dead
[ "$(cat "$tmp/exists.snap")" = old ] || fail "snapshot-save-exists: FILE changed"
[ -e "$tmp/exists.snap.part" ] && fail "snapshot-save-exists: FILE.part created"
run snapshot-save-directory 2 1 --err "snapshot save: $tmp is a directory$" --max-ms 10000 \
    -- snapshot save "$tmp" --force --endpoints $dead
run snapshot-save-no-directory 2 1 \
    --err "cannot create $tmp/absent/b.snap.part: No such file or directory$" --max-ms 10000 \
    -- snapshot save "$tmp/absent/b.snap" --endpoints $dead
run check-extra 2 1 --err 'check: too many arguments; usage: zkv check \[--wait DURATION\]$' \
    -- check now
run check-wait 2 1 --err '--wait wants a duration' -- check --wait forever
run check-wait-zero 2 1 --err '--wait wants a duration' -- check --wait 0s

# Oversized keys and values are refused before anything is sent: at once,
# even with nobody listening.
long_key=$(head -c 4097 /dev/zero | tr '\0' k)
run key-too-large 2 1 --err 'over the limit of 4096' --max-ms 10000 -- put "$long_key" v --endpoints $dead
run scan-prefix-too-large 2 1 --max-ms 10000 -- scan --prefix "$long_key" --endpoints $dead
head -c 1048577 /dev/zero >"$tmp/big"
run value-too-large 2 1 --err 'over the limit of 1048576' --max-ms 10000 -- put k --file "$tmp/big" --endpoints $dead
# Its size is the whole file's, not where reading stopped.
head -c 2097152 /dev/zero >"$tmp/big2"
run value-2mib 2 1 --err "value of 2097152 bytes \($tmp/big2\) is over the limit of 1048576$" \
    --max-ms 10000 -- put k --file "$tmp/big2" --endpoints $dead
head -c 3000000 /dev/zero >"$tmp/big3"
"$zkv" put k --file - --endpoints $dead <"$tmp/big3" >/dev/null 2>"$tmp/err"
rc=$?
want="zkv: value of 3000000 bytes (-) is over the limit of 1048576"
[ $rc -eq 2 ] && [ "$(cat "$tmp/err")" = "$want" ] || fail "value-stdin: $rc $(cat "$tmp/err")"
run value-file-missing 2 1 --err 'cannot open' -- put k --file "$tmp/absent" --endpoints $dead

# Nobody answering: one line, exit 3, within the deadline (plus start-up).
hint='is a cluster running\? scripts/run.sh starts a local one; '
hint="$hint--endpoints or ZKV_ENDPOINTS names another\$"
refused='\(connection refused; [0-9]+ attempts in [0-9]+ms\)'
both='tcp://127.0.0.1:1, tcp://127.0.0.1:2'
run get-unreachable 3 1 --err "nothing answers at tcp://127.0.0.1:1 \(connection refused.*; $hint" \
    --max-ms 10000 -- get k --endpoints $dead --timeout 300ms
run put-unreachable 3 1 --err 'the write was not sent' --max-ms 10000 -- --timeout 300ms --endpoints $dead put k v
# Every endpoint refusing: named, and given up after one attempt timeout (1 s), not the
# 5 s deadline.
run get-refused-everywhere 3 1 --max-ms 2500 --err "nothing answers at $both $refused; $hint" \
    -- get k --endpoints 127.0.0.1:1,127.0.0.1:2
run put-refused-everywhere 3 1 --max-ms 2500 \
    --err "session failed \(nothing answers at $both .*\): the write was not sent; $hint" \
    -- put k v --endpoints 127.0.0.1:1,127.0.0.1:2
# The default endpoints are the local cluster's: with none running (exit 3), all three
# are named and the hint says how to start one. (A developer's cluster answers instead.)
start=$(now_ms)
"$zkv" get k >/dev/null 2>"$tmp/err" </dev/null
if [ $? -eq 3 ]; then
    [ $(($(now_ms) - start)) -le 2500 ] || fail "no-local-cluster: took $(($(now_ms) - start)) ms"
    local3='tcp://127.0.0.1:7101, tcp://127.0.0.1:7102, tcp://127.0.0.1:7103'
    grep -Eq "nothing answers at $local3 .*scripts/run.sh" "$tmp/err" ||
        fail "no-local-cluster: $(cat "$tmp/err")"
fi
export ZKV_ENDPOINTS=$dead
run env-endpoints 3 1 --err '127.0.0.1:1' --max-ms 10000 -- get k --timeout 200ms
unset ZKV_ENDPOINTS
run status-unreachable 3 1 --out 'unreachable' \
    --err "no member answered at tcp://127.0.0.1:1; $hint" --max-ms 10000 -- status --endpoints $dead --timeout 300ms
# A refused member is unreachable at once, whatever the timeouts.
run status-refused 3 1 --out '^\? +tcp://127.0.0.1:2 +unreachable' --max-ms 1000 \
    --err 'no member answered at tcp://127.0.0.1:1, tcp://127.0.0.1:2;' \
    -- status --endpoints $dead,127.0.0.1:2 --timeout 20s --attempt-timeout 10s
run bench-unreachable 3 1 --err 'every request failed' --max-ms 10000 -- bench --endpoints $dead --timeout 200ms --count 3 --inflight 3 --conns 3
# No node answering ends a run at once, not after every request's deadline.
run bench-no-cluster 3 1 --out '^stopped early: no node answered$' --max-ms 3000 \
    --err "every request failed; first: .*nothing answers at tcp://127.0.0.1:1 .*$hint" \
    -- bench --endpoints $dead --count 10
run trace-silent 0 0 --max-ms 10000 -- trace --trace-endpoints 127.0.0.1:1 --duration 200ms
# Nothing connected after --attempt-timeout: said once, and trace goes on waiting.
run trace-nothing-answers 0 1 --max-ms 10000 \
    --err "^zkv: trace: nothing answers at $both; waiting \(is a cluster running\?" \
    -- trace --trace-endpoints 127.0.0.1:1,127.0.0.1:2 --attempt-timeout 200ms --duration 600ms
# A membership change, unlike the list, may or may not have been made.
run member-list-unreachable 3 1 --err "nothing answers at tcp://127.0.0.1:1 $refused; $hint" \
    --max-ms 10000 -- member list --endpoints $dead --timeout 300ms
run member-add-unreachable 3 1 \
    --err "nothing answers .*; the change may or may not have been made; $hint" \
    --max-ms 10000 -- --endpoints $dead --timeout 300ms member add 4 h:1:2 h:3
run move-leader-unreachable 3 1 --err "the change may or may not have been made; $hint" \
    --max-ms 10000 -- move-leader 2 --endpoints $dead --timeout 300ms
# A backup that gets no answer leaves nothing behind.
run snapshot-save-unreachable 3 1 --max-ms 10000 \
    --err "nothing answers at tcp://127.0.0.1:1 $refused; $hint" \
    -- snapshot save "$tmp/b.snap" --endpoints $dead --timeout 300ms
[ -e "$tmp/b.snap" ] && fail "snapshot-save-unreachable: FILE created"
[ -e "$tmp/b.snap.part" ] && fail "snapshot-save-unreachable: FILE.part left behind"
run check-unreachable 3 1 --err "nothing answers at tcp://127.0.0.1:1 .*; $hint" --max-ms 10000 \
    -- check --endpoints $dead --timeout 300ms

# Certificates. A command that connects needs this client's certificate and the nodes'
# key, or --insecure: without them it fails at once (exit 2), before any file or node.
unset ZKV_INSECURE
nocert="^zkv: no client certificate: give --cert and --server-key \(or ZKV_CERT and "
nocert="${nocert}ZKV_SERVER_KEY, or put client.cert and server.cert in $tmp/no-certs\), or "
nocert="$nocert--insecure for a cluster run without CURVE\$"
for cmd in 'get k' 'put k v' 'del k' 'scan' 'cas k a b' 'txn' 'status' 'trace' 'bench' \
    'member list' 'member add 4 h:1:2 h:3' 'move-leader 2' "snapshot save $tmp/n.snap" \
    'check' 'watch k' 'lease grant 10' 'lease list' 'lock l -- true'; do
    # shellcheck disable=SC2086 # the command's words
    run "no-cert: $cmd" 2 1 --err "$nocert" --max-ms 2000 -- $cmd --endpoints $dead
done
[ -e "$tmp/n.snap" ] && fail "no-cert: snapshot save created FILE"
run no-cert-help 0 0 --out '^Usage: zkv get KEY' -- get --help
run insecure-flag 3 1 --err 'nothing answers at tcp://127.0.0.1:1 ' --max-ms 10000 \
    -- get k --insecure --endpoints $dead --timeout 300ms
run insecure-and-cert 2 1 --err 'zkv: --insecure and --cert or --server-key: give one or the' \
    -- get k --insecure --cert x
keys=$tmp/keys
"$zkv" cert new alice --dir "$keys" >/dev/null || fail "cert new alice"
"$zkv" cert new server --dir "$keys" >/dev/null || fail "cert new server"
alice=$keys/alice.cert
server=$keys/server.cert
noserver="zkv: no server key: give --server-key \(or ZKV_SERVER_KEY, or put server.cert in"
run cert-no-server-key 2 1 --err "$noserver $tmp/no-certs\)\$" \
    -- get k --cert "$alice" --endpoints $dead
run server-key-no-cert 2 1 --err "$nocert" -- get k --server-key "$server" --endpoints $dead
run cert-missing 2 1 --err "zkv: cannot read certificate $tmp/absent.cert_secret: No such file" \
    -- get k --cert "$tmp/absent.cert" --server-key "$server" --endpoints $dead
run server-key-bad 2 1 \
    --err "zkv: server key 'nonsense' is neither 40 Z85 characters nor a certificate file\$" \
    -- get k --cert "$alice" --server-key nonsense --endpoints $dead
chmod 644 "$alice"_secret
run cert-secret-mode 2 1 --max-ms 2000 \
    --err "zkv: secret key file ${alice}_secret may be read by others \(mode 0644\): chmod 600" \
    -- get k --cert "$alice" --server-key "$server" --endpoints $dead
run cert-secret-mode-trace 2 1 --err "chmod 600 it\$" \
    -- trace --cert "$alice" --server-key "$server" --trace-endpoints $dead
chmod 600 "$alice"_secret
# With keys, a command goes on to the nodes: nothing answers at a closed port (exit 3).
run cert-flags 3 1 --err 'nothing answers at tcp://127.0.0.1:1 ' --max-ms 10000 \
    -- get k --cert "$alice" --server-key "$server" --endpoints $dead --timeout 300ms
run cert-trace 0 0 --max-ms 10000 \
    -- trace --cert "$alice" --server-key "$server" --trace-endpoints $dead --duration 200ms
key=$("$zkv" cert show "$server" | sed -n 's/^public-key: //p')
export ZKV_CERT=$alice ZKV_SERVER_KEY=$key
run cert-env 3 1 --err 'nothing answers' --max-ms 10000 -- get k --endpoints $dead --timeout 300ms
export ZKV_CERT=$tmp/absent.cert
run cert-flag-wins 3 1 --err 'nothing answers' --max-ms 10000 \
    -- get k --cert "$alice" --endpoints $dead --timeout 300ms
run insecure-flag-wins 3 1 --err 'nothing answers' --max-ms 10000 \
    -- get k --insecure --endpoints $dead --timeout 300ms
export ZKV_INSECURE=1
run env-insecure-and-cert 2 1 \
    --err 'zkv: ZKV_INSECURE and ZKV_CERT or ZKV_SERVER_KEY are set: unset one$' -- get k
unset ZKV_INSECURE ZKV_CERT ZKV_SERVER_KEY
# The certificate directory: client.cert (with its secret) and server.cert.
certdir=$tmp/certdir
mkdir "$certdir"
cp -p "$alice" "$certdir/client.cert"
cp -p "${alice}_secret" "$certdir/client.cert_secret"
export ZKV_CERT_DIR=$certdir
run cert-dir-half 2 1 --err "zkv: no server key: .*put server.cert in $certdir\)\$" \
    -- get k --endpoints $dead
cp "$server" "$certdir/server.cert"
run cert-dir 3 1 --err 'nothing answers' --max-ms 10000 -- get k --endpoints $dead --timeout 300ms
export ZKV_CERT_DIR=$tmp/no-certs

# zkv cert: local files only, no certificate needed.
run cert-new 0 0 --out '^public-key: .{40}$' --out "^public: +$tmp/c/bob.cert\$" \
    --out "^secret: +$tmp/c/bob.cert_secret\$" -- cert new bob --dir "$tmp/c"
[ "$(stat -c %a "$tmp/c/bob.cert_secret")" = 600 ] || fail "cert-new: the secret is not 0600"
[ "$(stat -c %a "$tmp/c")" = 700 ] || fail "cert-new: --dir not made 0700"
run cert-new-exists 2 1 --err "zkv: cert new: $tmp/c/bob.cert exists: a certificate is never" \
    -- cert new bob --dir "$tmp/c"
rm "$tmp/c/bob.cert"
run cert-new-secret-exists 2 1 --err "zkv: cert new: $tmp/c/bob.cert_secret exists" \
    -- cert new bob --dir "$tmp/c"
[ -e "$tmp/c/bob.cert" ] && fail "cert-new-secret-exists: bob.cert made"
run cert-new-slash 2 1 --err "the name 'a/b' has a '/'" -- cert new a/b --dir "$tmp/c"
run cert-new-empty 2 1 --err "the name '' is empty" -- cert new '' --dir "$tmp/c"
run cert-new-no-name 2 1 --err 'cert new: missing arguments' -- cert new
run cert-new-node-id 0 0 -- cert new n1 --dir "$tmp/c" --node-id 1
run cert-new-node-id-zero 2 1 --err '--node-id wants a whole number from 1' \
    -- cert new n0 --dir "$tmp/c" --node-id 0
run cert-show 0 0 --out '^name: +n1$' --out '^node-id: +1$' --out '^public-key: .{40}$' \
    -- cert show "$tmp/c/n1.cert"
secret=$(sed -n 's/^ *secret-key = "\(.*\)"$/\1/p' "$tmp/c/n1.cert_secret")
[ ${#secret} -eq 40 ] || fail "cert-show: no secret key in n1.cert_secret"
run cert-show-secret-file 0 0 --out '^\{"name":"n1","node_id":1,"public_key":".{40}"\}$' \
    -- cert show "$tmp/c/n1.cert_secret" -w json
grep -qF -- "$secret" "$tmp/out" && fail "cert-show-secret-file: the secret key was shown"
printf 'not a certificate\n' >"$tmp/garbage.cert"
run cert-show-garbage 2 1 --err "zkv: cert show: $tmp/garbage.cert is not a zcert public" \
    -- cert show "$tmp/garbage.cert"
run cert-help 0 0 --out '^Usage: zkv cert new NAME' --out '^  new  ' -- cert --help
run cert-new-help 0 0 --out '^Usage: zkv cert new NAME \[--dir DIR\] \[--node-id N\]$' \
    -- cert new -h
run help-cert-show 0 0 --out '^Usage: zkv cert show FILE$' -- help cert show
run cert-no-sub 2 1 --err 'cert: missing subcommand' -- cert
export ZKV_INSECURE=1

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "all passed"
