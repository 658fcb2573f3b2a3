#!/usr/bin/env bash
# The main job: the administrator's walkthrough, as far as the product carries it today.
#
#   Part 2: two nodes (network namespaces 10.213.200.1 and .2, a veth pair, no route out), one
#           drbd-ublkd each, configured with the walkthrough's own drbd.conf / global_common.conf
#           / r0.res; create-md, up, primary --force with the initial sync, ext4 on the Primary,
#           role switch, the files identical and fsck clean on the other node.
#   Parts 1 and 3: the walkthrough's crm commands against a CIB file, crm configure show,
#           crm_verify, and what the policy engine decides for it (crm_simulate).
#   Part 3 live: the same nodes become whole machines (own host name, /run, /dev/drbd, /var/www
#           and /etc/drbd.conf in a mount namespace each), run corosync, clusterd and drbd-ublkd,
#           and get the walkthrough's crm commands typed at alice: DRBD clone, ext4, floating
#           IP and Apache come up on one node; an fsynced file is written; that node is killed
#           hard (every process SIGKILLed, its link down); everything comes up on the other
#           node, the page and the file served from there to a client on the bridge.
#
# Run as root on Debian 12. Everything it creates is removed at the end, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

[ "$(id -u)" = 0 ] || { echo "demo: run as root" >&2; exit 1; }
scripts/install-deps.sh
cargo build -q --workspace --bins
BIN="$PWD/target/debug"

