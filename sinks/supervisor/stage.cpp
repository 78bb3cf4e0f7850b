#include "sinks/supervisor/stage.hpp"

namespace sluice::sinks::supervisor {
namespace {

constexpr std::size_t kMaxName = 200;
constexpr std::size_t kMaxExtension = 16;

// Cuts `s` to at most `n` bytes without splitting a UTF-8 sequence.
std::string cutUtf8(std::string s, std::size_t n) {
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
  return s;
}

}  // namespace

std::string stageName(std::string_view key) {
  while (!key.empty() && key.back() == '/') key.remove_suffix(1);
  auto slash = key.rfind('/');
  std::string name(slash == std::string_view::npos ? key : key.substr(slash + 1));
  for (auto& c : name)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '\\') c = '_';
  if (name.size() > kMaxName) {
    auto dot = name.rfind('.');
    std::string ext = dot != std::string::npos && name.size() - dot <= kMaxExtension
                          ? name.substr(dot)
                          : std::string();
    name = cutUtf8(name, kMaxName - ext.size()) + ext;
  }
  if (name.empty() || name == "." || name == "..") return "input";
  return name;
}

std::filesystem::path stagePath(const std::filesystem::path& input_dir, const Event& ev) {
  return input_dir / stageName(ev.key ? std::string_view(*ev.key) : std::string_view(ev.path));
}

}  // namespace sluice::sinks::supervisor
