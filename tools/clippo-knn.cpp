// clippo-knn: search, zero-shot classification and retrieval metrics over
// embeddings. The command line lives in lib/clippo/search/knn_app; this file
// only supplies the model that embeds text and image queries.
#include "clippo/search/knn_app.h"

int main(int argc, char** argv) { return clippo::search::knn_main(argc, argv, nullptr); }
