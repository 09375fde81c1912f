#include "clippo/model/embed_app.h"

#include <fmt/core.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "clippo/cli/bad_input.h"
#include "clippo/cli/command.h"
#include "clippo/cli/log.h"
#include "clippo/cli/progress.h"
#include "clippo/cli/stop.h"
#include "clippo/io/json.h"
#include "clippo/io/line_reader.h"
#include "clippo/io/npy.h"
#include "clippo/io/paths.h"
#include "clippo/io/record_reader.h"
#include "clippo/io/record_writer.h"
#include "clippo/io/utf8.h"
#include "clippo/model/device.h"
#include "clippo/model/checkpoint_info.h"
#include "clippo/model/embed_io.h"
#include "clippo/model/embedder.h"
#include "clippo/text/render.h"

namespace clippo::model {

namespace {

// One input record on its way through the pipeline.
struct Job {
  uint64_t seq = 0;
  Record rec;
  std::string where;      // file, or input:key, for messages
  std::string file;       // an image file to read (worker reads it)
  std::string text;       // text to render
  bool want_img = false, want_txt = false;
  std::vector<float> img_in, txt_in;  // model inputs
  std::string bad_reason, bad_detail;
  std::vector<std::pair<std::string, std::string>> meta;  // --npy row metadata
};

bool is_shard_path(const std::string& p) {
  for (auto ext : {".shard", ".tar", ".tar.zst", ".tar.gz", ".tgz", ".zst", ".tzst"})
    if (p.size() > std::string(ext).size() && p.compare(p.size() - std::string(ext).size(), std::string::npos, ext) == 0)
      return true;
  return p == "-";
}

// Reads inputs in order and yields jobs: image files (read by the workers),
// shard records, or lines of text.
class Source {
 public:
  Source(std::vector<std::string> inputs, std::string text_file, bool want_img, bool want_txt, OnError on_error)
      : inputs_(std::move(inputs)), text_file_(std::move(text_file)), want_img_(want_img), want_txt_(want_txt),
        on_error_(on_error) {}

  bool next(Job& j) {
    if (!text_file_.empty()) return next_line(j);
    for (;;) {
      if (reader_) {
        Record r;
        if (reader_->next(r)) {
          j.where = reader_->current_input() + ": " + r.key;
          auto* img = find_image(r);
          auto* txt = r.find("txt");
          j.want_img = want_img_ && img;
          j.want_txt = want_txt_ && txt;
          if (j.want_txt) j.text = *txt;
          j.meta = {{"key", r.key}, {"shard", reader_->current_input()}};
          if (txt) j.meta.push_back({"caption", *txt});
          j.rec = std::move(r);
          return true;
        }
        damaged_ += reader_->stats().damaged_inputs;
        reader_.reset();
      }
      if (next_input_ >= inputs_.size()) return false;
      const std::string& in = inputs_[next_input_++];
      if (is_image_path(in) && in != "-") {
        j.file = in;
        j.where = in;
        j.want_img = true;
        j.rec.key = fmt::format("{:09d}", files_++);
        JsonWriter js;
        js.begin_object().key("path").value(in).end_object();
        j.rec.fields.push_back({"json", js.str()});
        j.meta = {{"key", j.rec.key}, {"path", in}};
        return true;
      }
      reader_ = std::make_unique<RecordReader>(std::vector<std::string>{in}, on_error_);
    }
  }

  uint64_t damaged() const { return damaged_; }

 private:
  bool next_line(Job& j) {
    if (!lines_in_) lines_in_ = std::make_unique<LineReader>(text_file_);
    std::string line;
    bool cut;
    if (!lines_in_->next(line, SIZE_MAX, cut)) return false;
    j.rec.key = fmt::format("{:09d}", lines_++);
    // A shard's txt is UTF-8 (clippo-shard(5)): bytes that are not are kept
    // as the renderer read them, U+FFFD, and render again alike.
    j.rec.fields.push_back({"txt", valid_utf8(line) ? line : text::as_valid_utf8(line)});
    j.where = fmt::format("{}:{}", text_file_ == "-" ? "<stdin>" : text_file_, lines_);
    j.text = line;
    j.want_txt = true;
    j.meta = {{"key", j.rec.key}, {"text", line}};
    return true;
  }

