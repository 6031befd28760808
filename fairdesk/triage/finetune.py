"""Fine-tuning the deep tier's encoder on several tasks at once.

A frozen MiniLM with a linear head per task misses the RoBERTa-base rows by 4-13 points
(``docs/TRIAGE.md``). Fine-tuning the encoder closes most of that, but one encoder per task
would cost one forward pass per head. So the encoder is tuned on every task together
(multi-task: each step is a batch of one task, through the shared encoder into that task's
head, and the batches of all tasks are shuffled together), and the pipeline still encodes a
text once for all its heads.

The heads keep the deep tier's bundle format: a linear layer over the L2-normalised mean
pooled embedding. During training the logits are ``scale * e @ W.T + b`` (a unit vector
needs large weights to be confident, and a fixed scale lets the head learn at a normal
rate); the scale is folded into the saved weight, and a two-label head is saved as the one
row ``W[1] - W[0]`` the deep bundles use. The saved head therefore gives exactly the
trained model's decisions.

The recipe is fixed in advance (:class:`Recipe`: the usual BERT fine-tuning settings, AdamW,
linear warm-up and decay, class-balanced cross-entropy for the macro metrics) and the
validation split is only used to score the result, never to choose an epoch or a rate.

What is written (``out``, by default ``DATA_DIR/triage/deep``):
``encoders/<name>/`` (``config.json``, ``model.safetensors``, ``tokenizer.json`` and the
source model's NOTICE/LICENSE with a line saying what was changed) and a deep bundle per
task, ``<task>-tuned/``, whose ``model.json`` names that encoder and the sha256 of its
weights. Everything is written into temporary folders and renamed into place last, so a run
killed at any point leaves the previous bundles as they were. At the end of every epoch but
the last the run writes a checkpoint (``out/.finetune-checkpoint.pt``: weights, optimiser,
schedule, random generators); started again with the same data, recipe and model, it goes
on from there and ends with the same weights as a run never stopped.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from fairdesk.triage import bundle, deep, deep_heads, metrics
from fairdesk.triage.datasets import Dataset
from fairdesk.triage.training import LICENCE_NOTE, score_and_save, split

TUNED_SUFFIX = "-tuned"
ENCODERS_DIR = "encoders"
# Written at the end of every epoch but the last, in ``out``; removed when the run is done.
CHECKPOINT = ".finetune-checkpoint.pt"
CHECKPOINT_FORMAT = "fairdesk-finetune-checkpoint/1"
PRECISIONS = ("float32", "bfloat16")
NOTICE = """\
A sentence encoder fine-tuned by Fairdesk (`fairdesk triage finetune`) from the model in
{source} (sentence-transformers/all-MiniLM-L6-v2 unless another was given).

