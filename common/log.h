// common/log.h: leveled logging to stderr and CHECK for broken invariants.
//
// LOG(INFO) << "..." writes one line "<time> I <file>:<line>] ..." to stderr (one write(2), so
// lines from threads do not interleave). CHECK(cond) << "..." aborts with file and line when cond
// is false: use it only for broken invariants and OOM, never for errors caused by peers or input.
// Thread-safety: all functions may be called from any thread.
#pragma once

#include <sstream>
#include <string_view>

namespace sw {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3, kFatal = 4 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// Parses "debug|info|warning|error"; returns false on an unknown name.
bool ParseLogLevel(std::string_view name, LogLevel* out);

class LogMessage {
 public:
  LogMessage(const char* file, int line, LogLevel level);
  ~LogMessage();  // emits the line; aborts for kFatal
  std::ostream& stream() { return os_; }

 private:
  const char* file_;
  int line_;
  LogLevel level_;
  std::ostringstream os_;
};

// Swallows a stream expression when the level is disabled.
struct LogVoidify {
  void operator&(std::ostream&) {}
};

}  // namespace sw

#define SW_LOG_LEVEL_DEBUG ::sw::LogLevel::kDebug
#define SW_LOG_LEVEL_INFO ::sw::LogLevel::kInfo
#define SW_LOG_LEVEL_WARNING ::sw::LogLevel::kWarning
#define SW_LOG_LEVEL_ERROR ::sw::LogLevel::kError
#define SW_LOG_LEVEL_FATAL ::sw::LogLevel::kFatal

#define LOG(sev)                                                   \
  (SW_LOG_LEVEL_##sev < ::sw::GetLogLevel())                       \
      ? (void)0                                                    \
      : ::sw::LogVoidify() & ::sw::LogMessage(__FILE__, __LINE__, SW_LOG_LEVEL_##sev).stream()

#define CHECK(cond)                                                          \
  (cond) ? (void)0                                                           \
         : ::sw::LogVoidify() &                                              \
               ::sw::LogMessage(__FILE__, __LINE__, ::sw::LogLevel::kFatal)  \
                       .stream()                                             \
                   << "Check failed: " #cond " "
