// Image decoding, encoding and resizing. Codecs are libjpeg-turbo, libpng and
// libwebp directly (OpenCV's imgcodecs drags GDAL and 100 more libraries into
// every process start); resizing is OpenCV's imgproc. Neither shows here.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace clippo {

// 8-bit pixels, rows top to bottom, channels interleaved (RGB or gray).
struct Image {
  int width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;
};

// Decodes JPEG, PNG, WebP or PPM/PGM (binary or plain) bytes to RGB. Throws Error
// ("not an image", "truncated JPEG", ...) for anything else.
// min_side > 0 lets a JPEG decode at a reduced DCT scale (1/2, 1/4, 1/8) as
// long as the shorter side stays >= min_side: much faster when the image is
// shrunk afterwards anyway. 0 decodes the exact full-size pixels.
// An image over kMaxImagePixels is an Error before it is decoded (PIL, for
// comparison, refuses twice its 89-megapixel warning size).
Image decode_image(std::string_view bytes, int min_side = 0);
inline constexpr uint64_t kMaxImagePixels = 178'000'000;

// The format of encoded image bytes by their magic number ("jpg", "png",
// "webp", "ppm", "pgm", "bmp", "tiff", "gif"), or "" when they are no image.
// Cheap: reads a few bytes, decodes nothing.
std::string sniff_image_format(std::string_view bytes);

// Encodes to "jpg" (quality 1-100), "png", "webp" (quality 1-100), "pgm"
// (gray only) or "ppm" (RGB only).
std::string encode_image(const Image& image, std::string_view format, int quality = 95);

// Scales so the shorter side is `size` (area averaging when shrinking,
// bilinear when growing); smaller or equal images are returned unchanged
// when only_shrink is set.
Image resize_shorter_side(const Image& image, int size, bool only_shrink = true);

// The model input: resize to res x res bilinear with half-pixel centres and
// no antialiasing (big_vision's resize), then v / 255 * 2 - 1, as 3 x res x res
// floats in CHW order. Gray images become 3 equal channels.
void to_model_input(const Image& image, int res, float* chw);

}  // namespace clippo
