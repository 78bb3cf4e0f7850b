#include "daemon/delivery.hpp"

#include <gtest/gtest.h>

namespace sluice {
namespace {

TEST(Backoff, FullJitterStaysWithinTheExponentialCeiling) {
  BackoffPolicy p;  // 1 s, x2, cap 10 min
  std::mt19937_64 rng(42);
  for (int attempt = 1; attempt <= 30; ++attempt) {
    std::int64_t ceiling = std::min<std::int64_t>(600'000, 1000LL << std::min(attempt - 1, 20));
    for (int i = 0; i < 50; ++i) {
      auto d = backoffDelay(p, attempt, rng).count();
      EXPECT_GE(d, 0);
      EXPECT_LE(d, ceiling);
    }
  }
}

TEST(Backoff, JitterActuallySpreadsAndNoneIsExact) {
  BackoffPolicy p;
  std::mt19937_64 rng(7);
  std::set<std::int64_t> seen;
  for (int i = 0; i < 20; ++i) seen.insert(backoffDelay(p, 5, rng).count());
  EXPECT_GT(seen.size(), 10u);
  p.full_jitter = false;
  EXPECT_EQ(backoffDelay(p, 1, rng).count(), 1000);
  EXPECT_EQ(backoffDelay(p, 4, rng).count(), 8000);
  EXPECT_EQ(backoffDelay(p, 40, rng).count(), 600'000);
}

TEST(Classify, HttpStatuses) {
  DeliveryPolicy p;
  EXPECT_TRUE(std::holds_alternative<Done>(classifyHttpStatus(200, {}, p)));
  EXPECT_TRUE(std::holds_alternative<Done>(classifyHttpStatus(204, {}, p)));
  for (int s : {408, 425, 429, 500, 502, 503, 504})
    EXPECT_TRUE(std::holds_alternative<Retry>(classifyHttpStatus(s, {}, p))) << s;
  for (int s : {400, 401, 403, 404, 409, 413, 422, 301})
    EXPECT_TRUE(std::holds_alternative<Dead>(classifyHttpStatus(s, {}, p))) << s;
  auto r = classifyHttpStatus(503, Duration(7000), p);
  EXPECT_EQ(std::get<Retry>(r).after, Duration(7000));
  p.retry_statuses = {409};
  p.permanent_statuses = {503};
  EXPECT_TRUE(std::holds_alternative<Retry>(classifyHttpStatus(409, {}, p)));
  EXPECT_TRUE(std::holds_alternative<Dead>(classifyHttpStatus(503, {}, p)));
}

TEST(RetryAfter, SecondsAndHttpDate) {
  EXPECT_EQ(parseRetryAfter("120", 0), Duration(120'000));
  EXPECT_EQ(parseRetryAfter(" 3 ", 0), Duration(3000));
  // Sun, 06 Nov 1994 08:49:37 GMT = 784111777 s
  EXPECT_EQ(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", 784'111'770'000), Duration(7000));
  EXPECT_EQ(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", 784'111'790'000), Duration(0));
  EXPECT_FALSE(parseRetryAfter("", 0));
  EXPECT_FALSE(parseRetryAfter("soon", 0));
}

}  // namespace
}  // namespace sluice
