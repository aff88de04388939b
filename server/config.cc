#include "server/config.h"

#include <yaml-cpp/yaml.h>

#include "common/fs_util.h"

namespace sw {

Status LoadServerConfig(const std::string& path, ServerConfig* c) {
  SW_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  try {
    YAML::Node y = YAML::Load(text);
    if (!y || y.IsNull()) return Status::OK();
    auto list = [&](const char* k, std::vector<std::string>* v) {
      if (!y[k]) return;
      v->clear();
      if (y[k].IsSequence()) {
        for (const auto& e : y[k]) v->push_back(e.as<std::string>());
      } else {
        v->push_back(y[k].as<std::string>());
      }
    };
    list("listen", &c->listen);
    list("tls listen", &c->tls_listen);
    auto str = [&](const char* k, std::string* v) {
      if (y[k]) *v = y[k].as<std::string>();
    };
    auto num = [&](const char* k, int* v) {
      if (y[k]) *v = y[k].as<int>();
    };
    str("store", &c->store);
    str("nodes", &c->nodes);
    str("ipxe dir", &c->ipxe_dir);
    str("arp file", &c->arp_file);
    str("log level", &c->log_level);
    str("tls cert", &c->tls_cert);
    str("tls key", &c->tls_key);
    if (y["secure"]) c->secure = y["secure"].as<bool>();
    if (y["tls"]) c->tls = y["tls"].as<bool>();
    num("threads", &c->threads);
    num("workers", &c->workers);
    num("header timeout ms", &c->header_timeout_ms);
    num("idle timeout ms", &c->idle_timeout_ms);
    num("send timeout ms", &c->send_timeout_ms);
    num("update interval", &c->update_interval);
    if (y["max connections"]) c->max_connections = y["max connections"].as<size_t>();
    str("zero copy", &c->zero_copy);
    if (c->zero_copy != "sendfile" && c->zero_copy != "splice") {
      return Status::InvalidArgument(path + ": zero copy must be sendfile or splice, not \"" +
                                     c->zero_copy + "\"");
    }
    num("notsent lowat", &c->notsent_lowat);
    if (y["copy body max"]) c->copy_body_max = y["copy body max"].as<size_t>();
    if (y["small file cache mb"]) c->small_file_cache_mb = y["small file cache mb"].as<size_t>();
    if (y["copy budget mb"]) c->copy_budget_mb = y["copy budget mb"].as<size_t>();
    if (y["max open files"]) c->max_open_files = y["max open files"].as<size_t>();
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return Status::OK();
}

}  // namespace sw
