#include "clippo/model/embedder.h"

#include <ATen/Context.h>

#include <dlfcn.h>
#include <malloc.h>
#include <fmt/core.h>

#include <filesystem>
#include <mutex>

#include "clippo/cli/error.h"
#include "clippo/cli/log.h"
#include "clippo/io/json.h"
#include "clippo/model/device.h"
#include "clippo/model/vit.h"
#include "clippo/text/render.h"

namespace clippo::model {

struct Embedder::Impl {
  std::string path;
  EmbedderOptions opt;
  ModelConfig config;
  OneTower model{nullptr};
  torch::Device device{torch::kCPU};
  std::shared_ptr<const text::Font> font;
  text::RenderOptions render;
  mutable std::once_flag font_once, sha_once;
  mutable std::string sha;

  const text::Font& get_font() const {
    std::call_once(font_once, [&] { const_cast<Impl*>(this)->font = text::Font::load(opt.fonts); });
    return *font;
  }
};

Embedder::Embedder(const std::string& checkpoint, EmbedderOptions opt) : impl_(std::make_unique<Impl>()) {
  auto& m = *impl_;
  m.path = checkpoint;
  m.opt = std::move(opt);
  if (m.opt.precision != "fp32" && m.opt.precision != "bf16")
    throw UsageError("--precision must be fp32 or bf16, not '" + m.opt.precision + "'");
  if (m.opt.batch <= 0) throw UsageError("--batch-size must be positive");
  m.device = torch_device(m.opt.device);
  // fp32 means float32 products on a GPU too, not TF32 ones.
  if (m.device.is_cuda() && m.opt.precision == "fp32") at::globalContext().setAllowTF32CuBLAS(false);
  if (m.device.is_cpu() && m.opt.precision == "bf16") warn_unless_cpu_bf16();
  // Forward passes allocate and free tens of MB per layer; glibc's defaults
  // hand such blocks back to the kernel (mmap/munmap, heap trimming) every
  // time, and re-faulting the pages halved throughput. Keep them.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest allowed value
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 64 << 20);
  if (m.opt.threads > 0) {
    torch::set_num_threads(m.opt.threads);
    // fp32 matmuls go to the system BLAS (OpenBLAS on Debian), which keeps
    // its own thread pool: size it too when it is there.
    if (auto* set = reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
      set(m.opt.threads);
  }
  {
    NpzReader reader(checkpoint);
    m.config = infer_config(reader.entries(), m.opt.res, checkpoint);
    m.model = OneTower(m.config, /*init=*/false);
    load_params(m.model, reader);
  }
  m.model->eval();
  m.model->to(m.device);
  m.model->prepare_inference(m.opt.precision == "bf16" ? torch::kBFloat16 : torch::kFloat);
  m.render.size = m.config.res;
}

Embedder::~Embedder() = default;

int Embedder::dim() const {
  auto& c = impl_->config;
  return impl_->opt.pre_logits || c.out_dim == 0 ? c.width : c.out_dim;
}
int Embedder::resolution() const { return impl_->config.res; }
std::string Embedder::variant() const { return impl_->config.variant(); }
const EmbedderOptions& Embedder::options() const { return impl_->opt; }
std::string Embedder::config_json() const { return impl_->config.to_json(); }

std::string Embedder::header_json() const {
  auto& m = *impl_;
  std::call_once(m.sha_once, [&] { m.sha = sha256_file(m.path); });
  std::error_code ec;
  auto abs = std::filesystem::absolute(m.path, ec);
  JsonWriter j;
  j.begin_object();
  j.key("path").value(ec ? m.path : abs.string()).key("sha256").value(m.sha).key("variant").value(m.config.variant());
  j.key("resolution").value(m.config.res).key("dim").value(dim()).key("out_dim").value(m.config.out_dim);
  j.key("pool").value(m.config.pool).key("pre_logits").value(m.opt.pre_logits).key("precision").value(m.opt.precision);
  j.key("render").raw(text::settings_json(m.render, m.opt.fonts));
  j.end_object();
  return j.str();
}

void Embedder::image_input(const Image& image, float* chw) const { to_model_input(image, impl_->config.res, chw); }

void Embedder::text_input(const std::string& text, float* chw) const {
  text::render_model_input(text, impl_->get_font(), impl_->render, chw);
}

void Embedder::load_font() const { impl_->get_font(); }

std::vector<float> Embedder::embed_inputs(const float* chw, size_t n) {
  auto& m = *impl_;
  torch::InferenceMode guard;
  const int64_t res = m.config.res, d = dim();
  const size_t per = 3 * static_cast<size_t>(res) * res;
  std::vector<float> out(n * static_cast<size_t>(d));
  // Forward passes of inference_chunk images (its 32 MiB bound is the mmap
  // threshold set above).
  const auto step =
      static_cast<size_t>(m.config.inference_chunk(m.opt.batch, m.opt.precision == "bf16" && m.device.is_cpu()));
  for (size_t start = 0; start < n; start += step) {
    int64_t b = static_cast<int64_t>(std::min(n - start, step));
    auto x = torch::from_blob(const_cast<float*>(chw + start * per), {b, 3, res, res}, torch::kFloat).to(m.device);
    auto r = m.model->forward(x);
    auto y = (m.opt.pre_logits ? r.pre_logits : r.z).to(torch::kCPU, torch::kFloat).contiguous();
    if (!torch::isfinite(y).all().item<bool>())
      throw Error(m.path + ": the model's output holds NaN or infinity (damaged weights?)");
    std::memcpy(out.data() + start * d, y.data_ptr<float>(), static_cast<size_t>(b * d) * sizeof(float));
  }
  return out;
}

std::vector<float> Embedder::embed_images(const std::vector<Image>& images) {
  const size_t per = 3 * static_cast<size_t>(resolution()) * resolution();
  std::vector<float> in(images.size() * per);
  for (size_t i = 0; i < images.size(); ++i) image_input(images[i], in.data() + i * per);
  return embed_inputs(in.data(), images.size());
}

std::vector<float> Embedder::embed_texts(const std::vector<std::string>& texts) {
  const size_t per = 3 * static_cast<size_t>(resolution()) * resolution();
  std::vector<float> in(texts.size() * per);
  for (size_t i = 0; i < texts.size(); ++i) text_input(texts[i], in.data() + i * per);
  return embed_inputs(in.data(), texts.size());
}

}  // namespace clippo::model
