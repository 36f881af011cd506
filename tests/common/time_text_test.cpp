// The time and age arguments of `secretfs audit --since/--until`, `audit prune --before` and the
// mount option audit_keep=: what an operator types, and what must be refused.
#include <gtest/gtest.h>

#include <optional>

#include "common/age.h"
#include "common/rfc3339.h"
#include "common/text_format.h"

namespace secretfs {
namespace {

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t k20261122 = 1'795'305'600;  // 2026-11-22T00:00:00Z in seconds

TEST(Rfc3339Test, ReadsUtcOffsetsFractionsAndBareDates) {
  EXPECT_EQ(ParseRfc3339("2026-11-22"), k20261122 * kSec);
  EXPECT_EQ(ParseRfc3339("2026-11-22T10:00:00Z"), (k20261122 + 36'000) * kSec);
  EXPECT_EQ(ParseRfc3339("2026-11-22t10:00:00z"), (k20261122 + 36'000) * kSec);
  EXPECT_EQ(ParseRfc3339("2026-11-22 10:00:00Z"), (k20261122 + 36'000) * kSec);
  EXPECT_EQ(ParseRfc3339("2026-11-22T10:00:00.5Z"), (k20261122 + 36'000) * kSec + kSec / 2);
  EXPECT_EQ(ParseRfc3339("2026-11-22T10:00:00.123456789Z"),
            (k20261122 + 36'000) * kSec + 123'456'789);
  // Digits past nanoseconds are read and add nothing.
  EXPECT_EQ(ParseRfc3339("2026-11-22T10:00:00.1234567891234Z"),
            (k20261122 + 36'000) * kSec + 123'456'789);
  // An offset says how far the local time is ahead of UTC.
  EXPECT_EQ(ParseRfc3339("2026-11-22T11:30:00+01:30"), (k20261122 + 36'000) * kSec);
  EXPECT_EQ(ParseRfc3339("2026-11-22T05:00:00-05:00"), (k20261122 + 36'000) * kSec);
  EXPECT_EQ(ParseRfc3339("2026-11-22T10:00:00-00:00"), (k20261122 + 36'000) * kSec);
}

TEST(Rfc3339Test, RoundTripsWhatTheAuditLogPrints) {
  const int64_t ns = (k20261122 + 36'005) * kSec + 42;
  EXPECT_EQ(ParseRfc3339(FormatTime(ns, /*with_nanos=*/true)), ns);
  EXPECT_EQ(ParseRfc3339(FormatTime(ns)), (k20261122 + 36'005) * kSec);
}

TEST(Rfc3339Test, KnowsTheCalendar) {
  EXPECT_TRUE(ParseRfc3339("2024-02-29"));   // a leap year
  EXPECT_TRUE(ParseRfc3339("2000-02-29"));   // divisible by 400
  EXPECT_FALSE(ParseRfc3339("2026-02-29"));  // not a leap year
  EXPECT_FALSE(ParseRfc3339("1900-02-29"));  // divisible by 100
  EXPECT_FALSE(ParseRfc3339("2026-02-30"));
  EXPECT_FALSE(ParseRfc3339("2026-04-31"));
  EXPECT_FALSE(ParseRfc3339("2026-02-30T23:59:60Z")) << "a leap second makes no day valid";
  // A leap second is the second after :59.
  EXPECT_EQ(ParseRfc3339("2016-12-31T23:59:60Z"), ParseRfc3339("2017-01-01T00:00:00Z"));
}

TEST(Rfc3339Test, RefusesTimesThatNanosecondsSince1970CannotHold) {
  EXPECT_EQ(ParseRfc3339("2262-04-11T23:47:16Z"), int64_t{9'223'372'036} * kSec);
  EXPECT_EQ(ParseRfc3339("2262-04-11T23:47:16.854775807Z"), INT64_MAX);
  EXPECT_EQ(ParseRfc3339("2262-04-11T23:47:16.854775808Z"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2262-04-12"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("9999-12-31"), std::nullopt) << "wrapped around to 1816";
  EXPECT_EQ(ParseRfc3339("1677-09-21T00:12:44Z"), int64_t{-9'223'372'036} * kSec);
  EXPECT_EQ(ParseRfc3339("1677-09-21T00:12:43Z"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("0000-01-01"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("1970-01-01"), 0);
}

TEST(FormatTimeTest, RoundsDownBefore1970Too) {
  EXPECT_EQ(FormatTime(-kSec / 2, true), "1969-12-31T23:59:59.500000000Z");
  EXPECT_EQ(FormatTime(-kSec / 2), "1969-12-31T23:59:59Z");
  EXPECT_EQ(FormatTime(-kSec, true), "1969-12-31T23:59:59.000000000Z");
  EXPECT_EQ(FormatTime(kSec + 1, true), "1970-01-01T00:00:01.000000001Z");
  EXPECT_EQ(ParseRfc3339(FormatTime(-kSec / 2, true)), -kSec / 2);
}

TEST(Rfc3339Test, RefusesWhatIsNotATime) {
  for (const char* text : {"",
                           "2026",
                           "2026-11",
                           "2026-1-22",
                           "2026-11-22T",
                           "2026-11-22T10:00",
                           "2026-11-22T10:00:00",  // a time without its zone
                           "2026-11-22T10:00:00.Z",
                           "2026-11-22T10:00:00+0100",
                           "2026-11-22T10:00:00+24:00",
                           "2026-11-22T10:00:00+01:60",
                           "2026-11-22T24:00:00Z",
                           "2026-11-22T10:60:00Z",
                           "2026-11-22T10:00:61Z",
                           "2026-13-01",
                           "2026-00-10",
                           "2026-11-00",
                           "2026-11-22Z",
                           "2026-11-22T10:00:00Zjunk",
                           "+2026-11-22",
                           " 2026-11-22",
                           "2026-11-22\n",
                           "now",
                           "7d",
                           "２０２６-11-22"})
    EXPECT_EQ(ParseRfc3339(text), std::nullopt) << "'" << text << "'";
}

TEST(AgeTest, ReadsEachUnitAndRefusesTheRest) {
  EXPECT_EQ(ParseAgeSeconds("90s", INT64_MAX), 90);
  EXPECT_EQ(ParseAgeSeconds("10m", INT64_MAX), 600);
  EXPECT_EQ(ParseAgeSeconds("2h", INT64_MAX), 7'200);
  EXPECT_EQ(ParseAgeSeconds("7d", INT64_MAX), 604'800);
  EXPECT_EQ(ParseAgeSeconds("4w", INT64_MAX), 2'419'200);
  EXPECT_EQ(ParseAgeSeconds("0d", INT64_MAX), 0);
  for (const char* text : {"", "d", "7", "7y", "-7d", "+7d", "7 d", " 7d", "7dd", "1.5h", "0x10s"})
    EXPECT_EQ(ParseAgeSeconds(text, INT64_MAX), std::nullopt) << "'" << text << "'";
  // More seconds than the caller can hold is refused, not wrapped around.
  EXPECT_EQ(ParseAgeSeconds("9223372036854775807w", INT64_MAX), std::nullopt);
  EXPECT_EQ(ParseAgeSeconds("2s", 1), std::nullopt);
  EXPECT_EQ(ParseAgeSeconds("1s", 1), 1);
}

}  // namespace
}  // namespace secretfs
