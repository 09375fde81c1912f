#include "clippo/io/image.h"

#include <fmt/core.h>

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
