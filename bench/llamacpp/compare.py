#!/usr/bin/python3
"""memembed vs llama.cpp on the same weights, texts and thread count (docs/bench.md).

For each model directory (a BERT or EmbeddingGemma from scripts/make-bench-models.sh, or a real
one): writes the f32 GGUF from the same safetensors (st_to_gguf.py) and the q8_0 one
(llama-quantize), checks that llama.cpp's f32 embeddings agree with memembed's f32 ones (cosine
per text, from the first round's outputs), and times
`memembed embed` at each --precision and `llama-embedding` at f32 and q8_0 on two workloads of
real memory texts (LoCoMo turns: short ones as they are; long ones joined to ~435 tokens).

Timing survives a shared machine: every run is its own process at 1 thread, its CPU time
(user + sys, from wait4) is what counts, runs are interleaved round by round, and the CPU time
of the same process on the workload's first text alone (loading, start-up, that text) is
subtracted, so texts/s is (texts - 1) / marginal CPU seconds. Peak RSS is the process's ru_maxrss. Ratios are against llama.cpp
f32 in the same table.

    bench/llamacpp/compare.py --llama-bin LLAMA_BUILD/bin --models build/bench-models/all-MiniLM-L6-v2 ...
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def run(command, env=None):
    """Runs a command to completion; returns (CPU seconds, peak RSS bytes, wall seconds, stdout,
    stderr). Both streams go to files, not pipes: a pipe that fills while the other one is read
    would stall the child (llama.cpp logs a lot on stderr), and wait4 must reap it for its usage."""
    with tempfile.TemporaryFile() as output, tempfile.TemporaryFile() as errors:
        start = time.monotonic()
        process = subprocess.Popen(command, stdout=output, stderr=errors, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        errors.seek(0)
        stdout, stderr = (stream.read().decode(errors="replace") for stream in (output, errors))
    if process.returncode != 0:
        sys.exit(f"{' '.join(map(str, command))} failed ({process.returncode}):\n{stderr[-3000:]}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, wall, stdout, stderr


def single_thread_env():
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"
    return env


# ---- workloads ------------------------------------------------------------------------------

def token_counts(memembed, model_dir, texts_file, work):
    out = work / (texts_file.stem + ".ids.jsonl")
    subprocess.run([memembed, "tokenize", "--tokenizer", model_dir, "--input", texts_file, "--output", out,
                    "--no-special-tokens"], check=True, stdout=subprocess.DEVNULL)
    return [len(json.loads(line)["ids"]) for line in out.read_text().splitlines()]


def make_workloads(args, work, model_dir):
    """short.txt: the first --short-texts corpus texts; long.txt: consecutive ones joined until
    each holds --long-tokens tokens ([CLS] and [SEP] included). One text per line."""
    turns = []
    for line in Path(args.corpus).read_text().splitlines():
        text = " ".join(json.loads(line)["text"].split())  # one line each, for llama-embedding
        if text:
            turns.append(text)
    all_turns = work / "turns.txt"
    all_turns.write_text("\n".join(turns) + "\n")
    counts = token_counts(args.memembed, model_dir, all_turns, work)
    short = turns[: args.short_texts]
    # Texts end at the first turn that reaches --long-tokens, unless it would pass the cap (BERT's
    # 512 positions; llama.cpp refuses longer inputs where memembed truncates): then just before.
    cap = args.long_tokens + 40
    long, current, current_tokens = [], [], 2
    for text, count in zip(turns, counts):
        if len(long) == args.long_texts:
            break
        if count + 2 > cap:
            continue
        if current_tokens + count > cap:
            long.append(" ".join(current))
            current, current_tokens = [], 2
        current.append(text)
        current_tokens += count
        if current_tokens >= args.long_tokens:
            long.append(" ".join(current))
            current, current_tokens = [], 2
    long = long[: args.long_texts]
    workloads = {}
    max_seq = json.loads((Path(model_dir) / "sentence_bert_config.json").read_text()).get("max_seq_length", 512)
    if max_seq < cap:
        print(f"{Path(model_dir).name}: no long-text workload (max_seq_length {max_seq} would truncate what "
              f"llama.cpp reads whole)")
        long = []
    for name, texts in (("short", short), ("long", long)):
        if not texts:
            continue
        path = work / f"{name}.txt"
        path.write_text("\n".join(texts) + "\n")
        one = work / f"{name}-one.txt"
        one.write_text(texts[0] + "\n")
        workloads[name] = (path, one, len(texts))
    return workloads


# ---- the two programs -------------------------------------------------------------------------

def memembed_command(args, model_dir, precision, texts, output):
    return [args.memembed, "embed", "--model", model_dir, "--input", texts, "--output", output, "--threads", "1",
            "--precision", precision]


def llama_command(args, gguf, texts, context):
    program = args.llamacpp_embed or Path(args.llama_bin) / "llama-embedding"
    return [program, "-m", gguf, "-f", texts, "-t", "1", "-tb", "1",
            "-c", str(context), "--embd-normalize", "2", "--embd-output-format", "json", "--no-warmup"]


def llama_vectors(stdout):
    data = json.loads(stdout[stdout.index("{"):])["data"]
    return [item["embedding"] for item in sorted(data, key=lambda item: item["index"])]


def memembed_vectors(path):
    rows = [json.loads(line) for line in Path(path).read_text().splitlines()]
    return [row["embedding"] for row in sorted(rows, key=lambda row: row["index"])]


def cosines(a, b):
    result = []
    for x, y in zip(a, b, strict=True):
        dot = sum(p * q for p, q in zip(x, y))
        result.append(dot / math.sqrt(sum(p * p for p in x) * sum(q * q for q in y)))
    return result


def llama_tokens(stderr):
    match = re.search(r"prompt eval time =\s*[\d.]+ ms /\s*(\d+) tokens", stderr)
    return int(match.group(1)) if match else None


def make_ggufs(args, model_dir, work):
    f32 = work / "model-f32.gguf"
    q8 = work / "model-q8_0.gguf"
    if not f32.exists():
        env = dict(os.environ, GGUF_PY=str(Path(args.llama_src) / "gguf-py"))
        subprocess.run(["/usr/bin/python3", HERE / "st_to_gguf.py", model_dir, f32], check=True, env=env,
                       stdout=subprocess.DEVNULL)
    if not q8.exists():
        command = ([args.llamacpp_embed, "--quantize", f32, q8] if args.llamacpp_embed
                   else [Path(args.llama_bin) / "llama-quantize", f32, q8, "q8_0"])
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return {"f32": f32, "q8_0": q8}


# ---- one model --------------------------------------------------------------------------------

def compare_model(args, model_dir, report):
    name = Path(model_dir).name
    work = Path(args.work) / name
    work.mkdir(parents=True, exist_ok=True)
    ggufs = make_ggufs(args, model_dir, work)
    workloads = make_workloads(args, work, model_dir)
    env = single_thread_env()
    print(f"\n== {name}  (load average {os.getloadavg()[0]:.1f})", flush=True)
    ids = {w: sum(n + 2 for n in token_counts(args.memembed, model_dir, t, work)) for w, (t, _, _) in workloads.items()}

    # memembed first in each round, so the first round's vectors give the agreement check (same
    # model? llama.cpp f32 and q8_0 against memembed f32 text by text; memembed's other precisions
    # against its f32) without a separate pass.
    contenders = [("memembed", p) for p in sorted(args.precisions, key=lambda p: p != "f32")]
    contenders += [("llama.cpp", q) for q in ggufs]
    results, agreement = {}, {}
    for workload, (texts, one, count) in workloads.items():
        best = {c: {"cpu": math.inf, "cpu_one": math.inf, "rss": 0, "wall": math.inf} for c in contenders}
        for round_index in range(args.rounds):
            for contender in contenders:
                program, precision = contender
                vectors_file = work / f"{workload}-{precision}.jsonl"
                for key, file in (("cpu", texts), ("cpu_one", one)):
                    if program == "memembed":
                        output = vectors_file if key == "cpu" else work / "one-text.jsonl"
                        command = memembed_command(args, model_dir, precision, file, output)
                    else:
                        command = llama_command(args, ggufs[precision], file, args.context[workload])
                    cpu, rss, wall, stdout, stderr = run(command, env=env)
                    best[contender][key] = min(best[contender][key], cpu)
                    if key == "cpu":
                        best[contender]["rss"] = max(best[contender]["rss"], rss)
                        best[contender]["wall"] = min(best[contender]["wall"], wall)
                        if round_index == 0:
                            check_agreement(agreement, workload, contender, vectors_file, stdout, stderr, work)
        # The one-text run is the workload's first text, so the marginal CPU time is that of the
        # other count - 1 texts.
        baseline = (count - 1) / max(1e-9, best[("llama.cpp", "f32")]["cpu"] - best[("llama.cpp", "f32")]["cpu_one"])
        tokens = ids[workload] / count
        print(f"{workload}: {count} texts, {tokens:.0f} tokens per text ({ids[workload]} in all), 1 thread, "
              f"best of {args.rounds} (load average {os.getloadavg()[0]:.1f})")
        for key, value in agreement.items():
            if key.startswith(workload + " "):
                print(f"  agreement  {key}: cosine min {value['min']:.5f} mean {value['mean']:.5f}"
                      + (f" (llama.cpp tokens {value['llama_tokens']})" if "llama_tokens" in value else ""))
        rows = []
        for contender in contenders:
            b = best[contender]
            marginal = b["cpu"] - b["cpu_one"]
            rate = (count - 1) / max(1e-9, marginal)
            rows.append({"program": contender[0], "precision": contender[1], "texts_per_cpu_second": rate,
                         "vs_llama_cpp_f32": rate / baseline, "cpu_seconds": b["cpu"],
                         "cpu_seconds_one_text": b["cpu_one"], "peak_rss_mib": b["rss"] / 2**20,
                         "wall_seconds": b["wall"]})
            print(f"  {contender[0]:9} {contender[1]:5} {rate:8.2f} texts/CPU-s  x{rate / baseline:5.2f} vs llama.cpp f32"
                  f"  peak RSS {b['rss'] / 2**20:7.1f} MiB  (CPU {b['cpu']:.2f} s - {b['cpu_one']:.2f} s for one text;"
                  f" wall {b['wall']:.1f} s)", flush=True)
        results[workload] = {"texts": count, "tokens_per_text": tokens, "memembed_tokens": ids[workload],
                             "load_average": os.getloadavg()[0], "rows": rows}
    report[name] = {"agreement": agreement, "workloads": results, "llama_context": args.context}


def check_agreement(agreement, workload, contender, vectors_file, stdout, stderr, work):
    """Cosine per text of one run's vectors against memembed f32's (written earlier in the round)."""
    program, precision = contender
    if program == "memembed" and precision == "f32":
        return
    reference = memembed_vectors(work / f"{workload}-f32.jsonl")
    if program == "memembed":
        c = cosines(reference, memembed_vectors(vectors_file))
        agreement[f"{workload} memembed {precision} vs memembed f32"] = {"min": min(c), "mean": sum(c) / len(c)}
    else:
        c = cosines(reference, llama_vectors(stdout))
        agreement[f"{workload} llama.cpp {precision} vs memembed f32"] = {
            "min": min(c), "mean": sum(c) / len(c), "llama_tokens": llama_tokens(stderr)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", required=True, help="sentence-transformers directories (BERT or EmbeddingGemma)")
    parser.add_argument("--memembed", default=str(REPO / "build" / "memembed"))
    parser.add_argument("--llama-bin", help="llama.cpp's build/bin (llama-embedding, llama-quantize)")
    parser.add_argument("--llamacpp-embed", help="instead of --llama-bin: llamacpp_embed.cpp built on a prebuilt libllama")
    parser.add_argument("--llama-src", required=True, help="llama.cpp's source (for gguf-py)")
    parser.add_argument("--corpus", default=str(REPO.parent / "shared" / "lmeb" / "Dialogue" / "LoCoMo" / "corpus.jsonl"))
    parser.add_argument("--precisions", default="f32,int8", help="memembed precisions, comma separated")
    parser.add_argument("--short-texts", type=int, default=400)
    parser.add_argument("--long-texts", type=int, default=40)
    parser.add_argument("--long-tokens", type=int, default=435)
    # llama.cpp attends over its whole batch (other texts masked), so a larger -c costs it more:
    # 512 (llama-embedding's default for BERT: the trained context) ran it 1.4x faster than 2048.
    parser.add_argument("--short-context", type=int, default=512, help="llama.cpp -c (= its batch) for short texts")
    parser.add_argument("--long-context", type=int, default=512, help="llama.cpp -c for long texts")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--work", default=str(REPO / "build" / "llamacpp-compare"))
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if not args.llama_bin and not args.llamacpp_embed:
        parser.error("--llama-bin or --llamacpp-embed is required")
    args.precisions = args.precisions.split(",")
    args.context = {"short": args.short_context, "long": args.long_context}
    report = {"threads": 1, "method": "marginal CPU time per process (N texts minus one text), best of rounds"}
    if "f32" not in args.precisions:
        parser.error("--precisions must include f32 (the agreement check's reference)")
    for model_dir in args.models:
        compare_model(args, model_dir, report)
        if args.json:  # after each model: a long run interrupted keeps what it measured
            Path(args.json).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
