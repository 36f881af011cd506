#include "policy/policy.h"

#include <fnmatch.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

// Debian's libinih (r55) is built with INI_HANDLER_LINENO: it passes the line number as a fifth
// argument, so the handler must take it. The parser below counts lines itself (see ReadLine) and
// does not depend on it.
#define INI_HANDLER_LINENO 1
#include <ini.h>

#include "common/text_format.h"
#include "policy/trusted_file.h"

namespace secretfs::policy {

// One fact a rule asks of its caller: `uid:1001`, `exe:/usr/sbin/nginx`, ...
struct Condition {
  enum class Kind : uint8_t { kUid, kGid, kExe, kUnit };
  Kind kind = Kind::kUid;
  uint32_t id = 0;   // kUid, kGid
  std::string text;  // kExe: the path; kUnit: the unit name
};

struct Policy::Rule {
  std::vector<Condition> subject;        // all must hold; empty: `*`, everyone
  std::optional<std::string> workspace;  // nullopt: [*]
  Role role = Role::kNone;
  std::vector<std::string> globs;  // empty: every key
  std::string origin;              // "FILE:LINE: text", shown in Decision::rule
};

namespace {

using Rule = Policy::Rule;

constexpr size_t kMaxPolicyBytes = size_t{1} << 20;
constexpr std::string_view kSubjects =
    "user:NAME, uid:N, group:NAME, gid:N, exe:/PATH, unit:NAME, several joined by '&', or *";

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// inih's comments: ';' or '#' at the start of a line, ';' after whitespace. A '#' after whitespace
// is a comment here too: key names never contain '#', and without this, the words of
// `user:web = reader  # the web app` would become globs matching keys named "the", "web", "app".
std::string_view StripComment(std::string_view line) {
  for (size_t i = 0; i < line.size(); ++i)
    if ((line[i] == ';' || line[i] == '#') && (i == 0 || IsSpace(line[i - 1])))
      return line.substr(0, i);
  return line;
}

// Text from the file as it may appear in a message: quoted, control bytes escaped, shortened.
std::string Quote(std::string_view text) { return QuoteText(text, 120); }

// store::ValidateWorkspaceName's rule (^[a-z0-9][a-z0-9_-]{0,62}$), repeated so that policy does
// not link the store.
bool IsWorkspaceName(std::string_view name) {
  auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (name.empty() || name.size() > 63 || !lower_or_digit(name[0])) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return lower_or_digit(c) || c == '_' || c == '-'; });
}

std::optional<uint32_t> ParseId(std::string_view text) {
  uint32_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  // (uid_t)-1 means "no id" to chown(2) and friends; no process runs with it.
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() || id == UINT32_MAX)
    return std::nullopt;
  return id;
}

// The uid of user `name` (or gid of group `name`); nullopt with `why` set when there is none.
std::optional<uint32_t> LookupId(bool group, const std::string& name, std::string& why) {
  std::vector<char> buf(4096);
  for (;;) {
    int rc = 0;
    uint32_t id = 0;
    bool found = false;
    if (group) {
      struct group gr {};
      struct group* res = nullptr;
      rc = getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &res);
      if (rc == 0 && res != nullptr) found = true, id = gr.gr_gid;
    } else {
      struct passwd pw {};
      struct passwd* res = nullptr;
      rc = getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &res);
      if (rc == 0 && res != nullptr) found = true, id = pw.pw_uid;
    }
    if (found) return id;
    if (rc == ERANGE && buf.size() < (size_t{1} << 20)) {
      buf.resize(buf.size() * 2);
      continue;
    }
    why = std::string(group ? "no group " : "no user ") + name;
    // Some NSS modules report "not found" as ENOENT and the like; anything else is worth naming.
    if (rc != 0 && rc != ENOENT && rc != ESRCH && rc != EBADF && rc != EPERM)
      why += " (lookup failed: " + std::string(std::strerror(rc)) + ")";
    return std::nullopt;
  }
}

