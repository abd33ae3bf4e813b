#!/usr/bin/python3
"""Writes a float32 GGUF from a sentence-transformers model directory, for llama.cpp: a BERT
(llama.cpp's `bert` architecture) or an EmbeddingGemma (`gemma-embedding`, with its two Dense
projections). The weights are the same safetensors memembed loads, read with numpy and written
with llama.cpp's own gguf-py (GGUF_PY=<llama.cpp>/gguf-py), so both programs run the same model in
compare.py; llama-quantize then makes the q8_0 file from this one.

    GGUF_PY=.../gguf-py /usr/bin/python3 st_to_gguf.py MODEL_DIR OUT.gguf
"""
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.environ.get("GGUF_PY", "gguf-py"))
import gguf  # noqa: E402  (llama.cpp's gguf-py, not an installed package)

SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}
POOLING = {"mean": gguf.PoolingType.MEAN, "cls": gguf.PoolingType.CLS, "lasttoken": gguf.PoolingType.LAST}


def read_safetensors(path):
    """name -> float32 numpy array, mapped from the file (without the safetensors package)."""
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    header_size = int(raw[:8].view("<u8")[0])
    header = json.loads(raw[8:8 + header_size].tobytes())
    data = raw[8 + header_size:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in SAFETENSORS_DTYPES:
            sys.exit(f"{path}: tensor {name} has dtype {info['dtype']}; this script reads {list(SAFETENSORS_DTYPES)}")
        begin, end = info["data_offsets"]
        array = data[begin:end].view(SAFETENSORS_DTYPES[info["dtype"]]).reshape(info["shape"])
        tensors[name] = array.astype(np.float32, copy=False)
    return tensors


def read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        sys.exit(f"{path}: {error}")


def pooling_type(model_dir):
    mode = read_json(model_dir / "1_Pooling" / "config.json").get("pooling_mode")
    if mode not in POOLING:
        sys.exit(f"{model_dir}/1_Pooling/config.json: pooling_mode {mode!r}; llama.cpp pools {list(POOLING)}")
    return POOLING[mode]


def add_tensors(writer, model_dir, tensors, names, skip=lambda name: False, transform=lambda name, array: array):
    for name, array in tensors.items():
        if skip(name):
            continue
        gguf_name = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            sys.exit(f"{model_dir}/model.safetensors: no GGUF name for tensor {name}")
        writer.add_tensor(gguf_name, transform(name, array))


# ---- BERT -----------------------------------------------------------------------------------------

def wordpiece_vocab(tokenizer_json):
    """Tokens in id order in llama.cpp's WPM form ('##x' -> 'x', a word start -> '\u2581' + word,
    special tokens unchanged) and their GGUF token types."""
    tokenizer = read_json(tokenizer_json)
    if tokenizer["model"].get("type", "WordPiece") != "WordPiece" or "continuing_subword_prefix" not in tokenizer["model"]:
        sys.exit(f"{tokenizer_json}: not a WordPiece tokenizer")
    vocab = tokenizer["model"]["vocab"]
    special = {t["content"] for t in tokenizer.get("added_tokens", []) if t.get("special")}
    tokens = [None] * len(vocab)
    for token, index in vocab.items():
        tokens[index] = token
    if any(t is None for t in tokens):
        sys.exit(f"{tokenizer_json}: the vocabulary's ids are not 0..{len(vocab) - 1}")
    types, converted = [], []
    for token in tokens:
        if token in special:
            types.append(gguf.TokenType.CONTROL)
            converted.append(token)
        else:
            types.append(gguf.TokenType.NORMAL)
            converted.append(token[2:] if token.startswith("##") else "\u2581" + token)
    return converted, types, tokenizer.get("normalizer") or {}


def write_bert(model_dir, config, out):
    layers = config["num_hidden_layers"]
    writer = gguf.GGUFWriter(out, "bert")
    writer.add_name(model_dir.name)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_block_count(layers)
    writer.add_head_count(config["num_attention_heads"])
    writer.add_layer_norm_eps(config.get("layer_norm_eps", 1e-12))
    writer.add_causal_attention(False)
    writer.add_pooling_type(pooling_type(model_dir))
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_token_type_count(config.get("type_vocab_size", 2))

    tokens, types, normalizer = wordpiece_vocab(model_dir / "tokenizer.json")
    if normalizer.get("lowercase") is False:
        sys.exit(f"{model_dir}/tokenizer.json: a cased vocabulary; llama.cpp's WPM tokenizer lower-cases")
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, layers)
    tensors = {name.removeprefix("bert."): array
               for name, array in read_safetensors(model_dir / "model.safetensors").items()}
    # The pooler is not part of a sentence-transformers embedding.
    add_tensors(writer, model_dir, tensors, names,
                skip=lambda name: name == "embeddings.position_ids" or name.startswith("pooler."))
    return writer


