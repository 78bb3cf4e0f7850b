#pragma once
// The events a supervisor sink emits when a job finishes (sluice.job.succeeded / .failed),
// from the built-in source named after the sink: routes can chain a second stage on them or
// tell a webhook that a job ended.
//
// Invariants:
//  - The id is derived from the sink, the triggering event's id and the outcome (a failure
//    also from its attempt), so a job's result emitted again (its delivery redelivered after a
//    crash) is the same event and the queue keeps one.
//  - The subject is the triggering object (path, bucket and key are copied); `native` holds
//    the job's facts: exit code or signal, duration, GPUs, uploaded outputs, log folder.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "daemon/event.hpp"

namespace sluice::sinks::supervisor {

Event jobEvent(const std::string& sink, const Event& trigger, bool succeeded, int attempt,
               nlohmann::json facts, std::int64_t now_ms);

}  // namespace sluice::sinks::supervisor
