#include "clippo/text/render_job.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <chrono>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <optional>
#include <thread>
#include <unordered_set>

#include "clippo/cli/bad_input.h"
#include "clippo/cli/log.h"
#include "clippo/cli/progress.h"
#include "clippo/cli/stop.h"
#include "clippo/cli/worker_pool.h"
#include "clippo/io/image.h"
#include "clippo/io/json.h"
#include "clippo/io/line_reader.h"
#include "clippo/io/record_reader.h"
#include "clippo/io/utf8.h"

namespace fs = std::filesystem;

namespace clippo::text {

// ---------------------------------------------------------------- art

std::string terminal_art(const uint8_t* px, int size, int background) {
  int max_x = -1, min_y = size, max_y = -1;
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x)
      if (px[y * size + x] != background)
        max_x = std::max(max_x, x), min_y = std::min(min_y, y), max_y = std::max(max_y, y);
  std::string out;
  if (max_x < 0) return "\n";  // blank image: one empty line
  for (int y = min_y; y <= max_y; y += 2) {
    for (int x = 0; x <= max_x; ++x) {
      bool top = px[y * size + x] != background;
      bool bottom = y + 1 < size && px[(y + 1) * size + x] != background;
      out += top && bottom ? "\u2588" : top ? "\u2580" : bottom ? "\u2584" : " ";
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += '\n';
  }
  return out;
}

namespace {

// ---------------------------------------------------------------- helpers

bool looks_like_shard(std::string_view head) {
  auto starts = [&](std::string_view m) { return head.substr(0, m.size()) == m; };
  // zstd, gzip, bzip2, xz; then a tar header's "ustar" magic.
  return starts("\x28\xB5\x2F\xFD") || starts("\x1F\x8B\x08") ||
         (starts("BZh") && head.size() >= 10 && head.substr(4, 6) == "1AY&SY") || starts("\xFD" "7zXZ") ||
         (head.size() >= 262 && head.substr(257, 5) == "ustar");
}

// One input item: a record whose `txt` is rendered into field `image`.
struct Item {
  Record rec;
  int text = -1;   // index of the text field, -1: passed through unchanged
  int image = -1;  // index of the field the image goes to
  std::string art;  // --show
};

// Copies what a LineReader already took from stdin, then the rest of stdin,
// into a pipe, so that a shard arriving on a pipe reaches the record reader
// whole.
class StdinReplay {
 public:
  explicit StdinReplay(std::string head) {
    if (::pipe2(fds_, O_CLOEXEC) != 0) throw Error(fmt::format("pipe: {}", std::strerror(errno)));
    thread_ = std::thread([this, head = std::move(head)] {
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, SIGPIPE);
      pthread_sigmask(SIG_BLOCK, &set, nullptr);  // a reader that stops early gives EPIPE here
      auto put = [&](const char* p, size_t n) {
        while (n > 0) {
          ssize_t w = ::write(fds_[1], p, n);
          if (w < 0 && errno == EINTR) continue;
          if (w <= 0) return false;
          p += w, n -= static_cast<size_t>(w);
        }
        return true;
      };
      if (put(head.data(), head.size())) {
        // Waits for stdin and for the reader's end to close (POLLERR on ours).
        std::vector<char> buf(1 << 16);
        pollfd wait[2] = {{0, POLLIN, 0}, {fds_[1], 0, 0}};
        while (!cli::reading_stopped()) {
          const int ready = ::poll(wait, 2, 200);
          if (ready < 0 && errno != EINTR) break;
          if (ready <= 0) continue;
          if (wait[1].revents) break;
          const ssize_t n = ::read(0, buf.data(), buf.size());
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0 || !put(buf.data(), static_cast<size_t>(n))) break;
        }
      }
      ::close(fds_[1]);
    });
  }
  ~StdinReplay() {
    ::close(fds_[0]);  // ends the thread's wait (and any write)
    thread_.join();
  }
  std::string path() const { return fmt::format("/dev/fd/{}", fds_[0]); }

 private:
  int fds_[2];
  std::thread thread_;
};

// ---------------------------------------------------------------- the job

