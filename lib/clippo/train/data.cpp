#include "clippo/train/data.h"

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "clippo/cli/log.h"
#include "clippo/cli/progress.h"
#include "clippo/cli/stop.h"
#include "clippo/io/image.h"
#include "clippo/io/record_reader.h"

namespace clippo::train {

// ---- RecordStream ----------------------------------------------------------

RecordStream::RecordStream(std::vector<std::string> files, int rank, int world, int shuffle_buffer, uint64_t seed,
                           OnError on_error, int cycle)
    : rank_(rank), world_(world), buffer_size_(std::max(0, shuffle_buffer)), cycle_(std::max(1, cycle)),
      seed_(seed), on_error_(on_error) {
  if (files.empty()) throw UsageError("no input shards");
  const size_t whole = files.size() / world * world;
  for (size_t i = rank; i < whole; i += world) files_.push_back({files[i], -1});
  // Their first records go to different ranks: a short file's few records too.
  for (size_t i = whole; i < files.size(); ++i) files_.push_back({files[i], static_cast<int>(i % world)});
  start_epoch();
}

RecordStream::~RecordStream() = default;

void RecordStream::start_epoch() {
  // One generator per (seed, rank, epoch), so any epoch can be replayed alone.
  std::seed_seq seq{static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32), static_cast<uint32_t>(rank_),
                    static_cast<uint32_t>(pos_.epoch)};
  rng_ = std::mt19937_64(seq);
  order_ = files_;
  // (A file that every rank reads gives each the same records in any order.)
  if (buffer_size_ > 0) std::shuffle(order_.begin(), order_.end(), rng_);
  open_.clear();
  buffer_.clear();
  next_file_ = 0;
  turn_ = 0;
  pos_.drawn = 0;
}

bool RecordStream::next_raw(Record& out, uint32_t& file) {
  for (;;) {
    while (static_cast<int>(open_.size()) < cycle_ && next_file_ < order_.size()) {
      const auto i = static_cast<uint32_t>(next_file_++);
      open_.push_back({std::make_unique<RecordReader>(std::vector<std::string>{order_[i].path}, on_error_), i});
    }
    if (open_.empty()) return false;
    turn_ %= open_.size();
    Open& o = open_[turn_];
    const int first = order_[o.file].first;
    if (!o.reader->next(out)) {
      // A file every rank reads: rank 0 counts its damage.
      if (first < 0 || rank_ == 0) damaged_ += o.reader->stats().damaged_inputs;
      open_.erase(open_.begin() + static_cast<long>(turn_));
      continue;  // the next reader takes this turn
    }
    file = o.file;
    ++turn_;
    if (first >= 0 && (o.records++ + static_cast<uint64_t>(first)) % world_ != static_cast<uint64_t>(rank_)) continue;
    return true;
  }
}

std::string RecordStream::next(Record& out) {
  for (;;) {
    uint32_t file = 0;
    if (buffer_size_ == 0) {
      if (next_raw(out, file)) {
        ++pos_.drawn;
        return order_[file].path;
      }
    } else {
      Record r;
      while (static_cast<int>(buffer_.size()) < buffer_size_ && next_raw(r, file))
        buffer_.emplace_back(std::move(r), file);
      if (!buffer_.empty()) {
        size_t j = std::uniform_int_distribution<size_t>(0, buffer_.size() - 1)(rng_);
        out = std::move(buffer_[j].first);
        file = buffer_[j].second;
        buffer_[j] = std::move(buffer_.back());
        buffer_.pop_back();
        ++pos_.drawn;
        return order_[file].path;
      }
    }
    // End of the epoch.
    // A whole pass with none: the next would have none either (and warn again).
    if (pos_.drawn == 0) throw Error(fmt::format("{}: no records to train on", describe()));
    epoch_records_ = pos_.drawn;
    ++pos_.epoch;
    start_epoch();
  }
}

std::string RecordStream::describe() const {
  return files_.size() == 1 ? files_.front().path
                            : fmt::format("{} (and {} more)", files_.front().path, files_.size() - 1);
}

void RecordStream::seek(const StreamPosition& target) {
  pos_.epoch = target.epoch;
  start_epoch();
  // Read again, not decoded: at scale that takes a while, so it is said.
  std::optional<Progress> progress;
  if (target.drawn > 0 && rank_ == 0) {
    log::info("{}: reading epoch {} again up to its record {}, where the checkpoint left it", describe(),
              target.epoch, target.drawn);
    progress.emplace("data position", static_cast<uint64_t>(target.drawn));
  }
  Record r;
  while (pos_.drawn < target.drawn) {
    if (progress) progress->add(1);
    next(r);
    if (pos_.epoch != target.epoch) {
      // The data holds fewer records than it did: the saved epoch is over.
      log::warn("{}: the saved data position (record {} of epoch {}) lies past the {} record(s) the data holds now; "
                "going on at the start of epoch {}",
                describe(), target.drawn, target.epoch, epoch_records_, pos_.epoch);
      start_epoch();
      return;
    }
  }
}

