#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>

#include "clippo/io/paths.h"
#include "clippo/io/record_reader.h"
#include "clippo/io/record_writer.h"

namespace fs = std::filesystem;
using namespace clippo;

namespace {
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("clippo-test-" + std::to_string(getpid()) + "-" + std::to_string(rand()));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

std::vector<Record> read_all(const std::vector<std::string>& inputs, ReadStats* stats = nullptr,
                             OnError on_error = OnError::skip) {
  RecordReader reader(inputs, on_error);
  std::vector<Record> out;
  Record r;
  while (reader.next(r)) out.push_back(r);
  if (stats) *stats = reader.stats();
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}
}  // namespace

TEST_CASE("member names split into key and field at the basename's first dot") {
  CHECK(split_member_name("a/b.c/0001.jpg") == std::pair<std::string, std::string>{"a/b.c/0001", "jpg"});
  CHECK(split_member_name("x.next.txt") == std::pair<std::string, std::string>{"x", "next.txt"});
  CHECK(split_member_name("dir.v2/key") == std::pair<std::string, std::string>{"dir.v2/key", ""});
}

TEST_CASE("brace patterns expand like the shell") {
  CHECK(expand_braces("x-{000..003}.shard") ==
        std::vector<std::string>{"x-000.shard", "x-001.shard", "x-002.shard", "x-003.shard"});
  CHECK(expand_braces("x-{8..10}") == std::vector<std::string>{"x-8", "x-9", "x-10"});
  CHECK(expand_braces("{a,b}-{0..1}") == std::vector<std::string>{"a-0", "a-1", "b-0", "b-1"});
  CHECK(expand_braces("plain.tar") == std::vector<std::string>{"plain.tar"});
  CHECK_THROWS_AS(expand_braces("x-{3..1}"), UsageError);
  CHECK_THROWS_AS(expand_braces("x-{abc}"), UsageError);
}

TEST_CASE("output patterns: printf, braces, plain") {
  OutputPattern p("out/train-%05d.shard");
  CHECK(p.name(42) == "out/train-00042.shard");
  CHECK_FALSE(p.count());
  OutputPattern b("t-{0..1}.shard");
  CHECK(*b.count() == 2);
  CHECK(b.name(1) == "t-1.shard");
  CHECK_THROWS_AS(b.name(2), Error);
  CHECK_THROWS_AS(OutputPattern("x-%s.shard"), UsageError);
}

TEST_CASE("records round-trip through every compression with every field type") {
  TempDir dir;
  auto c = GENERATE(std::string("zstd"), std::string("gzip"), std::string("none"));
  std::string path = dir / ("r." + c);
  std::string binary;
  for (int i = 0; i < 256; ++i) binary += static_cast<char>(i);
  std::vector<Record> records;
  for (int i = 0; i < 50; ++i) {
    Record r;
    r.key = "folder.with.dots/" + std::to_string(1000 + i);
    r.fields = {{"jpg", binary + std::to_string(i)},
                {"txt", "caption " + std::to_string(i)},
                {"next.txt", ""},
                {"json", "{\"i\":" + std::to_string(i) + "}"},
                {"cls", std::to_string(i % 10)},
                {"img.npy", binary}};
    records.push_back(r);
  }
  {
    RecordWriter w(path, Compression::parse(c));
    w.write(header_record("{\"version\":1}"));
    for (auto& r : records) w.write(r);
    w.close();
  }
  RecordReader reader({path});
  std::vector<Record> back;
  Record r;
  while (reader.next(r)) back.push_back(r);
  REQUIRE(back.size() == records.size());
  for (size_t i = 0; i < back.size(); ++i) {
    CHECK(back[i].key == records[i].key);
    CHECK(back[i].fields == records[i].fields);
  }
  REQUIRE(reader.header());
  CHECK(*reader.header() == "{\"version\":1}");
}

