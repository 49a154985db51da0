#!/usr/bin/env bash
# Inside a clean Debian 12 container (tests/package/deb_install.sh copies it there): install
# the packages zkv, libzkv0 and libzkv-dev with apt-get, check what they installed, build
# the installed examples/basic.c with cc and pkg-config as a user would, start three nodes
# the way zkvd@1..3.service would (its Environment=, EnvironmentFile=, User=,
# StateDirectory=, WorkingDirectory= and ExecStart=, read from the installed unit: systemd
# does not run here), put and get through them with zkv and with the example, stop them,
# then remove, purge and reinstall zkv, and purge all three.
# With --systemd, in a container whose PID 1 is systemd: install (zkv and libzkv0), then run
# the nodes as the units themselves, hardening and all (systemctl enable --now zkvd@1..3).
# Either way the nodes speak CURVE, with certificates made by the installed zkv the way
# docs/OPERATING.md ("Certificates") tells an administrator to.
# Every wait is bounded. Exit 77 when no Debian mirror is reachable.
# Usage: deb_container.sh ZKV_DEB LIBZKV0_DEB LIBZKV_DEV_DEB
#        deb_container.sh --systemd ZKV_DEB LIBZKV0_DEB
set -euo pipefail
mode=direct
if [ "$1" = --systemd ]; then
  mode=systemd
  shift
fi
deb=$1
unit=/usr/lib/systemd/system/zkvd@.service
export DEBIAN_FRONTEND=noninteractive

