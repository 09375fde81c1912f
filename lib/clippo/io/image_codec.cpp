// JPEG (libjpeg-turbo), PNG (libpng), WebP (libwebp) and PNM codecs.
#include <fmt/core.h>
#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <webp/decode.h>
#include <webp/encode.h>

#include <cctype>
#include <csetjmp>
#include <cstring>

#include "clippo/cli/error.h"
#include "clippo/io/image.h"

namespace clippo {
namespace {

// libjpeg reports errors through a callback that must not return: jump back.
struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool truncated = false;
};

void jpeg_fail(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  cinfo->err->format_message(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Refuses what a damaged header (or a decompression bomb) claims before
// memory is allocated for it.
void check_size(uint64_t width, uint64_t height, const char* format) {
  if (width * height > kMaxImagePixels)
    throw Error(fmt::format("{} of {} x {} pixels: over the limit of {} megapixels (a damaged header?)", format, width,
                            height, kMaxImagePixels / 1000000));
}

void jpeg_warn(j_common_ptr cinfo, int level) {
  // Minor warnings (extraneous bytes, ...) are harmless, as in other
  // decoders; a premature end means the file is truncated.
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) reinterpret_cast<JpegError*>(cinfo->err)->truncated = true;
}

Image decode_jpeg(std::string_view bytes, int min_side) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_fail;
  err.mgr.emit_message = jpeg_warn;
  // Declared before setjmp: the jump back must not skip their destructors.
  Image im;
  std::vector<uint8_t> row;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    throw Error(std::string("corrupt JPEG: ") + err.message);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  jpeg_read_header(&cinfo, TRUE);
  try {
    check_size(cinfo.image_width, cinfo.image_height, "JPEG");
  } catch (...) {
    jpeg_destroy_decompress(&cinfo);
    throw;
  }
  cinfo.out_color_space = JCS_RGB;  // gray and CMYK/YCCK converted too
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) cinfo.out_color_space = JCS_CMYK;
  cinfo.dct_method = JDCT_ISLOW;
  if (min_side > 0) {
    unsigned shorter = std::min(cinfo.image_width, cinfo.image_height);
    unsigned denom = 8;
    while (denom > 1 && (shorter + denom - 1) / denom < static_cast<unsigned>(min_side)) denom /= 2;
    cinfo.scale_num = 1;
    cinfo.scale_denom = denom;
  }
  jpeg_start_decompress(&cinfo);
  im.width = static_cast<int>(cinfo.output_width);
  im.height = static_cast<int>(cinfo.output_height);
  im.channels = 3;
  int comps = cinfo.output_components;
  row.resize(static_cast<size_t>(im.width) * comps);
  im.pixels.resize(static_cast<size_t>(im.width) * im.height * 3);
  while (cinfo.output_scanline < cinfo.output_height) {
    uint8_t* dst = im.pixels.data() + static_cast<size_t>(cinfo.output_scanline) * im.width * 3;
    JSAMPROW rows[1] = {comps == 3 ? dst : row.data()};
    jpeg_read_scanlines(&cinfo, rows, 1);
    if (comps == 4) {  // Adobe CMYK JPEGs are stored inverted
      for (int x = 0; x < im.width; ++x) {
        int k = row[4 * x + 3];
        for (int c = 0; c < 3; ++c) dst[3 * x + c] = static_cast<uint8_t>(row[4 * x + c] * k / 255);
      }
    }
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  if (err.truncated) throw Error("truncated JPEG");
  return im;
}

std::string encode_jpeg(const Image& im, int quality) {
  jpeg_compress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_fail;
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  if (setjmp(err.jump)) {
    jpeg_destroy_compress(&cinfo);
    std::free(buf);
    throw Error(std::string("JPEG encoding failed: ") + err.message);
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, &buf, &size);
  cinfo.image_width = static_cast<JDIMENSION>(im.width);
  cinfo.image_height = static_cast<JDIMENSION>(im.height);
  cinfo.input_components = im.channels;
  cinfo.in_color_space = im.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row[1] = {const_cast<uint8_t*>(im.pixels.data()) +
                       static_cast<size_t>(cinfo.next_scanline) * im.width * im.channels};
    jpeg_write_scanlines(&cinfo, row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::string out(reinterpret_cast<char*>(buf), size);
  std::free(buf);
  return out;
}

// As TensorFlow's decode_png(channels=3), which big_vision's `decode` runs:
// palette and low-bit gray expanded, gray to RGB, alpha dropped (not
// composited), 16-bit samples cut to their high byte, gamma (gAMA, sRGB)
// ignored.
struct PngInput {
  std::string_view bytes;
  size_t pos = 0;
};

void png_read_bytes(png_structp png, png_bytep out, size_t n) {
  auto* in = static_cast<PngInput*>(png_get_io_ptr(png));
  if (in->bytes.size() - in->pos < n) png_error(png, "truncated PNG");
  std::memcpy(out, in->bytes.data() + in->pos, n);
  in->pos += n;
}

void png_fail(png_structp png, png_const_charp message) {
  auto* text = static_cast<std::string*>(png_get_error_ptr(png));
  *text = message;
  png_longjmp(png, 1);
}

void png_quiet(png_structp, png_const_charp) {}

Image decode_png(std::string_view bytes) {
  std::string message;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &message, png_fail, png_quiet);
  if (!png) throw Error("corrupt PNG: out of memory");
  png_infop info = png_create_info_struct(png);
  PngInput in{bytes};
  // Declared before setjmp: the jump back must not skip their destructors.
  Image im;
  std::vector<png_bytep> rows;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw Error("corrupt PNG: " + message);
  }
  if (!info) png_error(png, "out of memory");
  png_set_read_fn(png, &in, png_read_bytes);
  png_set_user_limits(png, 1u << 30, 1u << 30);
  png_read_info(png, info);
  const png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
  try {
    check_size(width, height, "PNG");
  } catch (...) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw;
  }
  const int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  if (color & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
  if (depth == 16) png_set_strip_16(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_channels(png, info) != 3 || png_get_bit_depth(png, info) != 8) png_error(png, "unexpected pixel layout");
  im.width = static_cast<int>(width);
  im.height = static_cast<int>(height);
  im.channels = 3;
  im.pixels.resize(static_cast<size_t>(width) * height * 3);
  rows.resize(height);
  for (png_uint_32 y = 0; y < height; ++y) rows[y] = im.pixels.data() + static_cast<size_t>(y) * width * 3;
  png_read_image(png, rows.data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return im;
}

std::string encode_png(const Image& im) {
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(im.width);
  png.height = static_cast<png_uint_32>(im.height);
  png.format = im.channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&png, nullptr, &size, 0, im.pixels.data(), 0, nullptr))
    throw Error(std::string("PNG encoding failed: ") + png.message);
  std::string out(size, '\0');
  if (!png_image_write_to_memory(&png, out.data(), &size, 0, im.pixels.data(), 0, nullptr))
    throw Error(std::string("PNG encoding failed: ") + png.message);
  out.resize(size);
  return out;
}

