#include "proxy/http/body_reader.h"

#include <algorithm>

namespace kitgate::http {

BodyReader::BodyReader(BodyFraming framing, uint64_t content_length,
                       ChunkedDecoder::Limits chunked_limits)
    : framing_(framing),
      remaining_(framing == BodyFraming::kContentLength ? content_length : 0),
      done_(framing == BodyFraming::kNone ||
            (framing == BodyFraming::kContentLength && content_length == 0)),
      chunked_(chunked_limits) {}

DecodeResult BodyReader::read(std::string_view in, size_t* consumed, std::string_view* data) {
  *consumed = 0;
  if (done_) return DecodeResult::kDone;
  switch (framing_) {
    case BodyFraming::kChunked: {
      const DecodeResult r = chunked_.decode(in, consumed, data);
      done_ = r == DecodeResult::kDone;
      return r;
    }
    case BodyFraming::kContentLength: {
      if (in.empty()) return DecodeResult::kNeedMore;
      const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, in.size()));
      *data = in.substr(0, n);
      *consumed = n;
      remaining_ -= n;
      // The last bytes are reported as kData; the next call says kDone.
      done_ = remaining_ == 0;
      return DecodeResult::kData;
    }
    case BodyFraming::kUntilClose:
    case BodyFraming::kTunnel:
      if (in.empty()) return DecodeResult::kNeedMore;
      *data = in;
      *consumed = in.size();
      return DecodeResult::kData;
    case BodyFraming::kNone:
      break;
  }
  return DecodeResult::kDone;
}

bool BodyReader::finishOnClose() {
  if (done_) return true;
  if (framing_ == BodyFraming::kUntilClose || framing_ == BodyFraming::kTunnel) {
    done_ = true;
    return true;
  }
  return false;
}

}  // namespace kitgate::http
