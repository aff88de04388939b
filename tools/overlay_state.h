// tools/overlay_state.h: what each node's last overlay build was made from, so that the next
// `swctl overlay build` renders only the nodes whose inputs changed.
//
// A record per node and overlay kind holds a digest of every input (the node's merged data, the
// overlay list, every source file's metadata, .AllNodes when one of the node's templates reads
// it, and the fingerprints of the host files and images its templates read), the manifest that
// build produced, and the names of those host files and images, which the next build
// fingerprints again. Kept in <store>/state/overlay-inputs (docs/formats/store.md), replaced
// atomically after the refs it describes are committed. A missing, stale or damaged file only
// costs a full rebuild.
// Thread-safety: none; the build merges records from one thread.
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "chunkstore/chunk_id.h"
#include "common/status.h"

namespace sw {

struct OverlayInputRecord {
  ChunkId digest;                 // every input, dependencies' fingerprints included
  ChunkId manifest;               // what that build made; its ref must still point here
  std::vector<std::string> deps;  // host files and images the templates read
};

class OverlayInputState {
 public:
  // An absent file is an empty state; a damaged one is Corruption (the caller starts empty).
  static Result<OverlayInputState> Load(const std::string& path);
  Status Save(const std::string& path) const;

  const OverlayInputRecord* Find(const std::string& node, const std::string& kind) const;
  void Set(const std::string& node, const std::string& kind, OverlayInputRecord r);
  // Drops the records of nodes not in `nodes` (deleted from nodes.conf).
  void Retain(const std::set<std::string>& nodes);
  size_t size() const { return records_.size(); }

 private:
  std::map<std::pair<std::string, std::string>, OverlayInputRecord> records_;
};

}  // namespace sw
