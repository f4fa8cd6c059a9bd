#!/usr/bin/env bash
# Builds the data-plane module as N-API prebuilds for linux-x64 and linux-arm64 (prebuilds/linux-*/), which
# the package ships so that appliances load it without a compiler. arm64 is cross-compiled with Debian's
# g++-aarch64-linux-gnu; without it that build is skipped with a line saying so (CI installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
prebuildify=node_modules/.bin/prebuildify
host=$(node -p process.arch)

if [ "$host" = x64 ] && command -v aarch64-linux-gnu-g++ >/dev/null; then
  CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ \
    "$prebuildify" --napi --strip --strip-bin aarch64-linux-gnu-strip --arch arm64 --quiet
elif [ "$host" = x64 ]; then
  echo "prebuilds: linux-arm64 skipped: no aarch64-linux-gnu-g++ (apt-get install g++-aarch64-linux-gnu)" >&2
fi
# The host's build last: node-gyp builds in build/, which the cross build above overwrote.
"$prebuildify" --napi --strip --quiet
ls prebuilds/*/

# The BPF data path's programs (one object for every CPU: BPF bytecode is the same on x64 and arm64).
if command -v clang >/dev/null && [ -f /usr/include/bpf/bpf_helpers.h ]; then
  mkdir -p prebuilds/bpf
  clang -O2 -target bpf -Wall -Werror -I"/usr/include/$(gcc -dumpmachine)" -Inative/include -c native/bpf/gwlb.bpf.c -o prebuilds/bpf/gwlb.bpf.o
  ls prebuilds/bpf/
else
  echo "prebuilds: the BPF object skipped: no clang or libbpf headers (apt-get install clang libbpf-dev); --datapath bpf will not load" >&2
fi
