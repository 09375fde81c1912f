// The big_vision one-tower CLIPPO model in libtorch: a ViT (no class token
// unless pool "tok"), pre-LayerNorm blocks, MAP/GAP/token pooling, a `head`
// Dense to out_dim, L2-normalised output, and the learned log temperature t.
//
// Parameters are held in big_vision's own layout and names (relative to
// "params/": "img/Transformer/encoderblock_0/MlpBlock_0/Dense_0/kernel" is a
// (in, out) tensor, "img/embedding/kernel" is HWIO, attention kernels are
// (D, H, hd)), so a checkpoint maps one to one onto named_parameters(), an
// optimizer sees the shapes big_vision's does, and the forward pass does the
// reshapes. Stacked checkpoints (Transformer/encoderblock with a depth axis)
// are split on load.
#pragma once
#include <torch/torch.h>

#include <optional>
#include <string>
#include <vector>

#include "clippo/model/model_config.h"
#include "clippo/model/npz.h"

namespace clippo::model {

struct OneTowerOutput {
  torch::Tensor z;           // (N, out_dim) L2-normalised: z / (||z|| + 1e-8)
  torch::Tensor pre_logits;  // (N, width) pooled features before `head`
};

class OneTowerImpl : public torch::nn::Module {
 public:
  // init = false leaves the parameters zero (when a checkpoint is loaded
  // next: random init of a B/16 costs seconds of start-up).
  explicit OneTowerImpl(ModelConfig config, bool init = true);

  // images: (N, 3, res, res) float in [-1, 1].
  OneTowerOutput forward(torch::Tensor images);

  const ModelConfig& config() const { return config_; }
  // The learned log temperature (logits are exp(t) * za . zb^T), init log(10).
  torch::Tensor t;

  // big_vision-style random init (xavier-uniform attention and MLP kernels,
  // lecun-normal stem, normal(1/sqrt(width)) position embedding).
  void reset_parameters(uint64_t seed = 0);

  // Inference: fused QKV kernels in `dtype` (kFloat or kBFloat16) on the
  // current device, used by forward() from then on, without gradients
  // (matmuls and softmax in dtype, LayerNorm and the residual stream in
  // float32). Call again after changing the parameters; clear_inference()
  // goes back to the parameters.
  void prepare_inference(torch::ScalarType dtype);
  void clear_inference();

  // Training at large batch: keep only each block's input for the backward
  // pass and recompute the block's activations there (about a third more
  // compute, activation memory of one block instead of all). Gradients are
  // the same as without.
  void set_grad_checkpointing(bool on) { grad_checkpointing_ = on; }

  // The parameter with this big_vision name (without "params/"), or undefined.
  torch::Tensor param(const std::string& name) const;

 private:
  struct Weights;
  Weights gather(torch::ScalarType dtype) const;
  OneTowerOutput run(const Weights& w, torch::Tensor images) const;
  torch::Tensor add(const std::string& name, std::vector<int64_t> shape);

  ModelConfig config_;
  std::shared_ptr<Weights> cache_;
  bool grad_checkpointing_ = false;
};
TORCH_MODULE(OneTower);

// ---- checkpoints ---------------------------------------------------------

// The model a checkpoint holds, from the array shapes alone (width, depth,
// heads from query/kernel, patch from the stem, grid from pos_embedding,
// pool from MAPHead_0 / cls, out_dim from head). res 0 = the checkpoint's
// own (224 for sincos2d position embeddings, which hold no grid). Accepts "params/img/...", "img/..." and plain ViT ("params/...")
// names, per-block or stacked. Errors name the file and the array.
ModelConfig infer_config(const std::vector<NpzEntry>& entries, int res = 0, const std::string& where = "checkpoint");
ModelConfig infer_config(const NpzArrays& arrays, int res = 0, const std::string& where = "checkpoint");

struct LoadReport {
  std::vector<std::string> skipped;  // arrays that are not model parameters (opt/..., extra state)
  bool resampled_posemb = false;
  bool stacked = false;
};

// Copies the checkpoint into the model, one member at a time (never two
// copies of every array at once), converting dtypes, splitting stacked
// blocks and resampling the position embedding when the grid differs.
// Missing or misshapen arrays throw Error naming them.
LoadReport load_params(OneTower& model, const NpzReader& reader);
LoadReport load_params(OneTower& model, const NpzArrays& arrays, const std::string& where = "checkpoint");

// The model's parameters under big_vision names ("params/img/...",
// "params/t"), per-block layout, stored as `dtype` (f32, f16 or bf16):
// what clippo-train writes with write_npz.
NpzArrays export_params(const OneTower& model, DType dtype = DType::f32);

// One array between .npz and torch, data copied: float32/64, bfloat16, int64
// and int32 keep their type (other tensor types are stored as float32, other
// array types read as float32).
NpzArray tensor_to_npz(const torch::Tensor& t);
torch::Tensor npz_to_tensor(const NpzArray& a);

// big_vision's resample_posemb: (1, g_old^2, D) -> (1, g_new^2, D) by
// linear interpolation over the grid with the corners aligned
// (scipy.ndimage.zoom order=1).
torch::Tensor resample_posemb(const torch::Tensor& posemb, int new_grid);

// posemb_sincos_2d(h, w, width, temperature=10000) as big_vision defines it: (1, h*w, width).
torch::Tensor posemb_sincos2d(int h, int w, int width, double temperature = 10000.0);

}  // namespace clippo::model
