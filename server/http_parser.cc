#include "server/http_parser.h"

namespace sw {
namespace {

bool IsTokenChar(char c) {
  if (c >= 'a' && c <= 'z') return true;
  if (c >= 'A' && c <= 'Z') return true;
  if (c >= '0' && c <= '9') return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

// Finds the end of the line starting at p; returns the position after the line terminator and
// sets *line_end to the position of '\r' or '\n'. nullptr if no terminator yet.
const char* NextLine(const char* p, const char* end, const char** line_end) {
  for (const char* q = p; q < end; ++q) {
    if (*q == '\n') {
      *line_end = (q > p && q[-1] == '\r') ? q - 1 : q;
      return q + 1;
    }
  }
  return nullptr;
}

}  // namespace

long ParseRequestHead(const char* buf, size_t len, HttpRequest* req, HttpHeaderView* headers,
                      size_t max_headers) {
  const char* p = buf;
  const char* end = buf + len;
  // Tolerate empty lines before the request line (RFC 9112 2.2).
  while (p < end && (*p == '\r' || *p == '\n')) ++p;
  // Find the end of the head first: no parsing work on partial heads.
  const char* head_end = nullptr;
  for (const char* q = p; q < end; ++q) {
    if (*q == '\n') {
      if (q + 1 < end && q[1] == '\n') {
        head_end = q + 2;
        break;
      }
      if (q + 2 < end && q[1] == '\r' && q[2] == '\n') {
        head_end = q + 3;
        break;
      }
    }
  }
  if (head_end == nullptr) return kHeadIncomplete;

  const char* line_end = head_end;
  const char* next = NextLine(p, head_end, &line_end);
  if (next == nullptr) return kHeadBad;
  std::string_view line(p, static_cast<size_t>(line_end - p));
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return kHeadBad;
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return kHeadBad;
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  for (char c : method) {
    if (!IsTokenChar(c)) return kHeadBad;
  }
  for (char c : target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return kHeadBad;
  }
  if (version.size() != 8 || version.substr(0, 7) != "HTTP/1." || version[7] < '0' ||
      version[7] > '9') {
    return kHeadBad;
  }
  req->method = method;
  req->target = target;
  req->minor_version = version[7] - '0';
  size_t n = 0;
  p = next;
  while (p < head_end) {
    next = NextLine(p, head_end, &line_end);
    if (next == nullptr || line_end == p) break;  // the empty line
    if (*p == ' ' || *p == '\t') return kHeadBad;  // obsolete line folding
    std::string_view h(p, static_cast<size_t>(line_end - p));
    size_t colon = h.find(':');
    if (colon == std::string_view::npos || colon == 0) return kHeadBad;
    std::string_view name = h.substr(0, colon);
    for (char c : name) {
      if (!IsTokenChar(c)) return kHeadBad;
    }
    std::string_view value = h.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    for (char c : value) {
      unsigned char u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7f) return kHeadBad;
    }
    if (n == max_headers) return kHeadTooManyHeaders;
    headers[n++] = HttpHeaderView{name, value};
    p = next;
  }
  req->headers = headers;
  req->num_headers = n;
  return head_end - buf;
}

size_t CollapseSlashes(char* path, size_t len) {
  size_t w = 0;
  for (size_t r = 0; r < len; ++r) {
    if (path[r] == '/' && w > 0 && path[w - 1] == '/') continue;
    path[w++] = path[r];
  }
  return w;
}

}  // namespace sw
