// server/http_parser.h: in-place HTTP/1.x request-head parser (picohttpparser-style).
//
// ParseRequestHead looks at buf[0, len) and, when it holds a complete head, fills *req with views
// into buf (no allocation) and returns the head's length; it returns kIncomplete while more bytes
// are needed and kBad for a malformed head. Accepts CRLF or bare LF line ends, rejects obsolete
// line folding, control characters, and more than `max_headers` headers.
// Thread-safety: pure function.
#pragma once

#include <cstddef>
#include <string_view>

#include "server/http_types.h"

namespace sw {

inline constexpr long kHeadIncomplete = -2;
inline constexpr long kHeadBad = -1;
inline constexpr long kHeadTooManyHeaders = -3;

long ParseRequestHead(const char* buf, size_t len, HttpRequest* req, HttpHeaderView* headers,
                      size_t max_headers);

// Collapses every run of '/' in a path into one (Warewulf's slashFix), in place; returns the new
// length.
size_t CollapseSlashes(char* path, size_t len);

}  // namespace sw
