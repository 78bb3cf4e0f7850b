#pragma once
// Delivery outcomes, the retry policy and how transport answers map onto them.
//
// Sinks classify failures where they understand them (HTTP status, curl code, exit status) and
// return Done / Retry / Dead; the dispatcher owns attempts, backoff, max age and dead-lettering.
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "daemon/config_reader.hpp"
#include "daemon/event.hpp"

namespace sluice {

// `emit` (any outcome): events the delivery produced — a supervisor job's result — which the
// dispatcher routes from the built-in source named after the sink and commits in the same
// transaction that settles the delivery, so they exist exactly when the outcome does.
struct Done {
  // What the receiver answered, when that is the point of the call (a sync OSCAR run, a
  // RequestResponse Lambda): kept with the delivery record for `sluice queue list
  // --show-output`.
  std::optional<std::string> output;
  std::vector<Event> emit;
};
struct Retry {
  std::optional<Duration> after;  // from Retry-After; otherwise the backoff decides
  std::string reason;
  std::vector<Event> emit;
};
struct Dead {
  std::string reason;
  std::vector<Event> emit;
};
using DeliveryResult = std::variant<Done, Retry, Dead>;

struct BackoffPolicy {
  Duration initial{1000};
  Duration max{600'000};
  double multiplier = 2.0;
  bool full_jitter = true;  // jitter: full | none
};

struct DeliveryPolicy {
  int max_attempts = 20;
  Duration max_age{7LL * 86'400'000};
  BackoffPolicy backoff;
  Duration timeout{30'000};
  // At shutdown and reload, in-flight deliveries get this long to finish; then they are cut
  // short and released (due now, the attempt not counted).
  Duration shutdown_grace{30'000};
  int concurrency = 8;
  std::set<int> retry_statuses;      // extra 4xx codes to retry (e.g. 409)
  std::set<int> permanent_statuses;  // extra codes never retried
};

// Delay before attempt `attempt + 1` after `attempt` failures (attempt >= 1): full jitter draws
// uniformly from [0, min(max, initial * multiplier^(attempt-1))].
Duration backoffDelay(const BackoffPolicy& p, int attempt, std::mt19937_64& rng);

// 2xx → Done; 408, 425, 429, 5xx (and policy.retry_statuses) → Retry honouring Retry-After;
// other statuses (including 413) → Dead.
DeliveryResult classifyHttpStatus(long status, std::optional<Duration> retry_after,
                                  const DeliveryPolicy& policy);

// Retry-After as delta-seconds or an HTTP-date; nullopt when absent or unparsable.
std::optional<Duration> parseRetryAfter(std::string_view value, std::int64_t now_ms);

// When to try again after failed attempt `attempt`: the backoff delay, or the receiver's
// Retry-After when that is later, but never beyond `backoff.max` (a receiver cannot park a
// delivery for a year).
Duration retryDelay(const BackoffPolicy& p, int attempt, std::optional<Duration> retry_after,
                    std::mt19937_64& rng);

// Parses `max_attempts`, `max_age`, `backoff`, `timeout`, `shutdown_grace`, `concurrency`,
// `retry_on`, `permanent_on` from `m` on top of `base` (the global `delivery:` block or its defaults).
DeliveryPolicy parseDeliveryPolicy(MapReader& m, const DeliveryPolicy& base);

std::string describe(const DeliveryResult& r);

}  // namespace sluice
