#include "uring/timer_wheel.h"

#include <algorithm>

namespace sw {

TimerWheel::TimerWheel(uint64_t now_ms, uint32_t tick_ms, uint32_t slots)
    : tick_ms_(std::max<uint32_t>(1, tick_ms)),
      slots_(std::max<uint32_t>(1, slots)),
      done_tick_(now_ms / tick_ms_) {
  for (Head& h : slots_) Init(&h);
}

void TimerWheel::Init(Timer* head) { head->prev_ = head->next_ = head; }

void TimerWheel::Unlink(Timer* t) {
  t->prev_->next_ = t->next_;
  t->next_->prev_ = t->prev_;
  t->prev_ = t->next_ = nullptr;
}

void TimerWheel::PushBack(Timer* head, Timer* t) {
  t->prev_ = head->prev_;
  t->next_ = head;
  head->prev_->next_ = t;
  head->prev_ = t;
}

// The slot of the deadline's tick; a tick already processed (a deadline in the past, or in the
// tick being processed now) maps to the next one, so the timer fires at the next tick.
TimerWheel::Timer* TimerWheel::SlotFor(uint64_t deadline_ms) {
  uint64_t tick = std::max(deadline_ms / tick_ms_, done_tick_ + 1);
  return &slots_[tick % slots_.size()];
}

void TimerWheel::Arm(Timer* t, uint64_t deadline_ms) {
  if (t->armed()) {
    Unlink(t);
  } else {
    ++armed_;
  }
  t->when_ = deadline_ms;
  PushBack(SlotFor(deadline_ms), t);
}

void TimerWheel::Cancel(Timer* t) {
  if (!t->armed()) return;
  Unlink(t);
  --armed_;
}

void TimerWheel::Advance(uint64_t now_ms) {
  const uint64_t now_tick = now_ms / tick_ms_;
  if (now_tick <= done_tick_) return;
  uint64_t first = done_tick_ + 1;
  if (now_tick - first >= slots_.size()) first = now_tick - slots_.size() + 1;  // each slot once
  for (uint64_t tick = first; tick <= now_tick; ++tick) {
    done_tick_ = tick;  // re-arms from the callbacks below land in later slots
    Head& slot = slots_[tick % slots_.size()];
    if (slot.next_ == &slot) continue;
    // Detach the slot: callbacks may arm, cancel or destroy any timer, these included.
    Head pending;
    pending.prev_ = slot.prev_;
    pending.next_ = slot.next_;
    pending.prev_->next_ = &pending;
    pending.next_->prev_ = &pending;
    Init(&slot);
    while (pending.next_ != &pending) {
      Timer* t = pending.next_;
      Unlink(t);
      if (t->when_ <= now_ms) {
        --armed_;
        t->OnTimer(now_ms);
      } else {
        PushBack(SlotFor(t->when_), t);  // a later revolution
      }
    }
  }
  done_tick_ = now_tick;
}

}  // namespace sw
