// SecretsFs: the user.secretfs.* extended attributes (SPEC §4).
#include <sys/xattr.h>

#include <algorithm>
#include <charconv>
#include <span>

#include "common/text_format.h"
#include "fs/proc_info.h"
#include "fs/secrets_fs.h"

namespace secretfs::fs {
namespace {

constexpr std::string_view kPrefix = "user.secretfs.";
constexpr const char* kReadable[] = {"version",     "created", "updated", "updated_by",
                                     "description", "tags",    "type"};
// What a file being created has before its first commit (SecretsFs::PendingMetadata).
constexpr const char* kSettable[] = {"description", "tags", "type"};

std::string TagsText(const store::Tags& tags) {
  std::string out;
  for (const auto& [k, v] : tags) {
    if (!out.empty()) out += ',';
    out += k + "=" + v;
  }
  return out;
}

// "k=v,k=v" -> a replacement of every tag. A name given twice is refused: which of its values
// was meant is the writer's to say.
bool ParseTags(std::string_view text, const store::Tags& old, store::MetadataUpdate& update) {
  for (const auto& [k, v] : old) update.tags[k] = std::nullopt;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) return false;
    // Old tags are removals (nullopt) until named here; a name given here holds a value.
    std::optional<std::string>& value = update.tags[std::string(item.substr(0, eq))];
    if (value) return false;
    value = std::string(item.substr(eq + 1));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
  }
  return true;
}

}  // namespace

std::optional<store::MetadataUpdate> SecretsFs::PendingMetadata(uint64_t ino) {
  std::lock_guard lock(expect_mutex_);
  auto [first, last] = writers_.equal_range(ino);
  for (auto it = first; it != last; ++it) {
    std::lock_guard file_lock(it->second->mutex);
    if (it->second->creating) return it->second->metadata;
  }
  return std::nullopt;
}

int SecretsFs::GetXattr(const Caller& who, uint64_t ino, const std::string& name,
                        std::string& out) {
  auto node = NodeOf(ino);
  if (!node) return -ENOENT;
  if (int rc = Check(who, *node, Access::kList); rc != 0) return rc;
  if (node->kind != NodeKind::kSecret || name.rfind(kPrefix, 0) != 0) return -ENODATA;
  const std::string attr = name.substr(kPrefix.size());
  auto info = store_.Stat(node->workspace, node->key);
  if (!info && info.status().code() != ENOENT) return ToNegErrno(info.status());
  store::SecretRecord r = info ? std::move(info->record) : store::SecretRecord{};
  if (!info || r.deleted) {
    // A file being created has no version or times yet, and the metadata its first commit will
    // store: what setxattr gave it, over the record a name made again keeps.
    auto pending = PendingMetadata(ino);
    if (!pending) return -ENOENT;
    if (std::find(std::begin(kSettable), std::end(kSettable), attr) == std::end(kSettable))
      return -ENODATA;
    store::ApplyMetadata(r, *pending);
  }
  if (attr == "version")
    out = std::to_string(r.version);
  else if (attr == "created")
    out = FormatTime(r.created_ns, true);
  else if (attr == "updated")
    out = FormatTime(r.updated_ns, true);
  else if (attr == "updated_by")
    out = r.updated_by;
  else if (attr == "description")
    out = r.description;
  else if (attr == "tags")
    out = TagsText(r.tags);
  else if (attr == "type")
    out = r.type;
  else
    return -ENODATA;
  return 0;
}

int SecretsFs::ListXattr(const Caller& who, uint64_t ino, std::string& out) {
  auto node = NodeOf(ino);
  if (!node) return -ENOENT;
  if (int rc = Check(who, *node, Access::kList); rc != 0) return rc;
  out.clear();
  if (node->kind != NodeKind::kSecret) return 0;
  // A file being created has only what setxattr may give it before its first commit.
  const std::span<const char* const> names = BeingCreated(*node, ino)
                                                 ? std::span<const char* const>(kSettable)
                                                 : std::span<const char* const>(kReadable);
  for (const char* attr : names) {
    out += kPrefix;
    out += attr;
    out += '\0';
  }
  return 0;
}

