#pragma once
// Logger construction: text or JSON lines on stderr (journald picks them up under systemd),
// with every configured secret value replaced by <redacted> before a line is written.
#include <memory>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "daemon/config.hpp"

namespace sluice {

std::shared_ptr<spdlog::logger> makeLogger(const LogConfig& cfg,
                                           const std::vector<std::string>& secrets);
// Replaces each secret (non-empty) in `line`.
std::string redact(std::string line, const std::vector<std::string>& secrets);

}  // namespace sluice
