// Mutation fuzzing of every reader of outside bytes: shards (zstd, gzip, tar),
// images (JPEG, PNG, WebP, PPM, PGM), .npy, .npz, JSON, CSV, Unifont .hex and
// text to render. Valid inputs are damaged at random (bit flips, odd bytes,
// cuts, inserted and repeated runs, large length fields); each reader must
// then either succeed within sane bounds or throw clippo::Error, never crash,
// hang, or throw anything else. Deterministic: the seed is the iteration.
//   CLIPPO_FUZZ_ITERATIONS=N (default 300 per input) for longer runs; under
//   -fsanitize=address,undefined it checks memory safety too.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "clippo/cli/error.h"
#include "clippo/cli/log.h"
#include "clippo/io/image.h"
#include "clippo/io/json.h"
#include "clippo/io/npy.h"
#include "clippo/io/record_reader.h"
#include "clippo/io/record_writer.h"
#include "clippo/model/npz.h"
#include "clippo/pack/sentences.h"
#include "clippo/pack/tables.h"
#include "clippo/text/render.h"

using namespace clippo;
namespace fs = std::filesystem;

namespace {

int iterations() {
  const char* n = std::getenv("CLIPPO_FUZZ_ITERATIONS");
  return n ? std::max(1, std::atoi(n)) : 300;
}

// One to four damages of a copy of `in`.
std::string mutate(const std::string& in, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto pick = [&](size_t n) { return n ? static_cast<size_t>(rng() % n) : 0; };
  std::string s = in;
  for (int k = 0, n = 1 + static_cast<int>(rng() % 4); k < n; ++k) {
    switch (rng() % 6) {
      case 0:  // bit flips
        for (int i = 0; i < 1 + static_cast<int>(rng() % 8) && !s.empty(); ++i) s[pick(s.size())] ^= char(1 << (rng() % 8));
        break;
      case 1: {  // a byte that parsers treat specially
        static const char odd[] = {0, '\xff', '\x7f', '\x80', '"', '\\', '\n', ','};
        if (!s.empty()) s[pick(s.size())] = odd[rng() % sizeof odd];
        break;
      }
      case 2:  // cut short
        s.resize(pick(s.size() + 1));
        break;
      case 3: {  // random bytes inserted
        std::string junk(1 + rng() % 64, '\0');
        for (auto& c : junk) c = static_cast<char>(rng());
        s.insert(pick(s.size() + 1), junk);
        break;
      }
      case 4: {  // a run repeated
        size_t at = pick(s.size()), len = std::min<size_t>(1 + rng() % 256, s.size() - at);
        s.insert(pick(s.size() + 1), s.substr(at, len));
        break;
      }
      default: {  // a large little-endian length or size field
        if (s.size() < 4) break;
        uint32_t v = rng() % 2 ? 0xFFFFFFF0u : static_cast<uint32_t>(rng());
        std::memcpy(&s[pick(s.size() - 3)], &v, 4);
      }
    }
  }
  return s;
}

// Runs `read` on every mutation of `seed`; anything but success or
// clippo::Error fails the test with the iteration that caused it.
template <class Fn>
void fuzz(const std::string& what, const std::string& seed, Fn read) {
  log::set_level(log::kErrors);  // the readers' skip warnings, thousands of them
  for (int i = 0; i < iterations(); ++i) {
    const std::string bytes = mutate(seed, std::hash<std::string>{}(what) + i);
    try {
      read(bytes);
    } catch (const Error&) {
    } catch (const std::exception& e) {
      FAIL(what << ", iteration " << i << ": " << typeid(e).name() << ": " << e.what());
    }
  }
}

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("clippo-fuzz-" + std::to_string(getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
  std::string write(const std::string& name, const std::string& bytes) const {
    auto p = (path / name).string();
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  std::string read(const std::string& name) const {
    std::ifstream f(path / name, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }
};

Image pattern(int w, int h, int channels) {
  Image im{w, h, channels, std::vector<uint8_t>(static_cast<size_t>(w) * h * channels)};
  for (size_t i = 0; i < im.pixels.size(); ++i) im.pixels[i] = static_cast<uint8_t>(i * 37 % 251);
  return im;
}

}  // namespace

TEST_CASE("damaged shards: records or a clear error, in every compression and --on-error mode", "[fuzz]") {
  TempDir dir;
  const std::string png = encode_image(pattern(12, 9, 3), "png");
  for (auto spec : {"zstd", "gzip", "none"}) {
    {
      RecordWriter w((dir.path / "seed").string(), Compression::parse(spec));
      for (int i = 0; i < 6; ++i) {
        Record r;
        r.key = "00000" + std::to_string(i);
        r.fields = {{"png", png}, {"txt", "caption " + std::to_string(i)}, {"cls", std::to_string(i % 3)}};
        w.write(r);
      }
      w.close();
    }
    const std::string seed = dir.read("seed");
    for (auto mode : {OnError::skip, OnError::fail})
      fuzz(std::string("shard ") + spec, seed, [&](const std::string& bytes) {
        RecordReader reader({dir.write("x.shard", bytes)}, mode);
        Record r;
        uint64_t n = 0, total = 0;
        while (reader.next(r)) {
          ++n;
          for (auto& [field, data] : r.fields) total += data.size();
        }
        // A record is at least one member: no more records than bytes, and
        // no more payload than the stream could hold after decompression.
        REQUIRE(n <= bytes.size());
        REQUIRE(total <= 64 * bytes.size() + 4096);
      });
  }
}

TEST_CASE("damaged images: a sane image or a clear error", "[fuzz]") {
  const Image rgb = pattern(40, 30, 3), gray = pattern(40, 30, 1);
  for (auto [format, image] : {std::pair{"jpg", rgb}, {"png", rgb}, {"webp", rgb}, {"ppm", rgb}, {"pgm", gray}})
    fuzz(std::string("image ") + format, encode_image(image, format, 90), [&](const std::string& bytes) {
      for (int min_side : {0, 8}) {
        Image im = decode_image(bytes, min_side);
        REQUIRE(im.width > 0);
        REQUIRE(im.height > 0);
        REQUIRE((im.channels == 1 || im.channels == 3));
        REQUIRE(im.pixels.size() == static_cast<size_t>(im.width) * im.height * im.channels);
        std::vector<float> chw(3 * 16 * 16);
        to_model_input(im, 16, chw.data());
      }
    });
}

TEST_CASE("damaged .npy and .npz: the arrays or a clear error", "[fuzz]") {
  std::vector<float> v(24);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) / 7;
  for (auto dtype : {DType::f32, DType::f16, DType::bf16})
    fuzz("npy " + dtype_descr(dtype), make_npy_from_floats(v.data(), {4, 6}, dtype), [](const std::string& bytes) {
      NpyHeader h;
      auto floats = npy_to_floats(bytes, "x.npy", &h);
      REQUIRE(floats.size() <= bytes.size());
    });
  TempDir dir;
  for (bool compress : {false, true}) {
    model::NpzArrays arrays;
    arrays["params/img/head/kernel"] = {DType::f32, {4, 6}, std::string(reinterpret_cast<const char*>(v.data()), 96)};
    arrays["params/t"] = {DType::f32, {1}, std::string(4, '\0')};
    model::write_npz((dir.path / "seed.npz").string(), arrays, compress);
    fuzz(compress ? "npz deflated" : "npz stored", dir.read("seed.npz"), [&](const std::string& bytes) {
      auto got = model::read_npz(dir.write("x.npz", bytes));
      for (auto& [name, a] : got) REQUIRE(a.data.size() == a.count() * dtype_size(a.dtype));
    });
  }
}

TEST_CASE("damaged JSON, CSV, documents and font files: parsed or a clear error", "[fuzz]") {
  fuzz("json", R"({"format":1,"model":{"path":"a.npz","dim":24},"fonts":["a\"b.hex"],"x":[1,2.5e3,null,true]})",
       [](const std::string& bytes) {
         auto j = JsonObject::parse(bytes, "x.json");
         (void)j.get_path("model.dim");
         (void)j.get_strings("fonts");
         (void)j.get_number("format");
       });
  fuzz("csv", "path,caption,label\na.jpg,\"a \"\"quoted\"\", caption\",3\nb.png,plain,4\n", [](const std::string& bytes) {
    size_t pos = 0, rows = 0;
    std::vector<std::string> row;
    while (pack::next_csv_record(bytes, pos, row)) REQUIRE(++rows <= bytes.size() + 1);
  });
  fuzz("documents", "First sentence. Second one! A third?\n\nAnother block. Ends here.\n", [](const std::string& bytes) {
    for (auto& d : pack::split_documents(bytes))
      for (auto& s : pack::split_sentences(d)) REQUIRE(s.size() <= bytes.size());
  });
  fuzz("unifont hex", "0041:0000000018242442427E424242420000\n00E9:000008100000003C42427E4040423C00\n",
       [](const std::string& bytes) { (void)text::Font::parse(bytes, "x.hex"); });
}

TEST_CASE("any bytes render: invalid UTF-8 and controls give an image of the asked size", "[fuzz]") {
  auto font = text::Font::load();
  text::RenderOptions opt;
  opt.size = 32;
  std::vector<uint8_t> out(32 * 32);
  fuzz("render", "Hello, world. \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 tab\tnewline\n", [&](const std::string& bytes) {
    text::render(bytes, *font, opt, out.data());
    Image im = text::render_image(bytes, *font, opt);
    REQUIRE((im.width == 32 && im.height == 32));
  });
}
