#include "sinks/oscar/oscar_token.hpp"

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>
#include <utility>

namespace sluice::sinks::oscar {
OscarToken::OscarToken(boost::asio::io_context& io, HttpClient& http, HttpAuthConfig auth,
                       std::string lookup_url)
    : io_(io), http_(http), auth_(std::move(auth)), lookup_url_(std::move(lookup_url)) {
  if (!auth_.token_file.empty()) file_ = std::make_unique<SecretFile>(auth_.token_file);
  if (auth_.token) last_ = auth_.token->reveal(), generation_ = 1;
}

OscarToken::~OscarToken() {
  *alive_ = false;
  cancel();
}

void OscarToken::cancel() {
  if (lookup_id_) http_.cancel(*lookup_id_);  // its callback answers the waiters
}

void OscarToken::applyTls(HttpRequest& req) const {
  req.verify_tls = true;
  req.ca_file = auth_.ca_file;
  req.ca_path = auth_.ca_path;
  req.client_cert = auth_.cert;
  req.client_key = auth_.key;
}

void OscarToken::applyBasic(HttpRequest& req) const {
  if (hasBasic())
    req.basic_auth = std::make_pair(auth_.username, auth_.password ? auth_.password->reveal() : "");
}

TokenResult OscarToken::fromConfig() {
  TokenResult r;
  if (file_) {
    auto v = file_->read();
    if (!v.secret.empty() && v.secret != last_) last_ = v.secret, ++generation_;
    if (!v.error.empty()) r.error = "token_file: " + v.error;  // it names the file
  }
  r.token = last_;
  r.generation = generation_;
  if (r.token.empty() && r.error.empty()) r.error = "no token";
  return r;
}

void OscarToken::get(Callback cb) {
  if (hasBasic() && (!looked_up_ || last_.empty())) return lookup(std::move(cb));
  TokenResult r = hasBasic() ? TokenResult{last_, generation_} : fromConfig();
  boost::asio::post(io_, [cb = std::move(cb), r = std::move(r)] { cb(r); });
}

void OscarToken::refresh(std::uint64_t rejected_generation, Callback cb) {
  if (hasBasic()) {
    if (generation_ > rejected_generation && looked_up_ && !last_.empty())
      return get(std::move(cb));
    looked_up_ = false;
    return lookup([rejected_generation, cb = std::move(cb)](const TokenResult& got) {
      TokenResult r = got;
      r.stale = r.error.empty() && r.generation <= rejected_generation;
      cb(r);
    });
  }
  TokenResult r = fromConfig();
  r.stale = r.generation <= rejected_generation;
  boost::asio::post(io_, [cb = std::move(cb), r = std::move(r)] { cb(r); });
}

void OscarToken::lookup(Callback cb) {
  waiting_.push_back(std::move(cb));
  if (lookup_id_) return;
  HttpRequest req;
  req.method = "GET";
  req.url = lookup_url_;
  req.timeout = std::chrono::milliseconds(30'000);
  req.headers.emplace_back("Accept", "application/json");
  applyTls(req);
  applyBasic(req);
  lookup_id_ = http_.send(std::move(req), [this, alive = alive_](HttpResponse r) {
    if (!*alive) return;
    finishLookup(r);
  });
}

void OscarToken::finishLookup(const HttpResponse& r) {
  lookup_id_.reset();
  TokenResult out;
  const std::string where = "token lookup at " + lookup_url_;
  if (r.cancelled) {
    out.error = where + ": aborted at shutdown";
  } else if (r.curl_code != 0) {
    out.error = where + ": curl: " + r.error;
  } else if (r.status == 401 || r.status == 403 || r.status == 404) {
    out.permanent = true;
    out.error = where + " answered " + std::to_string(r.status) +
                (r.status == 404 ? " (no such service)" : " (check username and password)");
  } else if (r.status != 200) {
    out.error = where + " answered " + std::to_string(r.status);
  } else {
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    auto it = j.is_object() ? j.find("token") : j.end();
    if (!j.is_object() || it == j.end() || !it->is_string() || it->get<std::string>().empty()) {
      out.permanent = true;
      out.error = where + ": the service definition has no token";
    } else {
      if (it->get<std::string>() != last_) last_ = it->get<std::string>(), ++generation_;
      looked_up_ = true;
      out.token = last_;
      out.generation = generation_;
    }
  }
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& cb : waiting) cb(out);
}

}  // namespace sluice::sinks::oscar