The weights of all-MiniLM-L6-v2 are licensed under the Apache License, Version 2.0 (the
license text is in the file LICENSE beside this one, or at
http://www.apache.org/licenses/LICENSE-2.0). This folder is a derivative work of them: the
weights were changed by training on the tasks {tasks} (see TUNED.json for the data and
the recipe). The tokenizer (tokenizer.json, vocab.txt) is the original model's, unchanged.
The training data's own licence also applies: do not commit or redistribute these weights
where it forbids that.

Source weights sha256: {source_sha256}
Tuned at: {tuned_at}
"""


@dataclass(frozen=True, slots=True)
class TaskData:
    """One task's training rows, and the rows it is scored on (None: 10% carved, seed 0)."""

    task: str
    train: Dataset
    validation: Dataset | None = None


@dataclass(frozen=True, slots=True)
class Recipe:
    """How the encoder is tuned; fixed before training, never chosen on validation rows."""

    epochs: int = 3
    batch_size: int = 32
    lr: float = 5e-5  # the encoder's
    head_lr: float = 1e-3
    warmup: float = 0.06  # fraction of the steps
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    scale: float = 10.0  # logits = scale * unit embedding @ W.T + b
    # At most this many rows of a task in one epoch (a fresh random sample each epoch), so
    # a large task does not crowd out the small ones or the time budget. None: every row.
    max_rows_per_epoch: int | None = None
    seed: int = 0
    # "bfloat16": forward pass and loss under torch.autocast in bf16 (weights, gradients
    # and AdamW stay float32). For a GPU, or a CPU with native bf16 (deep.cpu_has_native_bf16).
    precision: str = "float32"

    def check(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch size must be at least 1")
        if not (0 < self.lr < 1 and 0 < self.head_lr < 1 and 0 <= self.warmup < 1):
            raise ValueError("learning rates must be in (0, 1) and warm-up in [0, 1)")
        if self.max_rows_per_epoch is not None and self.max_rows_per_epoch < self.batch_size:
            raise ValueError("--max-rows-per-epoch must be at least the batch size")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")


def _labels_of(task: _Split) -> list[str]:
    labels = sorted(set(task.train.labels))
    if len(labels) < 2:
        raise ValueError(f"{task.task}: training needs at least two distinct labels")
    return labels


def _epoch_batches(
    rng: np.random.Generator, lengths: np.ndarray, recipe: Recipe
) -> list[np.ndarray]:
    """One epoch of a task's rows in batches: a random sample (or all), shuffled, then
    sorted by length within windows of 50 batches so each batch pads little."""
    order = rng.permutation(len(lengths))
    if recipe.max_rows_per_epoch is not None:
        order = order[: recipe.max_rows_per_epoch]
    size = recipe.batch_size
    batches: list[np.ndarray] = []
    for start in range(0, len(order), size * 50):
        window = order[start : start + size * 50]
        window = window[np.argsort(lengths[window], kind="stable")]
        batches.extend(window[i : i + size] for i in range(0, len(window), size))
    return batches


def finetune(
    tasks: Sequence[TaskData],
    out: Path | str,
    *,
    model_dir: Path | str | None = None,
    recipe: Recipe = Recipe(),
    max_length: int = deep.DEFAULT_MAX_LENGTH,
    name: str | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Tune the encoder on ``tasks`` together; write it and a deep bundle per task under
    ``out``. Returns what was written and each task's validation score."""
    recipe.check()
    if not tasks:
        raise ValueError("fine-tuning needs at least one task")
    if len({t.task for t in tasks}) != len(tasks):
        raise ValueError("each task may be given once")
    jobs = [_split(t) for t in tasks]
    labels = {t.task: _labels_of(t) for t in jobs}
    for job in jobs:  # an hour of tuning must not end in an error these could have told
        if unknown := sorted(set(job.validation.labels) - set(labels[job.task])):
            raise ValueError(f"{job.task}: validation labels {unknown[:5]} never occur in training")
        metrics.score(job.task, job.validation.labels, job.validation.labels)
    started = time.perf_counter()
    encoder = deep.DeepEncoder(model_dir, max_length=max_length, dtype="float32")
    torch = encoder._torch
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    source = encoder.describe()
    model = encoder.model.train()
    heads = {t.task: torch.nn.Linear(encoder.dim, len(labels[t.task])) for t in jobs}
    for head in heads.values():
        head.to(encoder.device)
    tokens = {t.task: encoder.tokenize(t.train.texts) for t in jobs}
    targets = {}
    class_weights = {}
    for t in jobs:
        index = {label: i for i, label in enumerate(labels[t.task])}
        y = np.fromiter((index[label] for label in t.train.labels), dtype=np.int64)
        counts = np.bincount(y, minlength=len(index)).astype(np.float64)
        targets[t.task] = torch.from_numpy(y)
        # "balanced" as scikit-learn computes it: n / (classes * count)
        balanced = len(y) / (len(index) * np.maximum(counts, 1))
        class_weights[t.task] = torch.tensor(balanced, dtype=torch.float32, device=encoder.device)

    per_epoch = sum(
        math.ceil(min(len(t.train), recipe.max_rows_per_epoch or len(t.train)) / recipe.batch_size)
        for t in jobs
    )
    total = per_epoch * recipe.epochs
    warmup = max(1, round(total * recipe.warmup))
    optimiser = torch.optim.AdamW(
        [
            {"params": list(model.parameters()), "lr": recipe.lr},
            {"params": [p for h in heads.values() for p in h.parameters()], "lr": recipe.head_lr},
        ],
        weight_decay=recipe.weight_decay,
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / total))
    )
    parameters = [p for group in optimiser.param_groups for p in group["params"]]
    state = _Training(model, heads, optimiser, schedule, rng)
    checkpoint = Path(out) / CHECKPOINT
    run = _fingerprint(jobs, labels, recipe, source, max_length)
    first_epoch = _resume(checkpoint, run, state, encoder, log)
    step, losses = state.step, state.losses
    bf16 = recipe.precision == "bfloat16"
    loop_started = time.perf_counter()
    for epoch in range(first_epoch, recipe.epochs):
        plan = [
            (t.task, rows)
            for t in jobs
            for rows in _epoch_batches(rng, tokens[t.task].lengths, recipe)
        ]
        log(f"epoch {epoch + 1}/{recipe.epochs}: {len(plan)} batches")
        for i in rng.permutation(len(plan)):
            task, rows = plan[i]
            ids, _ = tokens[task].padded(rows)
            with torch.autocast(encoder.device.type, torch.bfloat16, enabled=bf16):
                embedded = _pooled(encoder, torch.from_numpy(ids).to(encoder.device))
                logits = heads[task](embedded * recipe.scale)
            loss = torch.nn.functional.cross_entropy(
                logits.float(),
                targets[task][rows].to(encoder.device),
                weight=class_weights[task],
            )
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, recipe.max_grad_norm)
            optimiser.step()
            schedule.step()
            optimiser.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            step += 1
            if step % 100 == 0 or step == total:
                done = (step - state.step) * recipe.batch_size
                rate = done / (time.perf_counter() - loop_started)
                recent = sum(losses[-100:]) / len(losses[-100:])
                log(
                    f"epoch {epoch + 1}/{recipe.epochs} step {step}/{total} loss {recent:.3f} "
                    f"({rate:.0f} texts/s)"
                )
        if epoch + 1 < recipe.epochs:
            _save_checkpoint(checkpoint, run, state, epoch + 1, step, losses, torch)
            log(f"epoch {epoch + 1}/{recipe.epochs} done; checkpoint in {checkpoint}")
    train_seconds = time.perf_counter() - started
    model.eval()

    out = Path(out)
    name = name or "tuned-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    encoder_dir = _save_encoder(encoder, out / ENCODERS_DIR / name, source, jobs, recipe)
    tuned = deep.DeepEncoder(
        encoder_dir, max_length=max_length, batch_size=encoder.batch_size, tokenize_workers=0
    )
    described = tuned.describe()
    results = {}
    for t in jobs:
        head = _deep_head(t.task, labels[t.task], heads[t.task], recipe, len(t.train))
        bundle_dir = out / f"{t.task}{TUNED_SUFFIX}"
        partial = bundle_dir.with_name(bundle_dir.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        results[t.task] = _score_and_save(t, head, tuned, partial)
        _replace(partial, bundle_dir)
        log(f"{t.task}: {results[t.task]['metric']} {results[t.task]['score']} -> {bundle_dir}")
    removed = prune_encoders(out)
    checkpoint.unlink(missing_ok=True)  # the run is complete: nothing to resume
    return {
        "tier": deep_heads.TIER,
        "encoder": str(encoder_dir),
        "weights_sha256": described["weights_sha256"],
        "tuned_from": source["weights_sha256"],
        "recipe": asdict(recipe),
        "steps": total,
        "resumed_after_epoch": first_epoch or None,
        "train_seconds": round(train_seconds, 1),
        "device": encoder.device_name,
        "encoders_removed": [str(path) for path in removed],
        "tasks": {
            t.task: {
                "bundle": str(out / f"{t.task}{TUNED_SUFFIX}"),
                "train_examples": len(t.train),
                "validation": results[t.task],
            }
            for t in jobs
        },
    }


@dataclass
class _Training:
    """What a checkpoint holds besides the run's fingerprint: the model, heads, optimiser,
    schedule and random generators, and where the run was."""

    model: Any
    heads: dict[str, Any]
    optimiser: Any
    schedule: Any
    rng: np.random.Generator
    step: int = 0
    losses: list[float] = field(default_factory=list)


def _fingerprint(
    jobs: Sequence[_Split],
    labels: dict[str, list[str]],
    recipe: Recipe,
    source: dict[str, Any],
    max_length: int,
) -> str:
    """What a run is: the recipe, the source weights, the max length and every training
    row. A checkpoint resumes only the run it was written by."""
    digest = hashlib.sha256()
    settings = {
        "recipe": asdict(recipe),
        "source": source["weights_sha256"],
        "max_length": max_length,
        "labels": labels,
    }
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for job in jobs:
        digest.update(b"\x02" + job.task.encode())
        for text, label in zip(job.train.texts, job.train.labels, strict=True):
            digest.update(text.encode("utf-8", "surrogatepass") + b"\0" + label.encode() + b"\1")
    return digest.hexdigest()


def _save_checkpoint(
    path: Path,
    run: str,
    state: _Training,
    epochs_done: int,
    step: int,
    losses: list[float],
    torch: Any,
) -> None:
    """Everything needed to go on after ``epochs_done`` epochs, written aside and renamed
    into place (a run killed while writing keeps the previous checkpoint)."""
    saved = {
        "format": CHECKPOINT_FORMAT,
        "run": run,
        "epochs_done": epochs_done,
        "step": step,
        "losses": losses,
        "model": state.model.state_dict(),
        "heads": {task: head.state_dict() for task, head in state.heads.items()},
        "optimiser": state.optimiser.state_dict(),
        "schedule": state.schedule.state_dict(),
        "numpy_rng": json.dumps(state.rng.bit_generator.state),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(saved, partial)
    os.replace(partial, path)


def _resume(
    path: Path, run: str, state: _Training, encoder: deep.DeepEncoder, log: Callable[[str], None]
) -> int:
    """Load ``path`` into ``state`` if it is a checkpoint of this very run; the number of
    epochs it had done (0: none, or another run's, which is left alone and overwritten at
    the next epoch's end). Read with ``weights_only``: tensors and plain values, no code."""
    if not path.is_file():
        return 0
    torch = encoder._torch
    try:
        saved = torch.load(path, map_location=encoder.device, weights_only=True)
    except Exception as exc:  # a truncated or foreign file: start afresh, say why
        log(f"checkpoint {path} unreadable ({exc.__class__.__name__}); starting afresh")
        return 0
    if not isinstance(saved, dict) or saved.get("format") != CHECKPOINT_FORMAT:
        log(f"checkpoint {path} is not a {CHECKPOINT_FORMAT} file; starting afresh")
        return 0
    if saved.get("run") != run:
        log(f"checkpoint {path} is of another run (data, recipe or model); starting afresh")
        return 0
    state.model.load_state_dict(saved["model"])
    for task, head in state.heads.items():
        head.load_state_dict(saved["heads"][task])
    state.optimiser.load_state_dict(saved["optimiser"])
    state.schedule.load_state_dict(saved["schedule"])
    state.rng.bit_generator.state = json.loads(saved["numpy_rng"])
    torch.set_rng_state(saved["torch_rng"].cpu())
    if saved["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in saved["cuda_rng"]])
    state.step, state.losses = int(saved["step"]), [float(x) for x in saved["losses"]]
    done = int(saved["epochs_done"])
    log(f"resuming after epoch {done} (step {state.step}) from {path}")
    return done


@dataclass(frozen=True, slots=True)
class _Split:
    task: str
    train: Dataset
    validation: Dataset


def _split(task: TaskData) -> _Split:
    """The task's rows, and its validation rows (given, or 10% carved, seed 0)."""
    if task.validation is not None:
        return _Split(task.task, task.train, task.validation)
    train, validation = split(task.train)
    return _Split(task.task, train, validation)


def _score_and_save(
    job: _Split, head: deep_heads.DeepHead, encoder: deep.DeepEncoder, where: Path
) -> dict[str, Any]:
    """Score the head with the saved encoder on the task's validation rows, and save it."""

    def predict(texts: list[str]) -> list[str]:
        return head.predict_embedded(encoder.encode(texts))

    def save(**recorded: Any) -> None:
        deep_heads.save(head, where, task=job.task, encoder=encoder.describe(), **recorded)

    return score_and_save(
        job.task, job.train, job.validation, predict, save, licence=LICENCE_NOTE, timing="seconds"
    )


def _pooled(encoder: deep.DeepEncoder, ids: Any) -> Any:
    """Mean pooling over real tokens and L2 normalisation, with gradients (the same
    computation as ``DeepEncoder.forward``, which runs under ``inference_mode``)."""
    torch = encoder._torch
    mask = (ids != deep.PAD_ID).to(ids.dtype)
    hidden = encoder.model(input_ids=ids, attention_mask=mask).last_hidden_state
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * weights).sum(dim=1)
    counts = mask.sum(dim=1, keepdim=True).clamp(min=1).to(hidden.dtype)
    return torch.nn.functional.normalize(summed / counts, p=2, dim=1)


def _deep_head(
    task: str, labels: list[str], layer: Any, recipe: Recipe, rows: int
) -> deep_heads.DeepHead:
    """The trained layer as a deep bundle's head: the scale folded into the weight, and two
    labels as the single row of their logit difference (positive: the second label)."""
    weight = layer.weight.detach().cpu().numpy().astype(np.float64) * recipe.scale
    bias = layer.bias.detach().cpu().numpy().astype(np.float64)
    if len(labels) == 2:
        weight = (weight[1] - weight[0])[None, :]
        bias = np.array([bias[1] - bias[0]])
    return deep_heads.DeepHead(
        labels=list(labels),
        weight=weight.astype(np.float32),
        bias=bias.astype(np.float32),
        info={
            "classifier": "linear layer fine-tuned with the encoder (multi-task)",
            "class_weight": "balanced",
            "train_examples": rows,
            "recipe": asdict(recipe),
        },
    )


def _save_encoder(
    encoder: deep.DeepEncoder,
    target: Path,
    source: dict[str, Any],
    tasks: Sequence[_Split],
    recipe: Recipe,
) -> Path:
    """The tuned weights as a model folder the deep tier loads (written aside, renamed)."""
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    encoder.model.save_pretrained(str(partial), safe_serialization=True)
    shutil.copyfile(encoder.model_dir / "tokenizer.json", partial / "tokenizer.json")
    for extra in ("tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        if (encoder.model_dir / extra).is_file():
            shutil.copyfile(encoder.model_dir / extra, partial / extra)
    if (encoder.model_dir / "README.md").is_file():  # the source's model card
        shutil.copyfile(encoder.model_dir / "README.md", partial / "SOURCE-README.md")
    (partial / "NOTICE").write_text(
        NOTICE.format(
            source=source["path"],
            source_sha256=source["weights_sha256"],
            tasks=", ".join(t.task for t in tasks),
            tuned_at=datetime.now(UTC).isoformat(timespec="seconds"),
        ),
        encoding="utf-8",
    )
    from fairdesk.triage.static import apache_licence_text

    if (licence := apache_licence_text()) is not None:
        (partial / "LICENSE").write_text(licence, encoding="utf-8")
    (partial / "TUNED.json").write_text(
        json.dumps(
            {
                "tuned_from": source,
                "tasks": {t.task: {"data": t.train.source, "rows": len(t.train)} for t in tasks},
                "recipe": asdict(recipe),
                "licence": (
                    "The weights were changed by fine-tuning from the model named in "
                    "tuned_from (its licence and notices are kept as SOURCE-*). " + LICENCE_NOTE
                ),
                "tuned_at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    _replace(partial, target)
    return target


def prune_encoders(out: Path) -> list[Path]:
    """Remove the tuned encoders under ``out/encoders`` that no bundle in ``out`` names any
    more (each is ~90 MB; a new run's heads replace the last run's). Returns them."""
    encoders = out / ENCODERS_DIR
    if not encoders.is_dir():
        return []
    named = set()
    for meta_file in out.glob(f"*/{deep_heads.MODEL_FILE}"):
        try:
            meta = deep_heads.read_meta(meta_file.parent)
        except bundle.BundleError:
            continue
        if folder := deep_heads.encoder_for(meta, meta_file.parent):
            named.add(folder.resolve())
    removed = []
    for folder in sorted(encoders.iterdir()):
        if folder.is_dir() and folder.resolve() not in named:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _replace(partial: Path, target: Path) -> None:
    """Put ``partial`` at ``target``: the old one, if any, is moved aside first and removed
    after, so ``target`` is at every instant either the old folder or the new one, or (for
    the instant between the two renames) absent, never half written."""
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    partial.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def read_spec(path: Path | str) -> list[TaskData]:
    """The tasks of a ``triage finetune`` spec: ``{"tasks": [{"task": ..., "format": ...,
    "text"/"labels" or "data", and optionally "val_text"/"val_labels"/"val_data"/
    "val_format"}]}``. Relative paths are read from the spec's folder."""
    from fairdesk.triage import datasets

    path = Path(path)
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise datasets.DatasetError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise datasets.DatasetError(f"{path}: not a JSON spec ({exc})") from None
    entries = spec.get("tasks") if isinstance(spec, dict) else None
    if not isinstance(entries, list) or not entries:
        raise datasets.DatasetError(f'{path}: expected {{"tasks": [ ... ]}} with one or more')
    known = {"task", "format", "text", "labels", "data"}
    known |= {f"val_{key}" for key in ("text", "labels", "data", "format")}

    def where(entry: dict[str, Any], key: str) -> Path | None:
        value = entry.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise datasets.DatasetError(f"{path}: {key} must be a path")
        return path.parent / value

    tasks = []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("task"), str):
            raise datasets.DatasetError(f'{path}: task {number} needs a "task" name')
        if unknown := sorted(set(entry) - known):
            raise datasets.DatasetError(f"{path}: task {number}: unknown keys {unknown}")
        fmt = entry.get("format")
        if fmt not in datasets.FORMATS:
            raise datasets.DatasetError(
                f"{path}: task {number}: format must be one of {', '.join(datasets.FORMATS)}"
            )
        train = datasets.load(
            fmt, text=where(entry, "text"), labels=where(entry, "labels"), data=where(entry, "data")
        )
        validation = None
        if any(f"val_{key}" in entry for key in ("text", "labels", "data")):
            validation = datasets.load(
                entry.get("val_format") or fmt,
                text=where(entry, "val_text"),
                labels=where(entry, "val_labels"),
                data=where(entry, "val_data"),
            )
        tasks.append(TaskData(entry["task"], train, validation))
    return tasks
