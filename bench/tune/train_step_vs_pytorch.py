#!/usr/bin/python3
"""Time of one `memembed tune train` optimiser step next to the same step in PyTorch eager.

The step is the one docs/tune.md describes: a global batch of queries, each with its positive and
hard negatives, InfoNCE over all of the batch's documents (in-batch negatives), GradCache (every
text embedded once without autograd in mini-batches, the loss's gradient with respect to the
embeddings computed, then each mini-batch embedded again with autograd and back-propagated),
gradient clipping and AdamW. Both sides train the same BERT model directory (weights read from its
model.safetensors), on the same token ids (from `memembed tokenize`, truncated alike), with the
same thread count, in alternating rounds of the same run, each in its own process so that its
peak RSS is its own. Usage (Debian's python3-torch; /usr/bin/python3):

  bench/tune/train_step_vs_pytorch.py --model build/bench-models/all-MiniLM-L6-v2 \
      --docs ../shared/lmeb/Procedural/ReMe/*/corpus.jsonl --memembed build/memembed --json out.json

Both wall time and CPU time are reported: with --threads 1, CPU time is what a step costs even on
a machine that other work keeps busy. The first step of every run is left out of the figures (allocator and thread-pool warm-up). The
batches differ between the two sides (each draws its own order from the same examples); their
token-length distribution is the same, and the mean over several steps is what is compared.
"""
import argparse
import json
import math
import os
import random
import struct
import subprocess
import sys
import tempfile
import time


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path, records):
    with open(path, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")


def run_child(argv, env=None):
    """Runs argv; returns (exit status, peak RSS in MiB, stdout) of that process alone."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, env=env)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_maxrss / 1024.0, output.decode()


def prepare_data(args, work):
    """memembed's own training data from --docs, with seeded random negatives (mining needs a
    trained model to be meaningful, and the step's cost does not depend on which chunks they are)."""
    data = os.path.join(work, "gen")
    subprocess.run([args.memembed, "-q", "tune", "generate", "--docs", *args.docs, "--out", data],
                   check=True, stdout=subprocess.DEVNULL)
    chunks = read_jsonl(os.path.join(data, "data", "chunks.jsonl"))
    pairs = read_jsonl(os.path.join(data, "data", "train.jsonl"))
    rng = random.Random(args.seed)
    ids = [chunk["id"] for chunk in chunks]
    mined = []
    for pair in pairs:
        negatives = []
        while len(negatives) < args.negatives:
            candidate = rng.choice(ids)
            if candidate != pair["positive"] and candidate not in negatives:
                negatives.append(candidate)
        mined.append({"query_id": pair["query_id"], "query": pair["query"], "positive": pair["positive"],
                      "negatives": negatives, "hard": 0})
    write_jsonl(os.path.join(data, "data", "negatives.jsonl"), mined)

    def tokenize(records, name):
        source = os.path.join(work, name + ".jsonl")
        write_jsonl(source, [{"text": text} for text in records])
        target = os.path.join(work, name + ".ids.jsonl")
        subprocess.run([args.memembed, "-q", "tokenize", "--tokenizer", args.model, "--input", source,
                        "--output", target, "--max-length", str(args.max_seq_length)], check=True)
        return target

    tokenize([chunk["text"] for chunk in chunks], "chunks")
    tokenize([example["query"] for example in mined], "queries")
    return os.path.join(data, "data")


def memembed_round(args, data, work, round_index):
    out = os.path.join(work, f"memembed-{round_index}")
    status, rss, _ = run_child([args.memembed, "-q", "tune", "train", "--data", data, "--model", args.model,
                                "--out", out, "--max-steps", str(args.steps), "--batch-size", str(args.batch_size),
                                "--mini-batch", str(args.mini_batch), "--negatives", str(args.negatives),
                                "--max-seq-length", str(args.max_seq_length), "--threads", str(args.threads),
                                "--checkpoint-every", str(10 ** 6), "--seed", str(args.seed + round_index)])
    if status != 0:
        sys.exit(f"memembed tune train failed with status {status}")
    steps = read_jsonl(os.path.join(out, "train", "log.jsonl"))[1:]
    return [step["seconds"] for step in steps], [step["cpu_seconds"] for step in steps], rss


def pytorch_round(args, data, work, round_index):
    status, rss, output = run_child([sys.executable, os.path.abspath(__file__), "--pytorch-worker",
                                     "--model", args.model, "--work", work, "--data", data,
                                     "--steps", str(args.steps), "--batch-size", str(args.batch_size),
                                     "--mini-batch", str(args.mini_batch), "--negatives", str(args.negatives),
                                     "--threads", str(args.threads), "--seed", str(args.seed + round_index)])
    if status != 0:
        sys.exit(f"the PyTorch worker failed with status {status}")
    report = json.loads(output)
    return report["seconds"][1:], report["cpu_seconds"][1:], rss


# ---- The PyTorch side: BERT in eager mode, the sentence-transformers way ---------------------------

def load_safetensors(path, torch):
    with open(path, "rb") as f:
        header_size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(header_size))
        payload = f.read()
    dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        flat = torch.frombuffer(bytearray(payload[begin:end]), dtype=dtypes[entry["dtype"]])
        tensors[name] = flat.reshape(entry["shape"]).float()
    return tensors


