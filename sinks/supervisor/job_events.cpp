#include "sinks/supervisor/job_events.hpp"

namespace sluice::sinks::supervisor {

Event jobEvent(const std::string& sink, const Event& trigger, bool succeeded, int attempt,
               nlohmann::json facts, std::int64_t now_ms) {
  Event ev;
  ev.type = succeeded ? EventType::JobSucceeded : EventType::JobFailed;
  ev.id = succeeded ? eventId({"sluice.job", sink, trigger.id, "succeeded"})
                    : eventId({"sluice.job", sink, trigger.id, "failed", std::to_string(attempt)});
  ev.source = "sluice:jobs/" + sink;
  ev.time_ms = now_ms;
  ev.storage = trigger.storage;
  ev.connector = sink;
  ev.path = trigger.path;
  ev.bucket = trigger.bucket;
  ev.key = trigger.key;
  facts["sink"] = sink;
  facts["attempt"] = attempt;
  facts["trigger"] = {{"id", trigger.id},
                      {"type", trigger.typeUri()},
                      {"source", toUtf8Lossy(trigger.source)},
                      {"connector", trigger.connector}};
  ev.native = std::move(facts);
  return ev;
}

}  // namespace sluice::sinks::supervisor
