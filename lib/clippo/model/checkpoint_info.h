// clippo-embed --info: what a checkpoint holds and whether a model loads from it.
#pragma once
#include <string>

namespace clippo::model {

// TSV lines "key<TAB>value", or one JSON object. `problem`: why the model
// does not load from it (empty when it does).
std::string checkpoint_info(const std::string& path, bool json, std::string* problem = nullptr);

}  // namespace clippo::model
