// libFuzzer target for the HTTP request-head parser and the request helpers stormwulfd runs on
// untrusted bytes. Built as `http_parser_fuzz` with -DSW_FUZZ=ON (clang); the same entry point is
// replayed over the seed corpus in every build (`http_parser_fuzz_replay`).
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/http_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* buf = reinterpret_cast<const char*>(data);
  sw::HttpRequest req;
  sw::HttpHeaderView headers[64];
  long n = sw::ParseRequestHead(buf, size, &req, headers, 64);
  if (n > 0) {
    // Invariants of a parsed head: views lie inside the buffer.
    if (static_cast<size_t>(n) > size) __builtin_trap();
    if (req.target.data() < buf || req.target.data() + req.target.size() > buf + size) {
      __builtin_trap();
    }
    std::string path(req.target.substr(0, req.target.find('?')));
    size_t len = sw::CollapseSlashes(path.data(), path.size());
    if (len > path.size()) __builtin_trap();
    req.query = req.target.find('?') == std::string_view::npos
                    ? std::string_view()
                    : req.target.substr(req.target.find('?') + 1);
    std::string v;
    req.QueryParam("wwid", &v);
    req.QueryParam("compress", &v);
    (void)req.Header("Range");
  } else if (n != sw::kHeadIncomplete && n != sw::kHeadBad && n != sw::kHeadTooManyHeaders) {
    __builtin_trap();
  }
  return 0;
}
