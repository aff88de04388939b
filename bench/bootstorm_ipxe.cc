// bench/bootstorm_ipxe.cc: see bootstorm_ipxe.h. iPXE semantics followed here (from its
// documentation at ipxe.org/cmd and the behaviour of the Debian 2019 ROM):
//  - a command line is expanded once, then split into words; "||" and "&&" are words that chain
//    commands left to right on the status of the last command run;
//  - ${name:type} looks a setting up, unknown settings expand to nothing;
//  - a download command's first non-option word is the URI, relative URIs resolve against the
//    URI of the current script.
#include "bench/bootstorm_ipxe.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>

namespace sw::bootstorm {
namespace {

constexpr int kMaxSteps = 20000;  // bounds goto loops; a real script needs a few dozen
constexpr int kMaxExpansions = 1000;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// Splits an expanded command line into words. Double and single quotes group words (newer iPXE
// accepts them; older ROMs never see them in Warewulf's scripts).
std::vector<std::string> SplitWords(std::string_view line) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (char c : line) {
    if (quote != 0) {
      if (c == quote) {
        quote = 0;
      } else {
        cur.push_back(c);
      }
      continue;
    }
    if (c == '"' || c == '\'') {
      quote = c;
      in_word = true;
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (in_word) {
        words.push_back(std::move(cur));
        cur.clear();
        in_word = false;
      }
      continue;
    }
    cur.push_back(c);
    in_word = true;
  }
  if (in_word) words.push_back(std::move(cur));
  return words;
}

std::string FormatSetting(std::string_view value, std::string_view type) {
  std::string out;
  if (type == "hexhyp" || type == "hexraw") {
    for (char c : value) {
      if (c == ':') {
        if (type == "hexhyp") out.push_back('-');
      } else {
        out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
      }
    }
    return out;
  }
  if (type == "hex") {
    for (char c : value) {
      out.push_back(c == '-' ? ':'
                             : static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    return out;
  }
  if (type == "uristring") {
    static const char kHex[] = "0123456789ABCDEF";
    for (char c : value) {
      unsigned char u = static_cast<unsigned char>(c);
      if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
        out.push_back(c);
      } else {
        out.push_back('%');
        out.push_back(kHex[u >> 4]);
        out.push_back(kHex[u & 15]);
      }
    }
    return out;
  }
  return std::string(value);
}

// Strips a ":type" suffix from a setting name ("net0/mac:hexhyp" -> "net0/mac", "hexhyp").
std::pair<std::string, std::string> SplitType(std::string_view name) {
  size_t colon = name.find(':');
  if (colon == std::string_view::npos) return {std::string(name), std::string()};
  return {std::string(name.substr(0, colon)), std::string(name.substr(colon + 1))};
}

std::string Lookup(const std::map<std::string, std::string>& vars, const std::string& name) {
  auto it = vars.find(name);
  if (it != vars.end()) return it->second;
  // An unscoped name also finds the first network device's setting, as in iPXE.
  if (name.find('/') == std::string::npos) {
    it = vars.find("net0/" + name);
    if (it != vars.end()) return it->second;
  }
  return std::string();
}

bool IsDownloadCommand(std::string_view cmd) {
  return cmd == "kernel" || cmd == "initrd" || cmd == "imgextract" || cmd == "imgfetch" ||
         cmd == "module" || cmd == "chain" || cmd == "imgload" || cmd == "imgexec";
}

bool IsNoOpCommand(std::string_view cmd) {
  static const char* const kNoOps[] = {
      "echo",   "sleep",   "prompt",  "dhcp",      "ifopen",    "ifclose",  "ifconf",    "ifstat",
      "route",  "imgfree", "imgstat", "imgselect", "imgverify", "imgtrust", "console",   "colour",
      "cpair",  "show",    "login",   "params",    "param",     "nslookup", "ntp",       "time",
      "cpuid",  "sync",    "vcreate", "vdestroy",  "ipstat",    "nstat",    "config",    "autoboot",
      "ping",   "pciscan", "fcstat",  "lotest",    "profstat",  "certstat", "certstore", "certfree",
      "imgmem", "read",    "form",    "present",   "ibstat",    "digest",   "md5sum",    "sha1sum"};
  for (const char* n : kNoOps) {
    if (cmd == n) return true;
  }
  return false;
}

bool IsStopCommand(std::string_view cmd) {
  return cmd == "exit" || cmd == "reboot" || cmd == "poweroff" || cmd == "shell" ||
         cmd == "sanboot" || cmd == "sanhook" || cmd == "halt";
}

class Interpreter {
 public:
  Interpreter(std::string_view script, std::string_view url, const IpxeEnv& env)
      : script_url_(url), failing_(env.failing_fetches) {
    std::string_view rest = script;
    while (!rest.empty()) {
      size_t nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      lines_.emplace_back(line);
      if (nl == std::string_view::npos) break;
      rest.remove_prefix(nl + 1);
    }
    for (size_t i = 0; i < lines_.size(); ++i) {
      std::string_view t = Trim(lines_[i]);
      if (!t.empty() && t.front() == ':') {
        std::string label(Trim(t.substr(1)));
        labels_.emplace(label, i);  // first definition wins
      }
    }
    vars_["mac"] = env.mac;
    vars_["net0/mac"] = env.mac;
    vars_["uuid"] = env.uuid;
    vars_["smbios/uuid"] = env.uuid;
    vars_["asset"] = env.asset;
    vars_["smbios/asset"] = env.asset;
    vars_["platform"] = env.platform;
    vars_["buildarch"] = env.buildarch;
    vars_["ip"] = env.ip;
    vars_["net0/ip"] = env.ip;
    vars_["hostname"] = env.hostname;
    vars_["version"] = "1.0.0+git-20190125.36a4c85-5.1";
    vars_["manufacturer"] = "QEMU";
    vars_["product"] = "Standard PC (i440FX + PIIX, 1996)";
  }

  IpxePlan Run() {
    size_t pc = 0;
    int steps = 0;
    // Line 0 is the "#!ipxe" magic, checked by the caller; it is a comment here.
    while (pc < lines_.size() && !stopped_) {
      if (++steps > kMaxSteps) {
        plan_.warnings.push_back("step limit reached (goto loop?)");
        break;
      }
      std::string_view t = Trim(lines_[pc]);
      next_pc_ = pc + 1;
      if (!t.empty() && t.front() != '#' && t.front() != ':') {
        RunLine(t);
      }
      pc = next_pc_;
    }
    return std::move(plan_);
  }

 private:
  void RunLine(std::string_view line) {
    std::vector<std::string> words = SplitWords(ExpandIpxeVars(line, vars_));
    // Group into commands separated by "||" / "&&".
    size_t i = 0;
    bool have_status = false;
    bool ok = true;
    std::string pending_op;
    while (i < words.size() && !stopped_) {
      size_t j = i;
      while (j < words.size() && words[j] != "||" && words[j] != "&&") ++j;
      std::vector<std::string> argv(words.begin() + static_cast<long>(i),
                                    words.begin() + static_cast<long>(j));
      bool run = !have_status || (pending_op == "||" && !ok) || (pending_op == "&&" && ok);
      if (run && !argv.empty()) {
        size_t pc_before = next_pc_;
        ok = RunCommand(argv);
        have_status = true;
        if (next_pc_ != pc_before) break;  // a goto leaves the rest of the line
      }
      if (j >= words.size()) break;
      pending_op = words[j];
      i = j + 1;
    }
  }

  // Returns the command's success. Downloads always succeed (the caller does them).
  bool RunCommand(const std::vector<std::string>& argv) {
    const std::string& cmd = argv[0];
    if (cmd == "set" || cmd == "clear") {
      if (argv.size() < 2) return false;
      std::string name = SplitType(argv[1]).first;
      if (cmd == "clear" || argv.size() < 3) {
        vars_.erase(name);
        return true;
      }
      std::string value;
      for (size_t k = 2; k < argv.size(); ++k) {
        if (k > 2) value.push_back(' ');
        value += argv[k];
      }
      vars_[name] = value;
      return true;
    }
    if (cmd == "inc") {
      if (argv.size() < 2) return false;
      std::string name = SplitType(argv[1]).first;
      long by = argv.size() > 2 ? std::strtol(argv[2].c_str(), nullptr, 0) : 1;
      long cur = std::strtol(Lookup(vars_, name).c_str(), nullptr, 0);
      vars_[name] = std::to_string(cur + by);
      return true;
    }
    if (cmd == "goto") {
      if (argv.size() < 2) return false;
      auto it = labels_.find(argv[1]);
      if (it == labels_.end()) {
        plan_.warnings.push_back("goto to unknown label '" + argv[1] + "'");
        return false;
      }
      next_pc_ = it->second + 1;
      return true;
    }
    if (cmd == "iseq") {
      std::string a = argv.size() > 2 ? argv[1] : std::string();
      std::string b = argv.size() > 2 ? argv[2] : (argv.size() > 1 ? argv[1] : std::string());
      return a == b;
    }
    if (cmd == "isset") {
      return argv.size() > 1 && !argv[1].empty();
    }
    if (cmd == "menu") {
      menu_items_.clear();
      return true;
    }
    if (cmd == "item") {
      // item [--key k] [--default] [--gap] [label [text]]
      bool gap = false;
      std::string label;
      for (size_t k = 1; k < argv.size(); ++k) {
        if (argv[k] == "--gap") {
          gap = true;
        } else if (argv[k] == "--key" || argv[k] == "-k") {
          ++k;
        } else if (argv[k].rfind("--", 0) == 0) {
          continue;
        } else {
          label = argv[k];
          break;
        }
      }
      if (!gap && !label.empty()) menu_items_.push_back(label);
      return true;
    }
    if (cmd == "choose") {
      // choose [--default d] [--timeout t] [--keep] var: the menu "times out" on its default.
      std::string def;
      std::string var;
      for (size_t k = 1; k < argv.size(); ++k) {
        if ((argv[k] == "--default" || argv[k] == "-d") && k + 1 < argv.size()) {
          def = argv[++k];
        } else if ((argv[k] == "--timeout" || argv[k] == "-t" || argv[k] == "--menu" ||
                    argv[k] == "-m") &&
                   k + 1 < argv.size()) {
          ++k;
        } else if (argv[k].rfind("--default=", 0) == 0) {
          def = argv[k].substr(10);
        } else if (argv[k].rfind("-", 0) == 0) {
          continue;
        } else {
          var = argv[k];
        }
      }
      if (def.empty() && !menu_items_.empty()) def = menu_items_.front();
      if (var.empty() || def.empty()) return false;
      vars_[SplitType(var).first] = def;
      return true;
    }
    if (cmd == "boot") {
      plan_.booted = true;
      stopped_ = true;
      return true;
    }
    if (IsDownloadCommand(cmd)) {
      return RunDownload(argv);
    }
    if (IsStopCommand(cmd)) {
      stopped_ = true;
      return true;
    }
    if (IsNoOpCommand(cmd)) return true;
    plan_.warnings.push_back("unknown command '" + cmd + "'");
    return false;
  }

  bool RunDownload(const std::vector<std::string>& argv) {
    IpxeFetch f;
    f.command = argv[0];
    for (size_t k = 1; k < argv.size(); ++k) {
      const std::string& w = argv[k];
      if (w == "--name" || w == "-n") {
        if (k + 1 < argv.size()) f.name = argv[++k];
      } else if (w.rfind("--name=", 0) == 0) {
        f.name = w.substr(7);
      } else if (w == "--timeout" || w == "-t") {
        ++k;
      } else if (w.size() > 1 && w[0] == '-' && f.url.empty()) {
        continue;  // --autofree, --replace, -a, -r, ...
      } else {
        f.url = ResolveUrl(script_url_, w);
        break;  // the rest are image arguments (kernel command line, initrd target path)
      }
    }
    if (f.url.empty()) return false;
    if (f.command == "chain" || f.command == "imgexec") {
      plan_.chain_url = f.url;
      stopped_ = true;
      return true;
    }
    f.failed = failing_.count(plan_.fetches.size()) != 0;
    bool ok = !f.failed;
    plan_.fetches.push_back(std::move(f));
    return ok;
  }

  std::string script_url_;
  std::set<size_t> failing_;
  std::vector<std::string> lines_;
  std::map<std::string, size_t> labels_;
  std::map<std::string, std::string> vars_;
  std::vector<std::string> menu_items_;
  IpxePlan plan_;
  size_t next_pc_ = 0;
  bool stopped_ = false;
};

}  // namespace

std::string ResolveUrlRaw(std::string_view base, std::string_view ref);

std::string ExpandIpxeVars(std::string_view text, const std::map<std::string, std::string>& vars) {
  std::string s(text);
  // Expand the innermost (last) "${" first, as iPXE's expand_settings() does, so nested
  // references like ${net${idx}/mac} work.
  for (int round = 0; round < kMaxExpansions; ++round) {
    size_t open = s.rfind("${");
    if (open == std::string::npos) break;
    size_t close = s.find('}', open + 2);
    if (close == std::string::npos) break;
    auto [name, type] = SplitType(std::string_view(s).substr(open + 2, close - open - 2));
    std::string value = FormatSetting(Lookup(vars, name), type);
    s.replace(open, close - open + 1, value);
  }
  return s;
}

// RFC 3986 section 5.2.4 on a path (query excluded): drops "." and resolves ".." segments.
std::string RemoveDotSegments(std::string_view path) {
  std::vector<std::string_view> out;
  bool trailing = false;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    std::string_view seg =
        path.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
    trailing = false;
    if (seg == ".") {
      trailing = true;
    } else if (seg == "..") {
      if (!out.empty()) out.pop_back();
      trailing = true;
    } else if (!(pos == 0 && seg.empty())) {
      out.push_back(seg);
    }
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
  }
  std::string r;
  for (std::string_view seg : out) {
    r.push_back('/');
    r.append(seg);
  }
  if (trailing || r.empty()) r.push_back('/');
  return r;
}

