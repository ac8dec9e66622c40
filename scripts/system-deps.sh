#!/usr/bin/env bash
# Debian packages the stack needs beside its Python ones. Used by `make run`, `make test` and CI.
#   run:  PoCL (the OpenCL CPU device) and binutils' ld, which PoCL links kernels with.
#         PyPI's pocl-binary-distribution (LLVM 14) cannot build kernels on newer CPUs
#         ("unknown target CPU"), so Debian's PoCL (LLVM 15) is installed beside it.
#   test: also Java (the Pub/Sub emulator), npm (the deploy tests fetch a helm binary),
#         unshare + ip (util-linux, iproute2): the netns tests run in a loopback-only namespace,
#         redis-server (the store tests start a real one on a loopback port), Oclgrind (the
#         kernel's data-race and uninitialised-read test), and rootful podman with runc, netavark
#         and aardvark-dns (compose service names resolve), iptables and debootstrap (base images):
#         the container tests build and run the images.
# Installs what is missing when it can (root with apt-get); otherwise says what to install.
set -euo pipefail
role=${1:-run}

missing=()
command -v ld >/dev/null || missing+=(binutils)
[ -e /etc/OpenCL/vendors/pocl.icd ] || missing+=(pocl-opencl-icd)
ldconfig -p 2>/dev/null | grep -q 'libOpenCL.so.1 ' || missing+=(ocl-icd-libopencl1)
if [ "$role" = test ]; then
  command -v java >/dev/null || missing+=(default-jre-headless)
  command -v npm >/dev/null || missing+=(npm)
  command -v unshare >/dev/null || missing+=(util-linux)
  command -v ip >/dev/null || missing+=(iproute2)
  command -v openssl >/dev/null || missing+=(openssl)  # a test certificate for the TLS callback test
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v oclgrind >/dev/null || missing+=(oclgrind)
  for tool in podman runc debootstrap iptables; do command -v $tool >/dev/null || missing+=($tool); done
  for tool in netavark aardvark-dns; do [ -x /usr/lib/podman/$tool ] || missing+=($tool); done
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "system-deps: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
elif [ "$role" = test ]; then
  echo "system-deps: missing Debian packages: ${missing[*]} (install them, e.g. with sudo apt-get install)" >&2
  exit 1
else
  echo "system-deps: missing ${missing[*]}: the solver will fall back to a slower device" >&2
fi
