// chunkstore/newc.h: the "newc" (SVR4 portable ASCII, magic 070701) cpio format, as the Linux
// kernel's initramfs unpacker, GNU cpio and libarchive read it. Byte layout in
// docs/formats/image.md. Writer and a strict reader. Thread-safety: free functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace sw {

inline constexpr size_t kNewcHeaderSize = 110;
inline constexpr uint64_t kNewcMaxFileSize = 0xFFFFFFFFull;  // 8 hex digits: < 4 GiB

struct NewcHeader {
  uint32_t ino = 0;
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t nlink = 1;
  uint32_t mtime = 0;
  uint32_t filesize = 0;
  uint32_t rdevmajor = 0;
  uint32_t rdevminor = 0;
  // The device of the file system the entry came from: 0 in segments; readers (GNU cpio, the
  // kernel) match hard links by (dev, ino), so NewcAsContinuation sets it per segment.
  uint32_t devmajor = 0;
  uint32_t devminor = 0;
};

// Appends header + NUL-terminated name + padding to a multiple of 4 (counted from the start of the
// archive, which must itself be 4-aligned in *out). The caller then appends `filesize` bytes of
// data and calls NewcAppendPad.
void NewcAppendHeader(std::string* out, const NewcHeader& h, std::string_view name);
// Pads *out with NULs to a multiple of 4.
void NewcAppendPad(std::string* out);
// Appends the TRAILER!!! entry (and its padding).
void NewcAppendTrailer(std::string* out);
// Bytes an entry occupies: header, name, padding, data, padding.
uint64_t NewcEntrySize(size_t name_len, uint64_t data_len);

struct NewcEntry {
  NewcHeader h;
  std::string name;
  std::string_view data;  // points into the parsed buffer
};

// Parses a stream of concatenated newc archives (each ending in TRAILER!!!, NUL padding between
// archives allowed); TRAILER entries are not returned. `archives`, if set, receives the number of
// archives seen. Corruption on malformed input (bad magic, truncation, bad hex, a name without
// its NUL, a stream that does not end on a TRAILER).
Result<std::vector<NewcEntry>> ParseNewc(std::string_view raw, size_t* archives = nullptr);

// One segment (a complete newc archive) rewritten as a *continuation* of a larger archive: the
// same entries, without its TRAILER!!!, every header's devmajor:devminor set to the two halves of
// `dev`. Userspace cpio readers (GNU cpio, so Warewulf's dracut module and wwclient, which run
// `gzip -d | cpio -i`) stop at the first TRAILER!!!, so a segmented image only extracts fully if
// the segments are continuations closed by one final trailer (NewcTrailerArchive). The kernel
// accepts the same stream: a compressed member may end at any entry boundary
// (shared/reference/pxe-boot-facts.md, case b4). A distinct `dev` per segment (derived from its
// chunk id) keeps each segment's own inode numbering from joining unrelated hard-link groups:
// both GNU cpio and the kernel match links by (dev, ino). Corruption if `segment` is not newc.
Result<std::string> NewcAsContinuation(std::string_view segment, uint64_t dev);

// An archive holding only TRAILER!!! (closes a stream of continuations).
std::string NewcTrailerArchive();

}  // namespace sw
