// Files written whole or not at all, and how bad input items are reported.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "clippo/cli/bad_input.h"
#include "clippo/io/atomic_file.h"

namespace fs = std::filesystem;
using namespace clippo;

namespace {

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("clippo-atomic-" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("an atomic file replaces the old one only on commit, and leaves no temporary behind") {
  TempDir dir;
  const fs::path target = dir.path / "out.bin";
  write_file_atomic(target.string(), "old");
  {
    AtomicFile f(target.string());
    f.write("new, longer");
    CHECK(slurp(target) == "old");  // a reader still sees the whole old file
  }  // destroyed before commit: the old file stays, the temporary is gone
  CHECK(slurp(target) == "old");
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);

  AtomicFile f(target.string());
  f.write("0123456789");
  f.write_at(2, "ab");
  f.commit();
  CHECK(slurp(target) == "01ab456789");
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
}

TEST_CASE("an atomic file writes through a symbolic link, which stays a link") {
  TempDir dir;
  fs::create_directories(dir.path / "real");
  fs::create_symlink("real/data.txt", dir.path / "link.txt");  // dangling until written
  write_file_atomic((dir.path / "link.txt").string(), "through");
  CHECK(fs::is_symlink(dir.path / "link.txt"));
  CHECK(slurp(dir.path / "real" / "data.txt") == "through");
}

TEST_CASE("Folder::made creates the folder of the link's target, not of the link") {
  TempDir dir;
  fs::create_symlink("deep/er/data.txt", dir.path / "link.txt");
  AtomicFile f((dir.path / "link.txt").string(), AtomicFile::made);
  f.write("x");
  f.commit();
  CHECK(slurp(dir.path / "deep" / "er" / "data.txt") == "x");

  // Without it, a missing folder is an error that names the file.
  const std::string missing = (dir.path / "nowhere" / "f.txt").string();
  CHECK_THROWS_WITH(AtomicFile(missing), Catch::Contains(missing) && Catch::Contains("cannot create"));
  CHECK_FALSE(fs::exists(dir.path / "nowhere"));
}

TEST_CASE("a folder that cannot be made is an error naming the file") {
  TempDir dir;
  write_file_atomic((dir.path / "plain").string(), "a file, not a folder");
  const std::string under = (dir.path / "plain" / "sub" / "f.txt").string();
  CHECK_THROWS_WITH(AtomicFile(under, AtomicFile::made),
                    Catch::StartsWith(under + ": cannot create folder"));
}

TEST_CASE("an atomic file never replaces a FIFO or a device, nor a link to one") {
  TempDir dir;
  const fs::path fifo = dir.path / "pipe", link = dir.path / "link";
  REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
  fs::create_symlink(fifo, link);
  for (const fs::path& p : {fifo, link}) {
    CHECK_THROWS_WITH(AtomicFile(p.string()), Catch::Contains(p.string() + ": not a regular file"));
    CHECK(fs::is_fifo(fifo));
    CHECK(fs::is_symlink(fs::symlink_status(link)));
  }
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator{}) == 2);  // no temporary left
}

TEST_CASE("bad input: fail throws 'WHERE: REASON', with a detail only when it adds something") {
  BadInput fail(OnError::fail);
  CHECK_THROWS_WITH(fail.report("x.jpg", "not an image", "not an image"), "x.jpg: not an image");
  CHECK_THROWS_WITH(fail.report("x.jpg", "not an image"), "x.jpg: not an image");
  CHECK_THROWS_WITH(fail.report("a.tar:k.jpg", "not an image", "premature end"),
                    "a.tar:k.jpg: not an image (premature end)");
}

TEST_CASE("bad input: skip counts by reason; past 50 reasons the rest share one count") {
  BadInput skip(OnError::skip, 0);
  CHECK(skip.summary().empty());
  skip.report("a", "not an image");
  skip.report("b", "not an image");
  skip.report("c", "missing caption");
  CHECK(skip.total() == 3);
  CHECK(skip.summary() == "3 skipped: 1 missing caption, 2 not an image");
  for (int i = 0; i < 60; ++i) skip.report("d", "reason " + std::to_string(i));
  CHECK(skip.total() == 63);
  CHECK(skip.by_reason().size() == 51);
  CHECK(skip.by_reason().at("for other reasons") == 12);
  skip.report("e", "not an image");  // a reason already counted keeps its own count
  CHECK(skip.by_reason().at("not an image") == 3);
}