// Applies RemoveDotSegments to the path of an absolute URL "scheme://authority/path?query".
std::string NormalizeUrlPath(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  size_t path_start = url.find('/', scheme + 3);
  if (path_start == std::string::npos) return url;
  size_t q = url.find('?', path_start);
  size_t qa = url.find('?', scheme + 3);
  if (qa != std::string::npos && qa < path_start) return url;  // "?" inside the authority part
  std::string_view path = std::string_view(url).substr(
      path_start, q == std::string::npos ? std::string::npos : q - path_start);
  if (path.find("/.") == std::string_view::npos) return url;
  return url.substr(0, path_start) + RemoveDotSegments(path) +
         (q == std::string::npos ? std::string() : url.substr(q));
}

std::string ResolveUrl(std::string_view base, std::string_view ref) {
  return NormalizeUrlPath(ResolveUrlRaw(base, ref));
}

std::string ResolveUrlRaw(std::string_view base, std::string_view ref) {
  size_t scheme_end = ref.find("://");
  size_t first_slash = ref.find('/');
  if (scheme_end != std::string_view::npos && scheme_end < first_slash) return std::string(ref);
  size_t bscheme = base.find("://");
  size_t auth_start = bscheme == std::string_view::npos ? 0 : bscheme + 3;
  size_t path_start = base.find_first_of("/?", auth_start);
  std::string_view origin = base.substr(0, path_start);  // scheme://authority
  std::string_view scheme = base.substr(0, auth_start);  // scheme://
  std::string_view path_query =
      path_start == std::string_view::npos ? std::string_view("/") : base.substr(path_start);
  std::string_view path = path_query.substr(0, path_query.find('?'));
  if (ref.rfind("//", 0) == 0) return std::string(scheme) + std::string(ref.substr(2));
  if (!ref.empty() && ref.front() == '/') return std::string(origin) + std::string(ref);
  if (!ref.empty() && ref.front() == '?')
    return std::string(origin) + std::string(path) + std::string(ref);
  if (ref.empty()) return std::string(base);
  size_t last = path.rfind('/');
  std::string dir = last == std::string_view::npos ? "/" : std::string(path.substr(0, last + 1));
  return std::string(origin) + dir + std::string(ref);
}

