#include "daemon/aws_credentials.hpp"

#include <boost/asio/post.hpp>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "daemon/event.hpp"
#include "daemon/http_client.hpp"

namespace sluice {
namespace {

constexpr std::size_t kMaxFile = 1 << 20;
constexpr std::int64_t kFetchRetryMs = 5'000;  // after a failed fetch, callers get the error

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

std::optional<std::string> readFile(const std::string& path) {
  std::string why;
  return readRegularFile(path, kMaxFile, &why);
}

// Keys of one profile, or why it cannot be used; nullopt: the profile is not in the file.
std::optional<AwsCredentialSource> fromProfile(const std::string& file, const std::string& section,
                                               const std::string& profile) {
  auto text = readFile(file);
  if (!text) return std::nullopt;
  auto ini = parseAwsIni(*text);
  auto it = ini.find(section);
  if (it == ini.end()) return std::nullopt;
  const auto& kv = it->second;
  AwsCredentialSource s;
  s.description = "profile " + profile + " in " + file;
  for (const char* unsupported : {"role_arn", "credential_process", "sso_start_url", "sso_session",
                                  "web_identity_token_file"})
    if (kv.count(unsupported))
      s.error = s.description + " uses " + unsupported +
                ", which sluice does not support: give it keys (aws_access_key_id, "
                "aws_secret_access_key), or give sluice keys of its own";
  auto get = [&kv](const char* k) {
    auto f = kv.find(k);
    return f == kv.end() ? std::string() : f->second;
  };
  AwsCredentials c{get("aws_access_key_id"), get("aws_secret_access_key"),
                   get("aws_session_token")};
  if (s.error.empty() && (c.access_key.empty() || c.secret_key.empty())) {
    if (c.access_key.empty() && c.secret_key.empty()) return std::nullopt;  // e.g. only a region
    s.error = s.description + " lacks " +
              (c.access_key.empty() ? "aws_access_key_id" : "aws_secret_access_key");
  }
  if (s.error.empty()) s.fixed = c;
  return s;
}

bool allowedPlainHttpHost(const std::string& url) {
  // The SDKs fetch over plain HTTP only from the container agent or loopback.
  for (const char* ok : {"http://169.254.170.2", "http://169.254.170.23", "http://[fd00:ec2::23]",
                         "http://127.", "http://localhost", "http://[::1]"})
    if (url.rfind(ok, 0) == 0) return true;
  return false;
}

}  // namespace

AwsCredentialsConfig parseAwsCredentials(MapReader& m) {
  AwsCredentialsConfig c;
  c.access_key = m.string("access_key", "");
  c.secret_key = m.secret("secret_key");
  c.session_token = m.secret("session_token");
  c.profile = m.string("profile", "");
  if (!c.access_key.empty() && !c.secret_key)
    m.error("access_key", "needs secret_key or secret_key_file");
  if (c.access_key.empty() && c.secret_key) m.error("secret_key", "needs access_key");
  if (c.access_key.empty() && c.session_token) m.error("session_token", "needs access_key");
  if (!c.profile.empty() && !c.access_key.empty())
    m.error("profile", "give either a profile or access_key/secret_key, not both");
  return c;
}

AwsCredentialsConfig parseAwsCredentialsBlock(MapReader& m) {
  if (!m.has("credentials")) return parseAwsCredentials(m);
  MapReader c = m.map("credentials");
  auto out = parseAwsCredentials(c);
  c.finish();
  return out;
}

EnvLookup processEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v || !*v) return std::nullopt;
    return std::string(v);
  };
}

std::map<std::string, std::map<std::string, std::string>> parseAwsIni(const std::string& text) {
  std::map<std::string, std::map<std::string, std::string>> out;
  std::string section;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    auto nl = text.find('\n', pos);
    std::string line =
        trim(text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
    pos = nl == std::string::npos ? text.size() + 1 : nl + 1;
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      section = trim(line.substr(1, line.size() - 2));
      out[section];
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string::npos || section.empty()) continue;
    out[section][trim(line.substr(0, eq))] = trim(line.substr(eq + 1));
  }
  return out;
}

AwsCredentialSource resolveAwsCredentials(const AwsCredentialsConfig& cfg, const EnvLookup& env) {
  AwsCredentialSource s;
  if (!cfg.access_key.empty()) {
    s.description = "keys in the config";
    s.fixed = AwsCredentials{cfg.access_key, cfg.secret_key ? cfg.secret_key->reveal() : "",
                             cfg.session_token ? cfg.session_token->reveal() : ""};
    return s;
  }
  const bool named = !cfg.profile.empty();
  if (!named) {
    auto ak = env("AWS_ACCESS_KEY_ID"), sk = env("AWS_SECRET_ACCESS_KEY");
    if (ak && sk) {
      s.description = "environment (AWS_ACCESS_KEY_ID)";
      s.fixed = AwsCredentials{*ak, *sk, env("AWS_SESSION_TOKEN").value_or("")};
      return s;
    }
  }
  const std::string profile = named ? cfg.profile : env("AWS_PROFILE").value_or("default");
  const std::string home = env("HOME").value_or("");
  const std::string creds_file =
      env("AWS_SHARED_CREDENTIALS_FILE").value_or(home.empty() ? "" : home + "/.aws/credentials");
  const std::string config_file =
      env("AWS_CONFIG_FILE").value_or(home.empty() ? "" : home + "/.aws/config");
  if (!creds_file.empty())
    if (auto p = fromProfile(creds_file, profile, profile)) return *p;
  if (!config_file.empty())
    if (auto p = fromProfile(config_file, profile == "default" ? "default" : "profile " + profile,
                             profile))
      return *p;
  if (named) {
    s.error = "AWS profile \"" + profile + "\" is in neither " + creds_file + " nor " + config_file;
    return s;
  }
  auto rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  auto full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
  if (rel || full) {
    s.endpoint = rel ? "http://169.254.170.2" + *rel : *full;
    s.description = "container credentials endpoint " + s.endpoint;
    if (s.endpoint.rfind("https://", 0) != 0 && !allowedPlainHttpHost(s.endpoint))
      s.error = "AWS_CONTAINER_CREDENTIALS_FULL_URI " + s.endpoint +
                ": plain http is only for the container agent or loopback; use https";
    s.endpoint_token_file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE").value_or("");
    if (s.endpoint_token_file.empty())
      s.endpoint_token = env("AWS_CONTAINER_AUTHORIZATION_TOKEN").value_or("");
    return s;
  }
  s.error =
      "no AWS credentials: not in the config, not in AWS_ACCESS_KEY_ID/"
      "AWS_SECRET_ACCESS_KEY, no profile \"" +
      profile + "\" in " + (creds_file.empty() ? std::string("~/.aws/credentials") : creds_file) +
      ", no container credentials endpoint";
  return s;
}

