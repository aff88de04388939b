#include "server/http_types.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <cerrno>

namespace sw {
namespace {
bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}
int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

SharedFile::~SharedFile() {
  if (loaded_) budget->fetch_sub(size, std::memory_order_relaxed);
}

const std::string* SharedFile::Contents() const {
  if (!budget) return nullptr;
  if (!used_.load(std::memory_order_relaxed) && !used_.exchange(true)) return nullptr;
  std::call_once(once_, [this] {
    if (budget->fetch_add(size, std::memory_order_relaxed) + size > budget_limit) {
      budget->fetch_sub(size, std::memory_order_relaxed);
      return;
    }
    contents_.resize(size);
    // Not common's PreadAll: the fuzz targets build this file alone, without sw_common.
    for (uint64_t done = 0; done < size;) {
      ssize_t n = ::pread(fd.get(), contents_.data() + done, size - done, static_cast<off_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {  // unreadable or shorter than it was: the sender reads the file and reports it
        std::string().swap(contents_);
        budget->fetch_sub(size, std::memory_order_relaxed);
        return;
      }
      done += static_cast<uint64_t>(n);
    }
    loaded_ = true;
  });
  return loaded_ ? &contents_ : nullptr;
}

std::string_view HttpRequest::Header(std::string_view name) const {
  for (size_t i = 0; i < num_headers; ++i) {
    if (IEquals(headers[i].name, name)) return headers[i].value;
  }
  return {};
}

bool PercentDecode(std::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      out->push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = HexVal(in[i + 1]), lo = HexVal(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi << 4 | lo));
      i += 2;
    } else {
      out->push_back(c);
    }
  }
  return true;
}

bool HttpRequest::QueryParam(std::string_view key, std::string* out) const {
  std::string_view q = query;
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    size_t eq = pair.find('=');
    std::string_view k = pair.substr(0, eq);
    if (k == key) {
      std::string_view v = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
      if (!PercentDecode(v, out)) out->assign(v);
      return true;
    }
  }
  return false;
}

std::string HttpRequest::PeerAddress() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (peer.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&peer)->sin_addr, buf, sizeof(buf));
  } else if (peer.ss_family == AF_INET6) {
    const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&peer);
    if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
      inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], buf, sizeof(buf));
    } else {
      inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof(buf));
    }
  }
  return buf;
}

}  // namespace sw