bool ConditionHolds(const Condition& k, const CallerFacts& c) {
  switch (k.kind) {
    case Condition::Kind::kUid:
      return c.uid == k.id;
    case Condition::Kind::kGid:
      return c.gid == k.id ||
             (c.groups && std::find(c.groups->begin(), c.groups->end(), k.id) != c.groups->end());
    case Condition::Kind::kExe:
      return c.exe && *c.exe == k.text;
    case Condition::Kind::kUnit:
      return c.unit && *c.unit == k.text;
  }
  return false;
}

bool SubjectMatches(const Rule& r, const CallerFacts& c) {
  return std::all_of(r.subject.begin(), r.subject.end(),
                     [&](const Condition& k) { return ConditionHolds(k, c); });
}

// What Parse builds, and the state inih's callbacks share.
struct ParseState {
  std::string file;
  std::vector<std::string_view> lines;  // the file's lines without their line ends
  size_t handed_out = 0;               // lines given to inih: the 1-based number of the current one
  std::optional<std::string> section;  // the current section, as written ("*" or a workspace)
  int error_line = 0;                  // the first error found by us, 0 when none
  std::string error;
  std::vector<Rule> rules;
  std::vector<std::string> warnings;
  bool needs_groups = false, needs_exe = false, needs_unit = false;

  std::string Where(size_t line) const { return file + ":" + std::to_string(line); }
  void Fail(size_t line, const std::string& why) {
    if (error_line != 0) return;
    error_line = static_cast<int>(line);
    error = Where(line) + ": " + why;
  }
};

// One condition of a subject: `uid:N`, `user:NAME`, `gid:N`, `group:NAME`, `exe:/PATH` or
// `unit:NAME`. nullopt (after a warning) for a user or group that does not exist: the rule never
// matches.
Result<std::optional<Condition>> ParseCondition(ParseState& st, std::string_view text,
                                                size_t line) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos)
    return Status(EINVAL, Quote(text) + " is not a subject (use " + std::string(kSubjects) + ")");
  const std::string_view kind = text.substr(0, colon);
  const std::string arg(Trim(text.substr(colon + 1)));
  if (arg.empty()) return Status(EINVAL, Quote(text) + " names no one");
  Condition c;
  if (kind == "uid" || kind == "gid") {
    const std::optional<uint32_t> id = ParseId(arg);
    if (!id) return Status(EINVAL, "bad number " + Quote(arg) + " in " + Quote(text));
    c.kind = kind == "uid" ? Condition::Kind::kUid : Condition::Kind::kGid;
    c.id = *id;
  } else if (kind == "user" || kind == "group") {
    std::string why;
    const std::optional<uint32_t> id = LookupId(kind == "group", arg, why);
    if (!id) {
      // Names are resolved now, so a user added later needs a reload (SIGHUP).
      std::string hint;
      if (ParseId(arg))
        hint = " (for a number, write " + std::string(kind == "user" ? "uid:" : "gid:") + arg + ")";
      st.warnings.push_back(st.Where(line) + ": " + why + "; this rule never matches" + hint);
      return std::optional<Condition>();
    }
    c.kind = kind == "user" ? Condition::Kind::kUid : Condition::Kind::kGid;
    c.id = *id;
  } else if (kind == "exe") {
    if (arg[0] != '/')
      return Status(EINVAL, "exe path must be absolute: " + Quote(text) +
                                " (exe:/usr/sbin/nginx, as readlink /proc/PID/exe shows it)");
    c.kind = Condition::Kind::kExe;
    c.text = arg;
  } else if (kind == "unit") {
    c.kind = Condition::Kind::kUnit;
    c.text = arg;
  } else {
    return Status(EINVAL, "unknown subject kind " + Quote(kind) + " in " + Quote(text) + " (use " +
                              std::string(kSubjects) + ")");
  }
  return std::optional<Condition>(std::move(c));
}

