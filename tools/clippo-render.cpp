// clippo-render: text -> images, bit-exact with big_vision's render_unifont.
#include "clippo/cli/command.h"
#include "clippo/cli/log.h"
#include "clippo/cli/stop.h"
#include "clippo/io/paths.h"
#include "clippo/text/render_job.h"

using namespace clippo;

int main(int argc, char** argv) {
  return cli::run("clippo-render", [&] {
    cli::Command cmd("clippo-render", "[OPTIONS] [INPUT...]",
                     "Renders text as images, pixel for pixel as big_vision's render_unifont (CLIPPO).\n"
                     "INPUT: text files (one caption per line; '-' or none: stdin) or shards, whose\n"
                     "records get KEY.pgm rendered from KEY.txt. Writes a zstd shard of KEY.pgm + KEY.txt\n"
                     "with a __clippo__ header naming the renderer settings.",
                     cli::kOutput | cli::kThreads | cli::kOnError | cli::kShards);
    text::RenderJob job;
    text::RenderOptions& r = job.render;
    bool tsv = false, jsonl = false, no_lower = false, raw = false, show = false;
    std::string png;
    cmd.options().add_options()
      ("tsv", cli::po::bool_switch(&tsv), "text input is KEY<TAB>TEXT lines")
      ("jsonl", cli::po::bool_switch(&jsonl), "text input is JSON lines (see --text-field)")
      ("text-field", cli::po::value(&job.text_field)->default_value("caption")->value_name("NAME"), "JSONL field holding the text")
      ("png", cli::po::value(&png)->value_name("DIR"), "write DIR/KEY.png files instead of a shard")
      ("show", cli::po::bool_switch(&show), "draw the images on the terminal (block characters)")
      ("raw", cli::po::bool_switch(&raw), "write the raw SIZE x SIZE gray bytes of each image, nothing else")
      ("size", cli::po::value(&r.size)->default_value(224)->value_name("N"), "image width and height")
      ("font-size", cli::po::value(&r.font_size)->default_value(16)->value_name("N"), "glyph cell size (16 is exact; others area-resize)")
      ("max-chars", cli::po::value(&r.max_chars)->default_value(768)->value_name("N"), "code points rendered per text (0 = all)")
      ("no-lower", cli::po::bool_switch(&no_lower), "keep ASCII upper case (default: lowercase A-Z)")
      ("text-brightness", cli::po::value(&r.text_brightness)->default_value(0)->value_name("V"), "gray value of the text")
      ("background-brightness", cli::po::value(&r.background_brightness)->default_value(127)->value_name("V"), "gray value of the background")
      ("monospace", cli::po::bool_switch(&r.monospace), "full glyph cells, no trimming")
      ("spacing", cli::po::value(&r.spacing)->default_value(1)->value_name("N"), "blank columns kept left of each glyph")
      ("min-width", cli::po::value(&r.min_width)->default_value(4)->value_name("N"), "minimum glyph width after trimming")
      ("font", cli::po::value(&job.fonts)->value_name("FILE"), "Unifont .hex file (repeatable; default /usr/share/unifont/unifont.hex)");
    cmd.hidden().add_options()("input", cli::po::value(&job.inputs), "input files");
    cmd.positional("input");
    auto vm = cmd.parse(argc, argv);

    if (tsv && jsonl) throw UsageError("--tsv and --jsonl exclude each other");
    if (!jsonl && !vm["text-field"].defaulted())
      throw UsageError("--text-field names the field of --jsonl input; other input has none");
    if (int(raw) + int(show) + int(!png.empty()) > 1) throw UsageError("give at most one of --png, --show, --raw");
    job.format = tsv ? text::TextFormat::tsv : jsonl ? text::TextFormat::jsonl : text::TextFormat::lines;
    r.lower = !no_lower;
    text::validate(r);
    job.shard_size = cmd.shard_size;
    job.compression = Compression::parse(cmd.compression);
    job.threads = cmd.threads;
    job.on_error = cmd.on_error;
    job.inputs = job.inputs.empty() ? std::vector<std::string>{"-"} : expand_inputs(job.inputs);
    if (show) {
      job.output = text::OutputKind::show;
    } else if (!png.empty()) {
      job.output = text::OutputKind::png;
      job.output_path = png;
    } else {
      job.output = raw ? text::OutputKind::raw : text::OutputKind::shard;
      job.output_path = cmd.output;
      cli::refuse_binary_to_terminal(cmd.output);
    }
    cli::catch_stop_signals();
    auto s = text::run(job);
    log::debug("rendered {} image(s)", s.rendered);
    if (s.passed) log::info("{} record(s) without txt copied unchanged", s.passed);
    if (s.cut) log::info("{} line(s) longer than --max-chars needs: KEY.txt holds the rendered start", s.cut);
    if (s.bad) log::warn("{} input text(s) skipped", s.bad);
    if (s.stopped_by) {
      log::info("stopped by signal {} after {} image(s); the output written is complete", s.stopped_by, s.rendered);
      return 128 + s.stopped_by;
    }
    return 0;
  });
}
