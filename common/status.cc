#include "common/status.h"

#include <cerrno>
#include <cstring>

namespace sw {

const char* CodeName(Status::Code c) {
  switch (c) {
    case Status::Code::kOk:
      return "OK";
    case Status::Code::kNotFound:
      return "NotFound";
    case Status::Code::kCorruption:
      return "Corruption";
    case Status::Code::kInvalidArgument:
      return "InvalidArgument";
    case Status::Code::kIOError:
      return "IOError";
    case Status::Code::kUnavailable:
      return "Unavailable";
    case Status::Code::kCancelled:
      return "Cancelled";
    case Status::Code::kAlreadyExists:
      return "AlreadyExists";
    case Status::Code::kNoSpace:
      return "NoSpace";
  }
  return "Unknown";
}

std::string Status::ToString() const {
  if (ok()) {
    return "OK";
  }
  std::string s = CodeName(rep_->code);
  s += ": ";
  s += rep_->msg;
  return s;
}

Status Status::WithContext(std::string_view ctx) const {
  if (ok()) {
    return Status();
  }
  std::string msg(ctx);
  msg += ": ";
  msg += rep_->msg;
  return Status(rep_->code, msg);
}

Status FromErrno(std::string_view ctx, int err) {
  std::string msg(ctx);
  msg += ": ";
  msg += std::strerror(err);
  switch (err) {
    case ENOENT:
      return Status::NotFound(msg);
    case ENOSPC:
    case EDQUOT:
      return Status::NoSpace(msg);
    case EEXIST:
      return Status::AlreadyExists(msg);
    case EINVAL:
      return Status::InvalidArgument(msg);
    case ECANCELED:
      return Status::Cancelled(msg);
    default:
      return Status::IOError(msg);
  }
}

}  // namespace sw
