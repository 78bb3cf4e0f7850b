#include "connectors/s3/s3_records.hpp"

#include <gtest/gtest.h>

namespace sluice::connectors::s3 {
namespace {

// A record as MinIO's listen stream writes it (PROTOCOLS.md §3.1), key raw.
std::string record(
    const std::string& name, const std::string& key,
    const std::string& object_extra = R"("size":6474,"eTag":"a3410f4f8788b510d6f19c5067e60a90",)") {
  return R"({"eventVersion":"2.0","eventSource":"minio:s3","awsRegion":"","eventTime":"2025-01-01T12:00:00.123Z","eventName":")" +
         name +
         R"(","userIdentity":{"principalId":"minioadmin"},"s3":{"s3SchemaVersion":"1.0","configurationId":"Config","bucket":{"name":"images","arn":"arn:aws:s3:::images"},"object":{"key":)" +
         nlohmann::json(key).dump() + "," + object_extra + R"("sequencer":"1812F3C7A4D6E2F0"}}})";
}

const Origin kOrigin{"m", "http://minio:9000"};

TEST(MinioRecords, FingerprintsRoundTripWhateverTheEtagHolds) {
  for (ObjectVersion v : {ObjectVersion{"abc", 1, 2}, ObjectVersion{"d41d-3", 0, 0},
                          ObjectVersion{"with:colons:", -5, 1LL << 40}}) {
    auto back = parseFingerprint(toFingerprint(v));
    ASSERT_TRUE(back) << toFingerprint(v);
    EXPECT_EQ(*back, v);
  }
  for (const char* bad : {"", "abc", "a:1", "a:x:1", "a:1:", ":1:2x"})
    EXPECT_FALSE(parseFingerprint(bad)) << bad;
  Tombstone t{{"with:colons@", 5, 6}, 1'700'000'000'000};
  auto back = parseTombstone(toTombstone(t));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->version, t.version);
  EXPECT_EQ(back->removed_ms, t.removed_ms);
  EXPECT_FALSE(parseFingerprint(toTombstone(t)));  // never taken for a present object
  for (const char* bad : {"~", "~a:1:2", "~a:1:2@", "~a:1:2@x", "a:1:2@5"})
    EXPECT_FALSE(parseTombstone(bad)) << bad;
}

TEST(MinioRecords, StreamLinesIgnorePingsAndSpaces) {
  EXPECT_TRUE(parseStreamLine("").records.empty());
  EXPECT_EQ(parseStreamLine(" ").error, "");
  EXPECT_EQ(parseStreamLine("   ").error, "");
  auto ping = parseStreamLine(R"({"Records":null})");
  EXPECT_EQ(ping.error, "");
  EXPECT_TRUE(ping.records.empty());
}

TEST(MinioRecords, StreamKeysAreRawAndTheSequencerIsTheModTime) {
  auto line =
      parseStreamLine(R"({"Records":[)" + record("s3:ObjectCreated:Put", "a b+%2F/ü") + "]}");
  ASSERT_EQ(line.error, "");
  ASSERT_EQ(line.records.size(), 1u);
  const ParsedRecord& r = line.records[0];
  EXPECT_EQ(r.type, EventType::Created);
  EXPECT_EQ(r.bucket, "images");
  EXPECT_EQ(r.key, "a b+%2F/ü");  // not decoded: the stream sends keys raw
  EXPECT_EQ(r.version.etag, "a3410f4f8788b510d6f19c5067e60a90");
  EXPECT_EQ(r.version.size, 6474);
  EXPECT_EQ(r.version.mtime_ms, static_cast<std::int64_t>(0x1812F3C7A4D6E2F0ULL / 1'000'000));
  EXPECT_EQ(r.time_ms, *parseTime("2025-01-01T12:00:00.123Z"));
  EXPECT_EQ(r.native["eventName"], "s3:ObjectCreated:Put");
}

TEST(MinioRecords, RemovalsCarryNoVersionAndOtherKindsAreSkipped) {
  auto del = parseStreamLine(R"({"Records":[)" + record("s3:ObjectRemoved:Delete", "k", "") + "]}");
  ASSERT_EQ(del.records.size(), 1u);
  EXPECT_EQ(del.records[0].type, EventType::Removed);
  EXPECT_EQ(del.records[0].version, ObjectVersion{});
  auto get = parseStreamLine(R"({"Records":[)" + record("s3:ObjectAccessed:Get", "k") + "]}");
  EXPECT_EQ(get.error, "");
  EXPECT_TRUE(get.records.empty());
}

TEST(MinioRecords, BadLinesSayWhy) {
  EXPECT_NE(parseStreamLine("{").error, "");
  EXPECT_NE(parseStreamLine("[1,2]").error, "");
  EXPECT_NE(parseStreamLine(R"({"Records":7})").error, "");
  EXPECT_NE(parseStreamLine(R"({"Records":[1]})").error, "");
  EXPECT_NE(parseStreamLine(R"({"Records":[{"eventName":"s3:ObjectCreated:Put"}]})").error, "");
  EXPECT_NE(
      parseStreamLine(
          R"({"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":""}}}]})")
          .error,
      "");
}

TEST(MinioRecords, PushBodiesHaveQueryEscapedKeys) {
  // url.QueryEscape("photos/a b+c.jpg") as MinIO's webhook target sends it.
  auto body = parsePushBody(
      R"({"EventName":"s3:ObjectCreated:Put","Key":"images/photos/a b+c.jpg","Records":[)" +
          record("s3:ObjectCreated:Put", "photos%2Fa+b%2Bc.jpg") + "]}",
      true);
  ASSERT_EQ(body.error, "");
  ASSERT_EQ(body.records.size(), 1u);
  EXPECT_EQ(body.records[0].key, "photos/a b+c.jpg");
  EXPECT_NE(parsePushBody("not json", true).error, "");
  EXPECT_NE(parsePushBody(R"({"EventName":"x"})", true).error, "");
  EXPECT_NE(parsePushBody(R"({"Records":[{"eventName":"s3:ObjectCreated:Put"}]})", true).error, "");
  // A kind sluice does not follow is not an error: MinIO must get its 2xx.
  auto get = parsePushBody(R"({"Records":[)" + record("s3:ObjectAccessed:Get", "k") + "]}", true);
  EXPECT_EQ(get.error, "");
  EXPECT_TRUE(get.records.empty());
}

// AWS-shaped records (PROTOCOLS.md §4.1, §4.4): no `s3:` prefix; AWS form-encodes keys, Ceph
// RGW sends them raw; neither carries the modification time.
TEST(S3Records, AwsAndCephPushesDifferInTheirKeys) {
  std::string aws = record("ObjectCreated:Put", "a+b%25/c");
  std::string ceph = aws;
  ceph.replace(ceph.find("minio:s3"), 8, "ceph:s3");
  auto a = parsePushBody(R"({"Records":[)" + aws + "]}", false);
  auto c = parsePushBody(R"({"Records":[)" + ceph + "]}", false);
  ASSERT_EQ(a.records.size(), 1u) << a.error;
  ASSERT_EQ(c.records.size(), 1u) << c.error;
  EXPECT_EQ(a.records[0].key, "a b%/c");
  EXPECT_EQ(c.records[0].key, "a+b%25/c");
  EXPECT_EQ(a.records[0].type, EventType::Created);
  EXPECT_EQ(a.records[0].version.mtime_ms, 0);  // unknown: the sequencer is no time here
  auto del = parsePushBody(
      R"({"Records":[)" + record("ObjectRemoved:DeleteMarkerCreated", "k", "") + "]}", false);
  ASSERT_EQ(del.records.size(), 1u);
  EXPECT_EQ(del.records[0].type, EventType::Removed);
}

// A lifecycle rule removing the current object is a removal (else the index keeps the key and
// the same bytes uploaded again would look known); expiring old versions is not.
TEST(S3Records, LifecycleExpirationsOfTheCurrentObjectAreRemovals) {
  for (const char* name : {"LifecycleExpiration:Delete", "LifecycleExpiration:DeleteMarkerCreated",
                           "ObjectLifecycle:Expiration:Current"}) {
    auto b = parsePushBody(R"({"Records":[)" + record(name, "k", "") + "]}", false);
    ASSERT_EQ(b.records.size(), 1u) << name << " " << b.error;
    EXPECT_EQ(b.records[0].type, EventType::Removed) << name;
  }
  auto old = parsePushBody(
      R"({"Records":[)" + record("ObjectLifecycle:Expiration:Noncurrent", "k", "") + "]}", false);
  EXPECT_EQ(old.error, "");
  EXPECT_TRUE(old.records.empty());
}

TEST(S3Records, SnsEnvelopesAreOpenedAndTestEventsHoldNothing) {
  nlohmann::json sns = {{"Type", "Notification"},
                        {"MessageId", "m1"},
                        {"Message", R"({"Records":[)" + record("ObjectCreated:Put", "x+y") + "]}"}};
  auto n = parsePushBody(sns.dump(), false);
  ASSERT_EQ(n.records.size(), 1u) << n.error;
  EXPECT_EQ(n.records[0].key, "x y");
  auto test =
      parsePushBody(R"({"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"})", false);
  EXPECT_EQ(test.error, "");
  EXPECT_TRUE(test.records.empty());
  // A subscription confirmation is parked with the reason: sluice never follows a URL it is sent.
  auto confirm = parsePushBody(
      R"({"Type":"SubscriptionConfirmation","SubscribeURL":"https://sns.example/confirm"})", false);
  EXPECT_NE(confirm.error.find("SubscriptionConfirmation"), std::string::npos);
}

TEST(S3Records, SqsBodiesMayBeEventBridgeEvents) {
  nlohmann::json eb = {
      {"version", "0"},
      {"detail-type", "Object Created"},
      {"source", "aws.s3"},
      {"time", "2026-12-05T10:00:00Z"},
      {"detail",
       {{"bucket", {{"name", "photos"}}},
        {"object", {{"key", "a+b%2Fc"}, {"size", 5}, {"etag", "e1"}, {"sequencer", "00A"}}},
        {"reason", "PutObject"}}}};
  auto created = parseSqsBody(eb.dump());
  ASSERT_EQ(created.records.size(), 1u) << created.error;
  EXPECT_EQ(created.records[0].type, EventType::Created);
  EXPECT_EQ(created.records[0].bucket, "photos");
  EXPECT_EQ(created.records[0].key, "a b/c");
  EXPECT_EQ(created.records[0].version, (ObjectVersion{"e1", 0, 5}));
  EXPECT_EQ(created.records[0].native["eventBridge"]["detail-type"], "Object Created");
  eb["detail-type"] = "Object Deleted";
  eb["detail"]["reason"] = "DeleteObject";
  auto removed = parseSqsBody(eb.dump());
  ASSERT_EQ(removed.records.size(), 1u) << removed.error;
  EXPECT_EQ(removed.records[0].type, EventType::Removed);
  eb["detail-type"] = "Object Tags Added";  // not a change of the object's bytes
  auto tags = parseSqsBody(eb.dump());
  EXPECT_EQ(tags.error, "");
  EXPECT_TRUE(tags.records.empty());
  // Plain S3 bodies go through as they are.
  auto plain = parseSqsBody(R"({"Records":[)" + record("ObjectCreated:Put", "x+y") + "]}");
  ASSERT_EQ(plain.records.size(), 1u);
  EXPECT_EQ(plain.records[0].key, "x y");
}

TEST(S3Records, WithoutTheTimeAListingAndANotificationAgree) {
  const Origin s3{"a", "https://s3.eu-west-1.amazonaws.com", "s3", false};
  ObjectVersion listed{"etag1", 1'700'000'000'123, 10};
  ObjectVersion notified{"etag1", 0, 10};
  EXPECT_TRUE(sameVersion(listed, notified));
  EXPECT_FALSE(sameVersion(listed, ObjectVersion{"etag2", 0, 10}));
  EXPECT_FALSE(sameVersion(listed, ObjectVersion{"etag1", 0, 11}));
  EXPECT_FALSE(sameVersion(listed, ObjectVersion{"etag1", 5, 10}));
  EXPECT_EQ(objectEvent(s3, EventType::Created, "b", "k", listed, "", 1).id,
            objectEvent(s3, EventType::Created, "b", "k", notified, "SEQ", 2).id);
}

TEST(MinioRecords, TheIdDependsOnTheVersionNotOnHowTheChangeWasSeen) {
  ObjectVersion v{"etag1", 1'700'000'000'123, 10};
  Event from_stream = objectEvent(kOrigin, EventType::Created, "images", "a/b", v, "SEQ1", 5);
  Event from_listing = objectEvent(kOrigin, EventType::Created, "images", "a/b", v, "", 9);
  EXPECT_EQ(from_stream.id, from_listing.id);
  EXPECT_EQ(from_stream.path, "/images/a/b");
  EXPECT_EQ(from_stream.key, "a/b");
  EXPECT_EQ(from_stream.size, 10);
  EXPECT_EQ(from_stream.source, "http://minio:9000/images");
  // The same bytes uploaded again (new mtime) are a new change: delivered again.
  ObjectVersion again = v;
  again.mtime_ms += 1;
  EXPECT_NE(objectEvent(kOrigin, EventType::Created, "images", "a/b", again, "", 9).id,
            from_stream.id);
  // Another server, another bucket, another key, another kind: other ids.
  EXPECT_NE(
      objectEvent({"m", "http://other:9000"}, EventType::Created, "images", "a/b", v, "", 9).id,
      from_stream.id);
  EXPECT_NE(objectEvent(kOrigin, EventType::Created, "other", "a/b", v, "", 9).id, from_stream.id);
  EXPECT_NE(objectEvent(kOrigin, EventType::Created, "images", "a/b ", v, "", 9).id,
            from_stream.id);
  EXPECT_NE(objectEvent(kOrigin, EventType::Removed, "images", "a/b", v, "", 9).id, from_stream.id);
  // A removal of a version never seen: the record's sequencer keeps removals apart.
  EXPECT_NE(objectEvent(kOrigin, EventType::Removed, "images", "a/b", {}, "S1", 9).id,
            objectEvent(kOrigin, EventType::Removed, "images", "a/b", {}, "S2", 9).id);
}

}  // namespace
}  // namespace sluice::connectors::s3
