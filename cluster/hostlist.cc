#include "cluster/hostlist.h"

#include <cstdint>

namespace sw {
namespace {

constexpr size_t kMaxNames = 100000;

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// "1-3,7" -> {"1","2","3","7"} with the padding of each range's first bound.
Result<std::vector<std::string>> ExpandBracket(std::string_view body, std::string_view whole) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t comma = body.find(',', pos);
    if (comma == std::string_view::npos) comma = body.size();
    std::string_view part = body.substr(pos, comma - pos);
    size_t dash = part.find('-');
    std::string_view lo = part.substr(0, dash);
    std::string_view hi = dash == std::string_view::npos ? lo : part.substr(dash + 1);
    if (!AllDigits(lo) || !AllDigits(hi) || lo.size() > 9 || hi.size() > 9) {
      return Status::InvalidArgument("bad range '" + std::string(part) + "' in '" + std::string(whole) + "'");
    }
    uint64_t a = std::stoull(std::string(lo)), b = std::stoull(std::string(hi));
    if (a > b) {
      return Status::InvalidArgument("reversed range '" + std::string(part) + "' in '" + std::string(whole) + "'");
    }
    if (b - a >= kMaxNames) return Status::InvalidArgument("range too large in '" + std::string(whole) + "'");
    size_t width = lo.size();
    for (uint64_t v = a; v <= b; ++v) {
      std::string s = std::to_string(v);
      if (s.size() < width) s.insert(0, width - s.size(), '0');
      out.push_back(std::move(s));
    }
    pos = comma + 1;
  }
  return out;
}

// One name pattern without top-level commas.
Status ExpandOne(std::string_view pat, std::string_view whole, std::vector<std::string>* out) {
  std::vector<std::string> acc = {""};
  size_t pos = 0;
  while (pos < pat.size()) {
    size_t open = pat.find('[', pos);
    size_t close_stray = pat.find(']', pos);
    if (close_stray != std::string_view::npos && (open == std::string_view::npos || close_stray < open)) {
      return Status::InvalidArgument("unbalanced ']' in '" + std::string(whole) + "'");
    }
    std::string_view lit = pat.substr(pos, open == std::string_view::npos ? std::string_view::npos : open - pos);
    for (auto& a : acc) a += lit;
    if (open == std::string_view::npos) break;
    size_t close = pat.find(']', open);
    if (close == std::string_view::npos) return Status::InvalidArgument("unbalanced '[' in '" + std::string(whole) + "'");
    SW_ASSIGN_OR_RETURN(auto parts, ExpandBracket(pat.substr(open + 1, close - open - 1), whole));
    if (acc.size() * parts.size() > kMaxNames) {
      return Status::InvalidArgument("'" + std::string(whole) + "' names more than 100000 nodes");
    }
    std::vector<std::string> next;
    next.reserve(acc.size() * parts.size());
    for (const auto& a : acc) {
      for (const auto& p : parts) next.push_back(a + p);
    }
    acc = std::move(next);
    pos = close + 1;
  }
  if (acc.size() == 1 && acc[0].empty()) return Status::InvalidArgument("empty name in '" + std::string(whole) + "'");
  out->insert(out->end(), acc.begin(), acc.end());
  if (out->size() > kMaxNames) return Status::InvalidArgument("'" + std::string(whole) + "' names more than 100000 nodes");
  return Status::OK();
}

}  // namespace

Result<std::vector<std::string>> ExpandHostlist(std::string_view expr) {
  std::vector<std::string> out;
  size_t start = 0;
  int depth = 0;
  for (size_t i = 0; i <= expr.size(); ++i) {
    if (i < expr.size() && expr[i] == '[') ++depth;
    if (i < expr.size() && expr[i] == ']') --depth;
    if (i == expr.size() || (expr[i] == ',' && depth == 0)) {
      std::string_view one = expr.substr(start, i - start);
      if (!one.empty()) SW_RETURN_IF_ERROR(ExpandOne(one, expr, &out));
      start = i + 1;
    }
  }
  if (out.empty()) return Status::InvalidArgument("no names in '" + std::string(expr) + "'");
  return out;
}

}  // namespace sw
