#!/usr/bin/env bash
# Installs the drbd-ublk OCF agent and DRBD fence handlers.
#
#   scripts/install-agents.sh [BIN_DIR]      (BIN_DIR default: target/release, else target/debug)
#
# Environment: DESTDIR (staging root, default empty), OCF_ROOT (default /usr/lib/ocf),
# HANDLER_DIR (default /usr/lib/drbd-ublk).
#
# * agent  -> $OCF_ROOT/resource.d/drbd-ublk/drbd   (ocf:drbd-ublk:drbd)
# * agent  -> $OCF_ROOT/resource.d/linbit/drbd      (ocf:linbit:drbd, the walkthrough's name)
#             only where that path is free: not there, or an earlier copy of ours. A file from a
#             package (Debian's drbd-utils) or anything else is left alone.
# * crm-fence-peer, crm-unfence-peer -> $HANDLER_DIR (use them as DRBD's fence-peer and
#   after-resync-target / unfence-peer handlers)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-}
if [ -z "$bin" ]; then
  if [ -x "$here/target/release/drbd-ublk-ocf" ]; then bin=$here/target/release; else bin=$here/target/debug; fi
fi
destdir=${DESTDIR:-}
ocf_root=${OCF_ROOT:-/usr/lib/ocf}
handler_dir=${HANDLER_DIR:-/usr/lib/drbd-ublk}
marker="Manages a drbd-ublk"

for f in drbd-ublk-ocf crm-fence-peer crm-unfence-peer; do
  if [ ! -x "$bin/$f" ]; then
    echo "install-agents: $bin/$f missing (cargo build -p agents first)" >&2
    exit 1
  fi
done

install -D -m 0755 "$bin/drbd-ublk-ocf" "$destdir$ocf_root/resource.d/drbd-ublk/drbd"
echo "installed $destdir$ocf_root/resource.d/drbd-ublk/drbd"

linbit="$ocf_root/resource.d/linbit/drbd"
owner=""
if command -v dpkg-query >/dev/null 2>&1 && [ -z "$destdir" ]; then
  owner=$(dpkg-query -S "$linbit" 2>/dev/null | cut -d: -f1 || true)
fi
if [ -n "$owner" ]; then
  echo "left $linbit alone: it belongs to package $owner (use ocf:drbd-ublk:drbd)"
elif [ -e "$destdir$linbit" ] && ! grep -qa "$marker" "$destdir$linbit"; then
  echo "left $destdir$linbit alone: not ours (use ocf:drbd-ublk:drbd)"
else
  install -D -m 0755 "$bin/drbd-ublk-ocf" "$destdir$linbit"
  echo "installed $destdir$linbit"
fi

for f in crm-fence-peer crm-unfence-peer; do
  install -D -m 0755 "$bin/$f" "$destdir$handler_dir/$f"
  echo "installed $destdir$handler_dir/$f"
done
