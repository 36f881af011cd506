// EscapeControl: what a name from a file or a caller may put into a message, an audit line or a
// log, and what reaches the terminal of whoever reads it.
#include <gtest/gtest.h>

#include <string>

#include "common/text_format.h"

namespace secretfs {
namespace {

TEST(EscapeControlTest, PrintableAsciiAndUtf8PassAsTheyAre) {
  EXPECT_EQ(EscapeControl("prod/DB_URL /usr/sbin/nginx"), "prod/DB_URL /usr/sbin/nginx");
  for (const std::string text : {"caf\xc3\xa9", "\xc2\xa0", "\xe2\x82\xac", "\xef\xbf\xbd",
                                 "\xf0\x9f\x94\x91", "\xf4\x8f\xbf\xbf"})
    EXPECT_EQ(EscapeControl(text), text);  // é, a no-break space, €, U+FFFD, a key, U+10FFFF
}

TEST(EscapeControlTest, C0ControlsAndDeleteAreEscaped) {
  EXPECT_EQ(EscapeControl("a\nb\tc\x1b[2Jd\x7f"), "a\\x0ab\\x09c\\x1b[2Jd\\x7f");
  EXPECT_EQ(EscapeControl(std::string("a\0b", 3)), "a\\x00b");
}

// U+009B is CSI: to a terminal that honours C1 controls, "\xc2\x9b" "2J" clears the screen as
// ESC [ 2 J does.
TEST(EscapeControlTest, C1ControlsAreEscapedByteByByte) {
  EXPECT_EQ(EscapeControl("a\xc2\x9b"
                          "2Jb"),
            "a\\xc2\\x9b2Jb");
  EXPECT_EQ(EscapeControl("\xc2\x80\xc2\x9f"), "\\xc2\\x80\\xc2\\x9f");
  EXPECT_EQ(EscapeControl("\xc2\xa0"), "\xc2\xa0");  // U+00A0 is the first that is not
}

// A byte that is not part of well-formed UTF-8 is escaped: to a terminal that reads Latin-1, a
// lone 0x9b is CSI.
TEST(EscapeControlTest, BytesThatAreNotWellFormedUtf8AreEscaped) {
  EXPECT_EQ(EscapeControl("\x9b"
                          "2J"),
            "\\x9b2J");
  EXPECT_EQ(EscapeControl("caf\xe9"), "caf\\xe9");                       // Latin-1
  EXPECT_EQ(EscapeControl("\xc3"), "\\xc3");                             // cut short
  EXPECT_EQ(EscapeControl("\xc3("), "\\xc3(");                           // not a continuation
  EXPECT_EQ(EscapeControl("\xc0\xaf"), "\\xc0\\xaf");                    // an overlong '/'
  EXPECT_EQ(EscapeControl("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");           // an overlong '/' again
  EXPECT_EQ(EscapeControl("\xed\xa0\x80"), "\\xed\\xa0\\x80");           // a surrogate
  EXPECT_EQ(EscapeControl("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // past U+10FFFF
  EXPECT_EQ(EscapeControl("\xff"), "\\xff");
}

// What is stored as a description or tag value: the same characters EscapeControl lets pass.
TEST(IsPrintableUtf8Test, AcceptsExactlyWhatEscapeControlLeavesAlone) {
  for (const std::string text :
       {"", "plain", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91", "\xc2\xa0", "\xf4\x8f\xbf\xbf"}) {
    EXPECT_TRUE(IsPrintableUtf8(text)) << text;
    EXPECT_EQ(EscapeControl(text), text);
  }
  for (const std::string text : {"a\nb", "\x7f", "\xc2\x9b", "\x9b", "caf\xe9", "\xc3", "\xc0\xaf",
                                 "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff"}) {
    EXPECT_FALSE(IsPrintableUtf8(text)) << EscapeControl(text);
    EXPECT_NE(EscapeControl(text), text);
  }
}

TEST(EscapeControlTest, QuoteTextCutsAfterTheBytesShown) {
  EXPECT_EQ(QuoteText("abc\ndef", 4), "'abc\\x0a...'");
  EXPECT_EQ(QuoteText("abc", 4), "'abc'");
}

}  // namespace
}  // namespace secretfs