NS_A=demo-alice NS_B=demo-bob NS_NET=demo-net
WORK=$(mktemp -d /tmp/ha-demo.XXXXXX)
DAEMONS=()
declare -A HOLDER=()
COROSYNCS=()
MADE_DEV_DRBD=
# Per-node environment: where a node keeps its control socket, its /dev/drbd links and its
# name (as `uname -n` would give in a real machine).
ENV=(DRBD_UBLK_RUN_DIR="$WORK/run-@" DRBD_UBLK_DEV_ROOT="$WORK/dev-@" DRBD_UBLK_HOSTNAME=@)
# Part 3's nodes: every process whose mount namespace is the node's.
node_pids() {
  local ns p
  ns=$(readlink "/proc/${HOLDER[$1]}/ns/mnt" 2>/dev/null) || return 0
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$ns" ] && echo "${p#/proc/}"
  done
  return 0
}
# Power off a Part 3 node: SIGKILL to all its processes, its link down. With the last process
# its mount namespace goes, and with it the ext4 and FUSE mounts and the (autoclear) loop device.
kill_node() {
  local n=$1 ns pids
  [ -n "${HOLDER[$n]:-}" ] || return 0
  ns=$NS_A; [ "$n" = bob ] && ns=$NS_B
  for _ in $(seq 50); do
    pids=$(node_pids "$n" | grep -vx "${HOLDER[$n]}" || true)
    [ -z "$pids" ] && break
    kill -9 $pids 2>/dev/null || true
    sleep 0.05
  done
  ip -n "$ns" link set eth0 down 2>/dev/null || true
  kill -9 "${HOLDER[$n]}" 2>/dev/null || true
  unset "HOLDER[$n]"
}
cleanup() {
  set +e
  for n in alice bob; do kill_node "$n"; done
  for p in "${COROSYNCS[@]}"; do rm -rf /dev/shm/qb-"$p"-* /dev/shm/qb-corosync-"$p"-*; done
  [ -n "$MADE_DEV_DRBD" ] && rmdir /dev/drbd
  mountpoint -q "$WORK/mnt" && umount "$WORK/mnt"
  for n in alice bob; do
    [ -S "$WORK/run-$n/ctl.sock" ] && env "${ENV[@]/@/$n}" "$BIN/drbd-ublkd" --shutdown >/dev/null 2>&1
  done
  sleep 1
  for p in "${DAEMONS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  ip netns del "$NS_A" 2>/dev/null
  ip netns del "$NS_B" 2>/dev/null
  ip netns del "$NS_NET" 2>/dev/null
  sleep 0.2
  rm -rf "$WORK"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { local shown="$*"; printf '%s$ %s\n' "${PROMPT:-}" "${shown//$BIN\//}"; "$@"; }

on() {
  local n=$1; shift
  local shown="$*"
  printf '[%s] $ %s\n' "$n" "${shown//$BIN\//}"
  env "${ENV[@]/@/$n}" "$@"
}

say "Two nodes: network namespaces $NS_A (10.213.200.1) and $NS_B (10.213.200.2) on a bridge"
# The bridge lives in its own namespace, which also plays the web client (10.213.200.254).
ip netns add "$NS_NET"
ip -n "$NS_NET" link set lo up
ip -n "$NS_NET" link add br0 type bridge
ip -n "$NS_NET" addr add 10.213.200.254/24 dev br0
ip -n "$NS_NET" link set br0 up
i=1
for ns in "$NS_A" "$NS_B"; do
  ip netns add "$ns"
  ip link add eth0 netns "$ns" type veth peer name "v$i" netns "$NS_NET"
  ip -n "$NS_NET" link set "v$i" master br0
  ip -n "$NS_NET" link set "v$i" up
  ip -n "$ns" addr add "10.213.200.$i/24" dev eth0
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
  i=$((i + 1))
done

say "Step 19: the walkthrough's configuration files"
mkdir -p "$WORK/etc/drbd.d" "$WORK/mnt"
truncate -s 256M "$WORK/alice.img" "$WORK/bob.img"
cat > "$WORK/etc/drbd.conf" <<EOF
include "drbd.d/global_common.conf";
include "drbd.d/*.res";
EOF
cat > "$WORK/etc/drbd.d/global_common.conf" <<EOF
global {
  usage-count no;
}
common {
  protocol C;
  net {
    after-sb-0pri discard-zero-changes;
    after-sb-1pri discard-secondary;
    after-sb-2pri disconnect;
  }
}
EOF
cat > "$WORK/etc/drbd.d/r0.res" <<EOF
resource r0 {
  on alice {
    device    /dev/drbd1;
    disk      $WORK/alice.img;
    address   10.213.200.1:7789;
    meta-disk internal;
  }
  on bob {
    device    /dev/drbd1;
    disk      $WORK/bob.img;
    address   10.213.200.2:7789;
    meta-disk internal;
  }
}
EOF
CONF="$WORK/etc/drbd.conf"
on alice "$BIN/drbdadm" -c "$CONF" dump r0

say "Step 20: drbdadm create-md r0 on both nodes"
on alice "$BIN/drbdadm" -c "$CONF" create-md r0
on bob "$BIN/drbdadm" -c "$CONF" create-md r0

say "Step 21: start the node daemons, drbdadm up r0 on both"
for n in alice bob; do
  ns=$NS_A; [ "$n" = bob ] && ns=$NS_B
  env "${ENV[@]/@/$n}" ip netns exec "$ns" "$BIN/drbd-ublkd" --config "$CONF" --hostname "$n" \
    --foreground >"$WORK/$n.log" 2>&1 &
  DAEMONS+=($!)
done
for n in alice bob; do
  for _ in $(seq 100); do [ -S "$WORK/run-$n/ctl.sock" ] && break; sleep 0.1; done
done
on alice "$BIN/drbdadm" -c "$CONF" up r0
on bob "$BIN/drbdadm" -c "$CONF" up r0
for _ in $(seq 200); do
  [ "$(env "${ENV[@]/@/alice}" "$BIN/drbdadm" -c "$CONF" cstate r0)" = Connected ] && break
  sleep 0.1
done
on alice cat "$WORK/run-alice/proc-drbd"

say "Step 22: drbdadm primary --force r0 on alice: the initial sync runs, the device is usable"
on alice "$BIN/drbdadm" -c "$CONF" primary --force r0
sleep 1
on bob "$BIN/drbdadm" -c "$CONF" status r0
DEV_A="$WORK/dev-alice/by-res/r0"
DEV_B="$WORK/dev-bob/by-res/r0"
on alice mkfs.ext4 -q -F "$DEV_A"
on alice mount "$DEV_A" "$WORK/mnt"
on alice cp -r /usr/share/doc/e2fsprogs /usr/share/doc/util-linux "$WORK/mnt/"
( cd "$WORK/mnt" && find . -type f -print0 | sort -z | xargs -0 sha256sum ) >"$WORK/sums"
echo "$(wc -l <"$WORK/sums") files written on alice"
on alice umount "$WORK/mnt"
for _ in $(seq 600); do
  [ "$(env "${ENV[@]/@/bob}" "$BIN/drbdadm" -c "$CONF" dstate r0)" = UpToDate/UpToDate ] && break
  sleep 0.2
done

say "Step 23: status"
on alice cat "$WORK/run-alice/proc-drbd"
on alice "$BIN/drbd-overview"
on alice "$BIN/drbdadm" -c "$CONF" status r0

say "Step 24: roles switch by hand"
on alice "$BIN/drbdadm" -c "$CONF" secondary r0
on bob "$BIN/drbdadm" -c "$CONF" primary r0
on bob "$BIN/drbdadm" -c "$CONF" role r0
on bob fsck.ext4 -f -n "$DEV_B"
on bob mount "$DEV_B" "$WORK/mnt"
( cd "$WORK/mnt" && sha256sum --quiet -c "$WORK/sums" ) && echo "every file identical on bob"
on bob umount "$WORK/mnt"
on bob "$BIN/drbdadm" -c "$CONF" down r0
on alice "$BIN/drbdadm" -c "$CONF" down r0

say "Parts 1 and 3: the walkthrough's crm commands on a CIB file"
export CIB_file="$WORK/cib.xml" CIB_shadow_dir="$WORK"
env -u CIB_file "$BIN/cibadmin" --empty >"$CIB_file"
run "$BIN/crm_verify" -L || true
run "$BIN/crm" configure property stonith-enabled=false
run "$BIN/crm_verify" -L
run "$BIN/crm" configure property no-quorum-policy=ignore
run "$BIN/crm" configure primitive ClusterIP ocf:heartbeat:IPaddr2 \
  params ip=10.213.200.100 cidr_netmask=32 op monitor interval=30s
run "$BIN/crm" configure primitive WebSite ocf:heartbeat:apache \
  params configfile=/etc/apache2/apache2.conf op monitor interval=1min
run "$BIN/crm" configure colocation website-with-ip INFINITY: WebSite ClusterIP
run "$BIN/crm" configure order apache-after-ip mandatory: ClusterIP WebSite
run "$BIN/crm" configure location prefer-node1 WebSite 50: alice
"$BIN/crm" <<'EOF'
cib new drbd
configure primitive WebData ocf:linbit:drbd params drbd_resource=r0 op monitor interval=60s
configure ms WebDataClone WebData meta master-max=1 master-node-max=1 clone-max=2 clone-node-max=1 notify=true
cib commit drbd
cib new fs
configure primitive WebFS ocf:heartbeat:Filesystem params device="/dev/drbd/by-res/r0" directory="/var/www/html" fstype="ext4"
configure colocation fs_on_drbd inf: WebFS WebDataClone:Master
configure order WebFS-after-WebData inf: WebDataClone:promote WebFS:start
configure colocation WebSite-with-WebFS inf: WebSite WebFS
configure order WebSite-after-WebFS inf: WebFS WebSite
cib commit fs
quit
EOF
run "$BIN/crm" configure show
run "$BIN/crm_verify" -L -V
# The policy engine's decision for two fresh, online nodes.
python3 - "$CIB_file" <<'EOF'
import sys, xml.etree.ElementTree as ET
path = sys.argv[1]
t = ET.parse(path); cib = t.getroot()
cib.set("have-quorum", "1"); cib.set("dc-uuid", "1")
nodes = cib.find("configuration/nodes")
status = cib.find("status")
for i, n in enumerate(["alice", "bob"], 1):
    if nodes.find(f"node[@uname='{n}']") is None:
        ET.SubElement(nodes, "node", id=str(i), uname=n)
    ET.SubElement(status, "node_state", id=str(i), uname=n, in_ccm="true", crmd="online",
                  join="member", expected="member")
t.write(path)
EOF
run "$BIN/crm_simulate" -S -x "$CIB_file"
if [ -x /usr/sbin/crm_simulate ]; then
  say "For comparison, Pacemaker 2.1.5's own decision on the same CIB (test oracle only)"
  /usr/sbin/crm_simulate -S -x "$CIB_file" 2>/dev/null | sed -n '/^Transition Summary:/,/^Executing/p' | sed '$d'
fi

say "Part 3 live: the cluster manager runs DRBD, ext4, the floating IP and Apache (steps 28-34)"
# Part 2's daemons leave; each node becomes a whole machine: host name, /run, /dev/drbd,
# /var/www, /etc/drbd.conf (the files above) and the Apache configuration of its own, and our
# agent as ocf:linbit:drbd, all in a mount namespace per node.
for n in alice bob; do env "${ENV[@]/@/$n}" "$BIN/drbd-ublkd" --shutdown >/dev/null 2>&1 || true; done
for p in "${DAEMONS[@]}"; do wait "$p" 2>/dev/null || true; done
DAEMONS=()
for f in /etc/drbd.conf /etc/drbd.d /usr/lib/ocf/resource.d/linbit/drbd /etc/apache2/apache2.conf; do
  [ -e "$f" ] || { echo "demo: $f missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
done
if [ ! -e /dev/drbd ]; then mkdir /dev/drbd; MADE_DEV_DRBD=1; fi
for n in alice bob; do
  ns=$NS_A; [ "$n" = bob ] && ns=$NS_B
  d=$WORK/$n
  mkdir -p "$d/run/lock" "$d/state" "$d/cib" "$d/apache" "$WORK/shadow"
  {
    for m in mpm_prefork authz_core authz_host status dir; do
      echo "LoadModule ${m}_module /usr/lib/apache2/modules/mod_$m.so"
    done
    printf 'ServerRoot "%s"\nServerName %s\nListen 80\n' "$d/apache" "$n"
    printf 'PidFile %s/apache.pid\nDefaultRuntimeDir %s\nErrorLog %s/error.log\n' "$d/apache" "$d/apache" "$d/apache"
    printf 'User www-data\nGroup www-data\nStartServers 1\nMinSpareServers 1\nMaxSpareServers 2\n'
    printf 'DocumentRoot "/var/www/html"\nDirectoryIndex index.html\n'
    printf '<Directory "/var/www/html">\n  Require all granted\n</Directory>\n'
    printf '<Location /server-status>\n  SetHandler server-status\n  Require local\n</Location>\n'
  } >"$d/apache2.conf"
  {
    printf 'totem {\n  version: 2\n  cluster_name: demo\n  transport: knet\n'
    printf '  crypto_cipher: none\n  crypto_hash: none\n  token: 1000\n}\nnodelist {\n'
    printf '  node {\n    name: alice\n    nodeid: 1\n    ring0_addr: 10.213.200.1\n  }\n'
    printf '  node {\n    name: bob\n    nodeid: 2\n    ring0_addr: 10.213.200.2\n  }\n}\n'
    printf 'quorum {\n  provider: corosync_votequorum\n  two_node: 1\n}\n'
    printf 'logging {\n  to_stderr: yes\n  to_syslog: no\n}\n'
    printf 'system {\n  state_dir: %s/state\n}\n' "$d"
  } >"$d/corosync.conf"
  ip netns exec "$ns" unshare --mount --uts --propagation private sh -c "
    set -e
    hostname $n
    mount --bind '$d/run' /run
    mount -t tmpfs -o mode=755,size=1m demo-dev /dev/drbd
    mount -t tmpfs -o mode=755,size=1m demo-www /var/www
    mkdir /var/www/html
    mount --bind '$WORK/etc/drbd.conf' /etc/drbd.conf
    mount --bind '$WORK/etc/drbd.d' /etc/drbd.d
    mount --bind '$BIN/drbd-ublk-ocf' /usr/lib/ocf/resource.d/linbit/drbd
    mount --bind '$d/apache2.conf' /etc/apache2/apache2.conf
    echo ready
    exec sleep infinity" >"$d/holder.out" 2>&1 &
  HOLDER[$n]=$!
  disown "$!"  # killed with SIGKILL on purpose later: no job notices
  for _ in $(seq 100); do grep -q ready "$d/holder.out" && break; sleep 0.05; done
  grep -q ready "$d/holder.out" || { cat "$d/holder.out"; exit 1; }
done
in_node() { local n=$1; shift; nsenter -t "${HOLDER[$n]}" -m -u -n -- "$@"; }
on3() {
  local n=$1; shift
  local shown="$*"
  printf '[%s] $ %s\n' "$n" "${shown//$BIN\//}"
  in_node "$n" "$@"
}
for n in alice bob; do
  in_node "$n" "$BIN/drbd-ublkd" --foreground >"$WORK/$n/drbd.log" 2>&1 &
  disown "$!"
done
for n in alice bob; do
  for _ in $(seq 100); do [ -S "$WORK/$n/run/drbd-ublk/ctl.sock" ] && break; sleep 0.1; done
done
on3 alice uname -n
on3 alice "$BIN/drbdadm" up r0
on3 bob "$BIN/drbdadm" up r0
for _ in $(seq 200); do
  [ "$(in_node alice "$BIN/drbdadm" dstate r0)" = UpToDate/UpToDate ] && break
  sleep 0.1
done
on3 alice "$BIN/drbdadm" primary r0
on3 alice mount /dev/drbd/by-res/r0 /var/www/html
in_node alice sh -c 'echo "<html><body>My Test Site - replicated by drbd-ublk</body></html>" >/var/www/html/index.html'
on3 alice umount /var/www/html
on3 alice "$BIN/drbdadm" secondary r0

say "Step 3: corosync, then the cluster manager, on both nodes"
for n in alice bob; do
  in_node "$n" corosync -f -c "$WORK/$n/corosync.conf" >"$WORK/$n/corosync.log" 2>&1 &
  COROSYNCS+=($!)
  disown "$!"
done
for n in alice bob; do
  for _ in $(seq 200); do
    in_node "$n" corosync-cmapctl -g runtime.votequorum.this_node_id >/dev/null 2>&1 && break
    sleep 0.1
  done
done
for n in alice bob; do
  CLUSTERD_STATE_DIR="$WORK/$n/cib" in_node "$n" "$BIN/clusterd" >"$WORK/$n/clusterd.log" 2>&1 &
  disown "$!"
done
for _ in $(seq 300); do
  grep -q "joined, DC is alice" "$WORK/bob/clusterd.log" 2>/dev/null && break
  sleep 0.1
done
grep -h "joined, DC is" "$WORK/alice/clusterd.log" "$WORK/bob/clusterd.log" | sort -u
export CLUSTERD_RUN_DIR="$WORK/alice/run/clusterd" CIB_shadow_dir="$WORK/shadow"
unset CIB_file CIB_shadow
PROMPT="[alice] "

say "Steps 6-8, 14-17 and 28-33 typed at alice"
run "$BIN/crm" configure property stonith-enabled=false
run "$BIN/crm" configure property no-quorum-policy=ignore
run "$BIN/crm" configure primitive ClusterIP ocf:heartbeat:IPaddr2 \
  params ip=10.213.200.100 cidr_netmask=32 op monitor interval=30s
run "$BIN/crm" configure primitive WebSite ocf:heartbeat:apache \
  params configfile=/etc/apache2/apache2.conf op monitor interval=1min
run "$BIN/crm" configure colocation website-with-ip INFINITY: WebSite ClusterIP
run "$BIN/crm" configure order apache-after-ip mandatory: ClusterIP WebSite
run "$BIN/crm" configure location prefer-node1 WebSite 50: alice
CMDS="cib new drbd
configure primitive WebData ocf:linbit:drbd params drbd_resource=r0 op monitor interval=60s
configure ms WebDataClone WebData meta master-max=1 master-node-max=1 clone-max=2 clone-node-max=1 notify=true
cib commit drbd
quit
"
printf '%s$ crm\n%s' "$PROMPT" "$CMDS"
printf '%s' "$CMDS" | "$BIN/crm"
for _ in $(seq 300); do
  in_node alice "$BIN/drbdadm" role r0 | grep -q '^Primary' && break
  in_node bob "$BIN/drbdadm" role r0 | grep -q '^Primary' && break
  sleep 0.1
done
CMDS="cib new fs
configure primitive WebFS ocf:heartbeat:Filesystem params device=\"/dev/drbd/by-res/r0\" directory=\"/var/www/html\" fstype=\"ext4\"
configure colocation fs_on_drbd inf: WebFS WebDataClone:Master
configure order WebFS-after-WebData inf: WebDataClone:promote WebFS:start
configure colocation WebSite-with-WebFS inf: WebSite WebFS
configure order WebSite-after-WebFS inf: WebFS WebSite
cib commit fs
quit
"
printf '%s$ crm\n%s' "$PROMPT" "$CMDS"
printf '%s' "$CMDS" | "$BIN/crm"
get() { ip netns exec "$NS_NET" curl -s -f -m 2 "http://10.213.200.100$1"; }
T0=$SECONDS
for _ in $(seq 600); do get /index.html >/dev/null 2>&1 && break; sleep 0.1; done
echo "the page answers on 10.213.200.100 after about $((SECONDS - T0)) s"

say "Step 34: a two-node HA Apache"
run "$BIN/crm_mon" -1
ACTIVE=alice
ip -n "$NS_B" -o addr show dev eth0 | grep -q ' 10.213.200.100/' && ACTIVE=bob
OTHER=bob; [ "$ACTIVE" = bob ] && OTHER=alice
on3 "$ACTIVE" "$BIN/drbdadm" status r0
on3 "$ACTIVE" findmnt /var/www/html
on3 "$ACTIVE" ip -o -4 addr show dev eth0
printf '[client] $ curl http://10.213.200.100/\n'; get /
on3 "$ACTIVE" sh -c 'echo "written on $(uname -n), fsync returned" | dd of=/var/www/html/acked.txt conv=fsync status=none'
printf '[client] $ curl http://10.213.200.100/acked.txt\n'; get /acked.txt

say "The active node ($ACTIVE) dies: every process SIGKILLed, its link down"
T0=$SECONDS
kill_node "$ACTIVE"
export CLUSTERD_RUN_DIR="$WORK/$OTHER/run/clusterd"
PROMPT="[$OTHER] "
for _ in $(seq 600); do get /acked.txt >/dev/null 2>&1 && break; sleep 0.1; done
echo "served again about $((SECONDS - T0)) s after the kill"
printf '[client] $ curl http://10.213.200.100/\n'; get /
printf '[client] $ curl http://10.213.200.100/acked.txt\n'; get /acked.txt
run "$BIN/crm_mon" -1
on3 "$OTHER" "$BIN/drbdadm" status r0
on3 "$OTHER" findmnt /var/www/html
unset PROMPT

say "Done: everything made by the demo is removed now"
