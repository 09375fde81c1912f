// What clippo-render does between its options and its output: read text
// (lines, TSV, JSONL or shards), render each item, write a shard, raw pixels,
// PNG files or terminal art.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "clippo/cli/error.h"
#include "clippo/io/record_writer.h"
#include "clippo/text/render.h"

namespace clippo::text {

enum class TextFormat { lines, tsv, jsonl };
enum class OutputKind { shard, raw, png, show };

struct RenderJob {
  RenderOptions render;
  std::vector<std::string> fonts;   // empty: Debian's unifont
  std::vector<std::string> inputs;  // files or "-"; shards are recognised by their magic
  TextFormat format = TextFormat::lines;
  std::string text_field = "caption";  // JSONL
  OutputKind output = OutputKind::shard;
  std::string output_path = "-";  // shard pattern, raw file, or PNG folder
  uint64_t shard_size = 0;
  Compression compression;
  int threads = 1;
  OnError on_error = OnError::skip;
};

struct RenderStats {
  uint64_t rendered = 0;     // images made
  uint64_t passed = 0;       // shard records without txt, copied unchanged
  uint64_t bad = 0;          // input items skipped (bad TSV/JSONL lines, bad keys)
  uint64_t cut = 0;          // lines longer than needed, cut after max_chars code points
  int stopped_by = 0;        // cli::stop_signal() ended the input early: rendered and written is what was read
};

RenderStats run(const RenderJob& job);

// The image as terminal art: half-block characters, two pixel rows per text
// row, cropped to the ink (rows above and below it, columns right of it).
std::string terminal_art(const uint8_t* pixels, int size, int background);

}  // namespace clippo::text
