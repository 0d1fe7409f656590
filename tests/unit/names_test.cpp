// core/names: the one rule for archive entry names and for paths taken from
// an image (issue: a HOME of "/x,type=bind,src=/,dst=/host" bound the host's
// root into the container through `--mount`).

#include <gtest/gtest.h>

#include <string>

#include "core/names.hpp"

namespace pb {
namespace {

TEST(Names, Utf8) {
  EXPECT_TRUE(valid_utf8("plain"));
  EXPECT_TRUE(valid_utf8("caf\xc3\xa9"));
  EXPECT_FALSE(valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));      // a surrogate
  EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(valid_utf8("\xe2\x82"));          // cut short
}

TEST(Names, EntryNamesAreCleanedOrRefused) {
  EXPECT_EQ(clean_entry_name("./a/b/"), "a/b");
  EXPECT_EQ(clean_entry_name("././a"), "a");
  EXPECT_EQ(clean_entry_name("./"), "");
  EXPECT_EQ(clean_entry_name("."), "");
  EXPECT_EQ(clean_entry_name("a/..b"), "a/..b");
  EXPECT_EQ(clean_entry_name("caf\xc3\xa9"), "caf\xc3\xa9");
  for (const char* bad : {"/etc/passwd", "a/../../etc", "..", "a//b", "a/./b", "a\tb", "a\nb", "a\\b", "\xff"})
    EXPECT_FALSE(clean_entry_name(bad)) << bad;
  EXPECT_TRUE(clean_entry_name(std::string(k_max_name_component, 'a')));
  EXPECT_FALSE(clean_entry_name(std::string(k_max_name_component + 1, 'a')));
  std::string long_name;
  while (long_name.size() <= k_max_entry_name) long_name += "abcdefgh/";
  long_name += "x";
  EXPECT_FALSE(clean_entry_name(long_name)) << "a whole name is bounded too";
  EXPECT_TRUE(is_safe_entry_name("./a/b"));
  EXPECT_FALSE(is_safe_entry_name("./")) << "the root is not an entry of its own";
  EXPECT_FALSE(is_safe_entry_name(""));
  // What the callers relied on: the capture policy (a name's "..b" is no "..";
  // a trailing ".." is) and the vault's reader.
  EXPECT_TRUE(is_safe_entry_name("a/..b"));
  EXPECT_FALSE(is_safe_entry_name("a/.."));
  EXPECT_FALSE(is_safe_entry_name("../evil"));
}

TEST(Names, PlainEntryNamesAreAlreadyClean) {
  // The vault's own archives: the name as written is the name as read.
  for (const char* ok : {"a", "a/b", ".credentials.json", "a/..b", "caf\xc3\xa9"})
    EXPECT_TRUE(is_plain_entry_name(ok)) << ok;
  for (const char* bad : {"", ".", "./", "./a", "a/", "a/b/", "/a", "../evil", "a/./b", "a//b", "bad\xff", "a\tb"})
    EXPECT_FALSE(is_plain_entry_name(bad)) << bad;
  EXPECT_TRUE(is_plain_entry_name(std::string(k_max_name_component, 'a')));
  EXPECT_FALSE(is_plain_entry_name(std::string(k_max_name_component + 1, 'a')));
}

TEST(Names, ImagePathsThatWouldChangeADockerArgumentAreRefused) {
  for (const char* ok :
       {"/", "/root", "/home/para", "/home/dev/.config", "/home/a.b_c-d+e@f~g", "/home/dev/", "/home//dev"})
    EXPECT_TRUE(is_clean_absolute_path(ok)) << ok;
  for (const char* bad :
       {"", "relative/home", "/x,type=bind,src=/,dst=/host", "/home/a=b", "/home/\"q\"", "/home/'q'",
        "/home/with space", "/home/tab\there", "/home/new\nline", "/home/cr\rx", "/home/../etc", "/home/dev/..",
        "/./home", "/home/\x7f", "/home/caf\xc3\xa9", "/home/back\\slash", "/home/$HOME", "/home/a:b"})
    EXPECT_FALSE(is_clean_absolute_path(bad)) << bad;
  EXPECT_TRUE(is_clean_absolute_path("/" + std::string(k_max_name_component, 'a')));
  EXPECT_FALSE(is_clean_absolute_path("/" + std::string(k_max_name_component + 1, 'a')));
  std::string deep;
  while (deep.size() <= k_max_image_path) deep += "/abc";
  EXPECT_FALSE(is_clean_absolute_path(deep));

  auto s = check_clean_absolute_path("/x,type=bind,src=/,dst=/host\n", "the HOME of image 'evil'");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::unsafe_input);
  EXPECT_EQ(exit_code(s.error().kind), 7);
  EXPECT_NE(s.error().message.find("the HOME of image 'evil'"), std::string::npos) << s.error().message;
  EXPECT_EQ(s.error().message.find('\n'), std::string::npos) << "the refused value is shown printably";
}

}  // namespace
}  // namespace pb
