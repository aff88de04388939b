// common/thread_priority.h: helper threads that yield the CPU to a serial thread of their own
// process (the in-order SHA-256 of an image stream, in `swctl image import` and `wwclient
// provision`). Measured on 2 vCPUs: warm 1 GiB provision 1.08 s -> 1.00 s, later-version imports
// 6-13 % faster (docs/agent.md, docs/benchmarks.md).
// Thread-safety: applies to the calling thread only.
#pragma once

#include <sys/resource.h>
#include <unistd.h>

namespace sw {

// The nice value of such helper threads; the serial thread and the caller keep theirs.
inline constexpr int kHelperThreadNice = 10;

// Lowers the calling thread's priority to kHelperThreadNice. Raising one's own nice value needs
// no privilege, and Linux applies it to this thread alone. Best effort: a failure changes nothing
// but the scheduling.
inline void LowerThisThreadPriority() {
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kHelperThreadNice);
}

}  // namespace sw
