// common/json.h: the one JSON string escaper used by every JSON writer (stormwulfd's /status,
// bootstorm's reports, swctl's --json output).
// Thread-safety: pure function.
#pragma once

#include <string>
#include <string_view>

namespace sw {

// Escapes s for use inside a JSON string literal (quotes, backslash, control characters as
// \uXXXX; bytes >= 0x80 pass through, so UTF-8 stays UTF-8).
std::string JsonEscape(std::string_view s);

}  // namespace sw