TEST_CASE("expand_inputs: a glob the shell left quoted expands, sorted; one that matches nothing is named") {
  TempDir dir;
  for (const char* name : {"b-2.shard", "b-10.shard", "a-1.shard", "note.txt"}) std::ofstream(dir / name) << "x";
  const std::string d = dir.path.string() + "/";
  CHECK(expand_inputs({d + "*.shard"}) ==
        std::vector<std::string>{d + "a-1.shard", d + "b-10.shard", d + "b-2.shard"});
  // Braces first, then each part's glob.
  CHECK(expand_inputs({d + "b-?.shard", d + "{a,b}-1*"}) ==
        std::vector<std::string>{d + "b-2.shard", d + "a-1.shard", d + "b-10.shard"});
  CHECK_THROWS_WITH(expand_inputs({d + "c-*.shard"}), d + "c-*.shard: no file matches this pattern");
  // A name that exists is itself, metacharacters and all.
  std::ofstream(dir / "odd[1].shard") << "x";
  CHECK(expand_inputs({d + "odd[1].shard"}) == std::vector<std::string>{d + "odd[1].shard"});
}

TEST_CASE("a writer that is not closed leaves no file under the final name") {
  TempDir dir;
  {
    RecordWriter w(dir / "x.shard", {});
    Record r{"k", {{"txt", "a"}}};
    w.write(r);
  }
  CHECK_FALSE(fs::exists(dir / "x.shard"));
  CHECK(fs::is_empty(dir.path));
}

TEST_CASE("a writer refuses a key twice in a row, which a reader would take as one record") {
  TempDir dir;
  RecordWriter w(dir / "x.shard", {});
  w.write(Record{"k", {{"txt", "a"}}});
  CHECK_THROWS_WITH(w.write(Record{"k", {{"txt", "b"}}}), Catch::Contains("record key 'k' twice in a row"));
  w.write(Record{"l", {{"txt", "c"}}});
  w.write(Record{"k", {{"txt", "d"}}});  // not in a row: two records
  w.close();
  auto recs = read_all({dir / "x.shard"});
  REQUIRE(recs.size() == 3);
  CHECK(recs[2].key == "k");
}

TEST_CASE("10k records across shards: sizes.json, order, round-robin") {
  TempDir dir;
  SECTION("sequential with a shard size") {
    ShardSetWriter w(dir / "s-%03d.shard", 3000, {}, "{\"h\":1}");
    for (int i = 0; i < 10000; ++i) w.write(Record{std::to_string(i), {{"txt", std::to_string(i)}}});
    w.close();
    CHECK(w.shards() == 4);
    auto recs = read_all(expand_inputs({dir / "s-{000..003}.shard"}));
    REQUIRE(recs.size() == 10000);
    for (int i = 0; i < 10000; ++i) REQUIRE(recs[i].key == std::to_string(i));
    CHECK(read_file(dir / "sizes.json") ==
          "{\"s-000.shard\":3000,\"s-001.shard\":3000,\"s-002.shard\":3000,\"s-003.shard\":1000}\n");
  }
  SECTION("round-robin over a brace list") {
    ShardSetWriter w(dir / "b-{0..2}.shard", 0, {});
    for (int i = 0; i < 10; ++i) w.write(Record{std::to_string(i), {{"txt", "x"}}});
    w.close();
    CHECK(read_all({dir / "b-0.shard"}).size() == 4);
    CHECK(read_all({dir / "b-2.shard"}).size() == 3);
  }
  SECTION("a brace list too short for the shard size is an error") {
    ShardSetWriter w(dir / "c-{0..1}.shard", 2, {});
    for (int i = 0; i < 4; ++i) w.write(Record{std::to_string(i), {{"txt", "x"}}});
    CHECK_THROWS_AS(w.write(Record{"4", {{"txt", "x"}}}), Error);
  }
}

