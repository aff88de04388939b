// swctl configure dhcp|tftp: dnsmasq configuration and TFTP root for PXE (docs/admin-dhcp.md).
#include <arpa/inet.h>
#include <sys/stat.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>

#include "cluster/nodes_edit.h"
#include "common/fs_util.h"
#include "tools/cli.h"
#include "tools/cli_util.h"
#include "tools/subprocess.h"

namespace sw {
namespace {

constexpr char kUsage[] =
    "usage: swctl configure dhcp|tftp [options]\n"
    "  dhcp  write a dnsmasq configuration: a static lease per network device of every node in\n"
    "        nodes.conf, PXE boot selection (BIOS -> undionly.kpxe, x86_64 UEFI -> snponly.efi,\n"
    "        iPXE -> stormwulf.ipxe) and dnsmasq's TFTP server on --tftp-root\n"
    "  tftp  fill --tftp-root with Debian's iPXE binaries (package ipxe) and stormwulf.ipxe, a\n"
    "        script that chains to http://<server-ip>:<port>/ipxe/<mac>";

// The iPXE binaries the TFTP root serves, from Debian's ipxe package.
constexpr const char* kIpxeDir = "/usr/lib/ipxe";
constexpr const char* kBiosBinary = "undionly.kpxe";
constexpr const char* kUefiBinary = "snponly.efi";

int Fail(const Status& s) {
  std::cerr << "swctl: " << s.ToString() << "\n";
  return 1;
}

bool ParseV4(const std::string& s, uint32_t* out) {
  in_addr a;
  if (::inet_pton(AF_INET, s.c_str(), &a) != 1) return false;
  *out = ntohl(a.s_addr);
  return true;
}

std::string V4(uint32_t a) {
  in_addr x;
  x.s_addr = htonl(a);
  char buf[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &x, buf, sizeof(buf));
  return buf;
}

std::string ChainScript(const std::string& server, int port) {
  std::ostringstream o;
  o << "#!ipxe\n"
    << "# Written by `swctl configure tftp`: hand this node to stormwulfd, which answers with\n"
    << "# the node's own boot script (or the \"not configured\" one for an unknown MAC).\n"
    << ":retry\n"
    << "echo Stormwulf: ${mac} asks http://" << server << ":" << port << " for its boot script\n"
    << "chain http://" << server << ":" << port
    << "/ipxe/${mac:hexhyp}?assetkey=${asset}&uuid=${uuid} || goto failed\n"
    << ":failed\n"
    << "echo Stormwulf: no answer from " << server << "; retrying in 10 seconds\n"
    << "sleep 10\n"
    << "goto retry\n";
  return o.str();
}

Status CopyFile(const std::string& from, const std::string& to) {
  SW_ASSIGN_OR_RETURN(std::string data, ReadFileToString(from));
  return WriteFileAtomic(to, data, 0644, DirName(to));
}

int Tftp(const po::variables_map& vm) {
  const std::string root = vm["tftp-root"].as<std::string>();
  if (!vm.count("server-ip")) {
    std::cerr << "swctl: --server-ip is required (the address nodes reach stormwulfd at)\n";
    return 2;
  }
  if (Status s = MakeDirs(root); !s.ok()) return Fail(s);
  for (const char* f : {kBiosBinary, kUefiBinary, "ipxe.efi"}) {
    std::string src = std::string(kIpxeDir) + "/" + f;
    if (Status s = CopyFile(src, root + "/" + f); !s.ok()) {
      return Fail(s.WithContext("install Debian's iPXE binaries: apt-get install ipxe"));
    }
  }
  std::string script = ChainScript(vm["server-ip"].as<std::string>(), vm["port"].as<int>());
  if (Status s = WriteFileAtomic(root + "/stormwulf.ipxe", script, 0644, root); !s.ok()) return Fail(s);
  printf("TFTP root %s: %s, %s, ipxe.efi, stormwulf.ipxe (chains to http://%s:%d)\n", root.c_str(),
         kBiosBinary, kUefiBinary, vm["server-ip"].as<std::string>().c_str(), vm["port"].as<int>());
  return 0;
}

int Dhcp(const po::variables_map& vm) {
  if (!vm.count("server-ip")) {
    std::cerr << "swctl: --server-ip is required (the head node's address on the cluster network)\n";
    return 2;
  }
  const std::string server = vm["server-ip"].as<std::string>();
  uint32_t server_ip = 0;
  if (!ParseV4(server, &server_ip)) {
    std::cerr << "swctl: --server-ip must be an IPv4 address\n";
    return 2;
  }
  auto conf = NodesConf::Load(vm["nodes"].as<std::string>());
  if (!conf.ok()) return Fail(conf.status());
  auto db = conf->Validate();  // duplicate MAC or IP: refused, naming both nodes
  if (!db.ok()) return Fail(db.status().WithContext("nothing written"));

  std::ostringstream o;
  o << "# dnsmasq configuration for Stormwulf, written by `swctl configure dhcp` from "
    << vm["nodes"].as<std::string>() << ".\n# Re-run it after changing nodes; edits here are overwritten.\n";
  if (vm.count("interface")) {
    o << "interface=" << vm["interface"].as<std::string>() << "\nbind-interfaces\n";
  }
  if (!vm.count("dns")) o << "# DHCP and TFTP only (--dns keeps dnsmasq's DNS server)\nport=0\n";
  o << "log-dhcp\n";
  // Address ranges: the --range given, else one static range per subnet the nodes live in.
  std::map<std::string, std::string> ranges;  // network -> netmask
  std::string default_mask = vm.count("netmask") ? vm["netmask"].as<std::string>() : "255.255.255.0";
  if (vm.count("range")) {
    std::string r = vm["range"].as<std::string>();
    size_t comma = r.find(',');
    uint32_t a, b;
    if (comma == std::string::npos || !ParseV4(r.substr(0, comma), &a) || !ParseV4(r.substr(comma + 1), &b) || a > b) {
      std::cerr << "swctl: --range wants START,END (IPv4)\n";
      return 2;
    }
    o << "# Dynamic leases for nodes not (yet) in nodes.conf\ndhcp-range=" << V4(a) << "," << V4(b)
      << "," << default_mask << ",1h\n";
  }
  std::ostringstream hosts;
  std::map<std::string, int> gateway_tags;
  size_t count = 0;
  for (const Node& n : (*db)->nodes()) {
    if (n.discoverable) continue;
    for (const auto& [dev, d] : n.netdevs) {
      if (d.hwaddr.empty() || d.ipaddr.empty()) continue;
      uint32_t ip, mask;
      if (!ParseV4(d.ipaddr, &ip)) continue;
      std::string m = d.netmask.empty() ? default_mask : d.netmask;
      if (!ParseV4(m, &mask)) {
        std::cerr << "swctl: node " << n.id << " " << dev << ": bad netmask '" << m << "'\n";
        return 1;
      }
      ranges.emplace(V4(ip & mask), V4(mask));
      hosts << "dhcp-host=" << d.hwaddr << ",";
      if (!d.gateway.empty()) {
        auto [it, fresh] = gateway_tags.emplace(d.gateway, static_cast<int>(gateway_tags.size()));
        hosts << "set:swgw" << it->second << ",";
      }
      hosts << d.ipaddr << "," << (d.primary ? n.id : n.id + "-" + dev) << ",infinite\n";
      ++count;
    }
  }
  for (const auto& [net, mask] : ranges) {
    o << "dhcp-range=" << net << ",static," << mask << ",infinite\n";
  }
  for (const auto& [gw, tag] : gateway_tags) o << "dhcp-option=tag:swgw" << tag << ",option:router," << gw << "\n";
  o << "# One fixed address per node network device\n" << hosts.str();
  const std::string root = vm["tftp-root"].as<std::string>();
  o << "# TFTP for the first stage; everything else comes over HTTP from stormwulfd\n"
    << "enable-tftp\ntftp-root=" << root << "\n"
    << "# PXE: iPXE itself (option 175) gets the chain script; firmware gets iPXE\n"
    << "dhcp-match=set:ipxe,175\n"
    << "dhcp-match=set:efi64,option:client-arch,7\n"
    << "dhcp-match=set:efi64,option:client-arch,9\n"
    << "dhcp-boot=tag:ipxe,stormwulf.ipxe,," << server << "\n"
    << "dhcp-boot=tag:!ipxe,tag:efi64," << kUefiBinary << ",," << server << "\n"
    << "dhcp-boot=tag:!ipxe,tag:!efi64," << kBiosBinary << ",," << server << "\n";
  const std::string text = o.str();

  const std::string out = vm["output"].as<std::string>();
  const std::string dir = DirName(out);
  if (Status s = MakeDirs(dir); !s.ok()) return Fail(s);
  // dnsmasq must accept it before it replaces the running configuration.
  const std::string tmp = dir + "/.stormwulf-dnsmasq." + RandomHex(6) + ".conf";
  if (Status s = WriteFileAtomic(tmp, text, 0644, dir); !s.ok()) return Fail(s);
  ProcessResult test = RunProcess({"dnsmasq", "--test", "--conf-file=" + tmp}, {}, 30000);
  if (test.exit_code == 127 || (test.exit_code < 0 && !test.timed_out)) {
    std::cerr << "swctl: note: dnsmasq is not installed, the configuration was not checked\n";
  } else if (test.exit_code != 0) {
    ::unlink(tmp.c_str());
    std::cerr << "swctl: dnsmasq rejects the generated configuration; nothing written:\n" << test.output;
    return 1;
  }
  if (::rename(tmp.c_str(), out.c_str()) != 0) {
    Status s = FromErrno("rename to " + out, errno);
    ::unlink(tmp.c_str());
    return Fail(s);
  }
  if (Status s = FsyncDir(dir); !s.ok()) return Fail(s);
  printf("wrote %s: %zu static leases in %zu subnet%s, TFTP root %s, boot server %s\n", out.c_str(),
         count, ranges.size(), ranges.size() == 1 ? "" : "s", root.c_str(), server.c_str());
  if (vm.count("restart")) {
    ProcessResult r = RunProcess({"systemctl", "restart", "dnsmasq"}, {}, 60000);
    if (r.exit_code != 0) {
      std::cerr << "swctl: `systemctl restart dnsmasq` failed: " << r.output;
      return 1;
    }
    printf("restarted dnsmasq\n");
  }
  return 0;
}

}  // namespace

int RunConfigureCommand(const std::vector<std::string>& args) {
  po::options_description opts("options");
  opts.add_options()("help,h", "show this help")(
      "nodes", po::value<std::string>()->default_value("/etc/stormwulf/nodes.conf"), "nodes.conf")(
      "server-ip", po::value<std::string>(), "head node address on the cluster network")(
      "port", po::value<int>()->default_value(9873), "stormwulfd's port")(
      "interface", po::value<std::string>(), "serve DHCP on this interface only")(
      "range", po::value<std::string>(), "START,END: dynamic leases for unknown nodes")(
      "netmask", po::value<std::string>(), "netmask for nodes that set none (default 255.255.255.0)")(
      "tftp-root", po::value<std::string>()->default_value("/srv/stormwulf/tftp"), "TFTP root")(
      "output", po::value<std::string>()->default_value("/etc/dnsmasq.d/stormwulf.conf"),
      "where to write the dnsmasq configuration")(
      "dns", "keep dnsmasq's DNS server (default: DHCP and TFTP only)")(
      "restart", "systemctl restart dnsmasq afterwards")("what", po::value<std::string>(), "");
  po::positional_options_description pos;
  pos.add("what", 1);
  po::variables_map vm;
  if (int rc = ParseArgs(args, kUsage, opts, pos, &vm); rc >= 0) return rc;
  std::string what = vm.count("what") ? vm["what"].as<std::string>() : "";
  if (what == "dhcp") return Dhcp(vm);
  if (what == "tftp") return Tftp(vm);
  std::cerr << kUsage << "\n";
  return 2;
}

}  // namespace sw
