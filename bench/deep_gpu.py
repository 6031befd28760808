"""Throughput of the deep triage tier's encoder on a GPU, with tokenisation: JSON on stdout.

    python3 bench/deep_gpu.py --model-dir DIR --texts FILE [--n 200000]
        [--batch-size 1024,2048,4096] [--max-length 128] [--dtype bfloat16]

Needs torch, transformers, tokenizers and numpy only: ``fairdesk/triage/deep.py`` is loaded
from its file, so neither Django, the project's other dependencies nor its virtualenv have
to be there. DIR is a model folder (``bench/make_fp16_model.py`` writes a float16 copy of
the packaged MiniLM that fits a transfer limit; the weights are cast to ``--dtype`` after
loading). FILE has one text per line, cycled to ``--n`` texts.

For each batch size, best of ``--repeats`` wall-clock runs over the ``--n`` texts:

- ``end_to_end``: ``DeepEncoder.encode`` as the pipeline calls it: tokenise (Rust, every
  core) and bucket by length in a producer thread, chunk k+1 prepared while chunk k runs,
  results copied back asynchronously;
- ``tokenize``: the CPU side alone (tokenise, bucket, pad into pinned memory);
- ``forward``: the GPU side alone, on texts already prepared (result copied back);
- ``forward_fixed_64``: the model on batches of 64 real tokens each, no padding (the
  reference figure: MiniLM-L6 reaches about 155,000 sentences/s there in bf16 on an H100).

``agreement`` compares the chosen dtype's embeddings with float32 ones on 2,000 texts
(cosine similarity), so a fast but wrong configuration shows.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

DEEP = Path(__file__).resolve().parents[1] / "fairdesk" / "triage" / "deep.py"


def load_deep() -> ModuleType:
    """``fairdesk.triage.deep`` from its file, without importing the fairdesk package."""
    spec = importlib.util.spec_from_file_location("fairdesk_triage_deep", DEEP)
    if spec is None or spec.loader is None:
        sys.exit(f"cannot load {DEEP}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def best(work: Callable[[], Any], repeats: int, sync: Callable[[], None]) -> float:
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        work()
        sync()
        times.append(time.perf_counter() - start)
    return min(times)


def rate(n: int, seconds: float) -> int:
    return round(n / seconds) if seconds else 0


def fixed_length(encoder: Any, n: int, batch_size: int, length: int, repeats: int) -> float:
    """Seconds for ``n`` rows of ``length`` real tokens each through the model."""
    torch = encoder._torch
    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 29000, size=(batch_size, length), dtype=np.int32)
    ids[:, 0], ids[:, -1] = 101, 102  # [CLS] ... [SEP]
    ids_t = torch.from_numpy(ids).to(encoder.device)
    mask_t = torch.ones_like(ids_t)
    steps = max(1, n // batch_size)

    def run() -> None:
        with torch.inference_mode():
            for _ in range(steps):
                encoder.forward(ids_t, mask_t)

    run()
    return best(run, repeats, torch.cuda.synchronize) * n / (steps * batch_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--texts", type=Path, required=True, help="one text per line")
    parser.add_argument("--n", type=int, default=200_000, help="texts per run (file cycled)")
    parser.add_argument("--batch-size", default="1024,2048,4096", help="comma-separated")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    parser.add_argument("--chunk", type=int, default=16_384, help="texts per prepared chunk")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default=None, help="default: cuda when available")
    parser.add_argument(
        "--tokenize-workers",
        type=int,
        default=None,
        help="tokenising processes (default: 3/4 of the cores, at most 12, on a GPU; 0: none)",
    )
    args = parser.parse_args()

    deep = load_deep()
    import torch

    lines = [line for line in args.texts.read_text(encoding="utf-8").splitlines() if line]
    if not lines:
        sys.exit(f"{args.texts}: no texts")
    texts = [lines[i % len(lines)] for i in range(args.n)]
    sizes = [int(b) for b in args.batch_size.split(",")]
    started = time.perf_counter()
    encoder = deep.DeepEncoder(
        args.model_dir,
        max_length=args.max_length,
        batch_size=sizes[0],
        device=args.device,
        dtype=args.dtype,
        tokenize_workers=args.tokenize_workers,
    )
    load_seconds = time.perf_counter() - started
    cuda = encoder.device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    encoder.encode(texts[: min(len(texts), 20_000)], chunk=args.chunk)  # warm up

    tokens = encoder.tokenize(lines)
    runs = []
    for size in sizes:
        encoder.batch_size = size
        prepared = encoder.prepare(texts)
        run: dict[str, Any] = {"batch_size": size}
        seconds = best(lambda: encoder.encode(texts, chunk=args.chunk), args.repeats, sync)
        run["end_to_end"] = {"seconds": round(seconds, 4), "texts_per_s": rate(len(texts), seconds)}
        seconds = best(lambda: encoder.prepare(texts), args.repeats, sync)
        run["tokenize"] = {"seconds": round(seconds, 4), "texts_per_s": rate(len(texts), seconds)}
        seconds = best(partial(encoder.embed, prepared), args.repeats, sync)
        run["forward"] = {"seconds": round(seconds, 4), "texts_per_s": rate(len(texts), seconds)}
        if cuda:
            seconds = fixed_length(encoder, len(texts), size, 64, args.repeats)
            run["forward_fixed_64"] = {"texts_per_s": rate(len(texts), seconds)}
        runs.append(run)

    sample = lines[:2000]
    reference = deep.DeepEncoder(
        args.model_dir,
        max_length=args.max_length,
        device=args.device,
        dtype="float32",
        tokenize_workers=0,
    ).encode(sample)
    cosine = np.sum(reference * encoder.encode(sample), axis=1)
    result = {
        "device": encoder.device_name,
        "dtype": args.dtype,
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "tokenize_workers": encoder.tokenize_workers,
        "model_dir": str(args.model_dir),
        "load_seconds": round(load_seconds, 2),
        "texts": len(texts),
        "distinct_texts": len(lines),
        "max_length": args.max_length,
        "mean_tokens": round(float(tokens.lengths.mean()), 1),
        "chunk": args.chunk,
        "runs": runs,
        "best_end_to_end_texts_per_s": max(r["end_to_end"]["texts_per_s"] for r in runs),
        "agreement": {
            "vs": "float32",
            "mean_cosine": round(float(cosine.mean()), 6),
            "min_cosine": round(float(cosine.min()), 6),
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