// ---- Loader ----------------------------------------------------------------

Loader::Loader(DataConfig cfg, const DataPosition& start)
    : cfg_(std::move(cfg)), bad_(cfg_.on_error, kSkipWarnings), pool_(std::max(1, cfg_.threads)) {
  // The options were checked by TrainConfig::validate, before the workdir.
  // The share is of the global batch, rounded once and spread over the
  // ranks, so it does not change with their number.
  const int64_t global_batch = static_cast<int64_t>(cfg_.batch_size) * cfg_.world;
  const auto global_pairs = static_cast<int64_t>(std::llround(cfg_.text_pair_fraction * global_batch));
  n_pairs_ = global_pairs / cfg_.world + (cfg_.rank < global_pairs % cfg_.world);
  // Warnings about the options: once, from rank 0.
  if (global_pairs == 0 && !cfg_.text_pairs.empty() && cfg_.rank == 0) {
    if (cfg_.text_pair_fraction == 0)
      log::warn("--text-pairs is unused: give --text-pair-fraction, the share of each batch (CLIPPO's: 0.25)");
    else
      log::warn("--text-pairs is unused: --text-pair-fraction {} of a batch of {} is 0 pairs",
                cfg_.text_pair_fraction, global_batch);
  }
  if (global_pairs == global_batch && !cfg_.data.empty() && cfg_.rank == 0)
    log::warn("--data is unused: --text-pair-fraction {} fills the whole batch with text pairs",
              cfg_.text_pair_fraction);
  cfg_.render.size = cfg_.res;
  text::validate(cfg_.render);
  font_ = text::Font::load(cfg_.fonts);
  // Different seeds per stream, so pairs do not shuffle in step with images.
  if (n_pairs_ < cfg_.batch_size) {
    data_ = std::make_unique<RecordStream>(cfg_.data, cfg_.rank, cfg_.world, cfg_.shuffle_buffer, cfg_.seed,
                                           cfg_.on_error);
    data_->seek(start.data);
  }
  if (n_pairs_ > 0) {
    pairs_ = std::make_unique<RecordStream>(cfg_.text_pairs, cfg_.rank, cfg_.world, cfg_.shuffle_buffer,
                                            cfg_.seed ^ 0x9e3779b97f4a7c15ull, cfg_.on_error);
    pairs_->seek(start.pairs);
  }
  producer_ = std::thread([this] { produce(); });
}

Loader::~Loader() {
  {
    std::scoped_lock lk(mu_);
    stop_ = true;
  }
  pool_.cancel();  // a batch being decoded is left unfinished
  cli::stop_reading();  // and a read waiting on a pipe gives up
  cv_.notify_all();
  if (producer_.joinable()) producer_.join();
  cli::stop_reading(false);
}

