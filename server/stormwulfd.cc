// stormwulfd: the Stormwulf provisioning server. See `stormwulfd --help` and docs/server.md.
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cstddef>
#include <cstring>
#include <iostream>

#include "common/log.h"
#include "server/config.h"
#include "server/http_server.h"
#include "server/routes.h"

namespace po = boost::program_options;

namespace {

void NotifySystemd(const char* msg) {
  const char* path = getenv("NOTIFY_SOCKET");
  if (path == nullptr || path[0] == '\0') return;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t len = strlen(path);
  if (len < sizeof(addr.sun_path)) {
    memcpy(addr.sun_path, path, len);
    if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
    sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
           static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
  }
  close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description opts(
      "usage: stormwulfd [--config FILE] [options]\n"
      "Serves iPXE scripts, kernels, images and overlays from a Stormwulf store to Warewulf\n"
      "nodes. Flags override the config file. SIGHUP reloads nodes.conf; SIGTERM stops.\n\n"
      "options");
  opts.add_options()("help,h", "show this help")(
      "config", po::value<std::string>(), "YAML config file (see docs/config/stormwulfd.yaml)")(
      "listen", po::value<std::vector<std::string>>()->composing(),
      "ADDR:PORT to listen on, repeatable (default 0.0.0.0:9873)")(
      "store", po::value<std::string>(), "chunk store (default $STORMWULF_STORE, /var/lib/stormwulf/store)")(
      "nodes", po::value<std::string>(), "nodes.conf (default /etc/stormwulf/nodes.conf)")(
      "ipxe-dir", po::value<std::string>(), "directory of iPXE templates (*.ipxe)")(
      "arp-file", po::value<std::string>(), "ARP table used to identify nodes by IP")(
      "secure", po::value<bool>(), "runtime overlays only to source ports < 1024")(
      "tls", po::value<bool>(), "serve TLS on --tls-listen; refuse /runtime/ over plain HTTP")(
      "tls-listen", po::value<std::vector<std::string>>()->composing(),
      "ADDR:PORT for TLS, repeatable (default 0.0.0.0:9874)")(
      "tls-cert", po::value<std::string>(), "PEM certificate chain for TLS")(
      "tls-key", po::value<std::string>(), "PEM private key for TLS")(
      "threads", po::value<int>(), "event loop threads (default: one per core)")(
      "log-level", po::value<std::string>(), "debug, info, warning or error");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "stormwulfd: " << e.what() << "\n\n" << opts;
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts;
    return 0;
  }
  sw::ServerConfig cfg;
  if (vm.count("config")) {
    if (sw::Status s = sw::LoadServerConfig(vm["config"].as<std::string>(), &cfg); !s.ok()) {
      std::cerr << "stormwulfd: " << s.ToString() << "\n";
      return 2;
    }
  }
  if (vm.count("listen")) cfg.listen = vm["listen"].as<std::vector<std::string>>();
  if (vm.count("store")) cfg.store = vm["store"].as<std::string>();
  if (vm.count("nodes")) cfg.nodes = vm["nodes"].as<std::string>();
  if (vm.count("ipxe-dir")) cfg.ipxe_dir = vm["ipxe-dir"].as<std::string>();
  if (vm.count("arp-file")) cfg.arp_file = vm["arp-file"].as<std::string>();
  if (vm.count("secure")) cfg.secure = vm["secure"].as<bool>();
  if (vm.count("tls")) cfg.tls = vm["tls"].as<bool>();
  if (vm.count("tls-listen")) cfg.tls_listen = vm["tls-listen"].as<std::vector<std::string>>();
  if (vm.count("tls-cert")) cfg.tls_cert = vm["tls-cert"].as<std::string>();
  if (vm.count("tls-key")) cfg.tls_key = vm["tls-key"].as<std::string>();
  if (vm.count("threads")) cfg.threads = vm["threads"].as<int>();
  if (vm.count("log-level")) cfg.log_level = vm["log-level"].as<std::string>();
  sw::LogLevel level;
  if (!sw::ParseLogLevel(cfg.log_level, &level)) {
    std::cerr << "stormwulfd: bad log level '" << cfg.log_level << "'\n";
    return 2;
  }
  sw::SetLogLevel(level);

  // Every connection holds a socket, and a pipe while it sends a body: thousands of nodes need
  // far more than the default 1024 descriptors (Warewulf's unit sets LimitNOFILE=524288).
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < 65536) {
    LOG(WARNING) << "open-file limit is " << nofile.rlim_cur
                 << "; raise it (LimitNOFILE / ulimit -n) to serve thousands of nodes";
  }
  auto store = sw::Store::Open(sw::Store::DefaultRoot(cfg.store), {});
  if (!store.ok()) {
    LOG(ERROR) << store.status().ToString();
    return 1;
  }
  sw::Routes routes(cfg, store->get());
  if (sw::Status s = routes.Reload(); !s.ok()) {
    LOG(ERROR) << "nodes.conf: " << s.ToString();
    return 1;
  }
  // Signals are handled by this thread with sigwait; block them before the loops start.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  sw::HttpServerOptions hopts;
  hopts.listen = cfg.listen;
  hopts.threads = cfg.threads;
  hopts.header_timeout_ms = cfg.header_timeout_ms;
  hopts.idle_timeout_ms = cfg.idle_timeout_ms;
  hopts.send_timeout_ms = cfg.send_timeout_ms;
  hopts.max_connections = cfg.max_connections;
  hopts.inline_sendfile = cfg.zero_copy == "sendfile";
  hopts.notsent_lowat = cfg.notsent_lowat;
  hopts.copy_body_max = cfg.copy_body_max;
  hopts.copy_budget_per_loop = cfg.copy_budget_mb << 20;
  if (cfg.tls) {
    hopts.tls_listen = cfg.tls_listen;
    hopts.tls_cert = cfg.tls_cert;
    hopts.tls_key = cfg.tls_key;
  }
  sw::HttpServer server(hopts, &routes);
  routes.SetEngine(&server);
  if (sw::Status s = server.Start(); !s.ok()) {
    LOG(ERROR) << "cannot start: " << s.ToString();
    return 1;
  }
  for (size_t i = 0; i < cfg.listen.size(); ++i) {
    LOG(INFO) << "listening on " << cfg.listen[i] << " (port " << server.port(i) << ", "
              << server.ring_mode() << ", " << routes.nodes()->nodes().size() << " nodes)";
  }
  for (size_t i = 0; i < hopts.tls_listen.size(); ++i) {
    LOG(INFO) << "listening on " << hopts.tls_listen[i] << " (TLS, port " << server.tls_port(i)
              << ")";
  }
  NotifySystemd("READY=1");
  for (;;) {
    int sig = 0;
    sigwait(&set, &sig);
    if (sig == SIGHUP) {
      sw::Status s = routes.Reload();
      if (s.ok()) {
        LOG(INFO) << "reloaded: " << routes.nodes()->nodes().size() << " nodes";
      } else {
        LOG(ERROR) << "reload failed, keeping the previous nodes.conf: " << s.ToString();
      }
      continue;
    }
    LOG(INFO) << "stopping (signal " << sig << ")";
    NotifySystemd("STOPPING=1");
    break;
  }
  server.Stop();
  return 0;
}
