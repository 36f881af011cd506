// Microbenchmarks of the layers below the mount (issue 7): each measures one operation in
// isolation, so a regression shows up here before it is lost in the noise of a FUSE round trip.
// Real libsodium and real LMDB; the stores live in fresh directories under $TMPDIR (else /tmp)
// and are removed when the run ends. Figures are printed, never asserted (docs/performance.md).
//
// Run: tests/bench/run_micro_bench.sh [BUILD_DIR], or the binary with Google Benchmark's flags
// (--benchmark_filter=REGEX, --benchmark_min_time=SECONDS, ...).
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "audit/audit_log.h"
#include "audit/audit_query.h"
#include "audit/event.h"
#include "common/status.h"
#include "keyring/key_slot.h"
#include "keyring/keys.h"
#include "keyring/secure_buffer.h"
#include "store/lmdb_env.h"
#include "store/secret_store.h"

namespace {

using secretfs::Result;
using secretfs::Status;
using secretfs::audit::Event;
using secretfs::keyring::DataKey;
using secretfs::keyring::RecordAddress;
using secretfs::keyring::SecretBuffer;
using secretfs::store::SecretStore;
using secretfs::store::Txn;

// Small, fast and deterministic: which key a Read asks for must not cost more than the Read.
class XorShift {
 public:
  explicit XorShift(uint64_t seed) : x_(seed | 1) {}
  uint64_t Next() {
    x_ ^= x_ << 13;
    x_ ^= x_ >> 7;
    x_ ^= x_ << 17;
    return x_;
  }

 private:
  uint64_t x_;
};

std::vector<uint8_t> PatternBytes(size_t n, uint64_t seed) {
  XorShift rng(seed);
  std::vector<uint8_t> out(n);
  for (uint8_t& b : out) b = static_cast<uint8_t>(rng.Next());
  return out;
}

std::string TmpDir() {
  const char* tmpdir = std::getenv("TMPDIR");
  return tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
}

// A real store, unlocked with a random key file, in a fresh temporary directory under `parent`
// that the destructor removes.
class TempStore {
 public:
  static Result<std::unique_ptr<TempStore>> Make(const std::string& parent = TmpDir()) {
    auto t = MakeDir(parent, secretfs::keyring::RandomBytes(32));
    if (!t) return t.status();
    SECRETFS_RETURN_IF_ERROR(SecretStore::Create(
        (*t)->dir(), (*t)->KeyFile(), secretfs::keyring::PwhashLimits::Interactive(), "bench"));
    SECRETFS_RETURN_IF_ERROR((*t)->OpenAndUnlock());
    return t;
  }

  // Closes this store and returns a copy of its data file in a new directory under `parent`,
  // opened and unlocked: byte for byte the store that was built here, page layout included
  // (SecretStore::Backup would compact it, which a store grown by writes never is).
  Result<std::unique_ptr<TempStore>> MoveTo(const std::string& parent) {
    store_.reset();
    auto t = MakeDir(parent, key_);
    if (!t) return t.status();
    std::error_code ec;
    std::filesystem::create_directory((*t)->dir(), ec);
    std::filesystem::permissions((*t)->dir(), std::filesystem::perms::owner_all, ec);
    if (!ec) std::filesystem::copy_file(dir() + "/data.mdb", (*t)->dir() + "/data.mdb", ec);
    if (ec) return Status(ec.value(), "copying the store to " + (*t)->dir());
    SECRETFS_RETURN_IF_ERROR((*t)->OpenAndUnlock());
    return t;
  }