uint64_t Loader::fill(RecordStream& s, bool pairs, torch::Tensor& a, torch::Tensor& b, int64_t row, int64_t n) {
  const int res = cfg_.res;
  const int64_t plane = static_cast<int64_t>(res) * res;
  float* pa = a.data_ptr<float>();
  float* pb = b.data_ptr<float>();
  uint64_t skipped = 0;
  const int64_t asked = n;
  // A whole epoch without one usable record would loop for ever.
  int64_t nothing_since = s.position().epoch;
  std::string last_error;
  uint64_t in_a_row = 0;  // records skipped since the last usable one
  // Draw records in order; decode them in parallel; replace failures by
  // drawing more, so the result depends on the stream alone.
  while (n > 0) {
    std::vector<Record> recs(n);
    std::vector<std::string> from(n);
    std::vector<bool> starts_pass(n);
    for (int64_t i = 0; i < n; ++i) {
      from[i] = s.next(recs[i]);
      starts_pass[i] = s.position().drawn == 1;
    }
    std::vector<std::string> errors(n);
    std::vector<float> img(static_cast<size_t>(n) * 3 * plane), txt(static_cast<size_t>(n) * 3 * plane);
    pool_.run(n, [&](size_t i) {
      const Record& r = recs[i];
      float* ia = img.data() + i * 3 * plane;
      float* ib = txt.data() + i * 3 * plane;
      // Blank texts all render alike: in a batch, pairs the loss cannot tell
      // apart, so they are skipped (and counted) as missing ones are; so are
      // texts that render blank, as none of their characters is in the fonts.
      auto text_of = [&](const char* field) -> const std::string& {
        const std::string* t = r.find(field);
        if (!t) throw Error(fmt::format("no {} field", field));
        if (t->find_first_not_of(" \t\r\n\v\f") == std::string::npos) throw Error(fmt::format("empty {}", field));
        return *t;
      };
      auto put_text = [&](const char* field, const std::string& t, float* dst) {
        text::render_model_input(t, *font_, cfg_.render, dst);
        if (std::all_of(dst, dst + plane, [&](float v) { return v == dst[0]; }))
          throw Error(fmt::format("{} renders blank: the font has none of its characters", field));
      };
      try {
        const std::string& caption = text_of("txt");
        if (pairs) {
          put_text("txt", caption, ia);
          put_text("next.txt", text_of("next.txt"), ib);
        } else {
          auto* im = find_image(r);
          if (!im) throw Error("no image field");
          to_model_input(decode_image(im->second), res, ia);
          put_text("txt", caption, ib);
        }
      } catch (const std::exception& e) {
        errors[i] = e.what();
        if (errors[i].empty()) errors[i] = "failed";
      }
    });
    int64_t ok = 0;
    PassTally& tally = tally_[pairs];
    for (int64_t i = 0; i < n; ++i) {
      if (starts_pass[i]) {
        // (A pass with none is the error below.)
        if (tally.counting && !tally.warned && tally.usable > 0 && tally.usable < asked) {
          tally.warned = true;
          log::warn("{}: {} usable records a pass{}, fewer than the {} {} of a batch: records repeat within a batch{}",
                    s.describe(), tally.usable,
                    tally.usable < s.epoch_records() ? fmt::format(" ({} in all)", s.epoch_records()) : "", asked,
                    pairs ? "text pairs" : "image/text rows", cfg_.world > 1 ? " on this rank" : "");
        }
        tally.counting = true;
        tally.usable = 0;
      }
      tally.usable += errors[i].empty();
      in_a_row = errors[i].empty() ? 0 : in_a_row + 1;
      if (!errors[i].empty()) {
        ++skipped;
        const std::string where = fmt::format("{}: {}", from[i], recs[i].key);
        last_error = where + ": " + errors[i];
        bad_.report(where, errors[i]);
        continue;
      }
      std::copy_n(img.data() + i * 3 * plane, 3 * plane, pa + (row + ok) * 3 * plane);
      std::copy_n(txt.data() + i * 3 * plane, 3 * plane, pb + (row + ok) * 3 * plane);
      ++ok;
    }
    row += ok;
    n -= ok;
    if (ok > 0) nothing_since = s.position().epoch;
    else if (s.position().epoch >= nothing_since + 2)
      throw Error(fmt::format("{}: no usable {} in a whole pass ({} skipped in a row; the last: {})", s.describe(),
                              pairs ? "text pair (txt + next.txt)" : "image/caption record", in_a_row, last_error));
  }
  return skipped;
}

Batch Loader::make_batch() {
  const int64_t B = cfg_.batch_size;
  Batch batch;
  batch.a = torch::empty({B, 3, cfg_.res, cfg_.res});
  batch.b = torch::empty({B, 3, cfg_.res, cfg_.res});
  // Counted for the batch whose reading found it, so a resume counts alike.
  auto damaged = [&] { return (data_ ? data_->damaged_inputs() : 0) + (pairs_ ? pairs_->damaged_inputs() : 0); };
  const uint64_t damaged_before = damaged();
  if (data_) batch.skipped += fill(*data_, false, batch.a, batch.b, 0, B - n_pairs_);
  if (pairs_) batch.skipped += fill(*pairs_, true, batch.a, batch.b, B - n_pairs_, n_pairs_);
  if (data_) batch.after.data = data_->position();
  if (pairs_) batch.after.pairs = pairs_->position();
  batch.damaged = damaged() - damaged_before;
  return batch;
}

void Loader::produce() {
  try {
    for (;;) {
      {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return stop_ || static_cast<int>(ready_.size()) < std::max(1, cfg_.prefetch); });
        if (stop_) return;
      }
      Batch b = make_batch();
      std::scoped_lock lk(mu_);
      ready_.push_back(std::move(b));
      cv_.notify_all();
    }
  } catch (...) {
    std::scoped_lock lk(mu_);
    if (!stop_) error_ = std::current_exception();
    cv_.notify_all();
  }
}

std::optional<Batch> Loader::next(const std::function<bool()>& interrupted) {
  std::unique_lock lk(mu_);
  while (!cv_.wait_for(lk, std::chrono::milliseconds(100), [&] { return !ready_.empty() || error_; }))
    if (interrupted && interrupted()) return std::nullopt;
  if (ready_.empty()) std::rethrow_exception(error_);
  Batch b = std::move(ready_.front());
  ready_.pop_front();
  skipped_total_ += b.skipped;
  damaged_total_ += b.damaged;
  cv_.notify_all();
  return b;
}

}  // namespace clippo::train
