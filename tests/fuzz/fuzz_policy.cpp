// The policy file parser (policy::Policy::Parse) on arbitrary text, and Decide / DecideAny on what
// parses, for a few fixed callers. Checked:
//   - nothing crashes (ASan, UBSan), whatever the text (inih's fixed line buffer, long lines,
//     odd sections, comments, NUL bytes, user and group names looked up through NSS);
//   - a refused file is EINVAL (ENOMEM only if inih cannot allocate), its message names the file;
//   - the decision is consistent: allowed is the role's permissions before caps, caps only remove
//     (role=reader keeps at most reader's, ro removes every change), a decision without a rule
//     has no role, DecideAny is at least Decide for any key, and the workspace itself (empty key)
//     never gets more than a key of it.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_fixtures.h"
#include "policy/policy.h"
#include "policy/role.h"

using namespace secretfs;
using namespace secretfs::policy;

namespace {

const std::string kName = "fuzz.ini";

std::vector<CallerFacts> Callers() {
  std::vector<CallerFacts> callers(3);
  callers[0].uid = 0;  // root, every fact known
  callers[0].gid = 0;
  callers[0].groups = std::vector<gid_t>{0};
  callers[0].exe = "/usr/bin/cat";
  callers[0].unit = "example-app.service";
  callers[1].uid = 1001;  // an app in the operators' and monitoring groups
  callers[1].gid = 1001;
  callers[1].groups = std::vector<gid_t>{2000, 2001};
  callers[1].exe = "/usr/sbin/nginx";
  callers[1].unit = "nginx.service";
  callers[2].uid = 1002;  // nothing known from /proc
  callers[2].gid = 1002;
  return callers;
}

bool Subset(Permissions a, Permissions b) { return (a & ~b) == 0; }

void CheckDecisions(const Policy& policy) {
  static const std::vector<CallerFacts> callers = Callers();
  static const std::vector<std::string_view> workspaces = {"prod", "dev"};
  static const std::vector<std::string_view> keys = {"DB_PASSWORD", "API_TOKEN", "x.y-z"};
  Caps none;
  Caps reader;
  reader.role = Role::kReader;
  Caps ro;
  ro.read_only = true;
  for (const CallerFacts& c : callers) {
    for (std::string_view w : workspaces) {
      const Decision any = policy.DecideAny(c, w, none);
      FUZZ_CHECK(any.allowed == PermissionsOf(any.role));
      const Decision ws = policy.Decide(c, w, "", none);
      for (std::string_view k : keys) {
        const Decision d = policy.Decide(c, w, k, none);
        FUZZ_CHECK(d.allowed == PermissionsOf(d.role));
        FUZZ_CHECK(d.caps.empty());
        FUZZ_CHECK(!d.rule.empty() || d.role == Role::kNone);
        FUZZ_CHECK(any.role >= d.role);
        FUZZ_CHECK(ws.role <= d.role);

        const Decision r = policy.Decide(c, w, k, reader);
        FUZZ_CHECK(r.role == d.role && r.rule == d.rule);
        FUZZ_CHECK(r.allowed == (d.allowed & PermissionsOf(Role::kReader)));
        FUZZ_CHECK(r.caps.empty() == (r.allowed == d.allowed));

        const Decision o = policy.Decide(c, w, k, ro);
        FUZZ_CHECK(Subset(o.allowed, d.allowed));
        FUZZ_CHECK((o.allowed & kChanges) == 0);
        FUZZ_CHECK(o.caps.empty() == (o.allowed == d.allowed));
        FUZZ_CHECK(o.Allows(Action::kSee) == d.Allows(Action::kSee));
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto policy = Policy::Parse(text, kName);
  if (!policy.ok()) {
    FUZZ_CHECK(policy.status().code() == EINVAL || policy.status().code() == ENOMEM);
    FUZZ_CHECK(policy.status().message().rfind(kName, 0) == 0);
    return 0;
  }
  FUZZ_CHECK(*policy != nullptr);
  FUZZ_CHECK((*policy)->source() == kName);
  for (const std::string& w : (*policy)->warnings()) FUZZ_CHECK(w.rfind(kName + ":", 0) == 0);
  CheckDecisions(**policy);
  return 0;
}