  std::vector<std::string> inputs_;
  std::string text_file_;
  bool want_img_, want_txt_;
  OnError on_error_;
  size_t next_input_ = 0;
  uint64_t files_ = 0, lines_ = 0, damaged_ = 0;
  std::unique_ptr<RecordReader> reader_;
  std::unique_ptr<LineReader> lines_in_;
};

// Reads from the source on one thread, prepares model inputs on `workers`
// threads, hands jobs back in input order; at most `capacity` in flight.
class Pipeline {
 public:
  Pipeline(Source& src, const Embedder& emb, int workers, size_t capacity) : src_(src), emb_(emb), capacity_(capacity) {
    reader_ = std::thread([this] { read(); });
    for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { work(); });
  }
  ~Pipeline() {
    bool reading;
    {
      std::lock_guard l(m_);
      stop_ = true;
      reading = !read_done_;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    // Stopped early (an error): the reader may be waiting on a pipe that
    // never ends; that wait gives up once reading is stopped.
    if (reading) cli::stop_reading();
    reader_.join();
  }

  // The next job in input order, or nullptr at the end.
  std::unique_ptr<Job> next() {
    std::unique_lock l(m_);
    cv_.wait(l, [&] { return done_.count(next_out_) || (read_done_ && next_out_ == read_count_) || error_; });
    if (error_) std::rethrow_exception(error_);
    auto it = done_.find(next_out_);
    if (it == done_.end()) return nullptr;
    auto j = std::move(it->second);
    done_.erase(it);
    ++next_out_;
    cv_.notify_all();
    return j;
  }

 private:
  void read() {
    try {
      for (uint64_t seq = 0;; ++seq) {
        auto j = std::make_unique<Job>();
        j->seq = seq;
        if (!src_.next(*j)) break;
        std::unique_lock l(m_);
        cv_.wait(l, [&] { return stop_ || seq - next_out_ < capacity_; });
        if (stop_) return;
        todo_.push_back(std::move(j));
        ++read_count_;
        cv_.notify_all();
      }
    } catch (...) {
      std::lock_guard l(m_);
      error_ = std::current_exception();
    }
    std::lock_guard l(m_);
    read_done_ = true;
    cv_.notify_all();
  }

  void work() {
    for (;;) {
      std::unique_ptr<Job> j;
      {
        std::unique_lock l(m_);
        cv_.wait(l, [&] { return stop_ || !todo_.empty() || read_done_; });
        if (stop_ || (todo_.empty() && read_done_)) return;
        j = std::move(todo_.front());
        todo_.pop_front();
      }
      prepare(*j);
      std::lock_guard l(m_);
      done_[j->seq] = std::move(j);
      cv_.notify_all();
    }
  }

  void prepare(Job& j) {
    const size_t per = 3 * static_cast<size_t>(emb_.resolution()) * emb_.resolution();
    try {
      if (j.want_img) {
        std::string bytes;
        const std::string* b = nullptr;
        if (!j.file.empty()) {
          bytes = read_whole_file(j.file);
          b = &bytes;
        } else {
          b = &find_image(j.rec)->second;
        }
        if (b->empty()) {
          j.bad_reason = "empty file";
          return;
        }
        Image im;
        try {
          im = decode_image(*b);
        } catch (const Error& e) {
          j.bad_reason = "not an image";
          j.bad_detail = e.what();  // what the decoder found wrong, as clippo-pack reports it
          return;
        }
        j.img_in.resize(per);
        emb_.image_input(im, j.img_in.data());
      }
      if (j.want_txt) {
        j.txt_in.resize(per);
        emb_.text_input(j.text, j.txt_in.data());
      }
    } catch (const std::exception& e) {
      j.bad_reason = "unreadable";
      j.bad_detail = without_path(e.what(), j.file);  // (the record is named by its file already)
    }
  }

  Source& src_;
  const Embedder& emb_;
  size_t capacity_;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Job>> todo_;
  std::map<uint64_t, std::unique_ptr<Job>> done_;
  uint64_t next_out_ = 0, read_count_ = 0;
  bool read_done_ = false, stop_ = false;
  std::exception_ptr error_;
  std::thread reader_;
  std::vector<std::thread> workers_;
};

// The model alone on random inputs already in memory: what the pipeline
// would reach if decoding were free.
int run_benchmark(const std::string& ckpt, const EmbedderOptions& eo, uint64_t n) {
  Embedder emb(ckpt, eo);
  const size_t per = 3 * static_cast<size_t>(emb.resolution()) * emb.resolution();
  std::vector<float> in(static_cast<size_t>(n) * per);
  uint32_t x = 12345;
  for (auto& v : in) {
    x = x * 1664525u + 1013904223u;
    v = static_cast<float>(x >> 8) / static_cast<float>(1u << 24) * 2.0f - 1.0f;
  }
  emb.embed_inputs(in.data(), std::min<size_t>(n, static_cast<size_t>(eo.batch)));  // warm-up
  auto cpu = [] {
    rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
  };
  double c0 = cpu();
  auto t0 = std::chrono::steady_clock::now();
  emb.embed_inputs(in.data(), n);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double cpu_secs = cpu() - c0;
  // CPU seconds tell the cost even when other work shares the cores.
  fmt::print("variant\t{}\nresolution\t{}\nprecision\t{}\nbatch\t{}\nimages\t{}\nseconds\t{:.3f}\n"
             "cpu_seconds\t{:.3f}\nimages_per_s\t{:.3f}\n",
             emb.variant(), emb.resolution(), eo.precision, eo.batch, n, secs, cpu_secs, n / secs);
  return 0;
}

}  // namespace

int embed_main(int argc, char** argv) {
  return cli::run("clippo-embed", [&] {
    cli::Command cmd("clippo-embed", "CKPT [INPUT...] [-o OUT | --npy FILE] | CKPT --text FILE|- | --info CKPT",
                     "Embeds images (files, folders, shards, '-' for a shard stream on stdin) and text\n"
                     "(shard captions, or --text lines rendered as images) with a CLIPPO checkpoint.\n"
                     "Writes an embedding shard (img.npy / txt.npy per record, other fields carried,\n"
                     "a __clippo__ header naming the model), or one .npy matrix plus a .jsonl of rows.",
                     cli::kOutput | cli::kThreads | cli::kOnError | cli::kDevice | cli::kJson | cli::kShards,
                     {{"json", "with --info: JSON instead of TSV"}});
    cmd.version_details = torch_build_info;
    std::string ckpt, text_file, npy, info, fields, precision, dtype_name;
    std::vector<std::string> inputs, fonts;
    EmbedderOptions eo;
    int64_t benchmark = 0;  // signed: "-1" would read as 2^64-1
    bool keep_images = false;
    cmd.options().add_options()
      ("text", cli::po::value(&text_file)->value_name("FILE"), "embed each line of FILE ('-' = stdin) as rendered text")
      ("npy", cli::po::value(&npy)->value_name("FILE"), "write one float matrix to FILE (x.npy) and each row's key, path or caption to x.jsonl, instead of a shard")
      ("fields", cli::po::value(&fields)->value_name("LIST")->default_value("image,text"), "what to embed from shards: image, text or image,text")
      ("pre-logits", cli::po::bool_switch(&eo.pre_logits), "the pooled features before the head (what few-shot probes use) instead of the normalised embedding")
      ("precision", cli::po::value(&eo.precision)->value_name("P")->default_value("fp32"), "fp32 or bf16 (matmuls in bfloat16)")
      ("batch-size", cli::po::value(&eo.batch)->value_name("N")->default_value(32), "images per batch")
      ("res", cli::po::value(&eo.res)->value_name("PX")->default_value(0), "input resolution (0 = the checkpoint's; others resample the position embedding)")
      ("dtype", cli::po::value(&dtype_name)->value_name("T")->default_value("float32"), "stored embeddings: float32 or float16")
      ("font", cli::po::value(&fonts)->value_name("FILE"), "Unifont .hex file for text (repeatable; default: Debian's unifont)")
      ("keep-images", cli::po::bool_switch(&keep_images), "carry the image bytes of shard records into the output (default: dropped)")
      ("benchmark", cli::po::value(&benchmark)->value_name("N"), "time the model alone on N random pre-decoded inputs and print images/s (no INPUT)")
      ("info", cli::po::value(&info)->value_name("CKPT"), "describe a checkpoint (variant, resolution, dims, parameters, dtypes, extra arrays) and exit");
    cmd.hidden().add_options()("input", cli::po::value(&inputs));
    cmd.positional("input");
    auto vm = cmd.parse(argc, argv);

    if (!info.empty()) {
      if (!inputs.empty()) throw UsageError("--info takes only the checkpoint");
      std::string problem;
      std::cout << checkpoint_info(info, cmd.json, &problem) << std::flush;
      if (!problem.empty()) throw Error(problem);  // described, but no model loads from it
      return 0;
    }
    if (inputs.empty()) throw UsageError("give a checkpoint and inputs (see --help)");
    ckpt = inputs.front();
    inputs.erase(inputs.begin());
    if (std::error_code ec; std::filesystem::is_directory(ckpt, ec))
      throw UsageError(ckpt + ": a folder, not a checkpoint (the checkpoint comes first: clippo-embed CKPT INPUT...)");
    eo.device = cmd.device;
    eo.threads = cmd.threads;
    // Checked now, not at the first text; stored absolute in the output's
    // header, so clippo-knn finds them from any folder.
    for (auto& f : fonts) {
      if (!std::filesystem::is_regular_file(f)) throw Error(f + ": no such font file (--font)");
      f = std::filesystem::absolute(f).string();
    }
    eo.fonts = fonts;
    if (vm.count("benchmark")) {
      if (benchmark < 1) throw UsageError(fmt::format("--benchmark {}: must be >= 1", benchmark));
      if (!inputs.empty() || !text_file.empty()) throw UsageError("--benchmark takes only the checkpoint");
      return run_benchmark(ckpt, eo, benchmark);
    }
    if (inputs.empty() && text_file.empty()) throw UsageError("nothing to embed: give images, folders, shards, '-' or --text FILE");
    if (!inputs.empty() && !text_file.empty()) throw UsageError("--text FILE goes alone, without other inputs");
    bool want_img = fields.find("image") != std::string::npos, want_txt = fields.find("text") != std::string::npos;
    if (fields != "image" && fields != "text" && fields != "image,text" && fields != "text,image")
      throw UsageError("--fields must be image, text or image,text, not '" + fields + "'");
    DType dtype = dtype_name == "float16" ? DType::f16 : DType::f32;
    if (dtype_name != "float16" && dtype_name != "float32") throw UsageError("--dtype must be float32 or float16");
    if (!npy.empty() && cmd.output != "-") throw UsageError("give -o or --npy, not both");
    if (npy == "-") throw UsageError("--npy writes two files, FILE and its .jsonl: give a name (or -o - for a shard)");
    if (npy.empty()) cli::refuse_binary_to_terminal(cmd.output);
    if (eo.res < 0) throw UsageError("--res must be >= 0");

    std::vector<std::string> expanded;
    if (text_file.empty()) expanded = expand_inputs(inputs, is_image_path);
    // Options that cannot apply are mistakes, not no-ops.
    if (!text_file.empty() && (!vm["fields"].defaulted() || keep_images))
      throw UsageError("--fields and --keep-images are for shards; --text embeds its lines as text");
    const bool image_files_only =
        std::all_of(expanded.begin(), expanded.end(), [](auto& p) { return p != "-" && is_image_path(p); });
    // As clippo-render: numbered image files beside shard records, which keep
    // their keys, could repeat a key (and a reader takes two records of one
    // key in a row as one).
    if (!image_files_only) {
      auto file = std::find_if(expanded.begin(), expanded.end(), [](auto& p) { return p != "-" && is_image_path(p); });
      if (file != expanded.end())
        throw UsageError(fmt::format("{}: image files and shards in one run: the keys of the two could repeat (image "
                                     "files are numbered, a shard's records keep theirs); embed them in two runs",
                                     *file));
    }
    if (!want_img && !expanded.empty() && image_files_only)
      throw UsageError("--fields text: image files have no text (give shards, or --text FILE)");
    if (keep_images && !expanded.empty() && image_files_only)
      throw UsageError("--keep-images carries the images of shard records; image files are not copied into the output");
    // --npy holds one kind of vector: shards with both, as --fields asks by
    // default, would fail at their first record; say so before any work.
    if (!npy.empty() && want_img && want_txt &&
        std::any_of(expanded.begin(), expanded.end(), [](auto& p) { return p == "-" || !is_image_path(p); }))
      throw UsageError("--npy holds one kind of embedding: give --fields image or --fields text for shards");
    // Image files are counted now; shards and text only as they are read.
    if (npy.empty() && image_files_only) check_shard_set_fits(cmd.output, cmd.shard_size, expanded.size(), "images");
    auto t0 = std::chrono::steady_clock::now();
    Embedder emb(ckpt, eo);
    if (!text_file.empty() || (want_txt && !image_files_only)) emb.load_font();
    log::debug("model {} at {} px, dim {}, {} threads", emb.variant(), emb.resolution(), emb.dim(), cmd.threads);
    std::unique_ptr<EmbedOutput> out;
    if (!npy.empty()) {
      out = make_npy_output(npy, emb.dim(), dtype);
    } else {
      // Only shards carry the header, and its checkpoint hash reads the whole file.
      JsonWriter hj;
      hj.begin_object().key("format").value(1).key("tool").value("clippo-embed").key("version").value(CLIPPO_VERSION);
      hj.key("dtype").value(dtype == DType::f16 ? "float16" : "float32").key("model").raw(emb.header_json()).end_object();
      out = make_shard_output(cmd.output, cmd.shard_size, Compression::parse(cmd.compression), hj.str(), emb.dim(), dtype,
                              keep_images);
    }

    BadInput bad(cmd.on_error);
    Source src(expanded, text_file, want_img, want_txt, cmd.on_error);
    const int workers = std::max(1, cmd.threads);
    const size_t batch = static_cast<size_t>(eo.batch);
    Pipeline pipe(src, emb, workers, 3 * batch + 2 * static_cast<size_t>(workers));
    Progress progress("embedding", text_file.empty() && expanded.size() > 0 && !is_shard_path(expanded[0]) ? expanded.size() : 0);
    const size_t per = 3 * static_cast<size_t>(emb.resolution()) * emb.resolution();
    const size_t dim = static_cast<size_t>(emb.dim());
    uint64_t n_img = 0, n_txt = 0, records = 0;
    std::vector<std::unique_ptr<Job>> pending;
    std::vector<float> img_buf, txt_buf;
    auto flush = [&] {
      img_buf.clear(), txt_buf.clear();
      for (auto& j : pending) {
        if (!j->img_in.empty()) img_buf.insert(img_buf.end(), j->img_in.begin(), j->img_in.end());
        if (!j->txt_in.empty()) txt_buf.insert(txt_buf.end(), j->txt_in.begin(), j->txt_in.end());
      }
      auto zi = emb.embed_inputs(img_buf.data(), img_buf.size() / per);
      auto zt = emb.embed_inputs(txt_buf.data(), txt_buf.size() / per);
      size_t ii = 0, it = 0;
      for (auto& j : pending) {
        const float* zimg = j->img_in.empty() ? nullptr : zi.data() + dim * ii++;
        const float* ztxt = j->txt_in.empty() ? nullptr : zt.data() + dim * it++;
        out->write(j->rec, j->meta, zimg, ztxt);
        n_img += zimg != nullptr, n_txt += ztxt != nullptr, ++records;
      }
      progress.add(pending.size());
      pending.clear();
    };
    // A signal stops the run: the output, whole or absent, is then absent
    // (the writers' destructors remove their temporary files).
    cli::catch_stop_signals();
    size_t imgs = 0, txts = 0;
    while (auto j = cli::stop_signal() ? nullptr : pipe.next()) {
      if (!j->bad_reason.empty()) {
        Progress::clear_line();
        bad.report(j->where, j->bad_reason, j->bad_detail);
        continue;
      }
      if (j->img_in.empty() && j->txt_in.empty()) {
        bad.report(j->where, "nothing to embed", "no " + fields + " field");
        continue;
      }
      imgs += !j->img_in.empty(), txts += !j->txt_in.empty();
      j->img_in.shrink_to_fit();
      pending.push_back(std::move(j));
      if (imgs >= batch || txts >= batch) {
        flush();
        imgs = txts = 0;
      }
    }
    if (const int sig = cli::stop_signal()) {
      Progress::clear_line();
      // (Files are renamed into place only when whole; a stream is left cut.)
      log::info("stopped by signal {} after {} records; {}", sig, records,
                npy.empty() && cmd.output == "-" ? "standard output is cut short (readers report it as damaged)"
                                                 : "nothing written");
      return 128 + sig;
    }
    if (!pending.empty()) flush();
    out->close();
    progress.finish();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::string skipped = bad.summary();
    if (src.damaged())  // the reader has finished: its count is final
      skipped += fmt::format("{}{} damaged input(s) cut short", skipped.empty() ? "" : ", ", src.damaged());
    log::info("embedded {} images and {} texts ({} records) in {:.1f} s{}{}", n_img, n_txt, records, secs,
              skipped.empty() ? "" : "; ", skipped);
    return 0;
  });
}

}  // namespace clippo::model
