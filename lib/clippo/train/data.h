// The training input: image/text records (`--data`) and text/text pairs
// (`--text-pairs`) read from shards, shuffled through a buffer, mixed by a
// fixed number of pairs per batch, decoded and rendered on worker threads,
// and prefetched while the model trains. Deterministic for a seed: the
// record order, and so a resumed run, does not depend on thread timing.
#pragma once
#include <torch/torch.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "clippo/cli/bad_input.h"
#include "clippo/cli/error.h"
#include "clippo/cli/worker_pool.h"
#include "clippo/io/record.h"
#include "clippo/text/render.h"

namespace clippo {
class RecordReader;
}

namespace clippo::train {

// Where a stream stands: records drawn in the current epoch.
struct StreamPosition {
  int64_t epoch = 0, drawn = 0;
};

// One shuffled, endlessly repeating record stream over a rank's shards.
class RecordStream {
 public:
  // files: already expanded. They are dealt out whole to the W ranks as far
  // as they go (rank r reads files r, r+W, ...); the F mod W files left over
  // every rank reads, taking every W-th record of each, so that no rank
  // draws from fewer records than another (5 files on 4 ranks would else
  // give rank 0 two). Up to `cycle` files are read at once, one record from
  // each in turn.
  RecordStream(std::vector<std::string> files, int rank, int world, int shuffle_buffer, uint64_t seed,
               OnError on_error, int cycle = 4);
  ~RecordStream();
  // The next record (a new epoch starts when the files are exhausted), and
  // the file it came from.
  std::string next(Record& out);
  // The files this rank reads, for messages ("a.shard ..." when several).
  std::string describe() const;
  // Restores a position by replaying the stream without decoding anything.
  void seek(const StreamPosition& pos);
  const StreamPosition& position() const { return pos_; }
  // Records in the last whole epoch (0 before one has ended).
  int64_t epoch_records() const { return epoch_records_; }
  // Files whose reading damage cut short, in this stream's life.
  uint64_t damaged_inputs() const { return damaged_; }

 private:
  void start_epoch();
  // From the interleaved readers, with the index in order_ of its file;
  // false at epoch end.
  bool next_raw(Record& out, uint32_t& file);

  struct File {
    std::string path;
    int first = -1;  // a file every rank reads: the rank its record 0 goes to (-1: this rank's alone)
  };
  struct Open {
    std::unique_ptr<RecordReader> reader;
    uint32_t file;         // index in order_
    uint64_t records = 0;  // read so far, this rank's or not
  };
  std::vector<File> files_;
  int rank_, world_, buffer_size_, cycle_;
  uint64_t seed_;
  OnError on_error_;
  StreamPosition pos_;
  int64_t epoch_records_ = 0;
  std::mt19937_64 rng_;
  std::vector<File> order_;
  size_t next_file_ = 0, turn_ = 0;
  std::vector<Open> open_;
  std::vector<std::pair<Record, uint32_t>> buffer_;
  uint64_t damaged_ = 0;
};

struct DataConfig {
  std::vector<std::string> data;        // image/text shards (expanded)
  std::vector<std::string> text_pairs;  // text/text shards (expanded)
  double text_pair_fraction = 0;        // share of each batch from text_pairs
  int batch_size = 256;                 // per rank
  int res = 224;
  text::RenderOptions render;           // size is set to res
  std::vector<std::string> fonts;       // empty: Debian's unifont
  int shuffle_buffer = 10000;           // 0 = read in order
  uint64_t seed = 0;
  int threads = 2;                      // decode/render workers
  int prefetch = 2;                     // batches made ahead
  OnError on_error = OnError::skip;
  int rank = 0, world = 1;
};

struct DataPosition {
  StreamPosition data, pairs;
  // As kInts numbers (data epoch and drawn, pairs epoch and drawn), for a
  // tensor that passes between ranks.
  static constexpr int kInts = 4;
  void to_ints(int64_t* out) const { out[0] = data.epoch, out[1] = data.drawn, out[2] = pairs.epoch, out[3] = pairs.drawn; }
  static DataPosition from_ints(const int64_t* in) { return {{in[0], in[1]}, {in[2], in[3]}}; }
};

struct Batch {
  torch::Tensor a, b;    // (B, 3, res, res) in [-1, 1]: image or first sentence; rendered text
  DataPosition after;    // the position once this batch is consumed
  uint64_t skipped = 0;  // records skipped while making it (undecodable, fields missing)
  uint64_t damaged = 0;  // shard reads it ended that damage cut short
};

class Loader {
 public:
  // Starts the prefetching thread at `start`; cfg holds options that
  // TrainConfig::validate accepted.
  Loader(DataConfig cfg, const DataPosition& start);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Blocks until the next batch is ready; rethrows a worker's error.
  // nullopt when `interrupted` (asked every 0.1 s while waiting) says so.
  std::optional<Batch> next(const std::function<bool()>& interrupted = {});
  // Over the batches taken so far.
  uint64_t skipped_total() const { return skipped_total_; }
  uint64_t damaged_total() const { return damaged_total_; }

 private:
  void produce();
  Batch make_batch();
  // Fills rows [row, row+n) of a and b from a stream; returns records skipped.
  uint64_t fill(RecordStream& s, bool pairs, torch::Tensor& a, torch::Tensor& b, int64_t row, int64_t n);

  DataConfig cfg_;
  int64_t n_pairs_ = 0;
  std::shared_ptr<const text::Font> font_;
  std::unique_ptr<RecordStream> data_, pairs_;
  uint64_t skipped_total_ = 0, damaged_total_ = 0;
  static constexpr uint64_t kSkipWarnings = 10;  // skipped records shown as warnings; the rest with -v
  BadInput bad_;
  // Usable records in each whole pass of a stream, for the warning that a
  // batch repeats them.
  struct PassTally {
    bool counting = false, warned = false;  // counting: this pass was seen from its start
    int64_t usable = 0;
  };
  PassTally tally_[2];  // image/text, text pairs

  WorkerPool pool_;  // decodes and renders (the producer is one of its threads)
  std::thread producer_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> ready_;
  std::exception_ptr error_;
  bool stop_ = false;
};

}  // namespace clippo::train
