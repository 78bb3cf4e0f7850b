// `type: s3`, `mode: sqs`: S3 event notifications read from an SQS queue (AWS JSON 1.0
// protocol, PROTOCOLS.md §4.2). A message is deleted only after the events it holds are
// committed; while its commit waits its visibility timeout is extended, and a message whose
// commit failed comes back by itself when its timeout runs out. A redelivered message (SQS
// may deliver one twice, and delivers it again after a crash before the delete) gives the
// same event ids, so the queue stores it once.
#include <spdlog/logger.h>

#include <algorithm>
#include <boost/asio/post.hpp>

#include "connectors/s3/bucket_connector.hpp"
#include "daemon/sigv4.hpp"

namespace sluice::connectors::s3 {
namespace {

constexpr std::size_t kSqsBatch = 10;  // SQS's most per receive, delete or change
// Receives in flight while running: one long poll returns at most 10 messages a round trip
// (~10-20 ms against AWS), so a busy queue needs several; `sluice once` uses one (it stops at
// the first empty answer).
constexpr int kSqsPollers = 4;

std::string str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// "scheme://host[:port]" of the queue URL: JSON-protocol calls go to "/" there.
std::string endpointOf(const std::string& queue_url) {
  auto scheme = queue_url.find("://");
  auto slash = queue_url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  return queue_url.substr(0, slash);
}

// SQS's JSON error: {"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"..."}.
std::string sqsError(const HttpResponse& r) {
  if (r.status == 0) return r.error.empty() ? "no answer" : r.error;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  std::string type = j.is_object() ? str(j, "__type") : "";
  if (auto hash = type.rfind('#'); hash != std::string::npos) type.erase(0, hash + 1);
  std::string message = j.is_object() ? str(j, "message") + str(j, "Message") : "";
  return "HTTP " + std::to_string(r.status) + (type.empty() ? "" : " " + type) +
         (message.empty() ? "" : ": " + message);
}

}  // namespace

void BucketConnector::sqsCall(const std::string& op, const nlohmann::json& body,
                              std::function<void(HttpResponse)> done) {
  HttpRequest req;
  req.method = "POST";
  req.url = endpointOf(spec_.queue_url) + "/";
  req.headers = {{"Content-Type", "application/x-amz-json-1.0"},
                 {"X-Amz-Target", "AmazonSQS." + op},
                 {"X-Amzn-Query-Mode", "true"}};
  req.body = body.dump();
  req.ca_file = spec_.ca_file;
  // A long poll answers after `wait` at the latest.
  req.timeout = std::chrono::milliseconds(spec_.wait.count() + 30'000);
  // Ten messages of up to 1 MiB each, JSON-escaped: a cut answer would read as garbage.
  req.max_response_body = 32 << 20;
  sendSigned(*ctx_.http, *creds_, ctx_.clock, {spec_.region, "sqs", false, false}, std::move(req),
             std::move(done));
}

void BucketConnector::pollSqs() {
  if (stopped_ || backing_off_ || !pump_.onceError().empty()) return;
  // `sluice once` stops at the first empty answer: a short wait is enough to know.
  const auto wait = running_ ? spec_.wait : std::min(spec_.wait, Duration(2000));
  nlohmann::json body = {{"QueueUrl", spec_.queue_url},
                         {"MaxNumberOfMessages", kSqsBatch},
                         {"WaitTimeSeconds", wait.count() / 1000},
                         {"VisibilityTimeout", spec_.visibility.count() / 1000},
                         {"MessageSystemAttributeNames", {"All"}}};
  // While the queue is long, no more: drained() polls again.
  while (polls_ < (running_ ? kSqsPollers : 1) && pump_.size() < kHighWater) {
    ++polls_;
    sqsCall("ReceiveMessage", body, [this, alive = alive_](HttpResponse r) {
      if (*alive) onReceive(r);
    });
  }
}

void BucketConnector::onReceive(const HttpResponse& r) {
  --polls_;
  if (stopped_) return;
  auto j = r.status == 200 ? nlohmann::json::parse(r.body, nullptr, false) : nlohmann::json();
  if (r.status != 200 || !j.is_object()) {
    const std::string why = r.status == 200 ? "ReceiveMessage: an answer that is not JSON"
                                            : "ReceiveMessage: " + sqsError(r);
    if (!running_) {  // `sluice once`: say so, the next run starts over
      for (auto& w : std::exchange(drained_waiters_, {})) pump_.whenIdle(std::move(w), why);
      return;
    }
    if (backing_off_) return;  // another poll's failure already waits
    stream_error_ = why + "; again in " + std::to_string(backoff_.count() / 1000) + "s";
    ctx_.log->warn("source {}: {}", spec_.name, stream_error_);
    publishHealth();
    backing_off_ = true;
    poll_timer_.expires_after(backoff_);
    backoff_ = std::min(backoff_ * 2, std::chrono::milliseconds(60'000));
    poll_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
      if (ec || !*alive) return;
      backing_off_ = false;
      pollSqs();
    });
    return;
  }
  backoff_ = std::chrono::milliseconds(1000);
  if (!stream_error_.empty() || startup_pending_) {
    if (!stream_error_.empty()) ctx_.log->info("source {}: SQS answers again", spec_.name);
    stream_error_.clear();
    startup_pending_ = false;
    publishHealth();
  }
  auto messages = j.find("Messages");
  if (messages == j.end() || !messages->is_array() || messages->empty()) {
    for (auto& w : std::exchange(drained_waiters_, {})) pump_.whenIdle(std::move(w), "");
    if (running_) pollSqs();
    return;
  }
  Work w;
  w.batch.source = spec_.name;
  std::vector<std::string> handles;
  for (const auto& m : *messages) {
    const std::string handle = m.is_object() ? str(m, "ReceiptHandle") : "";
    const std::string body = m.is_object() ? str(m, "Body") : "";
    if (handle.empty()) continue;  // cannot be deleted: it comes back, then with a handle
    handles.push_back(handle);
    hidden_.insert(handle);
    PushBody parsed = parseSqsBody(body);
    if (!parsed.error.empty()) {
      // Deleted like the others once parked: kept whole in the dead-letter queue instead of
      // coming back every visibility timeout until SQS's retention drops it.
      const std::string why = "an SQS message sluice cannot use: " + parsed.error;
      ctx_.log->warn("source {}: {} (message {}); parked in the dead-letter queue", spec_.name, why,
                     str(m, "MessageId"));
      park(w.batch, eventId({"sqs-message", spec_.queue_url, str(m, "MessageId")}), why, body);
      continue;
    }
    for (auto& rec : parsed.records) addRecord(w.batch, rec);
  }
  w.after = [this, alive = alive_, handles](bool ok) {
    if (!*alive) return;
    for (auto& h : handles) hidden_.erase(h);
    if (ok) deleteMessages(handles);  // else SQS shows them again after the timeout
  };
  // Not given up on failure like a push: the work stays queued, so its messages must stay
  // hidden meanwhile (extendVisibility), and the handles stay the ones to delete with.
  w.keep_on_failure = true;
  enqueue(std::move(w));
  if (!extending_) extendVisibility();
  pollSqs();
}

void BucketConnector::deleteMessages(std::vector<std::string> handles) {
  for (std::size_t at = 0; at < handles.size(); at += kSqsBatch) {
    nlohmann::json entries = nlohmann::json::array();
    for (std::size_t i = at; i < std::min(handles.size(), at + kSqsBatch); ++i)
      entries.push_back({{"Id", "m" + std::to_string(i - at)}, {"ReceiptHandle", handles[i]}});
    ++deletes_in_flight_;
    sqsCall("DeleteMessageBatch", {{"QueueUrl", spec_.queue_url}, {"Entries", entries}},
            [this, alive = alive_](HttpResponse r) {
              if (!*alive) return;
              --deletes_in_flight_;
              pump_.notifyIdle();
              auto j = nlohmann::json::parse(r.body, nullptr, false);
              auto failed = j.is_object() ? j.find("Failed") : j.end();
              // Not fatal: the message comes back after its timeout, and is stored once.
              if (r.status != 200)
                ctx_.log->warn(
                    "source {}: DeleteMessageBatch: {} (the messages come back "
                    "and are deduplicated)",
                    spec_.name, sqsError(r));
              else if (failed != j.end() && failed->is_array() && !failed->empty())
                ctx_.log->warn(
                    "source {}: DeleteMessageBatch: {} not deleted ({}); they come "
                    "back and are deduplicated",
                    spec_.name, failed->size(), failed->dump());
            });
  }
}

void BucketConnector::extendVisibility() {
  extending_ = !hidden_.empty() && !stopped_;
  if (!extending_) return;
  // Half the timeout: the messages of a slow commit never become visible to another reader.
  visibility_timer_.expires_after(std::chrono::milliseconds(spec_.visibility.count() / 2));
  visibility_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (ec || !*alive) return;
    if (hidden_.empty()) {
      extending_ = false;
      return;
    }
    std::vector<std::string> handles(hidden_.begin(), hidden_.end());
    for (std::size_t at = 0; at < handles.size(); at += kSqsBatch) {
      nlohmann::json entries = nlohmann::json::array();
      for (std::size_t i = at; i < std::min(handles.size(), at + kSqsBatch); ++i)
        entries.push_back({{"Id", "m" + std::to_string(i - at)},
                           {"ReceiptHandle", handles[i]},
                           {"VisibilityTimeout", spec_.visibility.count() / 1000}});
      sqsCall("ChangeMessageVisibilityBatch", {{"QueueUrl", spec_.queue_url}, {"Entries", entries}},
              [this, alive](HttpResponse r) {
                if (*alive && r.status != 200)
                  ctx_.log->warn("source {}: ChangeMessageVisibilityBatch: {}", spec_.name,
                                 sqsError(r));
              });
    }
    extendVisibility();
  });
}

}  // namespace sluice::connectors::s3
