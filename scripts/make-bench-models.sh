#!/usr/bin/env bash
# Builds random-weight models with the real shapes of popular embedding models, for `memembed bench`
# (weights are seeded, so every machine gets the same models). Usage:
#   scripts/make-bench-models.sh [OUT_DIR [NAME...]]   (default: build/bench-models, all four)
# Tokenizers come from ../shared (the real bert-base-uncased vocabulary that MiniLM and BGE use; the
# Gemma fixture's SentencePiece model stands in for Gemma's, which only changes which ids occur).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$here/build/bench-models}"
wanted=("${@:2}")
# Whether NAME was asked for (no names: every model).
wanted() { [ ${#wanted[@]} -eq 0 ] || [[ " ${wanted[*]} " == *" $1 "* ]]; }
shared="${MEMEMBED_SHARED_DIR:-$here/../shared}"
memembed="${MEMEMBED_BIN:-$here/build/memembed}"

st_files() {  # dir max_seq_length pooling_flag
  local dir=$1 max_seq=$2 pooling=$3 dim=$4
  mkdir -p "$dir/1_Pooling"
  printf '{"max_seq_length": %s, "do_lower_case": false}\n' "$max_seq" >"$dir/sentence_bert_config.json"
  printf '{"word_embedding_dimension": %s, "pooling_mode": "%s", "include_prompt": true}\n' "$dim" "$pooling" \
    >"$dir/1_Pooling/config.json"
}

bert() {  # name hidden layers heads intermediate max_seq pooling
  wanted "$1" || return 0
  local dir="$out/$1"
  mkdir -p "$dir"
  cat >"$dir/config.json" <<JSON
{"architectures": ["BertModel"], "model_type": "bert", "hidden_size": $2, "num_hidden_layers": $3,
 "num_attention_heads": $4, "intermediate_size": $5, "hidden_act": "gelu", "max_position_embeddings": 512,
 "type_vocab_size": 2, "vocab_size": 30522, "layer_norm_eps": 1e-12, "pad_token_id": 0}
JSON
  cat >"$dir/modules.json" <<JSON
[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
 {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
 {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]
JSON
  st_files "$dir" "$6" "$7" "$2"
  cp "$shared/tokenizers/bert-base-uncased/tokenizer.json" "$dir/"
  "$memembed" bench --random-weights "$dir" >/dev/null
  echo "made $dir"
}

embeddinggemma() {
  wanted embeddinggemma-300m || return 0
  local dir="$out/embeddinggemma-300m"
  mkdir -p "$dir/2_Dense" "$dir/3_Dense"
  cat >"$dir/config.json" <<JSON
{"architectures": ["Gemma3TextModel"], "model_type": "gemma3_text", "hidden_size": 768, "num_hidden_layers": 24,
 "num_attention_heads": 3, "num_key_value_heads": 1, "head_dim": 256, "intermediate_size": 1152,
 "vocab_size": 262144, "max_position_embeddings": 2048, "rms_norm_eps": 1e-6, "hidden_activation": "gelu_pytorch_tanh",
 "query_pre_attn_scalar": 256, "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0, "sliding_window": 512,
 "use_bidirectional_attention": true, "_sliding_window_pattern": 6, "pad_token_id": 0}
JSON
  cat >"$dir/modules.json" <<JSON
[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
 {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
 {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
 {"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"},
 {"idx": 4, "name": "4", "path": "4_Normalize", "type": "sentence_transformers.models.Normalize"}]
JSON
  printf '{"in_features": 768, "out_features": 3072, "bias": false, "activation_function": "torch.nn.modules.linear.Identity"}\n' >"$dir/2_Dense/config.json"
  printf '{"in_features": 3072, "out_features": 768, "bias": false, "activation_function": "torch.nn.modules.linear.Identity"}\n' >"$dir/3_Dense/config.json"
  st_files "$dir" 2048 mean 768
  for f in tokenizer.model tokenizer_config.json special_tokens_map.json config_sentence_transformers.json; do
    cp "$shared/fixtures/gemma3-embed-tiny/$f" "$dir/"
  done
  "$memembed" bench --random-weights "$dir" >/dev/null
  echo "made $dir"
}

#    name               hidden layers heads intermediate max_seq pooling
bert all-MiniLM-L6-v2   384    6      12    1536         256     mean
bert bge-small-en-v1.5  384    12     12    1536         512     cls
bert bge-base-en-v1.5   768    12     12    3072         512     cls
embeddinggemma
