// The C interface of libmemembed_sentencepiece.so, the one place libsentencepiece is linked.
//
// Why a separate, dlopen'ed library: Debian's libsentencepiece embeds its own copy of protobuf-lite
// 3.14 and exports its symbols. In a process that also loads libprotobuf.so.32 (libtorch does),
// whichever copy comes first in the global symbol scope takes over the other's calls, and the
// process crashes during static initialisation or aborts on a version check. Loading this shim
// with RTLD_LOCAL | RTLD_DEEPBIND keeps SentencePiece and its protobuf in a scope of their own.
//
// No exception crosses this interface; failures come back as a status and a message.
#pragma once

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MEMEMBED_SPM_ABI_VERSION 1

typedef struct memembed_spm memembed_spm;
typedef void (*memembed_spm_ids)(void* context, const int* ids, size_t count);
typedef void (*memembed_spm_text)(void* context, const char* data, size_t size);

enum memembed_spm_piece_flags {
  MEMEMBED_SPM_CONTROL = 1,
  MEMEMBED_SPM_UNKNOWN = 2,
  MEMEMBED_SPM_BYTE = 4,
  MEMEMBED_SPM_UNUSED = 8,
};

enum memembed_spm_special { MEMEMBED_SPM_UNK_ID, MEMEMBED_SPM_BOS_ID, MEMEMBED_SPM_EOS_ID, MEMEMBED_SPM_PAD_ID };

int memembed_spm_abi_version(void);
// Null on failure, with the reason passed to `error`.
memembed_spm* memembed_spm_load(const char* path, memembed_spm_text error, void* context);
void memembed_spm_free(memembed_spm* model);
int memembed_spm_piece_size(const memembed_spm* model);
int memembed_spm_piece_to_id(const memembed_spm* model, const char* piece, size_t size);
void memembed_spm_id_to_piece(const memembed_spm* model, int id, memembed_spm_text out, void* context);
int memembed_spm_piece_flags(const memembed_spm* model, int id);
int memembed_spm_special_id(const memembed_spm* model, int which);
// Return 0 on success; otherwise the message went to `error` (same context).
int memembed_spm_encode(const memembed_spm* model, const char* text, size_t size, memembed_spm_ids out,
                        memembed_spm_text error, void* context);
int memembed_spm_decode(const memembed_spm* model, const int* ids, size_t count, memembed_spm_text out,
                        memembed_spm_text error, void* context);

#ifdef __cplusplus
}
#endif