Image decode_webp(std::string_view bytes) {
  Image im;
  if (!WebPGetInfo(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), &im.width, &im.height))
    throw Error("corrupt WebP");
  check_size(im.width, im.height, "WebP");
  uint8_t* rgb = WebPDecodeRGB(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), &im.width, &im.height);
  if (!rgb) throw Error("corrupt WebP");
  im.channels = 3;
  im.pixels.assign(rgb, rgb + static_cast<size_t>(im.width) * im.height * 3);
  WebPFree(rgb);
  return im;
}

// PGM and PPM, binary (P5, P6) or plain (P2, P3), any maxval up to 65535
// (two bytes a sample, most significant first, above 255); samples are
// scaled to 0..255 as netpbm does, v * 255 / maxval rounded.
Image decode_pnm(std::string_view b) {
  size_t pos = 2;
  auto number = [&]() -> long {
    while (pos < b.size()) {
      if (b[pos] == '#') while (pos < b.size() && b[pos] != '\n') ++pos;
      else if (std::isspace(static_cast<unsigned char>(b[pos]))) ++pos;
      else break;
    }
    long v = 0;
    size_t start = pos;
    while (pos < b.size() && std::isdigit(static_cast<unsigned char>(b[pos])) && v < 1'000'000) v = v * 10 + (b[pos++] - '0');
    if (pos == start) throw Error(pos >= b.size() ? "truncated PNM" : "corrupt PNM header");
    return v;
  };
  const bool plain = b[1] == '2' || b[1] == '3';
  long w = number(), h = number(), maxval = number();
  if (w <= 0 || h <= 0 || w > 65535 || h > 65535) throw Error("bad PNM size");
  check_size(w, h, "PNM");
  if (maxval < 1 || maxval > 65535) throw Error(fmt::format("bad PNM maxval {}", maxval));
  const int comps = b[1] == '5' || b[1] == '2' ? 1 : 3;
  const size_t samples = static_cast<size_t>(w) * h * comps, width = maxval > 255 ? 2 : 1;
  std::vector<uint8_t> v(samples);
  auto scale = [&](long x) {
    if (x > maxval) throw Error(fmt::format("PNM sample {} above maxval {}", x, maxval));
    return static_cast<uint8_t>((x * 255 + maxval / 2) / maxval);
  };
  if (plain) {
    for (auto& x : v) x = scale(number());
  } else {
    ++pos;  // the single whitespace before the data
    if (b.size() < pos + samples * width) throw Error("truncated PNM");
    auto* src = reinterpret_cast<const uint8_t*>(b.data() + pos);
    for (size_t i = 0; i < samples; ++i)
      v[i] = width == 1 ? (maxval == 255 ? src[i] : scale(src[i])) : scale(src[2 * i] << 8 | src[2 * i + 1]);
  }
  Image im;
  im.width = static_cast<int>(w);
  im.height = static_cast<int>(h);
  im.channels = 3;
  if (comps == 3) {
    im.pixels = std::move(v);
  } else {
    im.pixels.resize(samples * 3);
    for (size_t i = 0; i < samples; ++i) im.pixels[3 * i] = im.pixels[3 * i + 1] = im.pixels[3 * i + 2] = v[i];
  }
  return im;
}

}  // namespace

