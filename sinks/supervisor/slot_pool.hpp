#pragma once
// Execution slots a job holds while it runs.
//
// Invariants:
//  - At most capacity() leases exist at any time; acquire() says no rather than over-commit.
//  - A slot index is unique among the leases held; a lease returns its slot when destroyed,
//    so the pool must outlive every lease it handed out.
//  - Used on the io_context thread only (no locking).
//
// Today a slot is only a place in the sink's concurrency count (the dispatcher already limits
// in-flight deliveries; the pool makes the sink's own promise checkable). GPU scheduling plugs in
// here: a slot will carry its device indices, exported to the job as CUDA_VISIBLE_DEVICES
// through Slot::env, and acquire() will also say no while no GPU is free.
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sluice::sinks::supervisor {

struct Slot {
  int index = 0;                                         // 0 .. capacity-1
  std::vector<std::pair<std::string, std::string>> env;  // extra job environment for this slot
};

class SlotPool {
 public:
  class Lease {
   public:
    Lease(Lease&& o) noexcept : pool_(std::exchange(o.pool_, nullptr)), slot_(std::move(o.slot_)) {}
    Lease& operator=(Lease&& o) noexcept {
      if (this != &o) {
        release();
        pool_ = std::exchange(o.pool_, nullptr);
        slot_ = std::move(o.slot_);
      }
      return *this;
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { release(); }
    const Slot& slot() const { return slot_; }

   private:
    friend class SlotPool;
    Lease(SlotPool* pool, Slot slot) : pool_(pool), slot_(std::move(slot)) {}
    void release() {
      if (pool_) std::exchange(pool_, nullptr)->release(slot_.index);
    }
    SlotPool* pool_;
    Slot slot_;
  };

  explicit SlotPool(int capacity) : taken_(capacity > 0 ? static_cast<size_t>(capacity) : 0) {}
  SlotPool(const SlotPool&) = delete;
  SlotPool& operator=(const SlotPool&) = delete;

  // The lowest free slot, or nullopt when all are held.
  std::optional<Lease> acquire() {
    for (size_t i = 0; i < taken_.size(); ++i) {
      if (taken_[i]) continue;
      taken_[i] = true;
      ++in_use_;
      return Lease(this, Slot{static_cast<int>(i), {}});
    }
    return std::nullopt;
  }
  int capacity() const { return static_cast<int>(taken_.size()); }
  int inUse() const { return in_use_; }

 private:
  void release(int index) {
    taken_.at(static_cast<size_t>(index)) = false;
    --in_use_;
  }
  std::vector<bool> taken_;
  int in_use_ = 0;
};

}  // namespace sluice::sinks::supervisor
