// uring/timer_wheel.h: a hashed timer wheel for an event loop's deadlines (connection header,
// idle and send timeouts), so that finding what expired costs O(expired) per tick instead of a
// scan over every connection.
//
// Timers are embedded in their owners (no allocation) and linked into one of `slots` circular
// lists by deadline tick; a deadline more than one revolution away stays in its slot and is
// skipped until its tick comes round. Arm() moves a timer (O(1)), Cancel() unlinks it (O(1); the
// owner must cancel before it is destroyed). Advance(now) fires every timer whose deadline is at
// or before `now`, each after unlinking it, so OnTimer may re-arm it or cancel and destroy any
// timer, including others due in the same tick.
// Thread-safety: a wheel and its timers belong to one thread (the loop's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sw {

class TimerWheel {
 public:
  class Timer {
   public:
    Timer() = default;
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;
    bool armed() const { return next_ != nullptr; }
    uint64_t deadline_ms() const { return when_; }
    // Runs from Advance() once the deadline has passed; the timer is no longer armed.
    virtual void OnTimer(uint64_t now_ms) = 0;

   protected:
    ~Timer() = default;

   private:
    friend class TimerWheel;
    uint64_t when_ = 0;
    Timer* prev_ = nullptr;
    Timer* next_ = nullptr;
  };

  // Ticks of tick_ms; `slots` lists (one revolution = slots * tick_ms).
  TimerWheel(uint64_t now_ms, uint32_t tick_ms = 50, uint32_t slots = 1024);
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // Fires at the first Advance(now) with now >= deadline_ms (re-arms an armed timer).
  void Arm(Timer* t, uint64_t deadline_ms);
  void Cancel(Timer* t);
  void Advance(uint64_t now_ms);
  size_t armed_count() const { return armed_; }

 private:
  struct Head final : Timer {  // a slot's sentinel: an empty list points at itself
    void OnTimer(uint64_t) override {}
  };
  static void Init(Timer* head);
  static void Unlink(Timer* t);
  static void PushBack(Timer* head, Timer* t);
  Timer* SlotFor(uint64_t deadline_ms);

  uint32_t tick_ms_;
  std::vector<Head> slots_;
  uint64_t done_tick_;  // every slot up to this tick has been processed
  size_t armed_ = 0;
};

}  // namespace sw
