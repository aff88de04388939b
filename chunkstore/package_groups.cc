#include "chunkstore/package_groups.h"

#include <sys/stat.h>

#include <map>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/lines.h"

namespace sw {
namespace {

constexpr std::string_view kDpkgInfo = "var/lib/dpkg/info/";

// "var/lib/dpkg/info/libc6:amd64.md5sums" -> "libc6:amd64"; "" when not a file of that directory.
// Package names may contain dots ("python3.11"); the control-file suffixes never do.
std::string_view DpkgInfoPackage(std::string_view path) {
  if (!path.starts_with(kDpkgInfo)) return {};
  std::string_view name = path.substr(kDpkgInfo.size());
  size_t dot = name.rfind('.');
  if (name.find('/') != std::string_view::npos || dot == std::string_view::npos || dot == 0)
    return {};
  return name.substr(0, dot);
}

}  // namespace

Result<size_t> AssignPackageGroups(std::vector<TreeEntry>* entries) {
  // Packages in name order, each with its .list.
  std::map<std::string, const TreeEntry*> lists;
  for (const auto& e : *entries) {
    if (S_ISREG(e.mode) && e.path.ends_with(".list")) {
      std::string_view pkg = DpkgInfoPackage(e.path);
      if (!pkg.empty()) lists.emplace(std::string(pkg), &e);
    }
  }
  if (lists.empty()) return size_t{0};

  // Top-level symlinks inside the tree ("bin" -> "usr/bin"), for paths listed through them.
  std::unordered_map<std::string, std::string> aliases;
  for (const auto& e : *entries) {
    if (!S_ISLNK(e.mode) || e.path.find('/') != std::string::npos) continue;
    std::string t = e.symlink_target;
    while (t.starts_with('/')) t.erase(0, 1);
    while (t.ends_with('/')) t.pop_back();
    if (t.empty() || t.find("..") != std::string::npos) continue;
    aliases.emplace(e.path, t);
  }

  std::unordered_map<std::string, uint32_t> owner;
  std::unordered_map<std::string, uint32_t> group_of_package;
  uint32_t group = 0;
  std::string text;
  for (const auto& [pkg, list] : lists) {
    group_of_package.emplace(pkg, ++group);
    text.clear();
    SW_RETURN_IF_ERROR(ReadEntryContent(*list, [&](std::string_view v) {
      text.append(v);
      return Status::OK();
    }));
    ForEachLine(text, [&](std::string_view line) {
      while (line.starts_with('/')) line.remove_prefix(1);
      if (line.empty()) return;
      owner.emplace(std::string(line), group);
      size_t slash = line.find('/');
      if (slash == std::string_view::npos) return;
      auto alias = aliases.find(std::string(line.substr(0, slash)));
      if (alias != aliases.end())
        owner.emplace(alias->second + std::string(line.substr(slash)), group);
    });
  }
  for (auto& e : *entries) {
    e.group = 0;
    if (auto it = owner.find(e.path); it != owner.end()) {
      e.group = it->second;
    } else if (std::string_view pkg = DpkgInfoPackage(e.path); !pkg.empty()) {
      if (auto p = group_of_package.find(std::string(pkg)); p != group_of_package.end()) {
        e.group = p->second;
      }
    }
  }
  return lists.size();
}

}  // namespace sw
