#include "clippo/pack/packer.h"

#include <fmt/core.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <random>
#include <unordered_set>

#include "clippo/cli/log.h"
#include "clippo/cli/progress.h"
#include "clippo/cli/stop.h"
#include "clippo/io/image.h"
#include "clippo/io/json.h"
#include "clippo/io/line_reader.h"
#include "clippo/io/paths.h"
#include "clippo/io/record_reader.h"
#include "clippo/io/utf8.h"
#include "clippo/pack/sentences.h"

namespace clippo::pack {


namespace {

constexpr size_t kChunk = 256;  // items processed in parallel, then written in order

// --shuffle of a stream: each record goes out at a random point among the
// next `size` (a buffer of that many), those held at the end in random order.
template <class T>
class BufferShuffle {
 public:
  BufferShuffle(bool on, size_t size, uint64_t seed, std::function<void(T)> out)
      : on_(on), size_(size), rng_(seed), out_(std::move(out)) {}
  void add(T item) {
    if (!on_) return out_(std::move(item));
    if (buffer_.size() < size_) return buffer_.push_back(std::move(item));
    std::swap(buffer_[std::uniform_int_distribution<size_t>(0, buffer_.size() - 1)(rng_)], item);
    out_(std::move(item));
  }
  void finish() {  // (also after a stop: the records held were read, and a stream cannot give them again)
    std::shuffle(buffer_.begin(), buffer_.end(), rng_);
    for (auto& item : buffer_) out_(std::move(item));
    buffer_.clear();
  }

