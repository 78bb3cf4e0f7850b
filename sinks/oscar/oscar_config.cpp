#include "sinks/oscar/oscar_config.hpp"

#include "daemon/registry.hpp"

namespace sluice::sinks::oscar {

std::unique_ptr<SinkSpec> parseOscarSpec(MapReader& m) {
  auto spec = std::make_unique<OscarSpec>();
  OscarConfig& c = spec->config;
  c.endpoint = httpUrl(m, "endpoint", true, true);
  c.service = m.requiredString("service");
  // A service name is a Kubernetes name (DNS-1123): it goes into the URL path unescaped.
  if (c.service.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos)
    m.error("service", "must be an OSCAR service name (lower-case letters, digits and '-')");
  c.owner = m.string("owner", "");
  if (c.owner.find_first_of("&#?/% \t") != std::string::npos)
    m.error("owner", "must be a user id without '&', '#', '?', '/', '%' or blanks");
  c.mode = m.choice("mode", {"async", "sync"}, "async") == "sync" ? Mode::Sync : Mode::Async;
  c.confirm = m.choice("confirm", {"accepted", "completion"}, "accepted") == "completion"
                  ? Confirm::Completion
                  : Confirm::Accepted;
  if (c.confirm == Confirm::Completion && c.mode == Mode::Sync)
    m.error("confirm", "completion needs mode: async (a sync call's answer is its completion)");
  c.format = parsePayloadFormat(m, PayloadFormat::S3,
                                {PayloadFormat::S3, PayloadFormat::Native,
                                 PayloadFormat::OneTrigger, PayloadFormat::CloudEvents});
  parseHttpAuth(m, c.auth, "token");
  parseTlsTrust(m, c.auth);
  if (c.auth.username.empty() && c.auth.token_file.empty() && !c.auth.token)
    m.error("token_file", "is required (or username and password_file to look the token up)");
  c.job_ids = m.boolean("job_ids", true);
  if (!c.job_ids && c.confirm == Confirm::Completion)
    m.error("job_ids", "completion tracking finds the job by its id: job_ids must stay true");
  c.poll_interval = m.duration("poll_interval", c.poll_interval);
  if (c.poll_interval < Duration(100)) m.error("poll_interval", "must be at least 100ms");
  c.max_output = m.size("max_output", c.max_output);
  m.finish();
  return spec;
}

namespace {
const bool kRegistered = sluice::registerSink("oscar", &parseOscarSpec);
}  // namespace

}  // namespace sluice::sinks::oscar