TEST_CASE("sizes.json keeps the other shard sets of its folder, and forgets removed ones") {
  TempDir dir;
  auto write_set = [&](const std::string& pattern, int n) {
    ShardSetWriter w(dir / pattern, 0, {});
    for (int i = 0; i < n; ++i) w.write(Record{std::to_string(i), {{"txt", "x"}}});
    w.close();
  };
  write_set("train-{0..1}.shard", 5);
  write_set("test.shard", 2);
  CHECK(read_file(dir / "sizes.json") == "{\"test.shard\":2,\"train-0.shard\":3,\"train-1.shard\":2}\n");
  write_set("test.shard", 4);  // rewritten: its entry replaced
  fs::remove(dir / "train-1.shard");
  write_set("extra.shard", 1);
  CHECK(read_file(dir / "sizes.json") == "{\"extra.shard\":1,\"test.shard\":4,\"train-0.shard\":3}\n");
  std::ofstream(dir / "sizes.json") << "not json";  // a damaged one is rewritten
  write_set("test.shard", 1);
  CHECK(read_file(dir / "sizes.json") == "{\"test.shard\":1}\n");
}

TEST_CASE("concatenated shards read as one stream") {
  TempDir dir;
  for (auto compression : {"zstd", "gzip", "none"}) {
    for (auto name : {"a", "b"}) {
      RecordWriter w(dir / name, Compression::parse(compression));
      w.write(header_record("{}"));
      for (int i = 0; i < 3; ++i) w.write(Record{std::string(name) + std::to_string(i), {{"txt", name}}});
      w.close();
    }
    write_file(dir / "ab", read_file(dir / "a") + read_file(dir / "b"));
    ReadStats stats;
    auto recs = read_all({dir / "ab"}, &stats);
    REQUIRE(recs.size() == 6);
    CHECK(recs[0].key == "a0");
    CHECK(recs[5].key == "b2");
    CHECK(stats.damaged_inputs == 0);
  }
  // Two compressions in one stream: the second is reported, not dropped unsaid.
  for (auto [name, compression] : {std::pair{"g", "gzip"}, std::pair{"z", "zstd"}}) {
    RecordWriter w(dir / name, Compression::parse(compression));
    for (int i = 0; i < 3; ++i) w.write(Record{std::string(name) + std::to_string(i), {{"txt", name}}});
    w.close();
  }
  write_file(dir / "gz", read_file(dir / "g") + read_file(dir / "z"));
  ReadStats stats;
  auto recs = read_all({dir / "gz"}, &stats);
  CHECK(recs.size() >= 2);
  CHECK(stats.damaged_inputs == 1);
  CHECK_THROWS_WITH(read_all({dir / "gz"}, nullptr, OnError::fail),
                    Catch::Contains("data after the end of the gzip stream (a zstd stream)"));
  write_file(dir / "gpad", read_file(dir / "g") + std::string(4096, '\0'));  // zero padding is no data
  CHECK(read_all({dir / "gpad"}, &stats).size() == 3);
  CHECK(stats.damaged_inputs == 0);
}

