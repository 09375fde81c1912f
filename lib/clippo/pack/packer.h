// Building training shards: records from image folders and caption tables,
// from existing webdataset tars, or neighbouring-sentence pairs from
// documents; filtered, optionally resized and shuffled, written with stable
// unique keys.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "clippo/cli/bad_input.h"
#include "clippo/cli/worker_pool.h"
#include "clippo/io/record_writer.h"
#include "clippo/pack/tables.h"

namespace clippo::pack {

struct PackOptions {
  std::string output;           // shard pattern (see ShardSetWriter)
  uint64_t shard_size = 0;      // 0: one shard, or round-robin over a brace list
  Compression compression;
  int resize = 0;               // shorter side to this many pixels; 0 keeps original bytes
  int jpeg_quality = 95;
  int min_image_size = 0;       // drop images whose shorter side is smaller
  size_t min_caption_chars = 0, max_caption_chars = 0;  // 0 = no bound (code points)
  bool shuffle = false;
  uint64_t seed = 0;
  size_t shuffle_buffer = 10000;  // for record streams; file lists shuffle exactly
  bool keep_keys = false;         // keep input keys when re-sharding (else renumber)
  int threads = 1;                // decoding and encoding workers
  std::string text_field = "text";  // JSONL field of documents for sentence pairs
};

struct PackSummary {
  uint64_t records = 0, shards = 0, bytes = 0;
  std::string skipped;  // BadInput::summary()
};

class Packer {
 public:
  Packer(PackOptions options, BadInput& bad);

  // Image files with captions (from a table, or sidecar .txt files).
  void add_items(std::vector<Item> items);
  // Records of webdataset tars or shards: re-shard, filter, recompress.
  void add_records(const std::vector<std::string>& inputs);
  // Documents -> consecutive sentence pairs (txt, next.txt). Inputs are
  // JSONL files (a text field per line) or text files (blank-line blocks).
  void add_documents(const std::vector<std::string>& inputs);

  // Finishes the shards and sizes.json. Also after an error or interruption,
  // so that everything written so far stays complete and valid.
  PackSummary finish();
  // Records written so far. (A cli::stop_signal() stops the adding.)
  uint64_t records() const { return writer_.records(); }

 private:
  struct Work;
  // Items processed: all, or (unless `whole`) fewer when asked to stop.
  size_t run_chunk(std::vector<Work>& chunk, bool whole);
  void process(Work& w) const;
  void emit(Work& w);
  // Writes what was processed; then, unless `whole`, throws when asked to stop.
  void flush(std::vector<Work>& chunk, bool whole = false);
  void stop_if_asked();

  PackOptions opt_;
  BadInput& bad_;
  WorkerPool pool_;
  ShardSetWriter writer_;
  uint64_t next_key_ = 0;
};


}  // namespace clippo::pack