# ---- EmbeddingGemma -------------------------------------------------------------------------------

def sentencepiece_vocab(model_dir, vocab_size):
    """SentencePiece pieces, scores and GGUF token types in id order, padded to the embedding's
    vocab_size with unused tokens (as llama.cpp's converter does), and the tokenizer settings."""
    from sentencepiece import SentencePieceProcessor  # Debian: python3-sentencepiece

    path = model_dir / "tokenizer.model"
    processor = SentencePieceProcessor()
    if not processor.Load(str(path)):
        sys.exit(f"{path}: not a SentencePiece model")
    if processor.vocab_size() > vocab_size:
        sys.exit(f"{path}: {processor.vocab_size()} pieces but config.json's vocab_size is {vocab_size}")
    tokens = [f"[PAD{i}]" for i in range(vocab_size)]
    scores = [-10000.0] * vocab_size
    types = [gguf.TokenType.UNUSED] * vocab_size
    for i in range(processor.vocab_size()):
        tokens[i] = processor.IdToPiece(i)
        scores[i] = processor.GetScore(i)
        types[i] = (gguf.TokenType.UNKNOWN if processor.IsUnknown(i) else gguf.TokenType.CONTROL if processor.IsControl(i)
                    else gguf.TokenType.UNUSED if processor.IsUnused(i) else gguf.TokenType.BYTE if processor.IsByte(i)
                    else gguf.TokenType.NORMAL)
    config_path = model_dir / "tokenizer_config.json"
    config = read_json(config_path) if config_path.exists() else {}
    pad = processor.pad_id()
    if pad < 0 and isinstance(config.get("pad_token"), str):
        pad = processor.PieceToId(config["pad_token"])
    settings = {
        "bos": processor.bos_id(), "eos": processor.eos_id(), "unk": processor.unk_id(), "pad": pad,
        # As memembed's tokenizer: tokenizer_config.json's flags, else BOS only.
        "add_bos": config.get("add_bos_token", True), "add_eos": config.get("add_eos_token", False),
        # Whether the model's normalizer adds the dummy prefix '\u2581' before the text.
        "add_space_prefix": processor.EncodeAsPieces("a")[0].startswith("\u2581"),
    }
    return tokens, scores, types, settings


def dense_modules(model_dir):
    """The sentence-transformers Dense modules after pooling: [(config, weight)], at most two
    (llama.cpp's dense_2 and dense_3), bias-free, identity activation."""
    dense = []
    for module in read_json(model_dir / "modules.json"):
        if not module["type"].endswith(".Dense"):
            continue
        where = model_dir / module["path"]
        config = read_json(where / "config.json")
        if config.get("bias", True) or not config.get("activation_function", "").endswith("Identity"):
            sys.exit(f"{where}/config.json: llama.cpp's gemma-embedding applies Dense layers without bias or activation")
        weights = read_safetensors(where / "model.safetensors")
        if set(weights) != {"linear.weight"}:
            sys.exit(f"{where}/model.safetensors: expected one tensor linear.weight, found {sorted(weights)}")
        dense.append((config, weights["linear.weight"]))
    if len(dense) > 2:
        sys.exit(f"{model_dir}/modules.json: {len(dense)} Dense modules; llama.cpp's gemma-embedding has two")
    return dense