TEST_CASE("damaged streams: clear error, the good records before the damage are delivered") {
  TempDir dir;
  std::string payload(4000, 'x');
  {
    RecordWriter w(dir / "good", Compression::parse("none"));
    for (int i = 0; i < 20; ++i) w.write(Record{std::to_string(i), {{"bin", payload}, {"txt", "t"}}});
    w.close();
  }
  std::string good = read_file(dir / "good");
  SECTION("truncated tar") {
    write_file(dir / "cut", good.substr(0, good.size() / 2));
    ReadStats stats;
    auto recs = read_all({dir / "cut"}, &stats);
    CHECK(recs.size() >= 8);
    CHECK(recs.size() < 20);
    for (auto& r : recs) CHECK(*r.find("bin") == payload);
    CHECK(stats.damaged_inputs == 1);
    CHECK_THROWS_WITH(read_all({dir / "cut"}, nullptr, OnError::fail), Catch::Contains("cut") && Catch::Contains("truncated"));
  }
  SECTION("truncated zstd") {
    // Incompressible payloads, so the damage lies several zstd blocks in.
    std::mt19937 rng(1);
    RecordWriter w(dir / "z", {});
    for (int i = 0; i < 20; ++i) {
      std::string noise(100000, 0);
      for (auto& c : noise) c = static_cast<char>(rng());
      w.write(Record{std::to_string(i), {{"bin", noise}}});
    }
    w.close();
    std::string z = read_file(dir / "z");
    write_file(dir / "zcut", z.substr(0, z.size() * 2 / 3));
    ReadStats stats;
    auto recs = read_all({dir / "zcut"}, &stats);
    CHECK(recs.size() >= 5);
    CHECK(recs.size() < 20);
    CHECK(stats.damaged_inputs == 1);
  }
  SECTION("truncated gzip, inside its first megabyte") {
    // The whole shard decodes to 112 kB: a decoder that hands out only full
    // buffers (libarchive's gzip filter) gives nothing back from it.
    RecordWriter w(dir / "g", Compression::parse("gzip"));
    for (int i = 0; i < 20; ++i) w.write(Record{std::to_string(i), {{"bin", payload}, {"txt", "t"}}});
    w.close();
    std::string g = read_file(dir / "g");
    write_file(dir / "gcut", g.substr(0, g.size() / 2));
    ReadStats stats;
    auto recs = read_all({dir / "gcut"}, &stats);
    CHECK(recs.size() >= 5);
    CHECK(recs.size() < 20);
    for (auto& r : recs) CHECK(*r.find("bin") == payload);
    CHECK(stats.damaged_inputs == 1);
    CHECK_THROWS_WITH(read_all({dir / "gcut"}, nullptr, OnError::fail),
                      Catch::Contains("gcut") && Catch::Contains("truncated gzip"));
  }
  SECTION("flipped bytes in a gzip stream: an error, not wrong records") {
    RecordWriter w(dir / "g", Compression::parse("gzip"));
    for (int i = 0; i < 20; ++i) w.write(Record{std::to_string(i), {{"bin", payload}, {"txt", "t"}}});
    w.close();
    std::string g = read_file(dir / "g");
    for (size_t i = g.size() / 2; i < g.size() / 2 + 8; ++i) g[i] ^= 0x5a;
    write_file(dir / "gflip", g);
    ReadStats stats;
    auto recs = read_all({dir / "gflip"}, &stats);
    CHECK(recs.size() < 20);
    for (auto& r : recs) CHECK(*r.find("bin") == payload);
    CHECK(stats.damaged_inputs == 1);
  }
  SECTION("garbage input, then a good one") {
    write_file(dir / "garbage", std::string(10000, '\x07'));
    ReadStats stats;
    auto recs = read_all({dir / "garbage", dir / "good"}, &stats);
    CHECK(recs.size() == 20);
    CHECK(stats.damaged_inputs == 1);
  }
  SECTION("flipped bytes in a header") {
    std::string bad = good;
    // Each record: 512 + 4096 (bin) + 512 + 512 (txt) bytes; damage record 3's first header.
    for (size_t i = 3 * 5632; i < 3 * 5632 + 200; ++i) bad[i] ^= 0x5a;
    write_file(dir / "flipped", bad);
    ReadStats stats;
    auto recs = read_all({dir / "flipped"}, &stats);  // never throws with skip, never hangs
    // Record 2, whose fields are those of record 1, is whole (as GNU tar keeps it).
    CHECK(recs.size() == 3);
    CHECK(stats.damaged_inputs == 1);
    CHECK(stats.dropped_records == 0);
  }
  SECTION("flipped bytes in a record's second header: that record is dropped, not cut") {
    std::string bad = good;
    for (size_t i = 3 * 5632 + 4608; i < 3 * 5632 + 4608 + 200; ++i) bad[i] ^= 0x5a;
    write_file(dir / "flipped2", bad);
    ReadStats stats;
    auto recs = read_all({dir / "flipped2"}, &stats);
    CHECK(recs.size() == 3);  // record 3 lost its txt
    for (auto& r : recs) CHECK(r.find("txt"));
    CHECK(stats.dropped_records == 1);
  }
  SECTION("flipped bytes in a header after a record with fewer fields: the record is dropped") {
    // A re-sharded set may mix image/text and text-only records.
    RecordWriter w(dir / "mixed", Compression::parse("none"));
    w.write(Record{"0", {{"txt", "t"}, {"bin", payload}}});  // 512 + 512 + 512 + 4096 bytes
    w.write(Record{"1", {{"txt", "t"}}});                     // 512 + 512
    w.write(Record{"2", {{"txt", "t"}, {"bin", payload}}});
    w.write(Record{"3", {{"txt", "t"}, {"bin", payload}}});
    w.close();
    std::string bad = read_file(dir / "mixed");
    for (size_t i = 5632 + 1024 + 1024; i < 5632 + 2048 + 200; ++i) bad[i] ^= 0x5a;  // record 2's bin header
    write_file(dir / "mixedflip", bad);
    ReadStats stats;
    auto recs = read_all({dir / "mixedflip"}, &stats);
    REQUIRE(recs.size() == 2);  // record 2 lost its bin: not handed out as text-only
    CHECK(recs[1].key == "1");
    CHECK(stats.dropped_records == 1);
  }
  SECTION("an empty file is reported") {
    write_file(dir / "empty", "");
    ReadStats stats;
    read_all({dir / "empty"}, &stats);
    CHECK(stats.damaged_inputs == 1);
  }
}

