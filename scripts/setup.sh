#!/usr/bin/env bash
# Installs what a fresh Debian 12 (bookworm) machine lacks to build, run and test nfbpf.
# Idempotent: a second run changes nothing. Needs root (apt, kernel checks).
set -euo pipefail

log() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (apt-get and BPF checks need it)"

SOURCES=/etc/apt/sources.list.d/debian.sources
BACKPORTS=/etc/apt/sources.list.d/nfbpf-bookworm-backports.sources

# bookworm's libbpf (1.1) and kernel headers (6.1) predate BPF_PROG_TYPE_NETFILTER; backports has
# libbpf 1.4 and headers 6.12. Reuse the mirror URI the machine already uses for bookworm.
add_backports() {
  if [ -f "$BACKPORTS" ]; then return; fi
  local uri=""
  if [ -f "$SOURCES" ]; then
    uri=$(awk '/^URIs:/ {print $2; exit}' "$SOURCES")
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1=="deb" && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || die "cannot find the bookworm mirror URI in $SOURCES or /etc/apt/sources.list"
  log "adding bookworm-backports from $uri"
  cat >"$BACKPORTS" <<SRC
Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  NEED_UPDATE=1
}

NEED_UPDATE=0
add_backports

BASE_PKGS=(
  build-essential cmake ninja-build pkg-config git
  libmnl-dev libnftnl-dev libboost-dev libboost-system-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  libfmt-dev libcli11-dev nlohmann-json3-dev libpcap-dev libcap-dev libelf-dev zlib1g-dev
  nftables iptables iproute2 python3 clang libclang-rt-14-dev
  gnuplot-nox  # scripts/bench.sh: the plots of docs/performance.md
  clang-16 libclang-rt-16-dev  # libFuzzer targets: clang 14 cannot compile std::expected<T> for non-trivial T
)
BACKPORT_PKGS=(libbpf-dev linux-libc-dev bpftool)

missing=()
for p in "${BASE_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

libbpf_ok() {
  local v
  v=$(dpkg-query -W -f='${Version}' libbpf-dev 2>/dev/null || true)
  [ -n "$v" ] && dpkg --compare-versions "$v" ge "1:1.4"
}
headers_ok() {
  local v
  v=$(dpkg-query -W -f='${Version}' linux-libc-dev 2>/dev/null || true)
  [ -n "$v" ] && dpkg --compare-versions "$v" ge "6.12"
}
need_bp=0
libbpf_ok || need_bp=1
headers_ok || need_bp=1
command -v bpftool >/dev/null 2>&1 || need_bp=1

if [ ${#missing[@]} -gt 0 ] || [ $need_bp -eq 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  if [ $NEED_UPDATE -eq 1 ] || [ ! -d /var/lib/apt/lists ] || \
     ! ls /var/lib/apt/lists/*bookworm-backports* >/dev/null 2>&1; then
    log "apt-get update"
    apt-get update -qq
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing: ${missing[*]}"
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
  if [ $need_bp -eq 1 ]; then
    log "installing from bookworm-backports: ${BACKPORT_PKGS[*]}"
    apt-get install -y -qq --no-install-recommends -t bookworm-backports "${BACKPORT_PKGS[@]}"
  fi
else
  log "all packages present"
fi

libbpf_ok || die "libbpf-dev >= 1.4 is required (have $(dpkg-query -W -f='${Version}' libbpf-dev 2>/dev/null || echo none))"
headers_ok || die "linux-libc-dev >= 6.12 is required for BPF_PROG_TYPE_NETFILTER"

# Kernel capability checks: these say what is missing rather than failing later in a test.
problems=()
[ -r /sys/kernel/btf/vmlinux ] || problems+=("no BTF (/sys/kernel/btf/vmlinux)")
if command -v bpftool >/dev/null 2>&1; then
  probe=$(bpftool feature probe kernel 2>/dev/null || true)
  for t in netfilter xdp sched_cls cgroup_skb; do
    grep -q "eBPF program_type $t is available" <<<"$probe" || problems+=("BPF program type $t not available")
  done
fi
if [ ! -e /proc/net/netfilter ] && ! modprobe nf_tables 2>/dev/null; then
  problems+=("nf_tables not available")
fi
if [ ${#problems[@]} -gt 0 ]; then
  for p in "${problems[@]}"; do printf 'setup: missing: %s\n' "$p" >&2; done
  die "this kernel cannot run nfbpf's tests"
fi
log "ok: libbpf $(dpkg-query -W -f='${Version}' libbpf-dev), kernel $(uname -r), BPF netfilter/xdp/tc/cgroup available"
