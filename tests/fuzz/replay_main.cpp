// A main for the fuzz targets in the normal build (gcc, no libFuzzer): it feeds each file named
// on the command line, or each file of a directory named there, to LLVMFuzzerTestOneInput once.
// ctest runs it over the seed corpus and the kept crashing inputs (tests/fuzz/CMakeLists.txt), so
// a change that breaks a target's property checks fails ./tests/run.sh, not only the fuzzing run
// of CI's last step.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
// Defined by the targets that set something up first (fuzz_mount_options' memfd); weak, as
// libFuzzer declares it, so the others link without it.
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

// The inputs under `path`, sorted so a failure names the same file first in every run; READMEs
// describe a directory and are not inputs (as in tests/fuzz/run.sh).
std::vector<std::filesystem::path> InputsOf(const std::filesystem::path& path) {
  if (!std::filesystem::is_directory(path)) return {path};
  std::vector<std::filesystem::path> inputs;
  for (const auto& entry : std::filesystem::directory_iterator(path))
    if (entry.is_regular_file() && !entry.path().filename().string().starts_with("README"))
      inputs.push_back(entry.path());
  std::sort(inputs.begin(), inputs.end());
  return inputs;
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  size_t replayed = 0;
  for (int i = 1; i < argc; ++i) {
    for (const auto& input : InputsOf(argv[i])) {
      std::ifstream file(input, std::ios::binary);
      if (!file) {
        std::fprintf(stderr, "cannot read %s\n", input.c_str());
        return 1;
      }
      const std::string bytes{std::istreambuf_iterator<char>(file), {}};
      std::fprintf(stderr, "replaying %s\n", input.c_str());  // the input a trap is about
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      ++replayed;
    }
  }
  std::printf("%zu inputs replayed\n", replayed);
  return replayed > 0 ? 0 : 1;  // an empty corpus would check nothing
}