def pytorch_worker(args):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    with open(os.path.join(args.model, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    weights = load_safetensors(os.path.join(args.model, "model.safetensors"), torch)
    prefix = "bert." if any(name.startswith("bert.") for name in weights) else ""
    parameters = {name: torch.nn.Parameter(tensor) for name, tensor in weights.items()
                  if "pooler" not in name and "position_ids" not in name}

    def p(name):
        return parameters[prefix + name]

    heads = config["num_attention_heads"]
    hidden = config["hidden_size"]
    eps = config.get("layer_norm_eps", 1e-12)

    def encode(batch):
        longest = max(len(ids) for ids in batch)
        ids = torch.tensor([row + [0] * (longest - len(row)) for row in batch])
        mask = torch.tensor([[1] * len(row) + [0] * (longest - len(row)) for row in batch], dtype=torch.float32)
        positions = torch.arange(longest).unsqueeze(0)
        x = (F.embedding(ids, p("embeddings.word_embeddings.weight"))
             + F.embedding(positions, p("embeddings.position_embeddings.weight"))
             + p("embeddings.token_type_embeddings.weight")[0])
        x = F.layer_norm(x, (hidden,), p("embeddings.LayerNorm.weight"), p("embeddings.LayerNorm.bias"), eps)
        additive = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min
        for layer in range(config["num_hidden_layers"]):
            at = f"encoder.layer.{layer}."

            def linear(x, name):
                return F.linear(x, p(at + name + ".weight"), p(at + name + ".bias"))

            def split(t):
                return t.view(t.size(0), t.size(1), heads, hidden // heads).transpose(1, 2)

            q = split(linear(x, "attention.self.query"))
            k = split(linear(x, "attention.self.key"))
            v = split(linear(x, "attention.self.value"))
            scores = q @ k.transpose(-1, -2) / math.sqrt(hidden // heads) + additive
            context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(x.shape)
            x = F.layer_norm(linear(context, "attention.output.dense") + x, (hidden,),
                             p(at + "attention.output.LayerNorm.weight"), p(at + "attention.output.LayerNorm.bias"), eps)
            inner = F.gelu(linear(x, "intermediate.dense"))
            x = F.layer_norm(linear(inner, "output.dense") + x, (hidden,),
                             p(at + "output.LayerNorm.weight"), p(at + "output.LayerNorm.bias"), eps)
        pooled = (x * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
        return F.normalize(pooled, dim=-1)

    chunk_ids = [record["ids"] for record in read_jsonl(os.path.join(args.work, "chunks.ids.jsonl"))]
    query_ids = [record["ids"] for record in read_jsonl(os.path.join(args.work, "queries.ids.jsonl"))]
    row_of = {chunk["id"]: i for i, chunk in enumerate(read_jsonl(os.path.join(args.data, "chunks.jsonl")))}
    examples = read_jsonl(os.path.join(args.data, "negatives.jsonl"))
    order = list(range(len(examples)))
    random.Random(args.seed).shuffle(order)
    optimizer = torch.optim.AdamW(parameters.values(), lr=1e-5, weight_decay=0.01)
    temperature = 0.02
    slots = 1 + args.negatives

    def embed_without_grad(rows):
        with torch.no_grad():
            return torch.cat([encode(rows[i:i + args.mini_batch]) for i in range(0, len(rows), args.mini_batch)])

    def backward_with(rows, gradient):
        for i in range(0, len(rows), args.mini_batch):
            encode(rows[i:i + args.mini_batch]).backward(gradient[i:i + args.mini_batch])

    seconds, cpu_seconds = [], []
    for step in range(args.steps):
        started, cpu_started = time.perf_counter(), time.process_time()
        batch = [order[(step * args.batch_size + i) % len(order)] for i in range(args.batch_size)]
        queries = [query_ids[e] for e in batch]
        documents = [chunk_ids[row_of[c]] for e in batch
                     for c in [examples[e]["positive"], *examples[e]["negatives"][:args.negatives]]]
        optimizer.zero_grad()
        query_embeddings = embed_without_grad(queries).requires_grad_(True)
        document_embeddings = embed_without_grad(documents).requires_grad_(True)
        scores = query_embeddings @ document_embeddings.t() / temperature
        loss = F.cross_entropy(scores, torch.arange(len(batch)) * slots)
        loss.backward()
        backward_with(queries, query_embeddings.grad)
        backward_with(documents, document_embeddings.grad)
        torch.nn.utils.clip_grad_norm_(parameters.values(), 1.0)
        optimizer.step()
        seconds.append(time.perf_counter() - started)
        cpu_seconds.append(time.process_time() - cpu_started)
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="BERT sentence-transformers directory (model.safetensors)")
    parser.add_argument("--docs", nargs="+", help="documents for `memembed tune generate`")
    parser.add_argument("--memembed", default="build/memembed")
    parser.add_argument("--steps", type=int, default=4, help="optimiser steps per run (the first is not counted)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs of each side")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--mini-batch", type=int, default=32)
    parser.add_argument("--negatives", type=int, default=4)
    parser.add_argument("--max-seq-length", type=int, default=256)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", help="write the figures here too")
    parser.add_argument("--pytorch-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pytorch_worker:
        pytorch_worker(args)
        return
    if not args.docs:
        parser.error("--docs is required")
    with tempfile.TemporaryDirectory(prefix="memembed-train-step-") as work:
        data = prepare_data(args, work)
        figures = {side: {"seconds": [], "cpu_seconds": [], "peak_rss_mib": 0.0} for side in ("memembed", "pytorch")}
        for round_index in range(args.rounds):
            for side, run in (("memembed", memembed_round), ("pytorch", pytorch_round)):
                seconds, cpu_seconds, rss = run(args, data, work, round_index)
                figures[side]["seconds"] += seconds
                figures[side]["cpu_seconds"] += cpu_seconds
                figures[side]["peak_rss_mib"] = max(figures[side]["peak_rss_mib"], rss)
                print(f"round {round_index + 1} {side}: " + ", ".join(f"{s:.2f}" for s in seconds)
                      + " s/step (CPU " + ", ".join(f"{s:.2f}" for s in cpu_seconds)
                      + f" s), peak RSS {rss:.0f} MiB, load average {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
    for side in figures.values():
        side["mean_step_seconds"] = sum(side["seconds"]) / len(side["seconds"])
        side["mean_step_cpu_seconds"] = sum(side["cpu_seconds"]) / len(side["cpu_seconds"])
    ratio = figures["pytorch"]["mean_step_seconds"] / figures["memembed"]["mean_step_seconds"]
    cpu_ratio = figures["pytorch"]["mean_step_cpu_seconds"] / figures["memembed"]["mean_step_cpu_seconds"]
    report = {"model": args.model, "batch_size": args.batch_size, "mini_batch": args.mini_batch,
              "negatives": args.negatives, "threads": args.threads, "max_seq_length": args.max_seq_length,
              "load_average": os.getloadavg()[0], "sides": figures, "memembed_speedup_vs_pytorch": ratio,
              "memembed_cpu_time_speedup_vs_pytorch": cpu_ratio}
    print(f"step: memembed {figures['memembed']['mean_step_seconds']:.2f} s (CPU "
          f"{figures['memembed']['mean_step_cpu_seconds']:.2f} s), PyTorch eager "
          f"{figures['pytorch']['mean_step_seconds']:.2f} s (CPU {figures['pytorch']['mean_step_cpu_seconds']:.2f} s) "
          f"-> memembed {ratio:.2f}x PyTorch's speed ({cpu_ratio:.2f}x in CPU time); "
          f"peak RSS {figures['memembed']['peak_rss_mib']:.0f} vs {figures['pytorch']['peak_rss_mib']:.0f} MiB")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
