// Fuzzes what S3-compatible stores send about changes: MinIO's listen stream (NDJSON cut into
// chunks anywhere, with pings and spaces), MinIO webhook bodies and AWS-shaped pushes (Ceph
// RGW, SNS envelopes). Whatever arrives, parsing must not
// crash; every record it yields names a bucket and a non-empty key and becomes an event that
// encodes to JSON and back with the key's bytes intact; a body that cannot be used says why
// (it is parked, never dropped).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "connectors/s3/s3_records.hpp"
#include "daemon/line_framer.hpp"
#include "tests/fuzz/check.hpp"

namespace {

void checkRecord(const sluice::connectors::s3::ParsedRecord& r) {
  namespace s3 = sluice::connectors::s3;
  FUZZ_CHECK(!r.bucket.empty() && !r.key.empty());
  sluice::Event ev = s3::objectEvent({"m", "http://minio:9000"}, r.type, r.bucket, r.key, r.version,
                                     r.sequencer, r.time_ms);
  ev.native = r.native;
  sluice::Event back = sluice::fromJson(sluice::toJson(ev));
  FUZZ_CHECK(back.key == ev.key && back.path == ev.path && back.id == ev.id);
  if (auto v = sluice::parseFingerprint(sluice::toFingerprint(r.version)))
    FUZZ_CHECK(*v == r.version);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace s3 = sluice::connectors::s3;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // The first byte picks where the stream is cut, the rest is the stream (and the body).
  const std::size_t cut = size ? data[0] % (size) : 0;
  sluice::LineFramer framer(4096);
  std::size_t lines = 0;
  auto onLine = [&](std::string_view line, bool too_long) {
    ++lines;
    FUZZ_CHECK(too_long ? line.empty() : line.size() <= 4096);
    s3::StreamLine l = s3::parseStreamLine(line);
    for (auto& r : l.records) checkRecord(r);
  };
  framer.feed(in.substr(0, cut), onLine);
  framer.feed(in.substr(cut), onLine);
  FUZZ_CHECK(framer.buffered() <= 4096);
  // MinIO's webhook; AWS-shaped (Ceph RGW, SNS); an SQS message (also EventBridge's shape).
  for (int form = 0; form < 3; ++form) {
    s3::PushBody body = form == 2 ? s3::parseSqsBody(in) : s3::parsePushBody(in, form == 0);
    FUZZ_CHECK(body.error.empty() || body.records.empty());
    for (auto& r : body.records) checkRecord(r);
  }
  return 0;
}
