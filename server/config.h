// server/config.h: stormwulfd's configuration: a YAML file (docs/config/stormwulfd.yaml has every
// key with comments) whose values command-line flags override.
// Thread-safety: a value type.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace sw {

struct ServerConfig {
  std::vector<std::string> listen = {"0.0.0.0:9873"};
  std::string store;                               // "" = $STORMWULF_STORE or /var/lib/stormwulf/store
  std::string nodes = "/etc/stormwulf/nodes.conf";  // Warewulf's nodes.conf format
  std::string ipxe_dir = "/usr/share/stormwulf/ipxe";
  std::string arp_file = "/proc/net/arp";
  bool secure = false;       // runtime overlays only to clients on ports < 1024
  // TLS (OpenSSL, TLS 1.3 minimum) on its own listeners; with it on, /runtime/ over plain HTTP is
  // refused with 403 and every route is also served over TLS.
  bool tls = false;
  std::vector<std::string> tls_listen = {"0.0.0.0:9874"};
  std::string tls_cert = "/etc/stormwulf/tls/server.crt";  // PEM chain
  std::string tls_key = "/etc/stormwulf/tls/server.key";   // PEM, readable by root only
  int threads = 0;
  int workers = 2;           // derived-encoding (gzip/raw) builders
  int header_timeout_ms = 10000;
  int idle_timeout_ms = 60000;
  int send_timeout_ms = 60000;
  size_t max_connections = 50000;
  std::string zero_copy = "sendfile";  // or "splice": HttpServerOptions::inline_sendfile
  int notsent_lowat = 128 * 1024;  // HttpServerOptions::notsent_lowat (0: system default)
  size_t copy_body_max = 256 * 1024;   // HttpServerOptions::copy_body_max
  size_t copy_budget_mb = 32;          // HttpServerOptions::copy_budget_per_loop, in MiB
  size_t small_file_cache_mb = 64;     // chunk files up to copy_body_max kept in memory (FileCache)
  size_t max_open_files = 4096;  // chunk files kept open with no response sending them
  int update_interval = 60;  // wwclient's interval, shown to templates
  std::string log_level = "info";
};

// Reads a YAML config file into *c (keys absent from the file keep their values).
// InvalidArgument with the line for bad YAML or a value of the wrong type.
Status LoadServerConfig(const std::string& path, ServerConfig* c);

}  // namespace sw
