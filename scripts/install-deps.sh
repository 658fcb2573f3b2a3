#!/usr/bin/env bash
# Installs what building and testing the stack needs on Debian 12. Idempotent: packages already
# present are not fetched again.
set -euo pipefail

packages=(
  build-essential pkg-config python3
  e2fsprogs util-linux iproute2 kmod procps psmisc
  resource-agents apache2  # real OCF agents (and apache for ocf:heartbeat:apache) the executor runs in tests
  fence-agents             # fence_dummy: the stonith class against a real Debian fence agent
  time                     # /usr/bin/time: wall time + peak RSS in benches/scheduler.sh
  fio                      # FUSE front-end parallel I/O test and benches/fuse-vs-loop.sh
  pacemaker-cli-utils      # Pacemaker's own crm_simulate / crm_verify: test oracles only
  corosync libcorosync-common-dev libcpg-dev libquorum-dev libvotequorum-dev libcfg-dev libcmap-dev  # membership (rust-corosync links these)
  libxml2-utils            # xmllint: ocf-tester validates agent meta-data against ra-api-1.dtd
  drbd-utils               # /etc/drbd.conf and ocf:linbit:drbd exist: the HA lab mounts ours over them per node
  libclang-dev             # bindgen in libublk-rs-sys (the ublk front-end) needs libclang
  curl                     # the HA lab test fetches the page through the floating IP
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is not installed: install a Rust toolchain (rustup) first" >&2
  exit 1
fi
