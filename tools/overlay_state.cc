// File format (text, one record per line; fields separated by tabs):
//   stormwulf overlay inputs 1
//   D <index> <dep>[\t<dep>...]             a distinct dependency list (most nodes share one)
//   N <node> <kind> <digest> <manifest> <index of its D line>
#include "tools/overlay_state.h"

#include <sys/stat.h>

#include <cerrno>
#include <sstream>

#include "common/fs_util.h"

namespace sw {
namespace {

constexpr char kHeader[] = "stormwulf overlay inputs 1";

std::vector<std::string> SplitTabs(const std::string& line) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (;;) {
    size_t tab = line.find('\t', pos);
    out.push_back(line.substr(pos, tab == std::string::npos ? std::string::npos : tab - pos));
    if (tab == std::string::npos) return out;
    pos = tab + 1;
  }
}

}  // namespace

Result<OverlayInputState> OverlayInputState::Load(const std::string& path) {
  OverlayInputState state;
  auto text = ReadFileToString(path);
  if (!text.ok()) {
    if (text.status().IsNotFound()) return state;
    return text.status();
  }
  std::istringstream in(*text);
  std::string line;
  auto bad = [&](const std::string& why) {
    return Status::Corruption(path + ": " + why + " (line '" + line.substr(0, 80) + "')");
  };
  if (!std::getline(in, line) || line != kHeader) return bad("not an overlay input state");
  std::vector<std::vector<std::string>> dep_lists;
  while (std::getline(in, line)) {
    if (line.size() < 2 || line[1] != ' ') return bad("bad record");
    std::string rest = line.substr(2);
    if (line[0] == 'D') {
      size_t sp = rest.find(' ');
      if (sp == std::string::npos || rest.substr(0, sp) != std::to_string(dep_lists.size())) {
        return bad("bad dependency list");
      }
      std::string deps = rest.substr(sp + 1);
      dep_lists.push_back(deps.empty() ? std::vector<std::string>{} : SplitTabs(deps));
    } else if (line[0] == 'N') {
      auto f = SplitTabs(rest);
      if (f.size() != 5) return bad("bad node record");
      auto digest = ChunkId::FromHex(f[2]);
      auto manifest = ChunkId::FromHex(f[3]);
      char* end = nullptr;
      errno = 0;
      unsigned long idx = std::strtoul(f[4].c_str(), &end, 10);
      if (!digest || !manifest || errno != 0 || end == f[4].c_str() || *end != '\0' ||
          idx >= dep_lists.size()) {
        return bad("bad node record");
      }
      state.records_[{f[0], f[1]}] = OverlayInputRecord{*digest, *manifest, dep_lists[idx]};
    } else {
      return bad("unknown record");
    }
  }
  return state;
}

Status OverlayInputState::Save(const std::string& path) const {
  std::map<std::vector<std::string>, size_t> lists;
  std::string deps_text, nodes_text;
  for (const auto& [key, r] : records_) {
    auto [it, fresh] = lists.emplace(r.deps, lists.size());
    if (fresh) {
      deps_text += "D " + std::to_string(it->second) + " ";
      for (size_t i = 0; i < r.deps.size(); ++i) deps_text += (i ? "\t" : "") + r.deps[i];
      deps_text += "\n";
    }
    nodes_text += "N " + key.first + "\t" + key.second + "\t" + r.digest.Hex() + "\t" +
                  r.manifest.Hex() + "\t" + std::to_string(it->second) + "\n";
  }
  SW_RETURN_IF_ERROR(MakeDirs(DirName(path), 0750));
  return WriteFileAtomic(path, std::string(kHeader) + "\n" + deps_text + nodes_text, 0600);
}

const OverlayInputRecord* OverlayInputState::Find(const std::string& node,
                                                  const std::string& kind) const {
  auto it = records_.find({node, kind});
  return it == records_.end() ? nullptr : &it->second;
}

void OverlayInputState::Set(const std::string& node, const std::string& kind,
                            OverlayInputRecord r) {
  records_[{node, kind}] = std::move(r);
}

void OverlayInputState::Retain(const std::set<std::string>& nodes) {
  std::erase_if(records_, [&](const auto& kv) { return !nodes.count(kv.first.first); });
}

}  // namespace sw