 private:
  bool on_;
  size_t size_;
  std::mt19937_64 rng_;
  std::function<void(T)> out_;
  std::vector<T> buffer_;
};

std::string header_json() {
  JsonWriter j;
  j.begin_object().key("format").value(1).key("tool").value("clippo-pack").key("version").value(CLIPPO_VERSION);
  j.end_object();
  return j.str();
}

}  // namespace

struct Packer::Work {
  Record rec;
  std::string image_path;  // file items: read by the worker
  std::string origin;      // for messages
  std::string reason, detail;  // set when the item is to be skipped
};

Packer::Packer(PackOptions options, BadInput& bad)
    : opt_(std::move(options)), bad_(bad), pool_(std::max(1, opt_.threads)),
      writer_(opt_.output, opt_.shard_size, opt_.compression, header_json()) {}

void Packer::process(Work& w) const {
  auto skip = [&](std::string reason, std::string detail = "") {
    w.reason = std::move(reason);
    w.detail = std::move(detail);
  };
  // Captions first: cheap, and they spare reading images that go anyway.
  for (auto field : {"txt", "next.txt"}) {
    const std::string* t = w.rec.find(field);
    if (!t) continue;
    if (!valid_utf8(*t)) return skip("invalid UTF-8", field);
    size_t n = count_code_points(*t);
    // Spaces at the ends do not count: "   " is no caption.
    const size_t first = t->find_first_not_of(" \t\r\n"), last = t->find_last_not_of(" \t\r\n");
    const size_t ink = first == std::string::npos ? 0 : count_code_points(std::string_view(*t).substr(first, last - first + 1));
    if (ink < opt_.min_caption_chars)
      return skip("caption too short", fmt::format("{} < {} characters", ink, opt_.min_caption_chars));
    if (opt_.max_caption_chars && n > opt_.max_caption_chars)
      return skip("caption too long", fmt::format("{} > {} characters", n, opt_.max_caption_chars));
  }
  if (opt_.min_caption_chars && !w.rec.has("txt")) return skip("missing caption");

  std::string field, bytes;
  bool verify = opt_.resize || opt_.min_image_size;
  if (!w.image_path.empty()) {
    try {
      bytes = read_whole_file(w.image_path);
    } catch (const Error& e) {  // (the path is told already)
      return skip("unreadable file", without_path(e.what(), w.image_path));
    }
    field = extension(w.image_path);
    if (field == "jpeg") field = "jpg";
    verify = true;  // files from a folder are checked by decoding them
  } else if (auto* img = find_image(w.rec)) {
    field = img->first;
    bytes = img->second;
  } else if (w.rec.has("txt") || w.rec.has("next.txt")) {
    return;  // a text-only record (a sentence pair)
  } else {
    return skip("nothing to train on", "no image, txt or next.txt");  // e.g. a failed download's json alone
  }
  std::string format = sniff_image_format(bytes);
  if (format.empty()) return skip("not an image");
  if (!verify) return;  // re-sharding keeps the bytes; the magic number was checked
  Image image;
  try {
    // When shrinking anyway, JPEGs decode at a reduced DCT scale that keeps
    // the shorter side >= the target (and >= the size filter, so it stays exact).
    image = decode_image(bytes, opt_.resize ? std::max(opt_.resize, opt_.min_image_size) : 0);
  } catch (const Error& e) {
    return skip("not an image", e.what());
  }
  int shorter = std::min(image.width, image.height);
  if (shorter < opt_.min_image_size)
    return skip("image too small", fmt::format("{}x{}", image.width, image.height));
  bool known_field = std::find(std::begin(kImageFields), std::end(kImageFields), field) != std::end(kImageFields);
  if (opt_.resize || !known_field) {
    for (auto f : kImageFields) w.rec.erase(f);
    if (opt_.resize) image = resize_shorter_side(image, opt_.resize);
    w.rec.set(opt_.resize ? "jpg" : "png", encode_image(image, opt_.resize ? "jpg" : "png", opt_.jpeg_quality));
  } else if (!w.image_path.empty()) {
    w.rec.set(field, std::move(bytes));  // original bytes kept
  }
}

size_t Packer::run_chunk(std::vector<Work>& chunk, bool whole) {
  std::vector<char> done(chunk.size(), 0);
  pool_.run(chunk.size(), [&](size_t i) {
    if (!whole && cli::stop_signal()) return;
    try {
      process(chunk[i]);
    } catch (const std::exception& e) {
      chunk[i].reason = "failed";
      chunk[i].detail = e.what();
    }
    done[i] = 1;
  });
  // Stopped: the items before the first one left undone.
  return static_cast<size_t>(std::find(done.begin(), done.end(), 0) - done.begin());
}

void Packer::emit(Work& w) {
  if (!w.reason.empty()) {
    bad_.report(w.origin, w.reason, w.detail);
    return;
  }
  if (!opt_.keep_keys) w.rec.key = fmt::format("{:09d}", next_key_++);
  writer_.write(w.rec);
}

void Packer::flush(std::vector<Work>& chunk, bool whole) {
  if (!chunk.empty()) {
    // Interrupted: what was processed is written, in order; the rest is not.
    const size_t done = run_chunk(chunk, whole);
    for (size_t i = 0; i < done; ++i) emit(chunk[i]);
    chunk.clear();
  }
  if (!whole) stop_if_asked();
}

void Packer::stop_if_asked() {
  if (cli::stop_signal()) throw Error(fmt::format("interrupted by signal {}", cli::stop_signal()));
}

void Packer::add_items(std::vector<Item> items) {
  // Known up front: refuse an output too small before writing part of it.
  check_shard_set_fits(opt_.output, opt_.shard_size, items.size(), "items");
  if (opt_.shuffle) std::shuffle(items.begin(), items.end(), std::mt19937_64(opt_.seed));
  Progress progress("packing", items.size());
  std::vector<Work> chunk;
  for (auto& item : items) {
    if (cli::stop_signal()) break;
    Work w;
    w.image_path = std::move(item.image_path);
    w.origin = item.origin == w.image_path ? w.image_path : w.image_path + " (" + item.origin + ")";
    w.rec.fields.emplace_back("txt", std::move(item.caption));
    if (item.label) w.rec.fields.emplace_back("cls", *item.label);
    if (!item.json.empty()) w.rec.fields.emplace_back("json", std::move(item.json));
    chunk.push_back(std::move(w));
    if (chunk.size() == kChunk) {
      flush(chunk);
      progress.add(kChunk);
    }
  }
  flush(chunk);
}

void Packer::add_records(const std::vector<std::string>& inputs) {
  RecordReader reader(inputs, bad_.policy());
  std::unordered_set<std::string> seen;  // with --keep-keys: keys must stay unique
  std::vector<Work> chunk;
  Progress progress("packing");
  // Records read are written, also after a stop: a stream cannot give them again.
  BufferShuffle<Work> shuffle(opt_.shuffle, opt_.shuffle_buffer, opt_.seed, [&](Work w) {
    if (opt_.keep_keys) {
      if (std::string fault = key_fault(w.rec.key); !fault.empty()) w.reason = "bad key", w.detail = std::move(fault);
      else if (!seen.insert(w.rec.key).second) w.reason = "duplicate key";
    }
    chunk.push_back(std::move(w));
    if (chunk.size() == kChunk) {
      flush(chunk, true);
      progress.add(kChunk, 0);
    }
  });
  Record r;
  while (!cli::stop_signal() && reader.next(r)) {
    Work w;
    w.origin = fmt::format("{}: {}", reader.current_input(), r.key);
    w.rec = std::move(r);
    shuffle.add(std::move(w));
  }
  shuffle.finish();
  flush(chunk, true);
  auto& s = reader.stats();
  if (s.dropped_records) log::warn("{} record(s) cut off by damaged input dropped", s.dropped_records);
  stop_if_asked();
}

void Packer::add_documents(const std::vector<std::string>& inputs) {
  std::vector<Work> chunk;
  Progress progress("sentence pairs");
  BufferShuffle<Work> shuffle(opt_.shuffle, opt_.shuffle_buffer, opt_.seed, [&](Work w) {
    chunk.push_back(std::move(w));
    if (chunk.size() == kChunk) {
      flush(chunk, true);  // (as for records: the pairs of documents read are written)
      progress.add(kChunk);
    }
  });
  auto add_document = [&](const std::string& doc, const std::string& origin) {
    auto sentences = split_sentences(doc);
    for (size_t i = 0; i + 1 < sentences.size() && !cli::stop_signal(); ++i) {
      Work w;
      w.origin = origin;
      w.rec.fields = {{"txt", sentences[i]}, {"next.txt", sentences[i + 1]}};
      shuffle.add(std::move(w));
    }
  };
  for (const auto& path : inputs) {
    if (cli::stop_signal()) break;
    LineReader lines(path);
    std::string line;
    bool cut;
    if (table_format(path) == TableFormat::jsonl) {
      for (size_t n = 1; !cli::stop_signal() && lines.next(line, SIZE_MAX, cut); ++n) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        std::string where = fmt::format("{}:{}", path, n);
        std::optional<JsonObject> row;
        try {
          row = JsonObject::parse(line, where);
        } catch (const Error& e) {
          if (bad_.policy() == OnError::fail) throw;
          bad_.report(where, "malformed row", "invalid JSON");
          continue;
        }
        // Only the row's own faults are bad input; the writer's errors are not.
        if (auto text = row->get_string(opt_.text_field)) add_document(*text, where);
        else if (auto other = row->get(opt_.text_field))
          bad_.report(where, "malformed row", fmt::format("field '{}' is {}, not a string", opt_.text_field, *other));
        else bad_.report(where, "missing text", "no field '" + opt_.text_field + "'");
      }
    } else {
      std::string text;
      while (!cli::stop_signal() && lines.next(line, SIZE_MAX, cut)) text.append(line).push_back('\n');
      size_t n = 0;
      for (auto& doc : split_documents(text)) add_document(doc, fmt::format("{} (document {})", path, ++n));
    }
  }
  shuffle.finish();
  flush(chunk, true);
  stop_if_asked();
}

PackSummary Packer::finish() {
  writer_.close();
  return {writer_.records(), writer_.shards(), writer_.bytes_written(), bad_.summary()};
}

}  // namespace clippo::pack
