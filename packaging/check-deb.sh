#!/usr/bin/env bash
# Installs a built .deb on this machine (as root) and checks what the package promises,
# through install, upgrade, remove and purge; leaves it installed at the end, so that the
# tests can run against /usr/bin/accesslog-pubsub.
#
#   packaging/check-deb.sh target/debian/accesslog-pubsub_VERSION_ARCH.deb
#
# Meant for CI machines and throwaway containers: it purges an installed accesslog-pubsub
# (with its spool and configuration) first.
set -euo pipefail
deb=$(realpath "$1")
name=accesslog-pubsub
spool=/var/spool/$name
conf=/etc/$name/config.toml
export DEBIAN_FRONTEND=noninteractive

fail() {
    echo "check-deb: FAILED: $*" >&2
    exit 1
}
ok() {
    echo "check-deb: ok: $*"
}

if dpkg-query -W -f '${Status}' "$name" 2>/dev/null | grep -q installed; then
    dpkg --purge "$name" >/dev/null
fi

dpkg -i "$deb" >/dev/null
"/usr/bin/$name" --version >/dev/null || fail "/usr/bin/$name does not run"
for doc in README.md CHANGELOG.md LICENSE copyright; do
    [ -f /usr/share/doc/$name/$doc ] || fail "no /usr/share/doc/$name/$doc"
done
[ -f /usr/share/man/man1/$name.1.gz ] || fail "no man page"
[ -f /usr/share/bash-completion/completions/$name ] || fail "no bash completion"
[ -f /etc/apache2/conf-available/$name.conf ] || fail "no Apache snippet in conf-available"
[ ! -e /etc/apache2/conf-enabled/$name.conf ] || fail "the Apache snippet got enabled"
ok "installed: binary, docs, man page, completions, Apache snippet (not enabled)"

dpkg-query -W -f '${Conffiles}\n' "$name" | grep -q " $conf " || fail "$conf is not a conffile"
"/usr/bin/$name" --config "$conf" schema >/dev/null || fail "the shipped $conf is refused"
ok "$conf is a conffile, and the program accepts it"

getent group $name >/dev/null || fail "no group $name"
entry=$(getent passwd $name) || fail "no user $name"
IFS=: read -r _ _ uid _ _ home shell <<<"$entry"
[ "$uid" -lt 1000 ] || fail "user $name is not a system user (uid $uid)"
[ "$shell" = /usr/sbin/nologin ] || fail "user $name has the login shell $shell"
[ ! -e "$home" ] || fail "user $name has a home directory $home"
[ "$(stat -c '%U:%G %a' $spool)" = "$name:$name 700" ] || fail "$spool is $(stat -c '%U:%G %a' $spool)"
ok "system user and group $name (uid $uid, no login, no home), $spool $name:$name 0700"

# Upgrade (the same package again) while a logger runs: the running process keeps going
# with the program it started with, edits of the configuration and the spool's content stay.
echo "# edited by check-deb" >>"$conf"
echo "not a real segment" >$spool/check-deb.txt
fifo=$(mktemp -u)
mkfifo "$fifo"
"/usr/bin/$name" --format common parse <"$fifo" >"$fifo.out" 2>/dev/null &
logger=$!
exec 3>"$fifo"
dpkg -i "$deb" >/dev/null
kill -0 "$logger" 2>/dev/null || fail "the upgrade stopped a running logger"
echo '192.0.2.1 - - [03/Dec/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5' >&3
exec 3>&-
wait "$logger" || fail "the running logger failed after the upgrade"
grep -q '"status":200' "$fifo.out" || fail "the running logger lost its line across the upgrade"
rm -f "$fifo" "$fifo.out"
tail -n 1 "$conf" | grep -q 'edited by check-deb' || fail "the upgrade replaced the edited $conf"
[ -f $spool/check-deb.txt ] || fail "the upgrade emptied $spool"
ok "upgrade: a running logger went on, the edited configuration and the spool were kept"

dpkg --remove "$name" >/dev/null
[ ! -e /usr/bin/$name ] || fail "remove left /usr/bin/$name"
[ -f "$conf" ] || fail "remove deleted $conf"
[ -f $spool/check-deb.txt ] || fail "remove emptied $spool"
ok "remove: binary gone, configuration and spool kept"

dpkg --purge "$name" >/dev/null
[ ! -e /etc/$name ] || fail "purge left /etc/$name"
[ ! -e $spool ] || fail "purge left $spool"
ok "purge: configuration and spool gone"

dpkg -i "$deb" >/dev/null
ok "installed again: $(/usr/bin/$name --version)"
