#!/usr/bin/env bash
# The README's two commands as a new user meets them: in a fresh, minimal
# Debian 12 (a debootstrap chroot) with a clone of this checkout's HEAD, the
# quickstart first (installs, build and run from nothing), then the tests.
# Prints each command's output and wall time. Needs root and debootstrap;
# takes this machine's apt sources, and its extra CA certificates (for a
# network behind a TLS proxy).
#   tests/fresh/run.sh [DIR]       (default: a new folder under /tmp, removed at the end)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "tests/fresh/run.sh: needs root (debootstrap, chroot)" >&2; exit 2; }
command -v debootstrap >/dev/null || { echo "tests/fresh/run.sh: needs debootstrap (apt-get install debootstrap)" >&2; exit 2; }
keep=${1:+yes}
root=${1:-$(mktemp -d /tmp/clippo-fresh.XXXXXX)}
mirror=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
  grep -oE '^(URIs:|deb) *https?://[^ ]+' | grep -v security | head -1 | grep -oE 'https?://[^ ]+' || true)
[ -n "$mirror" ] || { echo "tests/fresh/run.sh: no Debian mirror in this machine's apt sources" >&2; exit 2; }
cleanup() {
  for m in dev sys proc; do umount -R "$root/$m" 2>/dev/null || true; done
  [ -n "$keep" ] || rm -rf --one-file-system "$root"
}
trap cleanup EXIT

echo "== debootstrap bookworm (minbase) into $root"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
  { tail -20 "$root.debootstrap.log"; exit 1; }
rm -f "$root.debootstrap.log" "$root/etc/apt/sources.list"
cp -r /etc/apt/sources.list.d/. "$root/etc/apt/sources.list.d/" 2>/dev/null || true
[ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$root/etc/apt/"
cp /etc/resolv.conf "$root/etc/"
# (they join the store when the ca-certificates package is installed)
mkdir -p "$root/usr/local/share/ca-certificates"
cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
mount -t proc proc "$root/proc" && mount --rbind /sys "$root/sys" && mount --rbind /dev "$root/dev"
git clone -q "$src" "$root/root/clippo"

in_chroot() {
  chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    ${NODE_EXTRA_CA_CERTS:+NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt} /bin/bash -c "cd /root/clippo && $1"
}
status=0
for cmd in examples/quickstart.sh tests/run.sh; do
  echo "== $cmd"
  t0=$(date +%s)
  in_chroot "$cmd" || status=$?
  echo "== $cmd: exit $status, $(($(date +%s) - t0)) s"
  [ "$status" = 0 ] || break
done
exit $status