int SecretsFs::RoomForExpectation(uid_t uid, std::unique_lock<std::mutex>& lock) {
  const auto full = [&] {
    if (expected_versions_.size() >= kMaxExpectations) return true;
    const auto by_uid = std::count_if(expected_versions_.begin(), expected_versions_.end(),
                                      [uid](const auto& entry) { return entry.second.uid == uid; });
    return static_cast<size_t>(by_uid) >= kMaxExpectationsPerUid;
  };
  if (expected_versions_.size() < prune_expectations_at_ && !full()) return 0;
  // Which processes are gone is asked without the lock: /proc/PID/stat waits for an execve() of
  // that process, and the exec may be waiting for a close here, which needs the lock.
  std::vector<std::pair<pid_t, std::optional<uint64_t>>> processes;
  for (const auto& [where, expected] : expected_versions_)
    processes.emplace_back(where.second, expected.started);
  std::sort(processes.begin(), processes.end());
  processes.erase(std::unique(processes.begin(), processes.end()), processes.end());
  lock.unlock();
  std::erase_if(processes,
                [](const auto& p) { return policy::ProcessStartTime(p.first) == p.second; });
  lock.lock();
  std::erase_if(expected_versions_, [&](const auto& entry) {
    return std::binary_search(processes.begin(), processes.end(),
                              std::pair{entry.first.second, entry.second.started});
  });
  // Never above the limit: a table once full of live processes is pruned again when they are
  // gone (it was not: one user's 4096 exited processes took expect_version from everyone until
  // a remount).
  prune_expectations_at_ = std::clamp<size_t>(2 * expected_versions_.size(), 64, kMaxExpectations);
  return full() ? -ENOSPC : 0;
}

int SecretsFs::SetXattr(const Caller& who, uint64_t ino, const std::string& name,
                        std::span<const char> value, int flags) {
  auto node = NodeOf(ino);
  if (!node) return -ENOENT;
  if (int rc = Check(who, *node, Access::kList); rc != 0) return rc;
  if (node->kind != NodeKind::kSecret || name.rfind(kPrefix, 0) != 0) return -ENOTSUP;
  if (int rc = CheckWritable(); rc != 0) return rc;
  if (int rc = Check(who, *node, Access::kWrite); rc != 0)
    return Audit(who, audit::op::kSetMeta, *node, rc);
  const std::string attr = name.substr(kPrefix.size());
  const std::string text(value.begin(), value.end());

  if (attr == "expect_version") {
    uint64_t version = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
    if (ec != std::errc() || end != text.data() + text.size()) return -EINVAL;
    const pid_t process = ProcessOf(who);
    const std::optional<uint64_t> started = policy::ProcessStartTime(process);
    std::unique_lock lock(expect_mutex_);
    bool applied = false;
    auto [first, last] = writers_.equal_range(ino);
    for (auto it = first; it != last; ++it)
      if (it->second->opener == process) {
        std::lock_guard file_lock(it->second->mutex);
        it->second->expect_version = version;
        applied = true;
      }
    if (applied) return 0;
    if (!expected_versions_.contains({ino, process}))
      if (int rc = RoomForExpectation(who.uid, lock); rc != 0) return rc;
    expected_versions_[{ino, process}] = {version, started, who.uid};
    return 0;
  }
  store::MetadataUpdate update;
  if (attr == "description") {
    update.description = text;
  } else if (attr == "type") {
    update.type = text;
  } else if (attr == "tags") {
    auto info = store_.Stat(node->workspace, node->key);
    if (!info && info.status().code() != ENOENT) return ToNegErrno(info.status());
    if (!ParseTags(text, info ? info->record.tags : store::Tags{}, update)) return -EINVAL;
  } else {
    // version, created, updated and updated_by are kept by secretfs. ENOTSUP rather than EPERM:
    // cp -a and mv copy every attribute and stay quiet about unsupported ones.
    return -ENOTSUP;
  }
  (void)flags;
  if (Status s = store::ValidateMetadata(update); !s.ok()) return -EINVAL;
  {
    // A file being created has no record yet: the metadata goes with its first commit.
    std::lock_guard lock(expect_mutex_);
    auto [first, last] = writers_.equal_range(ino);
    for (auto it = first; it != last; ++it) {
      std::lock_guard file_lock(it->second->mutex);
      if (!it->second->creating) continue;
      store::MetadataUpdate& pending = it->second->metadata;
      if (update.description) pending.description = update.description;
      if (update.type) pending.type = update.type;
      // Setting tags replaces every tag, here as on a stored secret (it added to those set
      // before): `update` removes the old record's tags, if the name had one, and holds the new.
      if (attr == "tags") pending.tags = update.tags;
      return 0;
    }
  }
  return Changed(who, *node, update);
}

int SecretsFs::RemoveXattr(const Caller& who, uint64_t ino, const std::string& name) {
  const std::string attr = name.rfind(kPrefix, 0) == 0 ? name.substr(kPrefix.size()) : "";
  if (attr == "description" || attr == "type" || attr == "tags")
    return SetXattr(who, ino, name, {}, 0);
  auto node = NodeOf(ino);
  if (!node) return -ENOENT;
  return -ENOTSUP;
}

int SecretsFs::Changed(const Caller& who, const Node& node, const store::MetadataUpdate& update) {
  return ToNegErrno(Audited(who, audit::op::kSetMeta, node, [&] {
    return store_.SetMetadata(node.workspace, node.key, update, Author(who));
  }));
}

}  // namespace secretfs::fs
