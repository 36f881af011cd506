// Reads the same files over and over: open + read + close, with T threads for D seconds, and
// prints ops/s, p50 and p99 per target. With --write, writes them instead: open(O_TRUNC) + a
// 64-byte write of a new value each time + close (on secretfs, one durable version each); each
// thread writes its own files. Usage:
//   read_bench [--write] --threads 1,4 --seconds 3 [--rounds R] NAME=DIR [NAME=DIR ...]
// Every DIR must hold the same file names (the first DIR's listing is used). With R rounds each
// target runs R times for SECONDS / R, the targets taking turns, and each figure is the median of
// its rounds; the ratio to secretfs is the median of the rounds' own ratios. A VM whose speed
// drifts within a run then slows every target alike, not just the ones that ran last.
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Result {
  double ops_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
  long errors = 0;
};

std::vector<std::string> FilesIn(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') names.push_back(e->d_name);
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

// One open+read+close (or open+write+close) of `path`; false on any error.
bool ReadOnce(const std::string& path) {
  char buf[4096];
  const int fd = open(path.c_str(), O_RDONLY);
  const bool ok = fd >= 0 && read(fd, buf, sizeof buf) > 0;
  if (fd >= 0) close(fd);
  return ok;
}

bool WriteOnce(const std::string& path, uint64_t n) {
  char value[64];
  std::snprintf(value, sizeof value, "%063llu", static_cast<unsigned long long>(n));
  const int fd = open(path.c_str(), O_WRONLY | O_TRUNC);
  if (fd < 0) return false;
  const bool wrote = write(fd, value, 63) == 63;
  return close(fd) == 0 && wrote;  // the close reports the commit
}

Result Run(const std::string& dir, const std::vector<std::string>& names, int threads,
           double seconds, bool writes) {
  std::vector<std::vector<float>> latencies(threads);
  std::atomic<long> errors{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  const auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::vector<std::string> paths;
      for (const auto& n : names) paths.push_back(dir + "/" + n);
      // Readers start apart; writers keep to their own files (i = t, t + threads, ...).
      size_t i = writes ? static_cast<size_t>(t) : static_cast<size_t>(t) * 7919;
      const size_t step = writes ? static_cast<size_t>(threads) : 1;
      auto& lat = latencies[t];
      lat.reserve(1 << 20);
      for (uint64_t n = 0; !stop.load(std::memory_order_relaxed); ++n, i += step) {
        const std::string& p = paths[i % paths.size()];
        const auto t0 = Clock::now();
        if (!(writes ? WriteOnce(p, n * 1000 + static_cast<uint64_t>(t)) : ReadOnce(p))) ++errors;
        lat.push_back(std::chrono::duration<float, std::micro>(Clock::now() - t0).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& w : workers) w.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<float> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  Result r;
  r.errors = errors;
  if (all.empty()) return r;
  r.ops_per_s = static_cast<double>(all.size()) / elapsed;
  r.p50_us = all[all.size() / 2];
  r.p99_us = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  return r;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0 : values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> thread_counts = {1, 4};
  double seconds = 3;
  int rounds = 1;
  bool writes = false;
  std::vector<std::pair<std::string, std::string>> targets;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) {
      thread_counts.clear();
      for (char* tok = std::strtok(argv[++i], ","); tok; tok = std::strtok(nullptr, ","))
        thread_counts.push_back(std::atoi(tok));
    } else if (a == "--write") {
      writes = true;
    } else if (a == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (a == "--rounds" && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else if (a.find('=') != std::string::npos) {
      targets.emplace_back(a.substr(0, a.find('=')), a.substr(a.find('=') + 1));
    } else {
      std::fprintf(stderr,
                   "usage: read_bench [--write] [--threads 1,4] [--seconds S] [--rounds R] "
                   "NAME=DIR...\n");
      return 2;
    }
  }
  if (targets.empty()) return 2;
  const std::vector<std::string> names = FilesIn(targets[0].second);
  if (names.empty()) {
    std::fprintf(stderr, "read_bench: no files in %s\n", targets[0].second.c_str());
    return 1;
  }
  std::printf("open+%s+close of %zu files, %.0f s per run", writes ? "write" : "read", names.size(),
              seconds);
  if (rounds > 1) std::printf(" (%d rounds of %.2f s, medians)", rounds, seconds / rounds);
  std::printf("\n%-12s %7s %12s %9s %9s %8s %14s\n", "target", "threads", "ops/s", "p50 us",
              "p99 us", "errors", "vs secretfs");
  for (int threads : thread_counts) {
    // results[target][round]
    std::vector<std::vector<Result>> results(targets.size());
    for (int round = 0; round < rounds; ++round)
      for (size_t t = 0; t < targets.size(); ++t)
        results[t].push_back(Run(targets[t].second, names, threads, seconds / rounds, writes));
    const auto reference = std::find_if(targets.begin(), targets.end(),
                                        [](const auto& t) { return t.first == "secretfs"; });
    for (size_t t = 0; t < targets.size(); ++t) {
      std::vector<double> ops, p50, p99, ratios;
      long errors = 0;
      for (int round = 0; round < rounds; ++round) {
        const Result& r = results[t][round];
        ops.push_back(r.ops_per_s);
        p50.push_back(r.p50_us);
        p99.push_back(r.p99_us);
        errors += r.errors;
        if (reference != targets.end()) {
          const double base = results[reference - targets.begin()][round].ops_per_s;
          if (base > 0) ratios.push_back(r.ops_per_s / base);
        }
      }
      char ratio[32] = "-";
      if (!ratios.empty()) std::snprintf(ratio, sizeof ratio, "%.2fx", Median(ratios));
      std::printf("%-12s %7d %12.0f %9.1f %9.1f %8ld %14s\n", targets[t].first.c_str(), threads,
                  Median(ops), Median(p50), Median(p99), errors, ratio);
    }
  }
  return 0;
}
