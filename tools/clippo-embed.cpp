// clippo-embed: images, shards and lines of text -> CLIPPO embeddings.
// The command line and pipeline live in lib/clippo/model/embed_app.
#include "clippo/model/embed_app.h"

int main(int argc, char** argv) { return clippo::model::embed_main(argc, argv); }
