// common/lines.h: splitting text into lines, for the small line-oriented files the project reads
// (dpkg .list files, excludes, wwclient.conf, state files).
// Thread-safety: pure function.
#pragma once

#include <string_view>

namespace sw {

// Calls fn(line) for each line of text, without its '\n' (a '\r' before it is kept). A last line
// without '\n' counts; nothing follows a final '\n'.
template <typename Fn>
void ForEachLine(std::string_view text, Fn&& fn) {
  while (!text.empty()) {
    size_t nl = text.find('\n');
    fn(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  }
}

}  // namespace sw
