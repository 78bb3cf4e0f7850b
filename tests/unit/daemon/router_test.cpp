#include "daemon/router.hpp"

#include <gtest/gtest.h>

namespace sluice {
namespace {

Event ev(const std::string& path, EventType t = EventType::Created,
         std::optional<std::int64_t> size = 10) {
  Event e;
  e.path = path;
  e.type = t;
  e.size = size;
  return e;
}

TEST(Router, FiltersByTypePrefixSuffixAndSize) {
  RouteFilter f;
  f.types = {EventType::Created};
  f.prefix = {"/data/incoming/run"};
  f.suffix = {".tif", ".h5"};
  f.min_size = 1;
  EXPECT_TRUE(Router::matches(f, ev("/data/incoming/run42/img.tif")));
  EXPECT_FALSE(Router::matches(f, ev("/data/incoming/run42/img.tif", EventType::Removed)));
  EXPECT_FALSE(Router::matches(f, ev("/data/other/img.tif")));
  EXPECT_FALSE(Router::matches(f, ev("/data/incoming/run1/img.jpg")));
  EXPECT_FALSE(Router::matches(f, ev("/data/incoming/run1/img.h5", EventType::Created, 0)));
  // An unknown size passes: the event is delivered with what is known.
  EXPECT_TRUE(Router::matches(f, ev("/data/incoming/run1/img.h5", EventType::Created, std::nullopt)));
}

TEST(Router, S3KeysAreMatchedInsteadOfPaths) {
  RouteFilter f;
  f.prefix = {"raw/"};
  Event e = ev("/images/raw/a.jpg");
  e.key = "raw/a.jpg";
  EXPECT_TRUE(Router::matches(f, e));
}

TEST(Router, SinksAreUnionOfMatchingRoutesWithoutDuplicates) {
  Route a{{"inbox"}, {"gpu", "hook"}, {}};
  Route b{{"inbox", "desy"}, {"hook", "archive"}, {}};
  b.filter.suffix = {".h5"};
  Router r({a, b});
  EXPECT_EQ(r.sinksFor("inbox", ev("/x.h5")), (std::vector<std::string>{"gpu", "hook", "archive"}));
  EXPECT_EQ(r.sinksFor("inbox", ev("/x.tif")), (std::vector<std::string>{"gpu", "hook"}));
  EXPECT_EQ(r.sinksFor("desy", ev("/x.tif")), std::vector<std::string>{});
  EXPECT_EQ(r.sinksFor("nobody", ev("/x.h5")), std::vector<std::string>{});
  // Whatever the filters: where a source's unusable input is parked.
  EXPECT_EQ(r.sinksOf("inbox"), (std::vector<std::string>{"gpu", "hook", "archive"}));
  EXPECT_EQ(r.sinksOf("desy"), (std::vector<std::string>{"hook", "archive"}));
  EXPECT_EQ(r.sinksOf("nobody"), std::vector<std::string>{});
}

}  // namespace
}  // namespace sluice