std::string sniff_image_format(std::string_view b) {
  auto starts = [&](std::string_view magic) { return b.substr(0, magic.size()) == magic; };
  if (starts("\xFF\xD8\xFF")) return "jpg";
  if (starts("\x89PNG\r\n\x1a\n")) return "png";
  if (b.size() >= 12 && starts("RIFF") && b.substr(8, 4) == "WEBP") return "webp";
  if (b.size() >= 3 && b[0] == 'P' && std::isspace(static_cast<unsigned char>(b[2]))) {
    if (b[1] == '5' || b[1] == '2') return "pgm";
    if (b[1] == '6' || b[1] == '3') return "ppm";
  }
  if (starts("BM")) return "bmp";
  if (starts("II*\0") || starts("MM\0*")) return "tiff";
  if (starts("GIF8")) return "gif";
  return "";
}

Image decode_image(std::string_view bytes, int min_side) {
  if (bytes.empty()) throw Error("empty file, not an image");
  std::string format = sniff_image_format(bytes);
  if (format == "jpg") return decode_jpeg(bytes, min_side);
  if (format == "png") return decode_png(bytes);
  if (format == "webp") return decode_webp(bytes);
  if (format == "pgm" || format == "ppm") return decode_pnm(bytes);
  if (!format.empty()) throw Error(format + " images are not supported (use JPEG, PNG, WebP or PNM)");
  throw Error("not an image");
}

std::string encode_image(const Image& image, std::string_view format, int quality) {
  if (format == "pgm" || format == "ppm") {
    int want = format == "pgm" ? 1 : 3;
    if (image.channels != want) throw Error(fmt::format("{} needs {} channel(s)", format, want));
    std::string out = fmt::format("P{}\n{} {}\n255\n", want == 1 ? 5 : 6, image.width, image.height);
    out.append(reinterpret_cast<const char*>(image.pixels.data()), image.pixels.size());
    return out;
  }
  if (format == "jpg" || format == "jpeg") return encode_jpeg(image, quality);
  if (format == "png") return encode_png(image);
  if (format == "webp") {
    if (image.channels != 3) throw Error("webp needs 3 channels");
    uint8_t* out = nullptr;
    size_t n = WebPEncodeRGB(image.pixels.data(), image.width, image.height, image.width * 3, quality, &out);
    if (!n) throw Error("WebP encoding failed");
    std::string s(reinterpret_cast<char*>(out), n);
    WebPFree(out);
    return s;
  }
  throw Error(fmt::format("cannot encode images as '{}'", format));
}

}  // namespace clippo
