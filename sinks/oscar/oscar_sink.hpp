#pragma once
// The OSCAR sink's runtime: one service invocation per delivery (COMPAT.md §3.2).
//
//  - async: POST {endpoint}/job/{service} with the Bearer token; 201 means the job exists. With
//    job ids on, X-Delegated-Job-ID names the job after the event (jobName()), so a redelivered
//    event meets its own job: OSCAR's 500 "already exists" counts as already submitted.
//  - sync: POST {endpoint}/run/{service}; 2xx is done, and the answer (the job's output) is kept
//    with the delivery record (Done::output, at most max_output bytes).
//  - confirm: completion: after 201 (or a collision) the service's job list is read every
//    poll_interval until the job is Succeeded (done) or Failed (retry: the next attempt finds
//    the failed job by name and submits "-<n+1>"), within the sink's `timeout`.
//  - 401: the token is refreshed once (file read again, or looked up again), then the delivery
//    is dead ("token rejected"); 400/403/404: dead with OSCAR's reason; 5xx, 429 and network
//    errors: retry.
//  - deliver() never throws and never calls back inline; abort() ends every call in flight
//    (HTTP and poll timers) with Retry, and callbacks never touch a destroyed sink.
#include <boost/asio/io_context.hpp>
#include <memory>
#include <set>
#include <string>

#include "daemon/http_client.hpp"
#include "daemon/sink.hpp"
#include "sinks/oscar/oscar_config.hpp"
#include "sinks/oscar/oscar_token.hpp"

namespace sluice::sinks::oscar {

class OscarSink final : public Sink {
 public:
  OscarSink(std::string name, OscarConfig config, DeliveryPolicy policy, SinkContext& ctx);
  ~OscarSink() override;
  OscarSink(const OscarSink&) = delete;
  OscarSink& operator=(const OscarSink&) = delete;

  void deliver(const Event& ev, const DeliveryInfo& info, DeliveryCallback done) override;
  void abort() override;

 private:
  struct Call;  // one delivery in progress
  using CallPtr = std::shared_ptr<Call>;

  void invoke(const CallPtr& call);
  void post(const CallPtr& call, const std::string& token);
  void onInvoked(const CallPtr& call, const HttpResponse& r);
  void onUnauthorized(const CallPtr& call, const HttpResponse& r);
  void schedulePoll(const CallPtr& call, Duration after);
  void poll(const CallPtr& call);
  void onPolled(const CallPtr& call, const HttpResponse& r);
  void finish(const CallPtr& call, DeliveryResult result);
  std::chrono::milliseconds requestTimeout(const Call& call, bool whole_run) const;

  std::string name_;
  OscarConfig config_;
  DeliveryPolicy policy_;
  boost::asio::io_context& io_;
  HttpClient& http_;
  const Clock& clock_;
  std::shared_ptr<spdlog::logger> log_;
  OscarToken token_;
  std::set<CallPtr> calls_;
  bool aborted_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sluice::sinks::oscar