#include "clippo/io/json.h"

TEST_CASE("JSON: nested paths, string arrays with escapes, fields with dots") {
  auto o = JsonObject::parse(R"({"model":{"render":{"fonts":["/a/b.hex","c\u00e9\"d"]},"res":64},"next.txt":"x"})", "t");
  CHECK(*o.get_path("model.res") == "64");
  CHECK(*o.get_strings("model.render.fonts") == std::vector<std::string>{"/a/b.hex", "c\xc3\xa9\"d"});
  CHECK_FALSE(o.get_strings("model.res"));
  CHECK(*o.get("next.txt") == "x");
  CHECK_FALSE(o.get_path("model.nothing"));
  CHECK_THROWS_WITH(JsonObject::parse("[1]", "f.json"), Catch::Contains("f.json"));
  // Typed fields: the type must match; integers of any size read as numbers.
  auto t = JsonObject::parse(R"({"s":"7","i":-3,"u":18446744073709551615,"d":0.5,"b":true,"z":null})", "t");
  CHECK(*t.get_string("s") == "7");
  CHECK_FALSE(t.get_string("i"));
  CHECK(*t.get_number("i") == -3);
  CHECK(*t.get_number("u") == 18446744073709551615.0);
  CHECK(*t.get_number("d") == 0.5);
  CHECK_FALSE(t.get_number("s"));
  CHECK(*t.get_bool("b"));
  CHECK_FALSE(t.get_bool("i"));
  CHECK_FALSE(t.get_string("z"));
  CHECK_FALSE(t.get_number("missing"));
  JsonWriter w;
  w.begin_object().key("a\"b").value("line\nbreak").key("n").value(3).key("l").begin_array().value(1.5).null().end_array().end_object();
  CHECK(w.str() == R"({"a\"b":"line\nbreak","n":3,"l":[1.5,null]})");
  // Invalid UTF-8 (a stray Latin-1 byte, a cut sequence, an overlong form, a
  // surrogate) becomes U+FFFD byte by byte; valid sequences pass unchanged.
  JsonWriter u;
  u.begin_object().key("t").value("caf\xe9 \xe2\x82 \xc0\xaf \xed\xa0\x80 ok \xc3\xa9\xf0\x9f\x98\x80").end_object();
  const std::string fffd = "\xef\xbf\xbd";
  auto back = JsonObject::parse(u.str(), "u");  // simdjson refuses invalid UTF-8
  CHECK(*back.get_string("t") == "caf" + fffd + " " + fffd + fffd + " " + fffd + fffd + " " + fffd + fffd + fffd +
                                     " ok \xc3\xa9\xf0\x9f\x98\x80");
}

TEST_CASE("cls fields as class indexes", "[records]") {
  CHECK(clippo::class_index("7") == 7);
  CHECK(clippo::class_index(" 12\n") == 12);
  CHECK(clippo::class_index("0") == 0);
  for (const char* bad : {"", " ", "-1", "+3", "3x", "cat", "1 2", "1234567890123456789"})
    CHECK_FALSE(clippo::class_index(bad).has_value());
}
