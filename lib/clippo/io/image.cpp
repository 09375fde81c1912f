#include "clippo/io/image.h"

#include <cctype>
#include <fmt/core.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "clippo/cli/error.h"

namespace clippo {
namespace {

cv::Mat as_mat(const Image& im) {
  return cv::Mat(im.height, im.width, im.channels == 1 ? CV_8UC1 : CV_8UC3,
                 const_cast<uint8_t*>(im.pixels.data()));
}

Image from_mat(const cv::Mat& m) {
  Image im;
  im.width = m.cols, im.height = m.rows, im.channels = m.channels();
  cv::Mat c = m.isContinuous() ? m : m.clone();
  im.pixels.assign(c.data, c.data + c.total() * c.elemSize());
  return im;
}

}  // namespace

std::string sniff_image_format(std::string_view b) {
  auto starts = [&](std::string_view magic) { return b.substr(0, magic.size()) == magic; };
  if (starts("\xFF\xD8\xFF")) return "jpg";
  if (starts("\x89PNG\r\n\x1a\n")) return "png";
  if (b.size() >= 12 && starts("RIFF") && b.substr(8, 4) == "WEBP") return "webp";
  if (b.size() >= 3 && b[0] == 'P' && (b[1] == '5' || b[1] == '2') && std::isspace(static_cast<unsigned char>(b[2]))) return "pgm";
  if (b.size() >= 3 && b[0] == 'P' && (b[1] == '6' || b[1] == '3') && std::isspace(static_cast<unsigned char>(b[2]))) return "ppm";
  if (starts("BM")) return "bmp";
  if (starts("II*\0") || starts("MM\0*")) return "tiff";
  if (starts("GIF8")) return "gif";
  return "";
}

Image decode_image(std::string_view bytes) {
  if (bytes.empty()) throw Error("empty file, not an image");
  cv::Mat buf(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<char*>(bytes.data()));
  cv::Mat m;
  try {
    m = cv::imdecode(buf, cv::IMREAD_COLOR);  // BGR, alpha dropped, gray expanded
  } catch (const cv::Exception& e) {
    throw Error(std::string("not an image (") + e.what() + ")");
  }
  if (m.empty()) throw Error("not an image");
  cv::cvtColor(m, m, cv::COLOR_BGR2RGB);
  return from_mat(m);
}

std::string encode_image(const Image& image, std::string_view format, int quality) {
  if (format == "pgm" || format == "ppm") {
    int want = format == "pgm" ? 1 : 3;
    if (image.channels != want) throw Error(fmt::format("{} needs {} channel(s)", format, want));
    std::string out = fmt::format("P{}\n{} {}\n255\n", want == 1 ? 5 : 6, image.width, image.height);
    out.append(reinterpret_cast<const char*>(image.pixels.data()), image.pixels.size());
    return out;
  }
  cv::Mat m = as_mat(image);
  if (image.channels == 3) cv::cvtColor(m, m, cv::COLOR_RGB2BGR);
  std::vector<uint8_t> buf;
  std::vector<int> params;
  std::string ext;
  if (format == "jpg" || format == "jpeg") ext = ".jpg", params = {cv::IMWRITE_JPEG_QUALITY, quality};
  else if (format == "png") ext = ".png";
  else if (format == "webp") ext = ".webp", params = {cv::IMWRITE_WEBP_QUALITY, quality};
  else throw Error(fmt::format("cannot encode images as '{}'", format));
  if (!cv::imencode(ext, m, buf, params)) throw Error(fmt::format("encoding {} failed", format));
  return std::string(buf.begin(), buf.end());
}

Image resize_shorter_side(const Image& image, int size, bool only_shrink) {
  int shorter = std::min(image.width, image.height);
  if (shorter == size || (only_shrink && shorter <= size)) return image;
  double scale = static_cast<double>(size) / shorter;
  int w = std::max(1, static_cast<int>(std::lround(image.width * scale)));
  int h = std::max(1, static_cast<int>(std::lround(image.height * scale)));
  if (image.width <= image.height) w = size; else h = size;
  cv::Mat out;
  cv::resize(as_mat(image), out, cv::Size(w, h), 0, 0, scale < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
  return from_mat(out);
}

void to_model_input(const Image& image, int res, float* chw) {
  cv::Mat f;
  as_mat(image).convertTo(f, image.channels == 1 ? CV_32FC1 : CV_32FC3);
  cv::Mat r;
  if (image.width == res && image.height == res) r = f;
  else cv::resize(f, r, cv::Size(res, res), 0, 0, cv::INTER_LINEAR);  // half-pixel centres, no antialias
  const size_t plane = static_cast<size_t>(res) * res;
  for (int y = 0; y < res; ++y) {
    const float* row = r.ptr<float>(y);
    for (int x = 0; x < res; ++x)
      for (int c = 0; c < 3; ++c) {
        float v = row[x * image.channels + (image.channels == 1 ? 0 : c)];
        chw[c * plane + y * res + x] = v / 255.0f * 2.0f - 1.0f;
      }
  }
}

}  // namespace clippo
