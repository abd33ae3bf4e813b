// libmemembed_sentencepiece.so: the C interface of sentencepiece_shim.h over
// sentencepiece::SentencePieceProcessor. Built as a module and loaded by sentencepiece_library.cpp.
#include "sentencepiece_shim.h"

#include <sentencepiece_processor.h>

#include <exception>
#include <memory>
#include <string>
#include <vector>

#define MEMEMBED_SPM_EXPORT extern "C" __attribute__((visibility("default")))

struct memembed_spm {
  sentencepiece::SentencePieceProcessor processor;
};

namespace {

void report(memembed_spm_text error, void* context, const std::string& message) {
  if (error != nullptr) error(context, message.data(), message.size());
}

}  // namespace

MEMEMBED_SPM_EXPORT int memembed_spm_abi_version(void) { return MEMEMBED_SPM_ABI_VERSION; }

MEMEMBED_SPM_EXPORT memembed_spm* memembed_spm_load(const char* path, memembed_spm_text error, void* context) {
  try {
    // Owned until returned: Load may throw on a malformed model as well as report a status.
    auto model = std::make_unique<memembed_spm>();
    const auto status = model->processor.Load(path);
    if (!status.ok()) {
      report(error, context, status.ToString());
      return nullptr;
    }
    return model.release();
  } catch (const std::exception& e) {
    report(error, context, e.what());
    return nullptr;
  }
}

MEMEMBED_SPM_EXPORT void memembed_spm_free(memembed_spm* model) { delete model; }

MEMEMBED_SPM_EXPORT int memembed_spm_piece_size(const memembed_spm* model) {
  return model->processor.GetPieceSize();
}

MEMEMBED_SPM_EXPORT int memembed_spm_piece_to_id(const memembed_spm* model, const char* piece, size_t size) {
  return model->processor.PieceToId(std::string_view(piece, size));
}

MEMEMBED_SPM_EXPORT void memembed_spm_id_to_piece(const memembed_spm* model, int id, memembed_spm_text out,
                                                  void* context) {
  const std::string& piece = model->processor.IdToPiece(id);
  out(context, piece.data(), piece.size());
}

MEMEMBED_SPM_EXPORT int memembed_spm_piece_flags(const memembed_spm* model, int id) {
  const auto& p = model->processor;
  return (p.IsControl(id) ? MEMEMBED_SPM_CONTROL : 0) | (p.IsUnknown(id) ? MEMEMBED_SPM_UNKNOWN : 0) |
         (p.IsByte(id) ? MEMEMBED_SPM_BYTE : 0) | (p.IsUnused(id) ? MEMEMBED_SPM_UNUSED : 0);
}

MEMEMBED_SPM_EXPORT int memembed_spm_special_id(const memembed_spm* model, int which) {
  switch (which) {
    case MEMEMBED_SPM_UNK_ID: return model->processor.unk_id();
    case MEMEMBED_SPM_BOS_ID: return model->processor.bos_id();
    case MEMEMBED_SPM_EOS_ID: return model->processor.eos_id();
    case MEMEMBED_SPM_PAD_ID: return model->processor.pad_id();
    default: return -1;
  }
}

MEMEMBED_SPM_EXPORT int memembed_spm_encode(const memembed_spm* model, const char* text, size_t size,
                                            memembed_spm_ids out, memembed_spm_text error, void* context) {
  try {
    std::vector<int> ids;
    const auto status = model->processor.Encode(std::string_view(text, size), &ids);
    if (!status.ok()) {
      report(error, context, status.ToString());
      return 1;
    }
    out(context, ids.data(), ids.size());
    return 0;
  } catch (const std::exception& e) {
    report(error, context, e.what());
    return 1;
  }
}

MEMEMBED_SPM_EXPORT int memembed_spm_decode(const memembed_spm* model, const int* ids, size_t count,
                                            memembed_spm_text out, memembed_spm_text error, void* context) {
  try {
    std::string text;
    const auto status = model->processor.Decode(std::vector<int>(ids, ids + count), &text);
    if (!status.ok()) {
      report(error, context, status.ToString());
      return 1;
    }
    out(context, text.data(), text.size());
    return 0;
  } catch (const std::exception& e) {
    report(error, context, e.what());
    return 1;
  }
}
