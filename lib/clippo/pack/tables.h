// Caption tables: which image goes with which caption (and label, metadata).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "clippo/cli/bad_input.h"

namespace clippo::pack {

struct TableFields {
  std::string image = "path";    // CSV/JSONL field with the image path
  std::string text = "caption";  // CSV/JSONL field with the caption
  std::string label;             // CSV/JSONL field with an integer class (optional)
};

// One row: an image file and what goes with it.
struct Item {
  std::string image_path;          // resolved against the base directory
  std::string caption;
  std::optional<std::string> label;  // decimal integer text
  std::string json;                  // the JSONL object as given, or "" for TSV/CSV
  std::string origin;                // "captions.tsv:12", for messages
};

enum class TableFormat { tsv, csv, jsonl };

// Format from the extension: .tsv/.txt -> tsv, .csv -> csv, .jsonl/.json -> jsonl.
TableFormat table_format(const std::string& path);

// Reads a table. TSV rows are `path<TAB>caption[<TAB>label]` without a
// header; CSV has a header row naming the fields (RFC 4180 quoting); JSONL
// has one object per line. Relative image paths resolve against base_dir.
// Malformed rows are reported to `bad` and left out.
std::vector<Item> read_table(const std::string& path, TableFormat format, const TableFields& fields,
                             const std::string& base_dir, BadInput& bad);

// Images under `dir` (recursive, sorted) whose caption is the text of a
// sidecar file with the same name and extension .txt; images without one are
// reported as "missing caption".
std::vector<Item> read_sidecar_captions(const std::string& dir, BadInput& bad);

// Splits one CSV record starting at `pos` (quoted fields may span lines);
// advances pos past the record's line end. False at the end of text; throws
// Error for a quoted field that does not close.
bool next_csv_record(const std::string& text, size_t& pos, std::vector<std::string>& out);

}  // namespace clippo::pack