log() { echo "deb-container: $*"; }
fail() {
  echo "deb-container: FAIL: $*" >&2
  for f in /tmp/zkvd-*.log; do
    [ -e "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }
  done
  if [ "$mode" = systemd ]; then
    journalctl --no-pager -n 30 -u 'zkvd@*' >&2 || true
  fi
  exit 1
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# --- install --------------------------------------------------------------------------------
# Docker Hub's Debian images leave out man pages and docs (dpkg path-exclude); keep them here.
rm -f /etc/dpkg/dpkg.cfg.d/docker /etc/dpkg/dpkg.cfg.d/excludes
if ! timeout 120 apt-get update -qq >/tmp/apt.log 2>&1; then
  cat /tmp/apt.log
  echo "deb-container: no Debian mirror reachable from the container; package test not run"
  exit 77
fi
cd "$(dirname "$deb")"
# ./NAME.deb: a path, so that apt-get installs the file, not a package of that name.
debs=() packages=()
for d in "$@"; do
  debs+=("./$(basename "$d")")
  packages+=("$(dpkg-deb -f "$d" Package)")
done
t0=$(now_ms)
timeout 300 apt-get install -y -qq --no-install-recommends "${debs[@]}" >/tmp/apt.log 2>&1 ||
  { cat /tmp/apt.log; fail "apt-get install ${debs[*]}"; }
installed=$(dpkg-query -W -f '${Package} ${Version}\n' "${packages[@]}" | paste -sd ,)
log "apt-get install: $installed with their dependencies in $(($(now_ms) - t0)) ms"

# --- certificates -----------------------------------------------------------------------
# The nodes' in /etc/zkv/certs, owned by zkv, named in zkvd.env and each node's zkvd-ID.env;
# this (root) shell's client in ~/.config/zkv, where zkv looks by default, its public half
# among the nodes' allowed clients, the nodes' public certificate beside it.
t0=$(now_ms)
certs=/etc/zkv/certs
out=$(
  zkv cert new server --dir "$certs" &&
    for i in 1 2 3; do zkv cert new "node$i" --dir "$certs/peers" --node-id "$i" || exit 1; done &&
    zkv cert new client --dir ~/.config/zkv
) || fail "zkv cert new: $out"
install -d -m 0700 "$certs/clients"
cp ~/.config/zkv/client.cert "$certs/clients/"
cp "$certs/server.cert" ~/.config/zkv/
chown -R zkv:zkv "$certs"
# The shipped zkvd.env names this layout, commented out.
sed -i -E 's/^#(ZKV_(SERVER_CERT|PEER_CERTS|CLIENT_CERTS)=)/\1/' /etc/zkv/zkvd.env
[ "$(grep -cE '^ZKV_(SERVER_CERT|PEER_CERTS|CLIENT_CERTS)=/etc/zkv/certs' /etc/zkv/zkvd.env)" = 3 ] ||
  fail "zkvd.env does not name the certificates of /etc/zkv/certs: $(grep CERT /etc/zkv/zkvd.env)"
for i in 1 2 3; do
  echo "ZKV_PEER_CERT=$certs/peers/node$i.cert_secret" >"/etc/zkv/zkvd-$i.env"
done
log "certificates: server, node1..3, client made with zkv cert new in $(($(now_ms) - t0)) ms"

# Runs "$@" every 200 ms until it succeeds, for at most $1 seconds.
retry() {
  local deadline=$(($(now_ms) + $1 * 1000))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$(now_ms)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# Whether node $1 answers a serializable get of pkg/greeting with hello: its own state.
has_greeting() {
  [ "$(zkv --endpoints "127.0.0.1:710$1" get pkg/greeting --consistency s 2>/dev/null)" = hello ]
}

# Put through the cluster, then read the value back from each node's own state.
put_and_get() {
  local i
  retry 30 zkv --timeout 2s put pkg/greeting hello || fail "no put answered within 30 s"
  [ "$(zkv get pkg/greeting)" = hello ] || fail "zkv get pkg/greeting is not hello"
  for i in 1 2 3; do
    retry 10 has_greeting "$i" || fail "node $i did not apply the put within 10 s"
  done
}

# --- under systemd --------------------------------------------------------------------------
if [ "$mode" = systemd ]; then
  t0=$(now_ms)
  systemctl enable --now zkvd@1 zkvd@2 zkvd@3 >/dev/null 2>&1 || fail "systemctl enable --now"
  put_and_get
  for i in 1 2 3; do
    pid=$(systemctl show -P MainPID "zkvd@$i")
    [ "$(stat -c %U "/proc/$pid")" = zkv ] || fail "zkvd@$i does not run as zkv"
    grep -qx "ZKV_DATA_DIR=/var/lib/zkv/$i" <(tr '\0' '\n' <"/proc/$pid/environ") ||
      fail "zkvd@$i: ZKV_DATA_DIR is not /var/lib/zkv/$i"
  done
  log "systemd: zkvd@1..3 running as zkv, put and get in $(($(now_ms) - t0)) ms"
  systemctl stop zkvd@1 zkvd@2 zkvd@3 || fail "systemctl stop"
  for i in 1 2 3; do
    [ "$(systemctl show -P ExecMainStatus "zkvd@$i")" = 0 ] || fail "zkvd@$i did not exit 0 on stop"
  done
  log "systemd: systemctl stop, each node exited 0"
  exit 0
fi

# --- what it installed ----------------------------------------------------------------------
for f in /usr/sbin/zkvd /usr/bin/zkv; do
  [ -x "$f" ] || fail "$f is not installed"
  ! ldd "$f" | grep -q 'not found' || fail "$f: $(ldd "$f" | grep 'not found')"
  ! ldd "$f" | grep -qE 'lib(a|ub|t)san' || fail "$f is a sanitized build"
done
zcat /usr/share/man/man8/zkvd.8.gz | grep -q '^\.TH ZKVD 8' || fail "zkvd(8) is not installed"
zcat /usr/share/man/man1/zkv.1.gz | grep -q '^\.TH ZKV 1' || fail "zkv(1) is not installed"
[ -f "$unit" ] || fail "$unit is not installed"
[ -f /usr/share/doc/zkv/examples/zkvd-1.env ] || fail "the example env file is not installed"
dpkg-query -W -f '${Conffiles}\n' zkv | grep -q '^ /etc/zkv/zkvd.env ' ||
  fail "/etc/zkv/zkvd.env is not a conffile"
IFS=: read -r _ _ uid _ _ home shell < <(getent passwd zkv) || fail "no user zkv"
[ "$uid" -lt 1000 ] && [ "$home" = /var/lib/zkv ] && [ "$shell" = /usr/sbin/nologin ] ||
  fail "zkv is not a system user with home /var/lib/zkv and no shell"
[ "$(stat -c '%U %a' /var/lib/zkv)" = "zkv 750" ] || fail "/var/lib/zkv is not zkv's, 0750"
zkvd --help | grep -q -- '--peers' || fail "zkvd --help"
log "installed: zkvd, zkv, zkv(1), zkvd(8), $unit, the conffile, the user zkv"

# --- the library, and a program built against it --------------------------------------------
# libzkv.so.0 in the multiarch /usr/lib, in ld.so's cache (libzkv0's ldconfig trigger).
lib=$(dpkg -L libzkv0 | grep '/libzkv\.so\.0$') || fail "libzkv0 installed no libzkv.so.0"
[[ $lib == /usr/lib/*-linux-gnu/libzkv.so.0 ]] ||
  fail "libzkv.so.0 is not in /usr/lib/<multiarch>: $lib"
grep -q 'libzkv\.so\.0 ' <<<"$(ldconfig -p)" || fail "ld.so's cache does not list libzkv.so.0"
# Whether program $1 loads the installed libzkv.so.0 (by /lib or /usr/lib: /usr is merged).
loads_libzkv() {
  local path
  path=$(ldd "$1" | sed -nE 's/^\s*libzkv\.so\.0 => (\S+) .*/\1/p')
  [ -n "$path" ] && [ "$(readlink -f "$path")" = "$(readlink -f "$lib")" ]
}
loads_libzkv /usr/bin/zkv || fail "zkv does not load $lib: $(ldd /usr/bin/zkv)"
# A compiler and pkg-config, as a user would install them; the headers of libzmq and
# libprotobuf-c came with libzkv-dev's Depends. The example is the copy the package installed.
t0=$(now_ms)
timeout 300 apt-get install -y -qq --no-install-recommends gcc libc6-dev pkg-config \
  >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; fail "apt-get install gcc libc6-dev pkg-config"; }
t1=$(now_ms)
mkdir -p /tmp/example
cp /usr/share/doc/zkv/examples/basic.c /tmp/example/
# shellcheck disable=SC2046 # pkg-config's output is a list of flags
out=$(cd /tmp/example && cc basic.c $(pkg-config --cflags --libs zkv) -o basic 2>&1) ||
  fail "cc basic.c \$(pkg-config --cflags --libs zkv): $out"
loads_libzkv /tmp/example/basic || fail "basic does not load $lib: $(ldd /tmp/example/basic)"
log "examples/basic.c built against the installed libzkv with pkg-config in" \
  "$(($(now_ms) - t1)) ms (gcc, libc6-dev, pkg-config installed in $((t1 - t0)) ms)"

# --- three nodes, as zkvd@1..3.service would start them -------------------------------------
# The value(s) of one key of the unit, with %i and %S expanded for instance $1.
unit_values() {
  sed -n "s/^$2=//p" "$unit" | sed -e "s/%i/$1/g" -e 's|%S|/var/lib|g'
}

start_instance() {
  local i=$1 kv file user dir
  (
    while read -r kv; do export "${kv?}"; done < <(unit_values "$i" Environment)
    while read -r file; do
      file=${file#-}
      [ -f "$file" ] || continue
      while read -r kv; do export "${kv?}"; done < <(grep -E '^[A-Z_]+=' "$file")
    done < <(unit_values "$i" EnvironmentFile)
    user=$(unit_values "$i" User)
    dir=/var/lib/$(unit_values "$i" StateDirectory)
    install -d -o "$user" -g "$(unit_values "$i" Group)" -m "$(unit_values "$i" StateDirectoryMode)" \
      "$dir"
    cd "$(unit_values "$i" WorkingDirectory)"
    # setpriv execs zkvd itself (runuser would stay as its parent): the pid is zkvd's.
    # shellcheck disable=SC2046 # ExecStart= is a command line
    exec setpriv --reuid="$user" --regid="$user" --init-groups -- $(unit_values "$i" ExecStart)
  ) >"/tmp/zkvd-$i.log" 2>&1 &
  pids[$i]=$!
}

# Whether process $1 has exited (a zombie until waited for counts as exited).
exited() {
  [ ! -e "/proc/$1" ] || [ "$(cut -d ' ' -f 3 "/proc/$1/stat")" = Z ]
}

declare -a pids
t0=$(now_ms)
for i in 1 2 3; do start_instance "$i"; done
put_and_get
log "three nodes up, a put committed and read from each in $(($(now_ms) - t0)) ms"
status=$(zkv status)
[ "$(grep -c ' leader ' <<<"$status")" -eq 1 ] && [ "$(grep -c ' follower ' <<<"$status")" -eq 2 ] ||
  fail "zkv status does not show one leader and two followers: $status"
for i in 1 2 3; do
  [ "$(stat -c %U "/var/lib/zkv/$i")" = zkv ] && [ -f "/var/lib/zkv/$i/cluster" ] ||
    fail "/var/lib/zkv/$i is not node $i's data directory, owned by zkv"
done
log "put and get through zkvd@1..3: OK; zkv status: one leader, two followers"
! zkv --insecure --timeout 2s get pkg/greeting >/dev/null 2>&1 || fail "a plaintext client was served"
other=$(mktemp -d)
zkv cert new stranger --dir "$other" >/dev/null
! zkv --cert "$other/stranger.cert" --timeout 2s get pkg/greeting >/dev/null 2>&1 ||
  fail "a client whose certificate is not among the allowed was served"
log "a plaintext client and one with an unknown certificate: refused"

# The example as its user would run it: against the local cluster, its default endpoints,
# with the keys it takes from ZKV_CERT and ZKV_SERVER_KEY.
t0=$(now_ms)
out=$(ZKV_CERT=~/.config/zkv/client.cert ZKV_SERVER_KEY=~/.config/zkv/server.cert \
  timeout 60 /tmp/example/basic 2>&1) || fail "basic (examples/basic.c) against the nodes: $out"
log "basic (examples/basic.c): put, get, cas, scan, delete through libzkv, exit 0," \
  "in $(($(now_ms) - t0)) ms"

# SIGTERM, as systemctl stop: each node exits 0 within 10 s.
kill -TERM "${pids[@]}"
for i in 1 2 3; do
  retry 10 exited "${pids[$i]}" || fail "node $i still running 10 s after SIGTERM"
  rc=0
  wait "${pids[$i]}" || rc=$?
  [ "$rc" -eq 0 ] || fail "node $i exited $rc on SIGTERM"
done
log "SIGTERM: the three nodes stopped, exit 0"

# --- remove, purge, reinstall ---------------------------------------------------------------
apt-get remove -y -qq zkv >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; fail "apt-get remove zkv"; }
[ ! -e /usr/sbin/zkvd ] && [ -f /etc/zkv/zkvd.env ] || fail "remove: zkvd left, or the conffile gone"
apt-get purge -y -qq zkv >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; fail "apt-get purge zkv"; }
[ ! -e /etc/zkv/zkvd.env ] || fail "purge left /etc/zkv/zkvd.env"
[ -f /var/lib/zkv/1/cluster ] && getent passwd zkv >/dev/null ||
  fail "purge deleted node data, or the user that owns it"
grep -q 'kept' /tmp/apt.log || fail "purge did not say the data was kept"
dpkg -i "$(basename "$deb")" >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; fail "dpkg -i after purge"; }
[ -x /usr/sbin/zkvd ] && [ -f /etc/zkv/zkvd.env ] || fail "dpkg -i after purge"
log "remove keeps the conffile, purge keeps node data and its user, dpkg -i installs again"

apt-get purge -y -qq zkv libzkv0 libzkv-dev >/tmp/apt.log 2>&1 ||
  { cat /tmp/apt.log; fail "apt-get purge zkv libzkv0 libzkv-dev"; }
[ ! -e "$lib" ] && [ ! -e /usr/include/zkv/zkv.h ] && [ ! -e "${lib%/*}/pkgconfig/zkv.pc" ] ||
  fail "purge left files of libzkv0 or libzkv-dev"
! grep -q 'libzkv\.so\.0 ' <<<"$(ldconfig -p)" ||
  fail "ld.so's cache still lists libzkv.so.0 after purge"
log "purge of zkv, libzkv0, libzkv-dev: their files gone, libzkv.so.0 out of ld.so's cache"