AwsCredentialsProvider::AwsCredentialsProvider(boost::asio::io_context& io, HttpClient* http,
                                               AwsCredentialSource source, const Clock& clock,
                                               std::int64_t refresh_before_ms)
    : io_(io),
      http_(http),
      source_(std::move(source)),
      clock_(clock),
      refresh_before_ms_(refresh_before_ms) {
  if (source_.fixed) current_ = source_.fixed;
}

void AwsCredentialsProvider::get(Callback cb) {
  const std::int64_t now = clock_.nowMs();
  bool fresh = current_ && (expires_ms_ == 0 || now < expires_ms_ - refresh_before_ms_);
  if (fresh || !source_.error.empty() || source_.endpoint.empty() || now < retry_after_ms_) {
    // Still valid (if stale-but-unexpired after a failed refresh, used until it expires).
    bool usable = current_ && (expires_ms_ == 0 || now < expires_ms_);
    std::string error =
        !source_.error.empty() ? source_.error
        : usable               ? ""
                 : "cannot fetch AWS credentials from " + source_.endpoint + " (retrying)";
    boost::asio::post(io_, [cb = std::move(cb), c = usable ? current_ : std::nullopt, error] {
      cb(c ? &*c : nullptr, error);
    });
    return;
  }
  waiting_.push_back(std::move(cb));
  if (!fetching_) fetch();
}

void AwsCredentialsProvider::fetch() {
  fetching_ = true;
  HttpRequest req;
  req.method = "GET";
  req.url = source_.endpoint;
  req.timeout = std::chrono::milliseconds(5'000);
  std::string token = source_.endpoint_token;
  if (!source_.endpoint_token_file.empty()) {
    auto t = readFile(source_.endpoint_token_file);
    if (!t) {
      finish("cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE " + source_.endpoint_token_file);
      return;
    }
    token = trim(*t);
    while (!token.empty() && token.back() == '\n') token.pop_back();
  }
  if (!token.empty()) req.headers.emplace_back("Authorization", token);
  if (!http_) {
    finish("no HTTP client for the credentials endpoint");
    return;
  }
  http_->send(std::move(req), [this, alive = alive_](HttpResponse r) {
    if (!*alive) return;
    if (r.status != 200) {
      finish(r.status ? "credentials endpoint answered " + std::to_string(r.status)
                      : "credentials endpoint: " + r.error);
      return;
    }
    try {
      auto j = nlohmann::json::parse(r.body);
      AwsCredentials c{j.at("AccessKeyId").get<std::string>(),
                       j.at("SecretAccessKey").get<std::string>(), j.value("Token", "")};
      std::int64_t expires = 0;
      if (j.contains("Expiration")) {
        auto t = parseTime(j.at("Expiration").get<std::string>());
        if (!t) throw std::invalid_argument("bad Expiration");
        expires = *t;
      }
      current_ = std::move(c);
      expires_ms_ = expires;
      finish("");
    } catch (const std::exception& e) {
      finish(std::string("credentials endpoint sent no usable credentials: ") + e.what());
    }
  });
}

void AwsCredentialsProvider::finish(const std::string& error) {
  fetching_ = false;
  const std::int64_t now = clock_.nowMs();
  if (!error.empty()) retry_after_ms_ = now + kFetchRetryMs;
  bool usable = current_ && (expires_ms_ == 0 || now < expires_ms_);
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& cb : waiting)
    boost::asio::post(io_, [cb = std::move(cb), c = usable ? current_ : std::nullopt,
                            e = usable ? std::string()
                                       : "cannot fetch AWS credentials from " + source_.endpoint +
                                             ": " + error] { cb(c ? &*c : nullptr, e); });
}

void sendSigned(HttpClient& http, AwsCredentialsProvider& creds, const Clock& clock,
                SigV4Scope scope, HttpRequest req, std::function<void(HttpResponse)> done,
                std::function<void(std::uint64_t)> started) {
  creds.get(
      [&http, &clock, scope = std::move(scope), req = std::move(req), done = std::move(done),
       started = std::move(started)](const AwsCredentials* c, const std::string& error) mutable {
        std::string why = error;
        if (c)
          why = sigv4SignRequest(
              req, *c, scope,
              std::chrono::system_clock::time_point(std::chrono::milliseconds(clock.nowMs())));
        if (!c || !why.empty()) {
          HttpResponse failed;
          failed.error = why.empty() ? "no credentials" : why;
          done(std::move(failed));
          return;
        }
        auto id = http.send(std::move(req), std::move(done));
        if (started) started(id);
      });
}

}  // namespace sluice
