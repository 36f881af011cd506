// `secretfs rekey W` while the workspace is mounted and read: readers never fail, and every
// version reads back identical through the mount afterwards.
#include <atomic>
#include <thread>

#include "tests/integration/mount_fixture.h"

namespace secretfs::testing {
namespace {

using ::testing::HasSubstr;

class RekeyMountTest : public MountedTest {};

TEST_F(RekeyMountTest, ReadersThroughTheMountNeverFailDuringRekeys) {
  Put("dev/TOKEN", "first");
  Put("dev/TOKEN", "second");
  Put("dev/OTHER", "other-value");
  std::atomic<bool> stop{false};
  std::atomic<long> reads{0};
  std::atomic<long> wrong{0};
  std::thread reader([&] {
    while (!stop) {
      const ReadResult r = ReadPath(M("dev/TOKEN"));
      if (r.error != 0 || r.bytes != "second") ++wrong;
      ++reads;
    }
  });
  for (int i = 0; i < 5; ++i) {
    const ProcessResult r = Cli({"rekey", "dev"});
    EXPECT_TRUE(Succeeded(r)) << Describe(r);
    EXPECT_THAT(r.out, HasSubstr("generation " + std::to_string(i + 2)));
  }
  stop = true;
  reader.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(wrong.load(), 0) << "of " << reads.load() << " reads";

  EXPECT_EQ(ReadPath(M("dev/.versions/TOKEN/1")).bytes, "first");
  EXPECT_EQ(ReadPath(M("dev/.versions/TOKEN/2")).bytes, "second");
  EXPECT_EQ(ReadPath(M("dev/OTHER")).bytes, "other-value");
  EXPECT_TRUE(WritePath(M("dev/TOKEN"), "third").ok());
  EXPECT_EQ(Get("dev/TOKEN"), "third");
  EXPECT_TRUE(Succeeded(Cli({"verify"})));

  const ProcessResult audit = Cli({"audit", "--op", "rekey", "--json"});
  ASSERT_TRUE(Succeeded(audit));
  size_t events = 0;
  for (size_t at = 0; (at = audit.out.find("\"op\":\"rekey\"", at)) != std::string::npos; ++at)
    ++events;
  EXPECT_EQ(events, 5u) << audit.out;

  const ProcessResult missing = Cli({"rekey", "nope"});
  EXPECT_TRUE(FailedCleanly(missing));
  EXPECT_THAT(missing.err, HasSubstr("nope"));
}

}  // namespace
}  // namespace secretfs::testing
