#include "sentencepiece_library.h"

#include "sentencepiece_shim.h"

#include "memembed/error.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

namespace memembed::text {

namespace fs = std::filesystem;

namespace {

constexpr const char* kShimName = "libmemembed_sentencepiece.so";

struct Api {
  decltype(&memembed_spm_load) load;
  decltype(&memembed_spm_free) free;
  decltype(&memembed_spm_piece_size) piece_size;
  decltype(&memembed_spm_piece_to_id) piece_to_id;
  decltype(&memembed_spm_id_to_piece) id_to_piece;
  decltype(&memembed_spm_piece_flags) piece_flags;
  decltype(&memembed_spm_special_id) special_id;
  decltype(&memembed_spm_encode) encode;
  decltype(&memembed_spm_decode) decode;
};

template <typename F>
void resolve(void* handle, const char* name, F& target, const fs::path& path) {
  target = reinterpret_cast<F>(dlsym(handle, name));
  if (target == nullptr) throw not_found("{}: missing symbol {}", path.string(), name);
}

#if defined(__SANITIZE_ADDRESS__)
constexpr int kDeepBind = 0;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr int kDeepBind = 0;
#else
constexpr int kDeepBind = RTLD_DEEPBIND;
#endif
#else
constexpr int kDeepBind = RTLD_DEEPBIND;
#endif

// Without RTLD_DEEPBIND, SentencePiece's embedded protobuf binds to a libprotobuf the process
// already holds (libtorch's): its version check fails, and the next load crashes inside
// libprotobuf. The symbol is libprotobuf's google::protobuf::internal::VerifyVersion.
void refuse_without_isolation() {
  if (kDeepBind == 0 && dlsym(RTLD_DEFAULT, "_ZN6google8protobuf8internal13VerifyVersionEiiPKc") != nullptr) {
    throw unsupported("SentencePiece models cannot be loaded in this process: this is a sanitizer build, "
                      "where AddressSanitizer refuses RTLD_DEEPBIND, and without it SentencePiece's "
                      "protobuf would bind to the libprotobuf already loaded (libtorch's)");
  }
}

Api open_shim() {
  refuse_without_isolation();
  std::string tried;
  for (const fs::path& candidate : sentencepiece_shim_candidates()) {
    std::error_code ec;
    if (!fs::exists(candidate, ec)) {
      tried += "\n  " + candidate.string() + " (absent)";
      continue;
    }
    // Local and deep-bound: SentencePiece's embedded protobuf must neither see nor be seen by
    // the process's libprotobuf. (AddressSanitizer refuses RTLD_DEEPBIND; sanitizer builds load
    // it local only, which is enough for processes without libtorch's protobuf.)
    void* handle = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL | kDeepBind);
    if (handle == nullptr) {
      tried += "\n  " + candidate.string() + " (" + dlerror() + ")";
      continue;
    }
    auto version = reinterpret_cast<decltype(&memembed_spm_abi_version)>(dlsym(handle, "memembed_spm_abi_version"));
    if (version == nullptr || version() != MEMEMBED_SPM_ABI_VERSION) {
      tried += "\n  " + candidate.string() + " (built from another memembed version)";
      continue;
    }
    Api api;
    resolve(handle, "memembed_spm_load", api.load, candidate);
    resolve(handle, "memembed_spm_free", api.free, candidate);
    resolve(handle, "memembed_spm_piece_size", api.piece_size, candidate);
    resolve(handle, "memembed_spm_piece_to_id", api.piece_to_id, candidate);
    resolve(handle, "memembed_spm_id_to_piece", api.id_to_piece, candidate);
    resolve(handle, "memembed_spm_piece_flags", api.piece_flags, candidate);
    resolve(handle, "memembed_spm_special_id", api.special_id, candidate);
    resolve(handle, "memembed_spm_encode", api.encode, candidate);
    resolve(handle, "memembed_spm_decode", api.decode, candidate);
    return api;  // the library stays loaded for the life of the process
  }
  throw not_found("SentencePiece support library {} not found; build the memembed_sentencepiece target "
                  "or point MEMEMBED_SENTENCEPIECE_SHIM at it. Tried:{}", kShimName, tried);
}

const Api& api() {
  static std::once_flag once;
  static Api loaded;
  static std::string failure;
  static ErrorKind failure_kind = ErrorKind::NotFound;
  std::call_once(once, [] {
    try {
      loaded = open_shim();
    } catch (const Error& e) {
      failure = e.what();
      failure_kind = e.kind();
    }
  });
  if (!failure.empty()) throw Error(failure_kind, failure);
  return loaded;
}

void append_text(void* context, const char* data, size_t size) {
  static_cast<std::string*>(context)->append(data, size);
}

struct EncodeContext {
  std::vector<int>* ids;
  std::string error;
};

}  // namespace

