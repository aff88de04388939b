#include "chunkstore/newc.h"

#include <cstring>

namespace sw {
namespace {

constexpr char kTrailer[] = "TRAILER!!!";

void PutHex8(char* p, uint32_t v) {
  static const char kDigits[] = "0123456789ABCDEF";
  for (int i = 7; i >= 0; --i) {
    p[i] = kDigits[v & 15];
    v >>= 4;
  }
}

bool GetHex8(const char* p, uint32_t* v) {
  uint32_t r = 0;
  for (int i = 0; i < 8; ++i) {
    char c = p[i];
    uint32_t d;
    if (c >= '0' && c <= '9') {
      d = static_cast<uint32_t>(c - '0');
    } else if (c >= 'A' && c <= 'F') {
      d = static_cast<uint32_t>(c - 'A' + 10);
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<uint32_t>(c - 'a' + 10);
    } else {
      return false;
    }
    r = r << 4 | d;
  }
  *v = r;
  return true;
}

size_t Pad4(size_t n) { return (n + 3) & ~size_t{3}; }

}  // namespace

void NewcAppendHeader(std::string* out, const NewcHeader& h, std::string_view name) {
  char hdr[kNewcHeaderSize];
  std::memcpy(hdr, "070701", 6);
  const uint32_t fields[13] = {h.ino,      h.mode,     h.uid,       h.gid,
                               h.nlink,    h.mtime,    h.filesize,  h.devmajor,
                               h.devminor, h.rdevmajor, h.rdevminor,
                               static_cast<uint32_t>(name.size() + 1), 0 /*check*/};
  for (int i = 0; i < 13; ++i) PutHex8(hdr + 6 + 8 * i, fields[i]);
  out->append(hdr, kNewcHeaderSize);
  out->append(name);
  out->push_back('\0');
  NewcAppendPad(out);
}

void NewcAppendPad(std::string* out) { out->append(Pad4(out->size()) - out->size(), '\0'); }

void NewcAppendTrailer(std::string* out) {
  NewcHeader h;
  h.nlink = 1;
  NewcAppendHeader(out, h, kTrailer);
}

uint64_t NewcEntrySize(size_t name_len, uint64_t data_len) {
  return Pad4(kNewcHeaderSize + name_len + 1) + ((data_len + 3) & ~uint64_t{3});
}

Result<std::vector<NewcEntry>> ParseNewc(std::string_view raw, size_t* archives) {
  std::vector<NewcEntry> out;
  size_t pos = 0;
  size_t n_archives = 0;
  bool in_archive = false;
  while (pos < raw.size()) {
    if (!in_archive && raw[pos] == '\0') {  // NUL padding between archives
      ++pos;
      continue;
    }
    if (raw.size() - pos < kNewcHeaderSize || raw.compare(pos, 6, "070701") != 0) {
      return Status::Corruption("newc: bad magic at offset " + std::to_string(pos));
    }
    in_archive = true;
    uint32_t f[13];
    for (int i = 0; i < 13; ++i) {
      if (!GetHex8(raw.data() + pos + 6 + 8 * i, &f[i])) {
        return Status::Corruption("newc: bad hex field at offset " + std::to_string(pos));
      }
    }
    NewcEntry e;
    e.h = NewcHeader{f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[9], f[10], f[7], f[8]};
    uint32_t namesize = f[11];
    size_t name_off = pos + kNewcHeaderSize;
    if (namesize == 0 || namesize > 65536 || raw.size() - name_off < namesize ||
        raw[name_off + namesize - 1] != '\0') {
      return Status::Corruption("newc: bad name at offset " + std::to_string(pos));
    }
    e.name.assign(raw.data() + name_off, namesize - 1);
    size_t data_off = Pad4(name_off + namesize);
    if (data_off > raw.size() || raw.size() - data_off < e.h.filesize) {
      return Status::Corruption("newc: truncated entry '" + e.name + "'");
    }
    e.data = raw.substr(data_off, e.h.filesize);
    pos = Pad4(data_off + e.h.filesize);
    if (pos > raw.size()) pos = raw.size();
    if (e.name == kTrailer) {
      ++n_archives;
      in_archive = false;
      continue;
    }
    out.push_back(std::move(e));
  }
  if (in_archive) return Status::Corruption("newc: archive does not end with TRAILER!!!");
  if (archives) *archives = n_archives;
  return out;
}

Result<std::string> NewcAsContinuation(std::string_view segment, uint64_t dev) {
  size_t archives = 0;
  SW_ASSIGN_OR_RETURN(auto entries, ParseNewc(segment, &archives));
  if (archives != 1) return Status::Corruption("newc: a segment must be exactly one archive");
  std::string out;
  out.reserve(segment.size());
  for (auto& e : entries) {
    e.h.devmajor = static_cast<uint32_t>(dev >> 32);
    e.h.devminor = static_cast<uint32_t>(dev);
    NewcAppendHeader(&out, e.h, e.name);
    out.append(e.data);
    NewcAppendPad(&out);
  }
  return out;
}

std::string NewcTrailerArchive() {
  std::string out;
  NewcAppendTrailer(&out);
  return out;
}

}  // namespace sw
