// clippo-embed's command line and pipeline: inputs (image files, folders,
// shards, stdin, lines of text) are decoded or rendered on worker threads
// while the model embeds the previous batch; results keep input order.
#pragma once

namespace clippo::model {

int embed_main(int argc, char** argv);

}  // namespace clippo::model
