#include "tests/stress/stress_values.h"

#include <cstdlib>
#include <sstream>

namespace secretfs::testing {
namespace {

// splitmix64: a fixed, well-mixed sequence per (writer, n).
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
  x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
  return x ^ (x >> 31);
}

std::string Body(int writer, uint64_t n) {
  uint64_t state = Mix((static_cast<uint64_t>(writer) << 48) ^ n);
  std::string body(16 + state % 4096, '\0');
  for (char& c : body) {
    state = Mix(state);
    c = static_cast<char>('a' + state % 26);
  }
  return body;
}

}  // namespace

std::string MakeValue(const ValueId& id) {
  return id.key + ":" + std::to_string(id.writer) + ":" + std::to_string(id.n) + ":" +
         Body(id.writer, id.n);
}

std::optional<ValueId> ParseValue(const std::string& value) {
  ValueId id;
  std::istringstream in(value);
  std::string writer, n;
  if (!std::getline(in, id.key, ':') || !std::getline(in, writer, ':') || !std::getline(in, n, ':'))
    return std::nullopt;
  char* end = nullptr;
  id.writer = static_cast<int>(std::strtol(writer.c_str(), &end, 10));
  if (writer.empty() || *end != '\0') return std::nullopt;
  id.n = std::strtoull(n.c_str(), &end, 10);
  if (n.empty() || *end != '\0') return std::nullopt;
  if (MakeValue(id) != value) return std::nullopt;
  return id;
}

long EnvOr(const char* name, long fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  return *end == '\0' && value > 0 ? value : fallback;
}

}  // namespace secretfs::testing
