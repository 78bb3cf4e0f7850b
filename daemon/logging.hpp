#pragma once
// Logger construction: text or JSON lines on stderr (journald picks them up under systemd),
// with every configured secret value replaced by <redacted> before a line is written.
//
// Invariant: one record is one line. File names, HTTP bodies and other outside text end up in
// messages, so the text format escapes control bytes and invalid UTF-8 (escapeControl) and the
// JSON format escapes them as JSON does; a hostile name can neither forge a line nor send
// escape sequences to a terminal.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/spdlog.h>

#include "daemon/config.hpp"

namespace sluice {

std::shared_ptr<spdlog::logger> makeLogger(const LogConfig& cfg,
                                           const std::vector<std::string>& secrets);
// Replaces each secret (non-empty) in `line`.
std::string redact(std::string line, const std::vector<std::string>& secrets);

// `text` made safe for one line of a terminal or a text log, reversibly: `\` becomes `\\`;
// LF, CR and TAB become `\n`, `\r`, `\t`; other C0 controls and DEL become `\xNN`; C1 controls
// (U+0080..U+009F) become `\u00NN`; each byte of invalid UTF-8 becomes `\xNN`. Valid printable
// UTF-8 passes unchanged. For any outside text shown to a person (logs, CLI tables).
std::string escapeControl(std::string_view text);

// One record as written: "<time> <level> <message>\n" with the message redacted and escaped
// (text), or a JSON object line with time, level and msg (json).
std::string formatLogLine(bool json, std::int64_t time_ms, std::string_view level,
                          std::string_view message, const std::vector<std::string>& secrets);

}  // namespace sluice
