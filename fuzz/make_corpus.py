#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/) from ../shared.

Seeds are small on purpose (libFuzzer mutates them and caps inputs near the largest seed): the
tokenizer files are cut down to a few hundred vocabulary entries with the structure (normalizer,
pre-tokenizer, post-processor, decoder, added tokens) kept, the SentencePiece models to a few
hundred pieces. Rerun after ../shared changes: python3 fuzz/make_corpus.py [SHARED_DIR]
"""
import glob
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "shared")
CORPUS = os.path.join(HERE, "corpus")


def put(target, name, data):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(CORPUS, target, name), "wb") as out:
        out.write(data)


def read(*parts):
    with open(os.path.join(SHARED, *parts), "rb") as f:
        return f.read()


def head_lines(data, count):
    return b"".join(data.splitlines(keepends=True)[:count])


# --- tokenizer.json: every model type, vocabulary cut to the tokens a few texts need --------------
def shrink_tokenizer(document, keep):
    model = document["model"]
    if isinstance(model.get("vocab"), dict):
        vocab = {k: v for k, v in model["vocab"].items() if v < keep}
        # Ids must stay dense for WordPiece/WordLevel: renumber in id order.
        order = sorted(vocab, key=vocab.get)
        model["vocab"] = {token: i for i, token in enumerate(order)}
        if "merges" in model:
            merges = []
            for merge in model["merges"]:
                a, b = merge.split(" ", 1) if isinstance(merge, str) else merge
                if a in model["vocab"] and b in model["vocab"] and a + b in model["vocab"]:
                    merges.append(merge)
            model["merges"] = merges
        for key in ("unk_token",):
            if model.get(key) and model[key] not in model["vocab"]:
                model["vocab"][model[key]] = len(model["vocab"])
    next_id = len(model.get("vocab", {}))
    for token in document.get("added_tokens") or []:
        token["id"] = next_id
        next_id += 1
    post = document.get("post_processor")
    if post and post.get("special_tokens"):
        ids = {t["content"]: t["id"] for t in document.get("added_tokens") or []}
        for name, special in post["special_tokens"].items():
            special["ids"] = [ids.get(t, 0) for t in special.get("tokens", [])]
    return document


for name, path in [("bert-base-uncased", ("tokenizers", "bert-base-uncased", "tokenizer.json")),
                   ("gpt2", ("tokenizers", "gpt2", "tokenizer.json")),
                   ("gpt-neox-20b", ("tokenizers", "gpt-neox-20b", "tokenizer.json")),
                   ("qwen3", ("fixtures", "qwen3-embed-tiny", "tokenizer.json")),
                   ("static-glove", ("fixtures", "static-glove-25d", "0_StaticEmbedding", "tokenizer.json"))]:
    document = shrink_tokenizer(json.loads(read(*path)), 120)
    put("tokenizer_json", name + ".json", json.dumps(document, ensure_ascii=False))


# --- SentencePiece .model: the protobuf with only the first pieces --------------------------------
def varint(data, i):
    value, shift = 0, 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def fields(data):
    i = 0
    while i < len(data):
        start = i
        key, i = varint(data, i)
        wire = key & 7
        if wire == 0:
            _, i = varint(data, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            length, i = varint(data, i)
            i += length
        else:
            raise ValueError("unexpected wire type %d" % wire)
        yield key >> 3, data[start:i]


def encode_varint(value):
    out = b""
    while True:
        byte = value & 0x7F
        value >>= 7
        out += bytes([byte | (0x80 if value else 0)])
        if not value:
            return out


def shrink_sentencepiece(data, keep):
    """The first `keep` pieces; the normaliser spec without its precompiled character map (T5's
    is 240 KB)."""
    out, pieces = b"", 0
    for number, raw in fields(data):
        if number == 1:  # ModelProto.pieces
            pieces += 1
            if pieces > keep:
                continue
        if number == 3:  # ModelProto.normalizer_spec: drop precompiled_charsmap (field 2)
            key_end = 1
            _, start = varint(raw, key_end)
            spec = b"".join(sub for sub_number, sub in fields(raw[start:]) if sub_number != 2)
            raw = raw[:1] + encode_varint(len(spec)) + spec
        out += raw
    return out


for name, path in [("llama2", ("tokenizers", "llama2", "tokenizer.model")),
                   ("t5", ("tokenizers", "t5", "spiece.model"))]:
    put("sentencepiece_model", name + ".model", shrink_sentencepiece(read(*path), 300))


# --- texts: the fixtures' cases and the tokenizer test vectors ------------------------------------
texts = []
for case in json.loads(read("fixtures", "bert-tiny", "expected.json"))["cases"]:
    if case["prompt_name"] is None:
        texts.append(case["text"])
for vocab in ("gpt2", "bert-base-uncased", "llama2", "t5", "gpt-neox-20b"):
    for line in read("tokenizers", vocab, "cases.jsonl").splitlines()[:12]:
        texts.append(json.loads(line)["text"])
for i, text in enumerate(dict.fromkeys(texts)):
    put("tokenize_text", "text-%03d" % i, text)

# --- split regexes: the patterns real tokenizers use, with a text ----------------------------------
patterns = [
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
    r"""[^\s\p{L}\p{N}]+|\p{N}|[\p{Lu}\p{Lt}]?\p{Ll}+""",
    r"""\s*[\r\n]+|\s+(?!\S)|(?:ab)+c?|[[:]]""",
    r"""(a|a)*b""",
]
for i, pattern in enumerate(patterns):
    put("split_regex", "pattern-%d" % i, pattern + "\0" + "Hello world's 2024 naïve\n\n  東京 aaaab")

# --- safetensors: the Dense weights of a fixture and hand-made headers ----------------------------
put("safetensors", "dense.safetensors", read("fixtures", "gemma3-embed-tiny", "2_Dense", "model.safetensors"))


def safetensors(header, data):
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


put("safetensors", "dtypes.safetensors", safetensors(
    {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
     "b": {"dtype": "F16", "shape": [2], "data_offsets": [8, 12]},
     "c": {"dtype": "BF16", "shape": [1, 2], "data_offsets": [12, 16]},
     "d": {"dtype": "I64", "shape": [], "data_offsets": [16, 24]},
     "__metadata__": {"format": "pt"}}, bytes(range(24))))
put("safetensors", "empty.safetensors", safetensors({"e": {"dtype": "F32", "shape": [0, 3], "data_offsets": [0, 0]}}, b""))

# --- config.json of every architecture; the sentence-transformers files, picked by a first byte ---
# The fuzz targets load the fixtures with the vocabulary cut to 1024 tokens (fuzz/small_model.h).
SMALL_VOCAB = 1024
for fixture in ("bert-tiny", "gemma3-embed-tiny", "qwen3-embed-tiny"):
    config = json.loads(read("fixtures", fixture, "config.json"))
    config["vocab_size"] = SMALL_VOCAB
    put("model_config", fixture + ".json", json.dumps(config, indent=2))
roberta = json.loads(read("fixtures", "bert-tiny", "config.json"))
roberta.update({"architectures": ["XLMRobertaModel"], "model_type": "xlm-roberta", "pad_token_id": 1,
                "max_position_embeddings": 514, "vocab_size": SMALL_VOCAB})
put("model_config", "xlm-roberta.json", json.dumps(roberta))

bert = ("fixtures", "bert-tiny")
for selector, name in enumerate(["modules.json", "1_Pooling/config.json", "sentence_bert_config.json",
                                 "config_sentence_transformers.json"]):
    put("model_directory", "%d-%s" % (selector, name.replace("/", "-")), bytes([selector]) + read(*bert, name))
weights = read(*bert, "model.safetensors")
(header_length,) = struct.unpack("<Q", weights[:8])
names = [n for n in json.loads(weights[8:8 + header_length]) if n != "__metadata__"]
put("model_directory", "4-model.safetensors.index.json", bytes([4]) + json.dumps(
    {"metadata": {}, "weight_map": {n: "model-00001-of-00001.safetensors" for n in names}}).encode())

# --- LMEB task files (first byte: 0 corpus, 1 queries, 2 candidates, 3 task_instructions) ---------
task = ("lmeb", "Dialogue", "LoCoMo")
put("lmeb_files", "0-corpus.jsonl", b"\0" + head_lines(read(*task, "corpus.jsonl"), 3))
put("lmeb_files", "1-queries.jsonl", b"\1" + head_lines(read(*task, "single_hop", "queries.jsonl"), 3))
put("lmeb_files", "2-candidates.jsonl", b"\2" + b'{"scene_id": "s1", "candidate_doc_ids": ["d1", "d2", "d9"]}\n')
put("lmeb_files", "3-task_instructions.json", b"\3" + read("lmeb", "task_instructions.json")[:2000]
    if len(read("lmeb", "task_instructions.json")) <= 2000 else
    b"\3" + json.dumps({"LoCoMo": {"single_hop": "Given a question, retrieve the dialogue turns",
                                   "default": "Retrieve"}}).encode())

# --- qrels and TREC runs: the trec_eval reference cases -----------------------------------------
for case in sorted(glob.glob(os.path.join(SHARED, "metrics", "cases", "*")))[:6]:
    name = os.path.basename(case)
    for qrels in ("qrels.tsv", "qrels.trec"):
        if os.path.exists(os.path.join(case, qrels)):
            put("qrels", name + "-" + qrels, head_lines(read("metrics", "cases", name, qrels), 40))
    put("trec_run", name + "-run.trec", head_lines(read("metrics", "cases", name, "run.trec"), 40))
put("qrels", "beir-header.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t0\nq2\td1\t2\n")

# --- the hub listing and the embedder config -----------------------------------------------------
put("hub_listing", "listing.json", json.dumps({
    "id": "org/name", "sha": "a" * 40,
    "siblings": [
        {"rfilename": "config.json", "size": 612, "blobId": "b" * 40},
        {"rfilename": "model.safetensors", "size": 90868376, "blobId": "c" * 40,
         "lfs": {"sha256": "d" * 64, "size": 90868376, "pointerSize": 135}},
        {"rfilename": "1_Pooling/config.json", "size": 190, "blobId": "e" * 40}]}))
put("embedder_config", "embedder.json", json.dumps({
    "format": "memembed.embedder/1", "provider": "memembed", "model": "google/embeddinggemma-300m",
    "dims": 768, "max_seq_length": 2048, "normalize": True, "dtype": "f32",
    "query_prompt": "task: search result | query: ", "document_prompt": "title: none | text: ",
    "instruction_template": "Instruct: {instruction}\nQuery:",
    "query_instructions": {"EPISODIC": None, "PROCEDURAL": "Given a task, retrieve steps",
                           "SEMANTIC": None, "SOCIAL": None, "DEFAULT": None},
    "fine_tune": {"enabled": False, "checkpoint_path": None, "base_model": None, "training_data_dir": None},
    "selection": {}}, indent=2))
print("seed corpora written to", CORPUS)
