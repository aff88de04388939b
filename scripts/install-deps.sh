#!/usr/bin/env bash
# Installs everything Stormwulf needs to build, test, benchmark and run its demo on Debian 12.
# Idempotent; run as root (or with sudo available).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
PKGS=(
  # build
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  # libraries
  liburing-dev libzstd-dev libxxhash-dev libarchive-dev libboost-program-options-dev libssl-dev
  libyaml-cpp-dev libdeflate-dev libbenchmark-dev libgtest-dev libgmock-dev
  # tools used by tests, demo and benchmarks
  zstd xxhash cpio gzip pigz curl bc python3 openssl iproute2 golang-go golang-github-masterminds-sprig-dev
  gnuplot-nox casync debootstrap
  nginx-light qemu-system-x86 ipxe-qemu ipxe seabios linux-image-amd64 busybox-static kmod dnsmasq-base ipmitool
)
$SUDO apt-get update
$SUDO apt-get install -y -o DPkg::Lock::Timeout=600 --no-install-recommends "${PKGS[@]}"
