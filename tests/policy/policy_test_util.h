// What the policy tests share: parsing text that must be valid, and building callers.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "policy/policy.h"

namespace secretfs::policy::testing {

// Parses `text` as "policy.ini"; fails the test (and returns an empty policy) when it is invalid.
inline std::shared_ptr<const Policy> MustParse(const std::string& text) {
  auto parsed = Policy::Parse(text, "policy.ini");
  EXPECT_TRUE(parsed.ok()) << parsed.status().message();
  if (!parsed.ok()) return Policy::Parse("", "empty").value();
  return *parsed;
}

// The message of the error that parsing `text` gives; "" when it parses.
inline std::string ParseError(const std::string& text) {
  auto parsed = Policy::Parse(text, "policy.ini");
  if (parsed.ok()) return "";
  EXPECT_EQ(parsed.status().code(), EINVAL);
  return parsed.status().message();
}

inline CallerFacts Uid(uid_t uid, gid_t gid = 65534) {
  CallerFacts c;
  c.uid = uid;
  c.gid = gid;
  return c;
}

}  // namespace secretfs::policy::testing