// `SUBJECT = ROLE [GLOB ...]`, comment and surrounding whitespace already removed.
Status AddRule(ParseState& st, std::string_view text, size_t line) {
  const size_t eq = text.find('=');
  if (eq == std::string_view::npos)
    return Status(EINVAL, "expected SUBJECT = ROLE [GLOB ...], got " + Quote(text) +
                              " (a rule must be on one line)");
  if (!st.section)
    return Status(
        EINVAL, "rule outside any section: " + Quote(text) + " (put it under [*] or [WORKSPACE])");
  Rule rule;
  rule.origin = st.Where(line) + ": " + std::string(text);
  if (*st.section != "*") rule.workspace = *st.section;

  const std::string_view subject = Trim(text.substr(0, eq));
  std::vector<std::string_view> words;
  std::string_view rest = text.substr(eq + 1);
  while (!(rest = Trim(rest)).empty()) {
    size_t end = 0;
    while (end < rest.size() && !IsSpace(rest[end])) ++end;
    words.push_back(rest.substr(0, end));
    rest.remove_prefix(end);
  }
  if (subject.empty()) return Status(EINVAL, "no subject before '=' in " + Quote(text));
  if (words.empty()) return Status(EINVAL, "no role after '=' in " + Quote(text));
  const std::optional<Role> role = ParseRole(words[0]);
  if (!role)
    return Status(EINVAL, "unknown role " + Quote(words[0]) +
                              " (roles: none, viewer, reader, member, admin, owner)");
  rule.role = *role;
  for (size_t i = 1; i < words.size(); ++i) {
    if (words[i].find('/') != std::string_view::npos)
      return Status(EINVAL, "glob " + Quote(words[i]) +
                                " contains '/': globs match key names, and the section names the "
                                "workspace");
    rule.globs.emplace_back(words[i]);
  }

  // `*`, or one condition, or several joined by '&' that must all hold.
  bool resolves = true;
  if (subject != "*") {
    std::string_view remaining = subject;
    for (;;) {
      const size_t amp = remaining.find('&');
      const std::string_view part = Trim(remaining.substr(0, amp));
      if (part.empty()) return Status(EINVAL, "an empty condition in subject " + Quote(subject));
      if (part == "*")
        return Status(EINVAL, Quote(subject) +
                                  ": '*' cannot be joined with '&' (it matches everyone: write "
                                  "only the other conditions)");
      auto condition = ParseCondition(st, part, line);
      if (!condition) return condition.status();
      if (*condition) {
        rule.subject.push_back(std::move(**condition));
      } else {
        resolves = false;  // a user or group that does not exist: warned
      }
      if (amp == std::string_view::npos) break;
      remaining.remove_prefix(amp + 1);
    }
  }
  if (!resolves) return Status::Ok();  // the rule never matches
  for (size_t i = 0; i < rule.subject.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (const Condition& a = rule.subject[i], &b = rule.subject[j];
          a.kind == b.kind && a.kind != Condition::Kind::kGid && (a.id != b.id || a.text != b.text))
        st.warnings.push_back(st.Where(line) + ": " + Quote(subject) +
                              " never matches: a caller has one uid, one executable and one unit");
  if (rule.role == Role::kNone)
    st.warnings.push_back(st.Where(line) +
                          ": role none grants nothing and takes nothing away (the highest "
                          "matching role wins)");
  for (const Condition& k : rule.subject) {
    st.needs_groups |= k.kind == Condition::Kind::kGid;
    st.needs_exe |= k.kind == Condition::Kind::kExe;
    st.needs_unit |= k.kind == Condition::Kind::kUnit;
  }
  st.rules.push_back(std::move(rule));
  return Status::Ok();
}

// A `[SECTION]` line: "*" or a workspace name.
Status EnterSection(ParseState& st, std::string_view text) {
  if (text.size() < 2 || text.back() != ']')
    return Status(EINVAL, "expected [WORKSPACE] or [*], got " + Quote(text));
  const std::string_view name = Trim(text.substr(1, text.size() - 2));
  if (name != "*" && !IsWorkspaceName(name))
    return Status(EINVAL, "bad section [" + std::string(name) +
                              "]: a workspace name has 1 to 63 characters: lowercase letters, "
                              "digits, '_' and '-', starting with a letter or digit ([*] means "
                              "every workspace)");
  st.section = std::string(name);
  return Status::Ok();
}

// A stand-in of a few bytes for `line`, which inih (r55) classifies as it would classify the
// whole line: "" for a blank line or a comment; otherwise a blank first if the line is indented
// (after a rule, an indented line is a continuation), then "[s]" for a section, "x=x" for
// `name[=:]value` ("=x" when the name is empty: inih lets no continuation follow that), "[" or
// "x" for what inih rejects. As in inih's find_chars_or_comment, ';' after whitespace ends a
// search.
std::string InihStandIn(std::string_view line) {
  const std::string_view text = Trim(line);
  if (text.empty() || text[0] == ';' || text[0] == '#') return "";
  // The first of `chars` in `s`, or npos when none comes before an inline comment.
  auto find_chars_or_comment = [](std::string_view s, std::string_view chars) {
    for (size_t i = 0; i < s.size(); ++i) {
      if (chars.find(s[i]) != std::string_view::npos) return i;
      if (s[i] == ';' && i > 0 && IsSpace(s[i - 1])) break;
    }
    return std::string_view::npos;
  };
  std::string out = IsSpace(line[0]) ? " " : "";  // indented
  if (text[0] == '[') {
    out += find_chars_or_comment(text.substr(1), "]") != std::string_view::npos ? "[s]" : "[";
  } else {
    const size_t eq = find_chars_or_comment(text, "=:");
    if (eq == std::string_view::npos) {
      out += "x";
    } else {
      out += eq == 0 ? "=x" : "x=x";
    }
  }
  return out;
}

// inih's reader: one physical line per call, so inih's line numbers are the file's. We keep the
// text ourselves because inih (r55) splits `user:web = reader` at the ':', cuts section names
// after 49 characters and its line buffer is 200 bytes. inih gets only a stand-in of each line
// (InihStandIn), to classify it as its whole text is classified: a prefix of a long line could be
// blank or lack the '='. Rules are parsed from the whole text.
char* ReadLine(char* buffer, int num, void* stream) {
  auto* st = static_cast<ParseState*>(stream);
  if (st->error_line != 0 || st->handed_out >= st->lines.size()) return nullptr;
  const std::string_view line = st->lines[st->handed_out++];
  // Sections are tracked here, at every line whose text starts with '[': inih would take an
  // indented one after a rule for a continuation of that rule.
  const std::string_view text = Trim(StripComment(line));
  if (!text.empty() && text[0] == '[') {
    if (Status s = EnterSection(*st, text); !s.ok()) {
      st->Fail(st->handed_out, s.message());
      return nullptr;
    }
  }
  const std::string stand_in = InihStandIn(line);
  if (num < 0 || stand_in.size() + 2 > static_cast<size_t>(num)) {
    st->Fail(st->handed_out, "inih's line buffer is too small");
    return nullptr;
  }
  std::memcpy(buffer, stand_in.data(), stand_in.size());
  buffer[stand_in.size()] = '\n';
  buffer[stand_in.size() + 1] = '\0';
  return buffer;
}

// inih's handler: called for `name = value` lines and for indented lines after one (inih's
// multi-line values). Both are parsed from the line's own text; a continuation without '=' is an
// error, not a second rule for the previous subject.
int OnNameValue(void* user, const char*, const char*, const char*, int) {
  auto* st = static_cast<ParseState*>(user);
  const size_t line = st->handed_out;
  const std::string_view text = Trim(StripComment(st->lines[line - 1]));
  if (text.empty() || text[0] == '[') return 1;  // an indented section: ReadLine took it
  if (Status s = AddRule(*st, text, line); !s.ok()) {
    st->Fail(line, s.message());
    return 0;
  }
  return 1;
}

}  // namespace