std::vector<fs::path> sentencepiece_shim_candidates() {
  std::vector<fs::path> candidates;
  if (const char* explicit_path = std::getenv("MEMEMBED_SENTENCEPIECE_SHIM"); explicit_path && *explicit_path) {
    candidates.emplace_back(explicit_path);
  }
  std::error_code ec;
  const fs::path executable = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back(executable.parent_path() / kShimName);
#ifdef MEMEMBED_SENTENCEPIECE_SHIM_PATH
  candidates.emplace_back(MEMEMBED_SENTENCEPIECE_SHIM_PATH);
#endif
  return candidates;
}

std::unique_ptr<SpmProcessor> SpmProcessor::load(const fs::path& file) {
  if (!fs::exists(file)) throw not_found("{}: no such file", file.string());
  std::string error;
  memembed_spm* model = api().load(file.c_str(), append_text, &error);
  if (model == nullptr) throw invalid_input("{}: not a SentencePiece model: {}", file.string(), error);
  return std::unique_ptr<SpmProcessor>(new SpmProcessor(model));
}

SpmProcessor::~SpmProcessor() { api().free(model_); }

int SpmProcessor::piece_size() const { return api().piece_size(model_); }

int SpmProcessor::piece_to_id(std::string_view piece) const {
  return api().piece_to_id(model_, piece.data(), piece.size());
}

std::string SpmProcessor::id_to_piece(int id) const {
  std::string piece;
  api().id_to_piece(model_, id, append_text, &piece);
  return piece;
}

bool SpmProcessor::is_control(int id) const { return api().piece_flags(model_, id) & MEMEMBED_SPM_CONTROL; }
bool SpmProcessor::is_unknown(int id) const { return api().piece_flags(model_, id) & MEMEMBED_SPM_UNKNOWN; }
int SpmProcessor::unk_id() const { return api().special_id(model_, MEMEMBED_SPM_UNK_ID); }
int SpmProcessor::bos_id() const { return api().special_id(model_, MEMEMBED_SPM_BOS_ID); }
int SpmProcessor::eos_id() const { return api().special_id(model_, MEMEMBED_SPM_EOS_ID); }

void SpmProcessor::encode(std::string_view text, std::vector<int>& ids) const {
  EncodeContext context{&ids, {}};
  const int status = api().encode(
      model_, text.data(), text.size(),
      [](void* c, const int* data, size_t count) {
        auto* ctx = static_cast<EncodeContext*>(c);
        ctx->ids->insert(ctx->ids->end(), data, data + count);
      },
      [](void* c, const char* data, size_t size) { static_cast<EncodeContext*>(c)->error.append(data, size); },
      &context);
  if (status != 0) throw invalid_input("SentencePiece encode failed: {}", context.error);
}

std::string SpmProcessor::decode(const std::vector<int>& ids) const {
  std::string text;
  std::string error;
  struct Context {
    std::string* text;
    std::string* error;
  } context{&text, &error};
  const int status = api().decode(
      model_, ids.data(), ids.size(),
      [](void* c, const char* data, size_t size) { static_cast<Context*>(c)->text->append(data, size); },
      [](void* c, const char* data, size_t size) { static_cast<Context*>(c)->error->append(data, size); },
      &context);
  if (status != 0) throw invalid_input("SentencePiece decode failed: {}", error);
  return text;
}

}  // namespace memembed::text
