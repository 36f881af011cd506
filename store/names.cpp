#include "store/names.h"

#include "common/text_format.h"

namespace secretfs::store {
namespace {

bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

Status Invalid(std::string_view what, std::string_view name, std::string_view rule) {
  return Status(EINVAL, "invalid " + std::string(what) + " name " + QuoteName(name) + ": " +
                            std::string(rule));
}

}  // namespace

std::string_view NamingName(Naming naming) { return naming == Naming::kEnv ? "env" : "default"; }

Result<Naming> ParseNaming(std::string_view name) {
  if (name == "default") return Naming::kDefault;
  if (name == "env") return Naming::kEnv;
  return Status(EINVAL, "unknown naming '" + std::string(name) + "' (use default or env)");
}

std::string QuoteName(std::string_view name) {
  constexpr size_t kShown = 64;
  std::string out = QuoteText(name, kShown);
  if (name.size() > kShown) out += " (" + std::to_string(name.size()) + " characters)";
  return out;
}

Status ValidateWorkspaceName(std::string_view name) {
  constexpr std::string_view kRule =
      "a workspace name has 1 to 63 characters: lowercase letters, digits, '_' and '-', "
      "starting with a letter or digit";
  if (name.empty() || name.size() > kMaxWorkspaceName) return Invalid("workspace", name, kRule);
  if (!IsLower(name[0]) && !IsDigit(name[0])) return Invalid("workspace", name, kRule);
  for (char c : name)
    if (!IsLower(c) && !IsDigit(c) && c != '_' && c != '-')
      return Invalid("workspace", name, kRule);
  return Status::Ok();
}

Status ValidateKeyName(std::string_view name, Naming naming) {
  if (name.empty()) return Invalid("key", name, "a key name cannot be empty");
  if (name.size() > kMaxKeyName)
    return Invalid("key", name, "a key name has at most 255 characters");
  if (naming == Naming::kEnv) {
    constexpr std::string_view kRule =
        "this workspace uses env naming: uppercase letters, digits and '_', starting with a "
        "letter";
    if (!IsUpper(name[0])) return Invalid("key", name, kRule);
    for (char c : name)
      if (!IsUpper(c) && !IsDigit(c) && c != '_') return Invalid("key", name, kRule);
    return Status::Ok();
  }
  if (name.find('/') != std::string_view::npos)
    return Invalid("key", name, "a key name cannot contain '/'");
  if (!IsUpper(name[0]) && !IsLower(name[0]) && !IsDigit(name[0]) && name[0] != '_')
    return Invalid("key", name, "a key name starts with a letter, digit or '_'");
  for (char c : name)
    if (!IsUpper(c) && !IsLower(c) && !IsDigit(c) && c != '.' && c != '_' && c != '-')
      return Invalid("key", name, "a key name may contain only letters, digits, '.', '_' and '-'");
  return Status::Ok();
}

Result<SecretPath> ParseSecretPath(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos)
    return Status(EINVAL, "'" + std::string(text) + "' is not WORKSPACE/KEY");
  SecretPath p{std::string(text.substr(0, slash)), std::string(text.substr(slash + 1))};
  SECRETFS_RETURN_IF_ERROR(ValidateWorkspaceName(p.workspace));
  SECRETFS_RETURN_IF_ERROR(ValidateKeyName(p.key));
  return p;
}

}  // namespace secretfs::store
