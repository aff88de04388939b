#include <fnmatch.h>

#include <string>

#include "common/lines.h"
#include "tools/sources.h"

namespace sw {

void Excludes::Add(std::string p) {
  while (!p.empty() && (p.back() == '\r' || p.back() == ' ' || p.back() == '\t')) p.pop_back();
  while (!p.empty() && (p.front() == ' ' || p.front() == '\t')) p.erase(0, 1);
  if (p.empty() || p[0] == '#') return;
  while (!p.empty() && p.front() == '/') p.erase(0, 1);
  while (!p.empty() && p.back() == '/') p.pop_back();
  if (!p.empty()) patterns_.push_back(std::move(p));
}

void Excludes::AddFile(std::string_view text) {
  ForEachLine(text, [&](std::string_view line) { Add(std::string(line)); });
}

void Excludes::AddDefaults() {
  for (const char* p : {"proc/*", "sys/*", "tmp/*", "run/*", "dev/*", "var/tmp/*"}) Add(p);
  keep_ = {"dev/console", "dev/null"};
}

bool Excludes::Excluded(std::string_view rel) const {
  std::string path(rel);
  for (const auto& k : keep_) {
    if (path == k) return false;
  }
  for (const auto& p : patterns_) {
    // Go's filepath.Match: '*' and '?' never match a separator (FNM_PATHNAME).
    if (fnmatch(p.c_str(), path.c_str(), FNM_PATHNAME) == 0) return true;
  }
  return false;
}

}  // namespace sw