  ~TempStore() {
    store_.reset();  // closes the environment before its files go
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  TempStore(const TempStore&) = delete;
  TempStore& operator=(const TempStore&) = delete;

  SecretStore& store() { return *store_; }
  secretfs::store::Env& env() { return store_->env(); }
  const SecretBuffer& audit_key() const { return audit_key_; }

 private:
  TempStore(std::string root, std::vector<uint8_t> key)
      : root_(std::move(root)), key_(std::move(key)) {}

  static Result<std::unique_ptr<TempStore>> MakeDir(const std::string& parent,
                                                    std::vector<uint8_t> key) {
    std::string tmpl = parent + "/secretfs-micro-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) return Status(errno, "mkdtemp " + tmpl);
    return std::unique_ptr<TempStore>(new TempStore(tmpl, std::move(key)));
  }

  std::string dir() const { return root_ + "/store"; }

  secretfs::keyring::KeyMaterial KeyFile() const {
    secretfs::keyring::KeyMaterial m;
    m.kind = secretfs::keyring::KeyMaterial::Kind::kKeyFile;
    m.bytes = SecretBuffer::CopyOf(key_);
    m.origin = "file:bench.key";
    return m;
  }

  Status OpenAndUnlock() {
    auto opened = SecretStore::Open(dir());
    if (!opened) return opened.status();
    store_ = std::move(*opened);
    SECRETFS_RETURN_IF_ERROR(store_->Unlock(KeyFile()));
    auto audit_key = store_->AuditKey();
    if (!audit_key) return audit_key.status();
    audit_key_ = std::move(*audit_key);
    return Status::Ok();
  }

  std::string root_;
  std::vector<uint8_t> key_;  // a throwaway key file's bytes: this store holds nothing secret
  std::unique_ptr<SecretStore> store_;
  SecretBuffer audit_key_;
};

// The stores the benchmarks share, built on first use (so a --benchmark_filter that skips a
// benchmark also skips its setup) and kept across Google Benchmark's repeated calls of the same
// function while it settles on an iteration count. main() removes them.
struct SharedStores {
  std::unique_ptr<TempStore> among_100k_keys;
  std::unique_ptr<TempStore> among_1k_keys;
  std::unique_ptr<TempStore> audit_append;
  std::unique_ptr<TempStore> audit_100k_events;
};
SharedStores& Shared() {
  static SharedStores shared;
  return shared;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// An fs-style read event with every field set, as the daemon records one per open.
Event SampleEvent() {
  Event e;
  e.op = secretfs::audit::op::kRead;
  e.workspace = "prod";
  e.key = "DATABASE_PASSWORD";
  e.version = 3;
  e.uid = 1000;
  e.gid = 1000;
  e.pid = 4242;
  e.comm = "app";
  e.exe = "/usr/local/bin/app";
  e.unit = "app.service";
  e.origin = secretfs::audit::Origin::kFs;
  return e;
}

// Appends `count` copies of SampleEvent() in one write transaction.
Status AppendEvents(TempStore& t, int count) {
  return t.env().Write([&](Txn& txn) -> Status {
    for (int i = 0; i < count; ++i) {
      Event e = SampleEvent();  // Append stamps seq and time into it
      SECRETFS_RETURN_IF_ERROR(secretfs::audit::Append(txn, t.audit_key(), e));
    }
    return Status::Ok();
  });
}

// ---- keyring: sealing and opening one record (XChaCha20-Poly1305, fresh nonce) ----

const RecordAddress kAddress{"prod", "DATABASE_PASSWORD", 7};

void BM_SealRecord(benchmark::State& state) {
  const DataKey key = DataKey::Generate(1);
  const std::vector<uint8_t> plain = PatternBytes(static_cast<size_t>(state.range(0)), 1);
  for (auto _ : state) {
    std::vector<uint8_t> sealed = secretfs::keyring::SealRecord(key, kAddress, plain);
    benchmark::DoNotOptimize(sealed.data());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_SealRecord)->Arg(64)->Arg(4 << 10)->Arg(1 << 20)->Unit(benchmark::kMicrosecond);

// Includes what a read pays besides the cipher: the plaintext's locked buffer (small sizes come
// from the slabs of keyring/locked_pool.h, large ones from their own sodium_malloc).
void BM_OpenRecord(benchmark::State& state) {
  const DataKey key = DataKey::Generate(1);
  const std::vector<uint8_t> plain = PatternBytes(static_cast<size_t>(state.range(0)), 2);
  const std::vector<uint8_t> sealed = secretfs::keyring::SealRecord(key, kAddress, plain);
  for (auto _ : state) {
    Result<SecretBuffer> opened = secretfs::keyring::OpenRecord(key, kAddress, sealed);
    if (!opened) {
      state.SkipWithError(opened.status().message().c_str());
      break;
    }
    benchmark::DoNotOptimize(opened->data());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_OpenRecord)->Arg(64)->Arg(4 << 10)->Arg(1 << 20)->Unit(benchmark::kMicrosecond);

// ---- store: SecretStore::Read of a random key among 100,000 (and among 1,000 to compare) ----

// How a benchmark store is laid out: `workspaces` workspaces of `keys` secrets of 64 bytes each.
struct KeyStoreShape {
  int workspaces = 0;
  int keys = 0;
  int total() const { return workspaces * keys; }
};
constexpr KeyStoreShape k100kKeys{100, 1000};
constexpr KeyStoreShape k1kKeys{1, 1000};  // the shape of the mount benchmark's store

std::string WorkspaceName(int i) {
  char name[16];
  std::snprintf(name, sizeof name, "ws%03d", i);
  return name;
}
std::string KeyName(int i) {
  char name[16];
  std::snprintf(name, sizeof name, "KEY_%04d", i);
  return name;
}

Status FillKeys(SecretStore& store, KeyStoreShape shape) {
  for (int w = 0; w < shape.workspaces; ++w) {
    const std::string ws = WorkspaceName(w);
    SECRETFS_RETURN_IF_ERROR(store.CreateWorkspace(ws, secretfs::store::Naming::kDefault));
    for (int k = 0; k < shape.keys; ++k) {
      const std::string key = KeyName(k);
      const std::vector<uint8_t> value =
          PatternBytes(64, static_cast<uint64_t>(w) * static_cast<uint64_t>(shape.keys) + k);
      secretfs::store::WriteRequest request;
      request.workspace = ws;
      request.key = key;
      request.value = value;
      request.author = "user:bench";
      auto written = store.Write(request);
      if (!written) return written.status();
    }
  }
  return Status::Ok();
}

// Every secret is written through SecretStore::Write (sealed, versioned, one durable LMDB commit
// per secret: the store has no batch write). Under /tmp each commit waits for fsync: 2,000 writes
// took 14.6 s on the project's VM while another job used the disk, so 100,000 would take about 12
// minutes. The store is therefore built on tmpfs (/dev/shm, where fsync costs nothing) and its
// data file then copied under $TMPDIR, where the reads run. LMDB's page layout does not depend on
// fsync: the copy is the store these writes make anywhere.
Result<std::unique_ptr<TempStore>> MakeKeyStore(KeyStoreShape shape) {
  const auto start = std::chrono::steady_clock::now();
  std::error_code ec;
  const bool on_tmpfs = std::filesystem::is_directory("/dev/shm", ec);
  std::fprintf(stderr, "writing %d secrets%s...\n", shape.total(), on_tmpfs ? " on /dev/shm" : "");
  auto made = on_tmpfs ? TempStore::Make("/dev/shm") : TempStore::Make();
  if (!made) return made.status();
  SECRETFS_RETURN_IF_ERROR(FillKeys((*made)->store(), shape));
  if (on_tmpfs) {
    auto moved = (*made)->MoveTo(TmpDir());
    made->reset();  // the tmpfs copy goes at once
    if (!moved) return moved.status();
    made = std::move(moved);
  }
  std::fprintf(stderr, "store of %d secrets ready in %.1f s\n", shape.total(), SecondsSince(start));
  return made;
}

void StoreGet(benchmark::State& state, std::unique_ptr<TempStore>& t, KeyStoreShape shape) {
  if (!t) {
    auto made = MakeKeyStore(shape);
    if (!made) {
      state.SkipWithError(made.status().message().c_str());
      return;
    }
    t = std::move(*made);
  }
  std::vector<std::string> workspaces, keys;
  for (int i = 0; i < shape.workspaces; ++i) workspaces.push_back(WorkspaceName(i));
  for (int i = 0; i < shape.keys; ++i) keys.push_back(KeyName(i));
  XorShift rng(42);
  for (auto _ : state) {
    const uint64_t r = rng.Next();
    auto read = t->store().Read(workspaces[(r & 0xffffffff) % workspaces.size()],
                                keys[(r >> 32) % keys.size()]);
    if (!read) {
      state.SkipWithError(read.status().message().c_str());
      break;
    }
    benchmark::DoNotOptimize(read->value.data());
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_StoreGetAmong100kKeys(benchmark::State& state) {
  StoreGet(state, Shared().among_100k_keys, k100kKeys);
}
// The same read in a store of 1,000 secrets: what the B-tree's size costs is the ratio of the two.
void BM_StoreGetAmong1kKeys(benchmark::State& state) {
  StoreGet(state, Shared().among_1k_keys, k1kKeys);
}
// CPU time (the default): a read does no I/O once the map is in the page cache, and on a shared
// machine wall-clock time also counts the other jobs' time slices.
BENCHMARK(BM_StoreGetAmong100kKeys)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_StoreGetAmong1kKeys)->Unit(benchmark::kMicrosecond);

// ---- audit: appending events, and verifying the chain ----

// One iteration is one write transaction carrying range(0) events: 1 is what a durable write or
// an unbatched read pays, 100 what group commit or buffered mode amortise to. Wall-clock time,
// since the commit's fsync is most of it and is not CPU time.
void BM_AuditAppend(benchmark::State& state) {
  std::unique_ptr<TempStore>& t = Shared().audit_append;
  if (!t) {
    auto made = TempStore::Make();
    if (!made) {
      state.SkipWithError(made.status().message().c_str());
      return;
    }
    t = std::move(*made);
  }
  const int per_txn = static_cast<int>(state.range(0));
  for (auto _ : state) {
    const Status s = AppendEvents(*t, per_txn);
    if (!s.ok()) {
      state.SkipWithError(s.message().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * per_txn);
  state.counters["per_event"] = benchmark::Counter(
      static_cast<double>(per_txn),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_AuditAppend)
    ->ArgName("events_per_txn")
    ->Arg(1)
    ->Arg(100)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

constexpr int kVerifyEvents = 100'000;

// One iteration verifies the whole chain of 100,000 events (decode + keyed BLAKE2b each);
// per_event is the figure to compare.
void BM_AuditVerifyPerEvent(benchmark::State& state) {
  std::unique_ptr<TempStore>& t = Shared().audit_100k_events;
  if (!t) {
    auto made = TempStore::Make();
    Status s = made ? Status::Ok() : made.status();
    for (int done = 0; s.ok() && done < kVerifyEvents; done += 1000)
      s = AppendEvents(**made, 1000);  // 1000 per commit: the setup is not what is measured
    if (!s.ok()) {
      state.SkipWithError(s.message().c_str());
      return;
    }
    t = std::move(*made);
  }
  for (auto _ : state) {
    auto verified = secretfs::audit::Verify(t->env(), t->audit_key());
    if (!verified || verified->broken_seq || verified->events != kVerifyEvents) {
      state.SkipWithError(verified ? "the chain does not verify"
                                   : verified.status().message().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * kVerifyEvents);
  state.counters["per_event"] = benchmark::Counter(
      kVerifyEvents, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_AuditVerifyPerEvent)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  Shared() = SharedStores{};  // removes the temporary stores
  return 0;
}