def write_embedding_gemma(model_dir, config, out):
    arch = gguf.MODEL_ARCH.GEMMA_EMBEDDING
    layers = config["num_hidden_layers"]
    hidden = config["hidden_size"]
    rope = config.get("rope_parameters") or {}
    writer = gguf.GGUFWriter(out, gguf.MODEL_ARCH_NAMES[arch])
    writer.add_name(model_dir.name)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(hidden)
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_block_count(layers)
    writer.add_head_count(config["num_attention_heads"])
    writer.add_head_count_kv(config["num_key_value_heads"])
    writer.add_key_length(config["head_dim"])
    writer.add_value_length(config["head_dim"])
    writer.add_layer_norm_rms_eps(config.get("rms_norm_eps", 1e-6))
    # Full-attention layers rotate with rope_theta, sliding-window ones with rope_local_base_freq.
    writer.add_rope_freq_base(config.get("rope_theta", rope.get("full_attention", {}).get("rope_theta", 1e6)))
    writer.add_rope_freq_base_swa(config.get("rope_local_base_freq",
                                             rope.get("sliding_attention", {}).get("rope_theta", 1e4)))
    writer.add_sliding_window(config["sliding_window"])
    if "layer_types" in config:
        writer.add_sliding_window_pattern([kind == "sliding_attention" for kind in config["layer_types"]])
    else:
        writer.add_sliding_window_pattern(config.get("sliding_window_pattern", config.get("_sliding_window_pattern", 6)))
    if config.get("query_pre_attn_scalar", config["head_dim"]) != config["head_dim"]:
        sys.exit(f"{model_dir}/config.json: query_pre_attn_scalar != head_dim; llama.cpp scales queries by 1/sqrt(head_dim)")
    if config.get("hidden_activation", "gelu_pytorch_tanh") != "gelu_pytorch_tanh":
        sys.exit(f"{model_dir}/config.json: hidden_activation {config['hidden_activation']}; llama.cpp uses tanh GELU")
    writer.add_pooling_type(pooling_type(model_dir))
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    dense = dense_modules(model_dir)
    for name, (dense_config, _) in zip(("dense_2", "dense_3"), dense):
        writer.add_dense_features_dims(name, dense_config["in_features"], dense_config["out_features"])

    tokens, scores, types, settings = sentencepiece_vocab(model_dir, config["vocab_size"])
    writer.add_tokenizer_model("llama")  # llama.cpp's SentencePiece (SPM) tokenizer
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    for key, add in (("bos", writer.add_bos_token_id), ("eos", writer.add_eos_token_id),
                     ("unk", writer.add_unk_token_id), ("pad", writer.add_pad_token_id)):
        if settings[key] >= 0:
            add(settings[key])
    writer.add_add_bos_token(settings["add_bos"])
    writer.add_add_eos_token(settings["add_eos"])
    writer.add_add_space_prefix(settings["add_space_prefix"])

    names = gguf.get_tensor_name_map(arch, layers)
    tensors = {name.removeprefix("model."): array
               for name, array in read_safetensors(model_dir / "model.safetensors").items()}
    # Gemma's RMSNorm scales by (1 + weight); llama.cpp's by the weight.
    add_tensors(writer, model_dir, tensors, names, skip=lambda name: name == "lm_head.weight",
                transform=lambda name, array: array + 1 if name.endswith("norm.weight") else array)
    for name, (_, weight) in zip(("dense_2", "dense_3"), dense):
        writer.add_tensor(f"{name}.weight", weight)
    return writer


WRITERS = {"bert": write_bert, "gemma3_text": write_embedding_gemma}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model_dir, out = Path(sys.argv[1]), sys.argv[2]
    config = read_json(model_dir / "config.json")
    if config.get("model_type") not in WRITERS:
        sys.exit(f"{model_dir}/config.json: model_type {config.get('model_type')}; this script writes {list(WRITERS)}")
    writer = WRITERS[config["model_type"]](model_dir, config, out)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
