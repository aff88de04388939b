#include "uring/timer_wheel.h"

#include <functional>
#include <memory>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace sw {
namespace {

struct TestTimer final : TimerWheel::Timer {
  std::vector<uint64_t> fired;  // Advance's now at each firing
  std::function<void(uint64_t)> then;
  void OnTimer(uint64_t now) override {
    fired.push_back(now);
    if (then) then(now);
  }
};

TEST(TimerWheelTest, FiresOnceAtOrAfterTheDeadlineNeverBefore) {
  TimerWheel w(1000, 50, 16);
  TestTimer a, b;
  w.Arm(&a, 1200);
  w.Arm(&b, 1075);
  EXPECT_EQ(w.armed_count(), 2u);
  w.Advance(1049);
  EXPECT_TRUE(a.fired.empty() && b.fired.empty());
  w.Advance(1100);
  EXPECT_EQ(b.fired, std::vector<uint64_t>{1100});
  EXPECT_FALSE(b.armed());
  w.Advance(1199);
  EXPECT_TRUE(a.fired.empty());
  w.Advance(1250);
  EXPECT_EQ(a.fired, std::vector<uint64_t>{1250});
  w.Advance(5000);
  EXPECT_EQ(a.fired.size() + b.fired.size(), 2u);
  EXPECT_EQ(w.armed_count(), 0u);
}

TEST(TimerWheelTest, RearmCancelAndDeadlinesBeyondOneRevolution) {
  TimerWheel w(0, 10, 8);  // one revolution = 80 ms
  TestTimer later, earlier, cancelled, far, past;
  w.Arm(&later, 30);
  w.Arm(&later, 500);  // moved later: nothing at 30
  w.Arm(&earlier, 500);
  w.Arm(&earlier, 20);  // moved earlier
  w.Arm(&cancelled, 40);
  w.Cancel(&cancelled);
  w.Cancel(&cancelled);  // twice is fine
  w.Arm(&far, 1000);     // twelve revolutions away, in the same slot as 40
  w.Advance(60);
  EXPECT_TRUE(later.fired.empty());
  EXPECT_EQ(earlier.fired, std::vector<uint64_t>{60});
  EXPECT_TRUE(cancelled.fired.empty());
  EXPECT_TRUE(far.fired.empty());
  w.Arm(&past, 10);  // already due: fires at the next tick
  w.Advance(65);
  EXPECT_TRUE(past.fired.empty());
  w.Advance(70);
  EXPECT_EQ(past.fired, std::vector<uint64_t>{70});
  for (uint64_t t = 80; t < 1000; t += 7) w.Advance(t);
  EXPECT_EQ(later.fired.size(), 1u);
  EXPECT_GE(later.fired[0], 500u);
  EXPECT_TRUE(far.fired.empty());
  w.Advance(1003);
  EXPECT_EQ(far.fired, std::vector<uint64_t>{1003});
}

// A callback may re-arm its own timer, and cancel or destroy another due in the same tick.
TEST(TimerWheelTest, CallbacksMayRearmCancelAndDestroy) {
  TimerWheel w(0, 10, 8);
  TestTimer periodic, victim;
  auto doomed = std::make_unique<TestTimer>();
  periodic.then = [&](uint64_t now) {
    if (periodic.fired.size() < 3) w.Arm(&periodic, now + 25);
    w.Cancel(&victim);
    if (doomed) {
      w.Cancel(doomed.get());
      doomed.reset();
    }
  };
  w.Arm(&periodic, 15);
  w.Arm(&victim, 15);
  w.Arm(doomed.get(), 16);
  w.Advance(20);
  EXPECT_EQ(periodic.fired.size(), 1u);
  EXPECT_TRUE(victim.fired.empty());
  EXPECT_EQ(doomed, nullptr);
  for (uint64_t t = 30; t <= 200; t += 10) w.Advance(t);
  EXPECT_EQ(periodic.fired, (std::vector<uint64_t>{20, 50, 80}));
  EXPECT_EQ(w.armed_count(), 0u);
}

// Against a model, with random arms, cancels and time steps (some larger than a revolution):
// a timer never fires before its deadline, fires at most once per arming, and has fired once
// `now` is a tick past its deadline.
TEST(TimerWheelTest, RandomOperationsMatchTheModel) {
  std::mt19937_64 rng(42);
  const uint64_t tick = 10;
  TimerWheel w(0, tick, 32);
  std::vector<TestTimer> timers(200);
  std::vector<int64_t> deadline(timers.size(), -1);  // -1: not armed in the model
  uint64_t now = 0;
  for (int step = 0; step < 20000; ++step) {
    size_t i = rng() % timers.size();
    switch (rng() % 4) {
      case 0:
      case 1: {
        uint64_t d = now + rng() % 1000;
        w.Arm(&timers[i], d);
        deadline[i] = static_cast<int64_t>(d);
        timers[i].fired.clear();
        break;
      }
      case 2:
        w.Cancel(&timers[i]);
        deadline[i] = -1;
        break;
      default: {
        now += rng() % 3 == 0 ? rng() % 700 : rng() % 30;
        w.Advance(now);
        for (size_t k = 0; k < timers.size(); ++k) {
          if (!timers[k].fired.empty()) {
            ASSERT_EQ(timers[k].fired.size(), 1u);
            ASSERT_GE(timers[k].fired[0], static_cast<uint64_t>(deadline[k]));
            deadline[k] = -1;
            timers[k].fired.clear();
          } else if (deadline[k] >= 0) {
            ASSERT_LT(now, static_cast<uint64_t>(deadline[k]) + tick) << "late timer " << k;
            ASSERT_TRUE(timers[k].armed());
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace sw
