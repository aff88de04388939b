#include "common/log.h"

#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

namespace sw {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
}  // namespace

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }
LogLevel GetLogLevel() { return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed)); }

bool ParseLogLevel(std::string_view name, LogLevel* out) {
  if (name == "debug") {
    *out = LogLevel::kDebug;
  } else if (name == "info") {
    *out = LogLevel::kInfo;
  } else if (name == "warning" || name == "warn") {
    *out = LogLevel::kWarning;
  } else if (name == "error") {
    *out = LogLevel::kError;
  } else {
    return false;
  }
  return true;
}

LogMessage::LogMessage(const char* file, int line, LogLevel level)
    : file_(file), line_(line), level_(level) {}

LogMessage::~LogMessage() {
  static const char kLetters[] = "DIWEF";
  timeval tv;
  gettimeofday(&tv, nullptr);
  tm t;
  localtime_r(&tv.tv_sec, &t);
  const char* base = file_;
  for (const char* p = file_; *p; ++p) {
    if (*p == '/') {
      base = p + 1;
    }
  }
  char prefix[96];
  snprintf(prefix, sizeof(prefix), "%02d:%02d:%02d.%06ld %c %s:%d] ", t.tm_hour, t.tm_min,
           t.tm_sec, static_cast<long>(tv.tv_usec), kLetters[static_cast<int>(level_)], base,
           line_);
  std::string out = prefix;
  out += os_.str();
  out += '\n';
  // One write so that concurrent lines do not interleave.
  ssize_t ignored = write(STDERR_FILENO, out.data(), out.size());
  (void)ignored;
  if (level_ == LogLevel::kFatal) {
    abort();
  }
}

}  // namespace sw
