#!/usr/bin/env bash
# The manual pages against the programs, both ways, so that neither drifts:
#   zkvd.8   every flag of `zkvd --help` is an item under OPTIONS naming its ZKV_* variable
#            and, when the default is a number (or 7400+ID), saying it; every item there
#            is a flag of zkvd; packaging/zkvd.env names every variable of zkvd, and no other.
#   zkv.1    every command of `zkv --help` has a section (.SS NAME) under COMMANDS, every
#            subcommand one of its own (.SS "NAME SUB"), each with an item (.TP) for every
#            flag of its --help; the global flags are under GLOBAL FLAGS; every section and every flag
#            item is one the program has.
# With groff installed, both pages must also format without a warning (groff -ww).
# Usage: man_pages.sh ZKVD ZKV SOURCE_DIR
set -euo pipefail
zkvd=$1 zkv=$2 src=$3
man8=$src/docs/man/zkvd.8 man1=$src/docs/man/zkv.1 envfile=$src/packaging/zkvd.env
failures=0

fail() {
  echo "man-pages: $*" >&2
  failures=$((failures + 1))
}

# The page as text: roff's escaped hyphens and font changes removed.
normalize() {
  sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\f(..//g' -e 's/\\&//g' -e 's/\\(dq/"/g' "$1"
}

# Items (.TP) of one .SH section, one per line: its first flag, a tab, the header line, a
# tab, the body. Items whose header holds no --flag are left out.
items() {
  normalize "$1" | awk -v want="$2" '
    function flush() { if (flag != "") print flag "\t" head "\t" body; flag = ""; body = "" }
    /^\.SH / { flush(); sub(/^\.SH +/, ""); gsub(/"/, ""); on = ($0 == want); next }
    !on { next }
    /^\.TP/ { flush(); want_head = 1; next }
    want_head { want_head = 0; head = $0
                if (match($0, /--[a-z][a-z-]*/)) flag = substr($0, RSTART, RLENGTH); next }
    { body = body " " $0 }
    END { flush() }'
}

# Sections (.SS) under COMMANDS, one per line: the name (quotes dropped), a tab, the body.
sections() {
  normalize "$1" | awk '
    function flush() { if (name != "") print name "\t" body; name = ""; body = "" }
    /^\.SH / { flush(); on = ($0 ~ /^\.SH +"?COMMANDS"?$/); next }
    !on { next }
    /^\.SS / { flush(); sub(/^\.SS +/, ""); gsub(/"/, ""); name = $0; next }
    { body = body " " $0 }
    END { flush() }'
}

# The flags of one help text, in its "Flags:" or "Global flags" block, one per line.
help_flags() {
  awk -v block="$1" '
    index($0, block) == 1 { on = 1; next }
    on && /^$/ { exit }
    on && match($0, /^ +(-[a-z], )?--[a-z][a-z-]*/) {
      s = substr($0, RSTART, RLENGTH); sub(/^.*--/, "--", s); print s }'
}

# Whether text holds flag as a whole word (--to, not only --to-be).
has_flag() {
  grep -qE -- "(^|[^a-z-])$2([^a-z-]|\$)" <<<"$1"
}

# --- zkvd.8 ---------------------------------------------------------------------------------
zkvd_help=$("$zkvd" --help)
zkvd_items=$(items "$man8" OPTIONS)
declare -A zkvd_flags=()
while read -r flag env rest; do
  zkvd_flags[$flag]=1
  item=$(awk -F '\t' -v f="$flag" '$1 == f' <<<"$zkvd_items")
  if [ -z "$item" ]; then
    fail "zkvd.8: $flag is not an item under OPTIONS"
    continue
  fi
  head=$(cut -f 2 <<<"$item")
  body=$(cut -f 3 <<<"$item")
  [ "$env" = - ] && continue # --help, --version: no variable, no default
  grep -qw -- "$env" <<<"$head" || fail "zkvd.8: the item of $flag does not name $env"
  default=$(sed -nE 's/.*\(default:? ([^)]*)\).*/\1/p' <<<"$rest")
  if [[ $default =~ ^[0-9][0-9A-Z+]*$ ]] &&
    ! grep -qE "Default: ${default//+/\\+}([^0-9]|\$)" <<<"$body"; then
    fail "zkvd.8: the item of $flag does not say 'Default: $default' (zkvd --help: $rest)"
  fi
  grep -qw -- "$env" "$envfile" || fail "packaging/zkvd.env: $env is not mentioned"
done < <(awk '$1 ~ /^--[a-z]/ { print $1, ($2 ~ /^ZKV_/ ? $2 : "-"), $0 }' <<<"$zkvd_help")
[ ${#zkvd_flags[@]} -gt 10 ] || fail "zkvd --help lists ${#zkvd_flags[@]} flags: not parsed?"

while IFS=$'\t' read -r flag _; do
  [ -n "${zkvd_flags[$flag]:-}" ] || fail "zkvd.8: $flag is under OPTIONS but not in zkvd --help"
done <<<"$zkvd_items"
while read -r env; do
  grep -qw -- "$env" <<<"$zkvd_help" || fail "packaging/zkvd.env: $env is not a zkvd variable"
done < <(grep -oE '^#?ZKV_[A-Z_]+=' "$envfile" | tr -d '#=' | sort -u)

# --- zkv.1 ----------------------------------------------------------------------------------
zkv_help=$("$zkv" --help)
zkv_sections=$(sections "$man1")
# The flag of each item (.TP) under COMMANDS, one per line: the section's name, a tab, the flag.
zkv_items=$(normalize "$man1" | awk '
  /^\.SH / { on = ($0 ~ /COMMANDS/); next }
  on && /^\.SS / { sub(/^\.SS +/, ""); gsub(/"/, ""); name = $0; next }
  on && /^\.TP/ { head = 1; next }
  on && head { head = 0; sub(/^\.[A-Z]+ +/, "")
               if (match($0, /^[^ ]*--[a-z][a-z-]*/)) {
                 s = substr($0, RSTART, RLENGTH); sub(/^.*--/, "--", s); print name "\t" s } }')
declare -A zkv_flags=() known=()

# Checks the section of "$1" (a command, or "command sub") against its --help.
check_section() {
  local name=$1 help body flag listed
  known[$name]=1
  body=$(awk -F '\t' -v n="$name" '$1 == n { print $2 }' <<<"$zkv_sections")
  if [ -z "$body" ]; then
    fail "zkv.1: no section '.SS $name' under COMMANDS"
    return
  fi
  [ "$name" = help ] && return
  # shellcheck disable=SC2086 # the name's words are the command line
  help=$("$zkv" $name --help)
  zkv_flags[$name]=$(help_flags "Flags:" <<<"$help")
  listed=$(awk -F '\t' -v n="$name" '$1 == n { print $2 }' <<<"$zkv_items")
  for flag in ${zkv_flags[$name]}; do
    has_flag "$listed" "$flag" || fail "zkv.1: section '$name' has no item (.TP) for $flag"
  done
  # A command with subcommands: each gets a section of its own.
  while read -r sub; do
    [ -n "$sub" ] && check_section "$name $sub"
  done < <(awk '/^Subcommands:/ { on = 1; next } on && /^  [a-z]/ { print $1; next } on { exit }' \
             <<<"$help")
}

commands=$(awk '/^Commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }' <<<"$zkv_help")
[ "$(wc -w <<<"$commands")" -gt 10 ] || fail "zkv --help lists too few commands: not parsed?"
for cmd in $commands; do
  check_section "$cmd"
done

globals=$(help_flags "Global flags" <<<"$zkv_help")
global_items=$(items "$man1" "GLOBAL FLAGS")
for flag in $globals; do
  has_flag "$(cut -f 2 <<<"$global_items")" "$flag" ||
    fail "zkv.1: global flag $flag is not an item under GLOBAL FLAGS"
done
while IFS=$'\t' read -r flag _; do
  has_flag "$globals" "$flag" || fail "zkv.1: $flag is under GLOBAL FLAGS but not a global flag"
done <<<"$global_items"

# Backwards: every section is a command, and every flag item in it is one of its flags.
while IFS=$'\t' read -r name _; do
  [ -n "${known[$name]:-}" ] || fail "zkv.1: section '$name' is not a command of zkv --help"
done <<<"$zkv_sections"
while IFS=$'\t' read -r name flag; do
  [ -n "${known[$name]:-}" ] || continue
  has_flag "${zkv_flags[$name]:-}" "$flag" ||
    fail "zkv.1: section '$name' lists $flag, which 'zkv $name --help' does not have"
done <<<"$zkv_items"

# --- formatting -----------------------------------------------------------------------------
if command -v groff >/dev/null; then
  for page in "$man8" "$man1"; do
    warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1) || true
    [ -z "$warnings" ] || fail "$(basename "$page"): groff warns: $warnings"
  done
fi

if [ "$failures" -gt 0 ]; then
  echo "man-pages: $failures difference(s) between docs/man and the programs" >&2
  exit 1
fi
echo "man-pages: zkvd.8 (${#zkvd_flags[@]} flags) and zkv.1 ($(wc -w <<<"$commands") commands)" \
  "match the programs"
