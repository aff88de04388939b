// bench/bootstorm_ipxe.h: a small iPXE script interpreter and URL helpers for bootstorm.
//
// bootstorm must fetch what a real iPXE client would fetch after GET /ipxe/<mac>, so it runs the
// returned script the way iPXE does, minus the booting: `set`, ${var} expansion (including
// ${mac:hexhyp} style type suffixes), `goto`/labels, `iseq`/`isset` with `||`/`&&`, `menu`/`item`/
// `choose` (the default or first item is chosen, as when the menu times out), and the commands that
// download (`kernel`, `initrd`, `imgextract`, `imgfetch`, `module`, `chain`). Every download is
// assumed to succeed. Display and delay commands (echo, sleep, prompt, ...) are no-ops.
// The result is the ordered list of downloads up to `boot`, or a `chain` target to fetch and run
// next. Nothing here does I/O.
//
// Thread-safety: free functions on values; safe from any thread.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace sw::bootstorm {

// One download the script asks for.
struct IpxeFetch {
  std::string command;  // "kernel", "initrd", "imgextract", "imgfetch", "module"
  std::string name;     // --name value, or empty
  std::string url;      // absolute URL after expansion and resolution against the script URL
  bool failed = false;  // listed in IpxeEnv::failing_fetches: the script saw this one fail
};

struct IpxePlan {
  std::vector<IpxeFetch> fetches;     // in script order
  std::string chain_url;              // non-empty: the script ends with `chain <url>` (absolute)
  bool booted = false;                // reached `boot` (or the end with a kernel loaded)
  std::vector<std::string> warnings;  // unknown commands, step limit, ...
};

// What the simulated firmware knows before the script runs (iPXE's built-in settings).
struct IpxeEnv {
  std::string mac;                  // colon form, lower case: "52:54:00:00:00:01"
  std::string uuid;                 // SMBIOS uuid
  std::string asset;                // SMBIOS chassis asset tag (often empty)
  std::string platform = "pcbios";  // "pcbios" or "efi"
  std::string buildarch = "x86_64";
  std::string ip = "10.0.2.15";
  std::string hostname;  // DHCP host name (often empty)
  // Downloads (by their 0-based position among the script's downloads) that fail when the
  // script runs; all others succeed. After a real download fails, the caller runs the script
  // again with it listed here, and follows the script's `||` branch like iPXE would.
  std::set<size_t> failing_fetches;
};

// Runs `script` fetched from `script_url`. InvalidArgument if the text is not an iPXE script
// (no "#!ipxe" magic on the first line). A script that downloads nothing is returned as is (the
// caller decides on a fallback).
Result<IpxePlan> RunIpxeScript(std::string_view script, std::string_view script_url,
                               const IpxeEnv& env);

// Expands ${name} and ${name:type} references using `vars`; unknown names expand to "" as in iPXE.
// Supported types: hexhyp (aa-bb-..), hexraw (aabb..), hex (aa:bb:..), uristring (percent-encode),
// string and anything else (value as is).
std::string ExpandIpxeVars(std::string_view text, const std::map<std::string, std::string>& vars);

// Resolves `ref` against the absolute http URL `base` (RFC 3986 subset: absolute, //authority,
// /path, relative path, ?query).
std::string ResolveUrl(std::string_view base, std::string_view ref);

// A parsed http:// URL. `host` keeps IPv6 brackets off ("::1"); `target` is path plus query.
struct HttpUrl {
  std::string host;
  uint16_t port = 80;
  std::string target;
  std::string host_header;  // what goes into Host: ("127.0.0.1:8080", or "h" for port 80)
};

// InvalidArgument unless `url` is http://host[:port][/target]. (https is refused: iPXE here has
// no TLS and neither does the benchmark.)
Result<HttpUrl> ParseHttpUrl(std::string_view url);

// True if `host` is a loopback literal: 127.0.0.0/8, ::1 (with or without brackets) or
// "localhost". No name resolution is ever done.
bool IsLoopbackHost(std::string_view host);

// "52:54:00:00:00:01" -> "52-54-00-00-00-01".
std::string MacHexhyp(std::string_view mac);

}  // namespace sw::bootstorm