class Job {
 public:
  explicit Job(const RenderJob& j) : job_(j), pool_(j.threads) {
    validate(j.render);
    auto t0 = std::chrono::steady_clock::now();
    font_ = Font::load(j.fonts);
    log::debug("font: {} glyphs loaded in {:.1f} ms", font_->glyph_count(),
               std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    pixels_ = static_cast<size_t>(j.render.size) * j.render.size;
    pgm_header_ = fmt::format("P5\n{} {}\n255\n", j.render.size, j.render.size);
    // Small chunks keep a chunk's images in cache (8 x 50 kB at 224 px fit
    // in L2); with threads, a few per thread keep them busy.
    chunk_size_ = j.output == OutputKind::show ? 1 : j.threads <= 1 ? 8 : 32 * static_cast<size_t>(j.threads);
    open_output();
  }

  RenderStats run() {
    Progress progress("rendering");
    progress_ = &progress;
    for (const auto& input : job_.inputs)
      if (!cli::stop_signal()) read_input(input);
    flush();
    progress.finish();
    close_output();
    stats_.stopped_by = cli::stop_signal();
    stats_.bad = bad_.total();
    return stats_;
  }

 private:
  void open_output() {
    const auto& o = job_;
    if (o.output == OutputKind::shard) {
      JsonWriter h;
      h.begin_object().key("format").value(1).key("tool").value("clippo-render").key("version").value(CLIPPO_VERSION);
      h.key("render").raw(settings_json(o.render, font_->files()));
      h.end_object();
      Compression c = o.compression;
      c.threads = std::max(1, o.threads);  // zstd's threaded format: the same bytes for any count
      shards_ = std::make_unique<ShardSetWriter>(o.output_path, o.shard_size, c, h.str());
    } else if (o.output == OutputKind::raw) {
      if (o.output_path == "-") {
        raw_fd_ = STDOUT_FILENO;
      } else {
        raw_fd_ = ::open(o.output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (raw_fd_ < 0) throw Error(fmt::format("{}: cannot create: {}", o.output_path, std::strerror(errno)));
      }
    } else if (o.output == OutputKind::png) {
      fs::create_directories(o.output_path);
    }
  }

  void close_output() {
    if (shards_) shards_->close();
    if (raw_fd_ >= 0 && raw_fd_ != STDOUT_FILENO && ::close(raw_fd_) != 0)
      throw Error(fmt::format("{}: cannot write: {}", job_.output_path, std::strerror(errno)));
  }

  // Images draw any bytes (each invalid sequence as U+FFFD), but a shard
  // keeps the text too, and clippo-pack and clippo-train take only UTF-8.
  static constexpr const char* kNotUtf8 = "text is not valid UTF-8 (a shard keeps only UTF-8 text)";
  bool storable(std::string_view text) const { return job_.output != OutputKind::shard || valid_utf8(text); }

  void read_input(const std::string& input) {
    const std::string name = input == "-" ? "<stdin>" : input;
    LineReader lines(input);
    lines.fill(512);
    // Text lines are keyed 000000000, ... (or by --tsv) and shard records
    // keep their keys: the two kinds in one run could repeat keys.
    const bool shard = looks_like_shard(lines.buffered());
    if (shard_inputs_ && *shard_inputs_ != shard)
      throw UsageError(fmt::format("{}: {} after {}: the keys of the two could repeat (a shard's are its own, "
                                   "the text's numbered or given); render them in two runs",
                                   name, shard ? "a shard" : "text", shard ? "text" : "shards"));
    shard_inputs_ = shard;
    if (shard) {
      if (input != "-") return read_shard(input, name);
      struct stat st;
      if (::fstat(0, &st) == 0 && S_ISREG(st.st_mode) && ::lseek(0, 0, SEEK_SET) == 0) return read_shard("-", name);
      StdinReplay replay{std::string(lines.buffered())};
      return read_shard(replay.path(), name);
    }
    const int max_chars = job_.render.max_chars;
    const size_t text_cap = max_chars > 0 ? 4 * static_cast<size_t>(max_chars) : SIZE_MAX;
    const size_t cap = job_.format == TextFormat::jsonl ? (size_t{256} << 20)
                       : job_.format == TextFormat::tsv ? (max_chars > 0 ? text_cap + 65536 : SIZE_MAX)
                                                        : text_cap;
    std::string line, key, text;
    bool cut;
    for (uint64_t line_no = 1; !cli::stop_signal() && lines.next(line, cap, cut); ++line_no) {
      auto where = [&] { return fmt::format("{}:{}", name, line_no); };
      key.clear();
      if (job_.format == TextFormat::lines) {
        text.swap(line);  // both keep their buffers
      } else if (job_.format == TextFormat::tsv) {
        size_t tab = line.find('\t');
        if (tab == std::string::npos) {
          bad_.report(where(), "no TAB between key and text");
          continue;
        }
        key.assign(line, 0, tab);
        if (auto fault = key_fault(key); !fault.empty()) {
          bad_.report(where(), fmt::format("bad key '{}': {}", key, fault));
          continue;
        }
        // A repeated key would make two records of one name (and one PNG file).
        if (!tsv_keys_.insert(key).second) {
          bad_.report(where(), fmt::format("key '{}' again", key));
          continue;
        }
        text.assign(line, tab + 1);
      } else {
        if (cut) {
          bad_.report(where(), "JSON line longer than 256 MiB");
          continue;
        }
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank line
        try {
          auto obj = JsonObject::parse(line, where());
          auto v = obj.get_string(job_.text_field);
          if (!v) {
            auto other = obj.get(job_.text_field);
            bad_.report(where(), other ? fmt::format("field '{}' is {}, not a string", job_.text_field, *other)
                                       : fmt::format("no field '{}' (see --text-field)", job_.text_field));
            continue;
          }
          text = std::move(*v);
        } catch (const Error& e) {
          std::string why = e.what();  // "FILE:LINE: what", named once
          if (why.starts_with(where() + ": ")) why.erase(0, where().size() + 2);
          bad_.report(where(), why);
          continue;
        }
      }
      if (cut) {
        ++stats_.cut;
        text.resize(utf8_prefix_bytes(text, max_chars));
      }
      if (!storable(text)) {
        bad_.report(where(), kNotUtf8);
        continue;
      }
      // Slots are reused chunk after chunk, so the image buffers are not
      // allocated (and faulted in) again for every record.
      Item& item = slot();
      if (key.empty()) item.rec.key = fmt::format("{:09d}", next_key_);
      else item.rec.key = key;
      ++next_key_;
      if (item.rec.fields.size() != 2 || item.rec.fields[0].first != "pgm" || item.rec.fields[1].first != "txt") {
        item.rec.fields.clear();
        item.rec.fields.emplace_back("pgm", std::string());
        item.rec.fields.emplace_back("txt", std::string());
      }
      item.rec.fields[1].second.assign(text);
      item.image = 0, item.text = 1;
      filled();
    }
  }

  void read_shard(const std::string& path, const std::string& name) {
    RecordReader reader({path}, job_.on_error);
    for (;;) {
      Item& item = slot();
      if (cli::stop_signal() || !reader.next(item.rec)) {
        --used_;
        return;
      }
      // A key is a path under --png DIR: '..' or '/x' would lead out of it.
      if (job_.output == OutputKind::png)
        if (const std::string fault = key_fault(item.rec.key); !fault.empty()) {
          std::string shown = item.rec.key;
          for (auto& c : shown)
            if (static_cast<unsigned char>(c) < 0x20) c = '?';
          bad_.report(fmt::format("{}: {}", name, shown), fmt::format("bad key: {}", fault));
          --used_;
          continue;
        }
      item.text = item.image = -1;
      for (size_t i = 0; i < item.rec.fields.size(); ++i)
        if (item.rec.fields[i].first == "txt") item.text = static_cast<int>(i);
      if (item.text >= 0 && !storable(item.rec.fields[item.text].second)) {
        bad_.report(fmt::format("{}: {}", name, item.rec.key), kNotUtf8);
        --used_;
        continue;
      }
      if (item.text >= 0) {
        item.rec.set("pgm", std::string());
        for (size_t i = 0; i < item.rec.fields.size(); ++i)
          if (item.rec.fields[i].first == "pgm") item.image = static_cast<int>(i);
      } else {
        ++stats_.passed;
      }
      filled();
    }
  }

  Item& slot() {
    if (used_ == chunk_.size()) chunk_.emplace_back();
    return chunk_[used_++];
  }
  void filled() {
    if (used_ >= chunk_size_) flush();
  }

  // Renders the chunk in parallel, then writes it in input order.
  void flush() {
    if (used_ == 0) return;
    const auto& o = job_;
    pool_.run(used_, [&](size_t i) {
      Item& it = chunk_[i];
      if (it.text < 0) return;
      const std::string& text = it.rec.fields[it.text].second;
      std::string& img = it.rec.fields[it.image].second;
      if (o.output == OutputKind::shard) {
        img.resize(pgm_header_.size() + pixels_);
        std::memcpy(img.data(), pgm_header_.data(), pgm_header_.size());
        render(text, *font_, o.render, reinterpret_cast<uint8_t*>(img.data()) + pgm_header_.size());
        return;
      }
      img.resize(pixels_);
      render(text, *font_, o.render, reinterpret_cast<uint8_t*>(img.data()));
      if (o.output == OutputKind::png) {
        Image im;
        im.width = im.height = o.render.size, im.channels = 1;
        im.pixels.assign(img.begin(), img.end());
        img = encode_image(im, "png");
      } else if (o.output == OutputKind::show) {
        it.art = terminal_art(reinterpret_cast<const uint8_t*>(img.data()), o.render.size,
                              o.render.background_brightness);
      }
    });
    if (job_.output == OutputKind::raw) write_raw_chunk();
    uint64_t bytes = 0;
    for (size_t i = 0; i < used_; ++i) {
      Item& it = chunk_[i];
      if (it.text >= 0) ++stats_.rendered;
      bytes += it.rec.bytes();
      write(it);
    }
    progress_->add(used_, bytes);
    used_ = 0;
  }

  void write(Item& it) {
    switch (job_.output) {
      case OutputKind::shard:
        shards_->write(it.rec);
        break;
      case OutputKind::raw:  // flush() writes a chunk's images at once
        break;
      case OutputKind::png:
        if (it.image >= 0) {
          fs::path p = fs::path(job_.output_path) / (it.rec.key + ".png");
          if (it.rec.key.find('/') != std::string::npos) fs::create_directories(p.parent_path());
          write_file(p.string(), it.rec.fields[it.image].second);
        }
        break;
      case OutputKind::show:
        if (it.image >= 0) {
          std::fwrite(it.art.data(), 1, it.art.size(), stdout);
          std::fputc('\n', stdout);
          std::fflush(stdout);
        }
        break;
    }
  }

  // The raw images of the chunk in one system call (they are small and many).
  void write_raw_chunk() {
    iov_.clear();
    for (size_t i = 0; i < used_; ++i)
      if (chunk_[i].image >= 0) {
        auto& img = chunk_[i].rec.fields[chunk_[i].image].second;
        iov_.push_back({img.data(), img.size()});
      }
    size_t first = 0;
    while (first < iov_.size()) {
      int count = static_cast<int>(std::min<size_t>(iov_.size() - first, 512));
      ssize_t w = ::writev(raw_fd_, &iov_[first], count);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0)
        throw Error(fmt::format("{}: cannot write: {}", job_.output_path == "-" ? "<stdout>" : job_.output_path,
                                std::strerror(errno)));
      for (auto n = static_cast<size_t>(w); n > 0 && first < iov_.size();) {  // skip what was written
        size_t take = std::min(n, iov_[first].iov_len);
        iov_[first].iov_base = static_cast<char*>(iov_[first].iov_base) + take;
        iov_[first].iov_len -= take;
        n -= take;
        if (iov_[first].iov_len == 0) ++first;
      }
    }
  }

  static void write_file(const std::string& path, const std::string& data) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) throw Error(fmt::format("{}: cannot create: {}", path, std::strerror(errno)));
    bool ok = std::fwrite(data.data(), 1, data.size(), f) == data.size();
    if (std::fclose(f) != 0 || !ok) throw Error(fmt::format("{}: cannot write", path));
  }

  const RenderJob& job_;
  WorkerPool pool_;
  std::shared_ptr<const Font> font_;
  size_t pixels_ = 0, chunk_size_ = 256;
  std::string pgm_header_;
  std::vector<Item> chunk_;  // slots [0, used_) hold the records to render
  size_t used_ = 0;
  std::vector<iovec> iov_;
  std::unique_ptr<ShardSetWriter> shards_;
  int raw_fd_ = -1;
  uint64_t next_key_ = 0;
  std::optional<bool> shard_inputs_;  // the kind of the inputs so far
  std::unordered_set<std::string> tsv_keys_;
  Progress* progress_ = nullptr;
  RenderStats stats_;
  BadInput bad_{job_.on_error};  // reasons name the fault itself, so only the total is reported
};

}  // namespace

RenderStats run(const RenderJob& job) { return Job(job).run(); }

}  // namespace clippo::text