Policy::Policy() = default;
Policy::~Policy() = default;

Result<std::shared_ptr<const Policy>> Policy::Parse(std::string_view text,
                                                    const std::string& name) {
  ParseState st;
  st.file = name;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // a UTF-8 byte order mark
  while (!text.empty()) {
    size_t end = text.find('\n');
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(0, end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    st.lines.push_back(line);
    if (line.find('\0') != std::string_view::npos)
      return Status(EINVAL, st.Where(st.lines.size()) + ": a NUL byte (not a text file?)");
    text.remove_prefix(std::min(text.size(), end + 1));
  }

  const int rc = ini_parse_stream(&ReadLine, &st, &OnNameValue, &st);
  if (rc == -2) return Status(ENOMEM, name + ": out of memory");
  // inih reports lines it cannot classify (no '=' or ':', an unclosed '[') by number only; the
  // earliest error wins.
  if (rc > 0 && (st.error_line == 0 || rc < st.error_line))
    return Status(EINVAL, st.Where(rc) + ": expected SUBJECT = ROLE [GLOB ...] or [SECTION], got " +
                              Quote(Trim(st.lines[rc - 1])));
  if (st.error_line != 0) return Status(EINVAL, st.error);

  auto policy = std::make_shared<Policy>();
  policy->rules_ = std::move(st.rules);
  policy->source_ = name;
  policy->warnings_ = std::move(st.warnings);
  policy->needs_groups_ = st.needs_groups;
  policy->needs_exe_ = st.needs_exe;
  policy->needs_unit_ = st.needs_unit;
  return std::shared_ptr<const Policy>(std::move(policy));
}

Result<std::shared_ptr<const Policy>> Policy::LoadFile(const std::string& path) {
  // Whoever can write the policy, or replace it, can make themselves owner of every secret.
  auto text = ReadTrustedFile(path, geteuid(), kMaxPolicyBytes, "policy file");
  if (!text) return text.status();
  return Parse(*text, path);
}

std::shared_ptr<const Policy> Policy::Default(uid_t owner_uid) {
  auto policy = std::make_shared<Policy>();
  policy->source_ = "(default policy)";
  auto add_owner = [&](uid_t uid) {
    Rule rule;
    rule.subject = {Condition{Condition::Kind::kUid, static_cast<uint32_t>(uid), ""}};
    rule.role = Role::kOwner;
    rule.origin = "(default policy): [*] uid:" + std::to_string(uid) + " = owner";
    policy->rules_.push_back(std::move(rule));
  };
  add_owner(0);
  if (owner_uid != 0) add_owner(owner_uid);
  return policy;
}

namespace {

Decision Finish(const Rule* best, const Caps& caps) {
  Decision d;
  if (best != nullptr) {
    d.role = best->role;
    d.rule = best->origin;
  }
  Permissions allowed = PermissionsOf(d.role);
  // Caps intersect: a member capped by role=reader keeps only what both allow (see), never read.
  if (caps.role) {
    const Permissions capped = allowed & PermissionsOf(*caps.role);
    if (capped != allowed) d.caps.push_back("role=" + std::string(RoleName(*caps.role)));
    allowed = capped;
  }
  if (caps.read_only) {
    const Permissions capped = allowed & ~kChanges;
    if (capped != allowed) d.caps.push_back("ro");
    allowed = capped;
  }
  d.allowed = allowed;
  return d;
}

}  // namespace

Decision Policy::Decide(const CallerFacts& caller, std::string_view workspace, std::string_view key,
                        const Caps& caps) const {
  const Rule* best = nullptr;
  std::string key_text;  // fnmatch wants a C string
  for (const Rule& r : rules_) {
    if (r.workspace && *r.workspace != workspace) continue;
    if (best != nullptr && r.role <= best->role) continue;  // the first among equals wins
    if (!r.globs.empty()) {
      if (key.empty()) continue;  // the workspace itself: only rules for every key count
      if (key_text.empty()) key_text = key;
      if (std::none_of(r.globs.begin(), r.globs.end(), [&](const std::string& g) {
            return fnmatch(g.c_str(), key_text.c_str(), 0) == 0;
          }))
        continue;
    }
    if (!SubjectMatches(r, caller)) continue;
    best = &r;
  }
  return Finish(best, caps);
}

Decision Policy::DecideAny(const CallerFacts& caller, std::string_view workspace,
                           const Caps& caps) const {
  const Rule* best = nullptr;
  for (const Rule& r : rules_) {
    if (r.workspace && *r.workspace != workspace) continue;
    if (best != nullptr && r.role <= best->role) continue;
    if (SubjectMatches(r, caller)) best = &r;
  }
  return Finish(best, caps);
}

}  // namespace secretfs::policy
