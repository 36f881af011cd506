// The name rules of store/names.h (SPEC §3), checked against an independent reading of the
// documented patterns:
//   workspace      ^[a-z0-9][a-z0-9_-]{0,62}$
//   key, default   ^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}$
//   key, env       ^[A-Z][A-Z0-9_]{0,254}$
// Also: ParseSecretPath accepts exactly "W/K" with W a workspace name and K a default key name
// (split at the first '/') and gives back the same text; ParseNaming knows "default" and "env";
// every refusal is EINVAL; QuoteName lets no control character or byte outside UTF-8 through, keeps
// printable UTF-8 as it is, and stays short.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/text_format.h"
#include "fuzz_fixtures.h"
#include "store/names.h"

using namespace secretfs;
using namespace secretfs::store;

namespace {

bool Lower(char c) { return c >= 'a' && c <= 'z'; }
bool Upper(char c) { return c >= 'A' && c <= 'Z'; }
bool Digit(char c) { return c >= '0' && c <= '9'; }

bool AllOf(std::string_view s, bool (*ok)(char)) {
  for (char c : s)
    if (!ok(c)) return false;
  return true;
}

bool IsWorkspace(std::string_view s) {
  return !s.empty() && s.size() <= 63 && (Lower(s[0]) || Digit(s[0])) &&
         AllOf(s, [](char c) { return Lower(c) || Digit(c) || c == '_' || c == '-'; });
}

bool IsDefaultKey(std::string_view s) {
  return !s.empty() && s.size() <= 255 &&
         (Upper(s[0]) || Lower(s[0]) || Digit(s[0]) || s[0] == '_') && AllOf(s, [](char c) {
           return Upper(c) || Lower(c) || Digit(c) || c == '.' || c == '_' || c == '-';
         });
}

bool IsEnvKey(std::string_view s) {
  return !s.empty() && s.size() <= 255 && Upper(s[0]) &&
         AllOf(s, [](char c) { return Upper(c) || Digit(c) || c == '_'; });
}

void CheckStatus(const Status& s, bool expected_ok) {
  FUZZ_CHECK(s.ok() == expected_ok);
  if (!s.ok()) FUZZ_CHECK(s.code() == EINVAL && !s.message().empty());
}

void CheckQuote(std::string_view name) {
  const std::string q = QuoteName(name);
  // What a terminal shows as it is: no C0, DEL or C1 control, no byte outside UTF-8 (a name
  // cut at 64 bytes inside a character has that character's bytes escaped).
  FUZZ_CHECK(IsPrintableUtf8(q));
  // 64 bytes shown, each at most 4 characters (\xNN), quotes, "..." and the length note.
  FUZZ_CHECK(q.size() <= 64 * 4 + 5 + 32);
  if (name.size() <= 64 && IsPrintableUtf8(name)) FUZZ_CHECK(q == "'" + std::string(name) + "'");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  CheckStatus(ValidateWorkspaceName(text), IsWorkspace(text));
  CheckStatus(ValidateKeyName(text), IsDefaultKey(text));
  CheckStatus(ValidateKeyName(text, Naming::kDefault), IsDefaultKey(text));
  CheckStatus(ValidateKeyName(text, Naming::kEnv), IsEnvKey(text));

  const size_t slash = text.find('/');
  const bool path_ok = slash != std::string_view::npos && IsWorkspace(text.substr(0, slash)) &&
                       IsDefaultKey(text.substr(slash + 1));
  auto path = ParseSecretPath(text);
  CheckStatus(path.status(), path_ok);
  if (path.ok()) {
    FUZZ_CHECK(path->text() == text);
    FUZZ_CHECK(path->workspace == text.substr(0, slash));
  }

  auto naming = ParseNaming(text);
  FUZZ_CHECK(naming.ok() == (text == "default" || text == "env"));
  if (naming.ok()) FUZZ_CHECK(NamingName(*naming) == text);

  CheckQuote(text);
  return 0;
}