Result<HttpUrl> ParseHttpUrl(std::string_view url) {
  if (url.size() < 7 || !IEquals(url.substr(0, 7), "http://")) {
    return Status::InvalidArgument("not an http:// URL: " + std::string(url));
  }
  std::string_view rest = url.substr(7);
  size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view target = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (authority.empty() || authority.find('@') != std::string_view::npos) {
    return Status::InvalidArgument("bad authority in URL: " + std::string(url));
  }
  HttpUrl u;
  std::string_view port_text;
  if (authority.front() == '[') {
    size_t rb = authority.find(']');
    if (rb == std::string_view::npos)
      return Status::InvalidArgument("bad IPv6 literal: " + std::string(url));
    u.host = std::string(authority.substr(1, rb - 1));
    std::string_view after = authority.substr(rb + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Status::InvalidArgument("bad URL: " + std::string(url));
      port_text = after.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (!port_text.empty()) {
    unsigned long p = 0;
    for (char c : port_text) {
      if (!std::isdigit(static_cast<unsigned char>(c))) {
        return Status::InvalidArgument("bad port in URL: " + std::string(url));
      }
      p = p * 10 + static_cast<unsigned long>(c - '0');
      if (p > 65535) return Status::InvalidArgument("bad port in URL: " + std::string(url));
    }
    if (p == 0) return Status::InvalidArgument("bad port in URL: " + std::string(url));
    u.port = static_cast<uint16_t>(p);
  }
  size_t hash = target.find('#');
  if (hash != std::string_view::npos) target = target.substr(0, hash);
  u.target = target.empty() ? "/" : std::string(target);
  if (u.target.front() == '?') u.target.insert(u.target.begin(), '/');
  bool v6 = u.host.find(':') != std::string::npos;
  u.host_header = v6 ? "[" + u.host + "]" : u.host;
  if (u.port != 80) u.host_header += ":" + std::to_string(u.port);
  return u;
}

bool IsLoopbackHost(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (IEquals(host, "localhost")) return true;
  std::string h(host);
  in_addr a4{};
  if (inet_pton(AF_INET, h.c_str(), &a4) == 1) {
    return (ntohl(a4.s_addr) >> 24) == 127;
  }
  in6_addr a6{};
  if (inet_pton(AF_INET6, h.c_str(), &a6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&a6) != 0;
  }
  return false;
}

std::string MacHexhyp(std::string_view mac) { return FormatSetting(mac, "hexhyp"); }

Result<IpxePlan> RunIpxeScript(std::string_view script, std::string_view script_url,
                               const IpxeEnv& env) {
  std::string_view first = script.substr(0, script.find('\n'));
  first = Trim(first);
  if (first.rfind("#!ipxe", 0) != 0) {
    return Status::InvalidArgument("not an iPXE script (no #!ipxe magic)");
  }
  Interpreter interp(script, script_url, env);
  return interp.Run();
}

}  // namespace sw::bootstorm
