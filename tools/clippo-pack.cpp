// clippo-pack: build training shards from image folders, caption tables,
// webdataset tars, or documents (neighbouring-sentence pairs).
#include <filesystem>

#include "clippo/cli/command.h"
#include "clippo/cli/log.h"
#include "clippo/cli/progress.h"
#include "clippo/cli/stop.h"
#include "clippo/io/paths.h"
#include "clippo/pack/packer.h"

using namespace clippo;

int main(int argc, char** argv) {
  return cli::run("clippo-pack", [&] {
    cli::Command cmd("clippo-pack",
                     "[TAR...] -o PATTERN | --images DIR [--captions FILE] -o PATTERN | --jsonl FILE -o PATTERN | "
                     "--csv FILE -o PATTERN | --sentences FILE... -o PATTERN",
                     "Packs images with captions, webdataset/img2dataset tars, or documents split into\n"
                     "neighbouring-sentence pairs into zstd-compressed webdataset shards, with sizes.json.",
                     cli::kOutput | cli::kThreads | cli::kOnError | cli::kShards);
    std::string images, captions, jsonl, csv, image_field, text_field, label_field;
    std::vector<std::string> inputs, sentences;
    int64_t shuffle_buffer = 0, min_chars = 0, max_chars = 0, seed = 0;  // signed: "-1" would read as 2^64-1
    pack::PackOptions o;
    cmd.options().add_options()
      ("images", cli::po::value(&images)->value_name("DIR"), "folder of images (recursive); captions from --captions or sidecar .txt files")
      ("captions", cli::po::value(&captions)->value_name("FILE"), "caption table for --images: .tsv (path<TAB>caption[<TAB>label]), .csv or .jsonl")
      ("jsonl", cli::po::value(&jsonl)->value_name("FILE"), "JSONL with an image path and a caption per line (paths relative to the file)")
      ("csv", cli::po::value(&csv)->value_name("FILE"), "CSV with a header row, an image path and a caption per row")
      ("sentences", cli::po::value(&sentences)->value_name("FILE...")->multitoken(), "documents (JSONL with a text field, or text files of blank-line-separated blocks) to sentence pairs")
      ("image-field", cli::po::value(&image_field)->value_name("NAME")->default_value("path"), "CSV/JSONL field with the image path")
      ("text-field", cli::po::value(&text_field)->value_name("NAME"), "CSV/JSONL field with the caption (default caption; text for --sentences)")
      ("label-field", cli::po::value(&label_field)->value_name("NAME"), "CSV/JSONL field with an integer class label (written as cls)")
      ("resize", cli::po::value(&o.resize)->value_name("S")->default_value(0), "shrink images so the shorter side is S pixels, re-encoded as JPEG (0 keeps the original bytes)")
      ("jpeg-quality", cli::po::value(&o.jpeg_quality)->value_name("Q")->default_value(95), "JPEG quality for --resize (1-100)")
      ("min-image-size", cli::po::value(&o.min_image_size)->value_name("S")->default_value(0), "skip images whose shorter side is smaller")
      ("min-caption-chars", cli::po::value(&min_chars)->value_name("N")->default_value(0), "skip captions with fewer characters (and records without one)")
      ("max-caption-chars", cli::po::value(&max_chars)->value_name("N")->default_value(0), "skip captions with more characters (0: no limit)")
      ("shuffle", cli::po::bool_switch(&o.shuffle), "shuffle the records (exactly for files, with a buffer for tars and sentence pairs)")
      ("seed", cli::po::value(&seed)->value_name("N")->default_value(0), "random seed for --shuffle")
      ("shuffle-buffer", cli::po::value(&shuffle_buffer)->value_name("N")->default_value(10000), "records held for shuffling tar input and sentence pairs")
      ("keep-keys", cli::po::bool_switch(&o.keep_keys), "keep the input keys of re-sharded tars (default: renumber 000000000...)");
    cmd.hidden().add_options()("input", cli::po::value(&inputs));
    cmd.positional("input");
    auto vm = cmd.parse(argc, argv);

    int modes = !images.empty() + !jsonl.empty() + !csv.empty() + !sentences.empty() + !inputs.empty();
    if (modes != 1) throw UsageError("give exactly one input: TAR..., --images, --jsonl, --csv or --sentences");
    if (!captions.empty() && images.empty()) throw UsageError("--captions goes with --images");
    // Field names pick columns of a CSV/JSONL table (and --text-field the
    // documents' text); anywhere else they would be silently ignored.
    const bool fielded_table = !jsonl.empty() || !csv.empty() ||
                               (!captions.empty() && pack::table_format(captions) != pack::TableFormat::tsv);
    for (const char* name : {"image-field", "text-field", "label-field"}) {
      if (fielded_table || !vm.count(name) || vm[name].defaulted()) continue;
      if (!sentences.empty() && std::string_view(name) == "text-field") continue;
      throw UsageError(fmt::format(
          "--{} names a field of a CSV/JSONL table (--csv, --jsonl, or --captions FILE.csv/.jsonl){}", name,
          !captions.empty() ? "; a TSV caption table has the columns path, caption and label"
          : !images.empty() ? "; sidecar captions have no fields"
                            : ""));
    }
    if (cmd.output == "-") cli::refuse_binary_to_terminal(cmd.output);
    if (o.jpeg_quality < 1 || o.jpeg_quality > 100) throw UsageError("--jpeg-quality must be 1..100");
    if (o.resize < 0 || o.min_image_size < 0) throw UsageError("sizes must be >= 0");
    if (shuffle_buffer < 1) throw UsageError(fmt::format("--shuffle-buffer {}: must be at least 1", shuffle_buffer));
    o.shuffle_buffer = static_cast<size_t>(shuffle_buffer);
    if (seed < 0) throw UsageError(fmt::format("--seed {}: must be >= 0", seed));
    o.seed = static_cast<uint64_t>(seed);
    if (min_chars < 0 || max_chars < 0) throw UsageError("--min-caption-chars and --max-caption-chars must be >= 0");
    o.min_caption_chars = static_cast<size_t>(min_chars), o.max_caption_chars = static_cast<size_t>(max_chars);
    o.output = cmd.output;
    o.shard_size = cmd.shard_size;
    o.compression = Compression::parse(cmd.compression);
    o.threads = cmd.threads;
    o.compression.threads = std::max(1, o.threads);  // zstd's threaded format: the same bytes for any count
    if (!sentences.empty()) o.text_field = text_field.empty() ? "text" : text_field;

    BadInput bad(cmd.on_error);
    pack::Packer packer(o, bad);
    cli::catch_stop_signals();
    auto finish = [&] {
      auto s = packer.finish();
      log::info("wrote {} records {}{}{}", s.records,
                o.output == "-" ? "to standard output"
                                : fmt::format("in {} shard(s), {}", s.shards, human_bytes(static_cast<double>(s.bytes))),
                s.skipped.empty() ? "" : "; ", s.skipped);
    };
    try {
      pack::TableFields fields{image_field, text_field.empty() ? "caption" : text_field, label_field};
      if (!images.empty()) {
        packer.add_items(captions.empty() ? pack::read_sidecar_captions(images, bad)
                                          : pack::read_table(captions, pack::table_format(captions), fields, images, bad));
      } else if (!jsonl.empty() || !csv.empty()) {
        auto& table = jsonl.empty() ? csv : jsonl;
        auto base = std::filesystem::path(table).parent_path().string();
        packer.add_items(pack::read_table(table, jsonl.empty() ? pack::TableFormat::csv : pack::TableFormat::jsonl,
                                          fields, base, bad));
      } else if (!sentences.empty()) {
        packer.add_documents(expand_inputs(sentences));
      } else {
        packer.add_records(expand_inputs(inputs, is_shard_path));
      }
    } catch (...) {
      // What was written stays complete and valid; a run that wrote nothing
      // leaves nothing (and any earlier shard of that name untouched).
      if (packer.records() > 0) finish();
      if (const int sig = cli::stop_signal()) {
        log::info("stopped by signal {}; the shards written are complete", sig);
        return 128 + sig;
      }
      throw;
    }
    // Nothing usable: no empty shard is left, and the exit status says so.
    if (packer.records() == 0)
      throw Error(bad.summary().empty() ? "no records packed" : "no records packed (see the messages above)");
    finish();
    return 0;
  });
}
