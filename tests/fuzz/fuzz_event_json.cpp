// Fuzzes the event's JSON form: what the queue stores (toJson(ev).dump()) and reads back when
// it leases (fromJson(json::parse(body))), and what a push source will accept from outside.
// Malformed input may only be refused (json exceptions from parse, std::invalid_argument from
// fromJson); an accepted event must survive the queue's round trip with its bytes intact.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "daemon/event.hpp"
#include "tests/fuzz/check.hpp"

namespace {

// What the queue does to an event: store it as text, parse it back.
sluice::Event storedAndRead(const sluice::Event& ev) {
  std::string body;
  try {
    body = sluice::toJson(ev).dump();
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, "toJson(ev).dump() threw: %s", e.what());
  }
  try {
    return sluice::fromJson(nlohmann::json::parse(body));
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, "a stored event is unreadable: %s\nstored: %s", e.what(), body.c_str());
  }
  return {};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(data, data + size);
  } catch (const nlohmann::json::exception&) {
    return 0;  // not JSON (parse_error) or a number out of range (out_of_range)
  }
  sluice::Event ev;
  try {
    ev = sluice::fromJson(j);
  } catch (const std::invalid_argument&) {
    return 0;
  }
  sluice::Event back = storedAndRead(ev);
  FUZZ_CHECK(back.id == ev.id);
  FUZZ_CHECK(back.source == ev.source);
  FUZZ_CHECK(back.type == ev.type);
  FUZZ_CHECK(back.time_ms == ev.time_ms, "time %lld came back as %lld",
             static_cast<long long>(ev.time_ms), static_cast<long long>(back.time_ms));
  FUZZ_CHECK(back.storage == ev.storage && back.connector == ev.connector);
  FUZZ_CHECK(back.path == ev.path);
  FUZZ_CHECK(back.previous_path == ev.previous_path);
  FUZZ_CHECK(back.key == ev.key);
  FUZZ_CHECK(back.bucket == ev.bucket && back.etag == ev.etag && back.version == ev.version);
  FUZZ_CHECK(back.size == ev.size && back.note == ev.note);
  FUZZ_CHECK(back.mtime_ms == ev.mtime_ms);
  FUZZ_CHECK(back.native == ev.native);
  // A second trip changes nothing more: the stored text is stable.
  FUZZ_CHECK(sluice::toJson(back).dump() == sluice::toJson(ev).dump());
  return 0;
}
