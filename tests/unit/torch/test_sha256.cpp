// sha256_file against digests computed independently with Python's hashlib:
//   hashlib.sha256(b"").hexdigest(), hashlib.sha256(b"abc").hexdigest(),
//   hashlib.sha256(bytes((i * 31 + 7) % 251 for i in range((9 << 20) + 7))).hexdigest()
// The last is larger than the read buffer and not a multiple of it.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "clippo/cli/error.h"
#include "clippo/model/embedder.h"

namespace fs = std::filesystem;

namespace {

struct TempFile {
  fs::path path;
  explicit TempFile(const std::string& content) {
    path = fs::temp_directory_path() / ("clippo-sha256-" + std::to_string(getpid()) + "-" + std::to_string(rand()));
    std::ofstream(path, std::ios::binary).write(content.data(), static_cast<std::streamsize>(content.size()));
  }
  ~TempFile() { fs::remove(path); }
};

}  // namespace

TEST_CASE("sha256_file matches hashlib's digests") {
  using clippo::model::sha256_file;
  CHECK(sha256_file(TempFile("").path) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_file(TempFile("abc").path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::string big((size_t{9} << 20) + 7, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 31 + 7) % 251);
  CHECK(sha256_file(TempFile(big).path) == "0f54fa878fb60b8da2011ebcd3026ec5c5e99b937944e392406a93c52a8c8dc5");
}

TEST_CASE("sha256_file names the file it cannot read") {
  auto missing = (fs::temp_directory_path() / "clippo-sha256-missing-file").string();
  CHECK_THROWS_WITH(clippo::model::sha256_file(missing), Catch::Contains(missing) && Catch::Contains("cannot read"));
}
