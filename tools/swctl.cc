// swctl: Stormwulf's admin and ingest command line. See `swctl --help`.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "tools/cli.h"

namespace {

constexpr char kUsage[] =
    "usage: swctl <group> <command> [args] [--store DIR]\n"
    "\n"
    "groups:\n"
    "  image    import, list, show, delete, export boot images\n"
    "  kernel   import, list, show, delete kernels with their modules layer\n"
    "  node     list, show, status, add, set, delete nodes (nodes.conf)\n"
    "  profile  list, show, add, set, delete node profiles\n"
    "  overlay  build per-node system and runtime overlays; render one file\n"
    "  power    on, off, cycle, status of nodes through their BMCs (ipmitool)\n"
    "  configure dhcp|tftp: dnsmasq configuration and TFTP root for PXE\n"
    "  store    stats, gc, fsck, optimize the chunk store\n"
    "\n"
    "Every command takes --store DIR (default: $STORMWULF_STORE, else /var/lib/stormwulf/store).\n"
    "Run `swctl <group> --help` for a group's commands.\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (std::strcmp(argv[1], "--version") == 0) {
    std::puts("swctl 0.1.0");
    return 0;
  }
  std::string group = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (group == "store") return sw::RunStoreCommand(args);
  if (group == "image") return sw::RunImageCommand(args);
  if (group == "overlay") return sw::RunOverlayCommand(args);
  if (group == "kernel") return sw::RunKernelCommand(args);
  if (group == "node") return sw::RunNodeCommand(args);
  if (group == "profile") return sw::RunProfileCommand(args);
  if (group == "power") return sw::RunPowerCommand(args);
  if (group == "configure") return sw::RunConfigureCommand(args);
  std::fprintf(stderr, "swctl: unknown command group '%s'\n\n%s", group.c_str(), kUsage);
  return 2;
}
