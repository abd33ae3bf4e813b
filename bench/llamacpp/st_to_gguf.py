#!/usr/bin/python3
"""Writes a float32 GGUF (llama.cpp's `bert` architecture) from a sentence-transformers BERT
directory: the same safetensors weights memembed loads, read with numpy, written with llama.cpp's
own gguf-py (GGUF_PY=<llama.cpp>/gguf-py). For the side-by-side benchmark in compare.py, so both
programs run the same model; llama-quantize then makes the q8_0 file from this one.

    GGUF_PY=.../gguf-py /usr/bin/python3 st_to_gguf.py MODEL_DIR OUT.gguf
"""
import json
import os
import struct
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.environ.get("GGUF_PY", "gguf-py"))
import gguf  # noqa: E402  (llama.cpp's gguf-py, not an installed package)

SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def read_safetensors(path):
    """name -> numpy array (float32), without the safetensors package."""
    with open(path, "rb") as f:
        header_size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(header_size))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in SAFETENSORS_DTYPES:
            sys.exit(f"{path}: tensor {name} has dtype {info['dtype']}; this script reads {list(SAFETENSORS_DTYPES)}")
        begin, end = info["data_offsets"]
        array = np.frombuffer(data[begin:end], dtype=SAFETENSORS_DTYPES[info["dtype"]]).reshape(info["shape"])
        tensors[name] = array.astype(np.float32)
    return tensors


def wordpiece_vocab(tokenizer_json):
    """Tokens in id order in llama.cpp's WPM form ('##x' -> 'x', a word start -> '\u2581' + word,
    special tokens unchanged) and their GGUF token types."""
    tokenizer = json.loads(Path(tokenizer_json).read_text())
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


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model_dir, out = Path(sys.argv[1]), sys.argv[2]
    config = json.loads((model_dir / "config.json").read_text())
    if config.get("model_type") != "bert":
        sys.exit(f"{model_dir}/config.json: model_type {config.get('model_type')}; this script writes BERT only")
    pooling_config = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    pooling = {"mean": gguf.PoolingType.MEAN, "cls": gguf.PoolingType.CLS}[pooling_config["pooling_mode"]]
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
    writer.add_pooling_type(pooling)
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
    for name, array in read_safetensors(model_dir / "model.safetensors").items():
        name = name.removeprefix("bert.")
        if name == "embeddings.position_ids" or name.startswith("pooler."):
            continue  # the pooler is not part of a sentence-transformers embedding
        gguf_name = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            sys.exit(f"{model_dir}/model.safetensors: no GGUF name for tensor {name}")
        writer.add_tensor(gguf_name, array)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
