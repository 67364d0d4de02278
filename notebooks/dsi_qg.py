"""A tiny differentiable search index with query generation, for notebook 13 (not part of the search engine).

**DSI** (Tay et al., NeurIPS 2022, "Transformer Memory as a Differentiable Search Index"): a sequence-to-sequence
model maps a query straight to a document identifier; "indexing" the corpus is training it on (document text ->
docid) pairs, so the whole index lives in the weights and is trained by gradient descent. **DSI-QG** (Zhuang et
al., arXiv 2206.10128): DSI indexes long documents but is asked short queries; it closes that gap by indexing
each document through *generated queries* (docT5query) instead of its text. Nothing here is architecture
search: no discrete choice is relaxed -- the docid stays discrete and is decoded (SEEDS_2 §11.3).

Everything is synthetic and offline (SEEDS_2 §11.3): a Zipf background vocabulary, topics with their own term
pools, documents made of background tokens and a third of document-specific *key terms*; real queries are 4 key
terms with vocabulary mismatch (each replaced by a random rare token with probability 0.25); the query
generator (the docT5query stand-in) samples 4 distinct terms from a document's 12 highest tf-idf terms.

Docids are *semantic* (DSI's structured ids, simplified): the topic digit, then the document's two-digit index
within its topic, decoded digit by digit by a Transformer decoder with beam search. Topics have different sizes,
so many digit strings are not documents: :class:`DocidTrie` constrains decoding to valid ids (DSI-QG's own code
only restricts tokens to digits and filters invalid ids afterwards, §11.2).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ARMS", "BOS", "DSI", "PAD", "Corpus", "CorpusConfig", "DocidTrie", "Training", "beam_search",
           "docid_tensor", "evaluate", "generate_queries", "hits", "index_corpus", "indexing_batches", "make_corpus",
           "n_params", "pad_batch", "real_queries", "top_terms", "train", "windows"]

Docid = tuple[int, ...]
PAD = 0  # token 0 pads inputs; vocabulary term v is token v + 1
BOS = 10  # the decoder's start token; digits are 0..9


@dataclass(frozen=True)
class CorpusConfig:
    vocab: int = 3000
    topic_sizes: tuple[int, ...] = (62, 35, 58, 41, 55, 47, 60, 42)  # documents per topic (400)
    pool: int = 250  # key-term pool per topic (each term is a key term of ~1.6 documents)
    doc_len: int = 64
    key_terms: int = 8
    key_share: float = 1 / 3
    zipf: float = 1.0
    seed: int = 0


@dataclass
class Corpus:
    docs: Tensor  # (n, doc_len) vocabulary terms
    keys: Tensor  # (n, key_terms) each document's key terms
    topic: Tensor  # (n,)
    docids: list[Docid]  # (topic, tens, units)
    config: CorpusConfig


def make_corpus(cfg: CorpusConfig = CorpusConfig()) -> Corpus:
    """Documents of ``doc_len`` tokens: key terms (from the topic's pool) with probability ``key_share``, else
    Zipf background; key-term pools sit in the middle of the frequency ranking."""
    g = torch.Generator().manual_seed(cfg.seed)
    zipf = 1.0 / torch.arange(1, cfg.vocab + 1, dtype=torch.float64) ** cfg.zipf
    start = cfg.vocab // 5
    docs, keys, topic, docids = [], [], [], []
    for t, size in enumerate(cfg.topic_sizes):
        pool = torch.arange(start + t * cfg.pool, start + (t + 1) * cfg.pool)
        for j in range(size):
            k = pool[torch.randperm(cfg.pool, generator=g)[: cfg.key_terms]]
            background = torch.multinomial(zipf, cfg.doc_len, replacement=True, generator=g)
            use_key = torch.rand(cfg.doc_len, generator=g) < cfg.key_share
            docs.append(torch.where(use_key, k[torch.randint(cfg.key_terms, (cfg.doc_len,), generator=g)],
                                    background))
            keys.append(k)
            topic.append(t)
            docids.append((t, j // 10, j % 10))
    return Corpus(torch.stack(docs), torch.stack(keys), torch.tensor(topic), docids, cfg)


def real_queries(corpus: Corpus, per_doc: int = 2, length: int = 4, mismatch: float = 0.25, seed: int = 1
                 ) -> tuple[Tensor, Tensor]:
    """Held-out user queries: ``length`` distinct key terms of a document, each replaced by a random rare term
    (the rarest third of the vocabulary) with probability ``mismatch``. Returns (queries, document index)."""
    g = torch.Generator().manual_seed(seed)
    v = corpus.config.vocab
    qs, docs = [], []
    for d in range(len(corpus.docs)):
        for _ in range(per_doc):
            q = corpus.keys[d][torch.randperm(corpus.config.key_terms, generator=g)[:length]]
            rare = torch.randint(2 * v // 3, v, (length,), generator=g)
            qs.append(torch.where(torch.rand(length, generator=g) < mismatch, rare, q))
            docs.append(d)
    return torch.stack(qs), torch.tensor(docs)


def top_terms(corpus: Corpus, top: int = 12) -> list[Tensor]:
    """Each document's ``top`` distinct terms by tf * log(N / df) (ties: the smaller term first)."""
    n, v = len(corpus.docs), corpus.config.vocab
    tf = torch.zeros(n, v).scatter_add_(1, corpus.docs, torch.ones_like(corpus.docs, dtype=torch.float))
    idf = torch.log(n / (tf > 0).sum(0).clamp(min=1))
    score = tf * idf - 1e-6 * torch.arange(v) / v
    return [row.topk(top).indices for row in score]


def generate_queries(corpus: Corpus, per_doc: int = 10, length: int = 4, top: int = 12, seed: int = 2
                     ) -> tuple[Tensor, Tensor]:
    """The docT5query stand-in: ``per_doc`` queries of ``length`` distinct terms sampled from each document's
    ``top`` tf-idf terms. Returns (queries, document index)."""
    g = torch.Generator().manual_seed(seed)
    qs, docs = [], []
    for d, terms in enumerate(top_terms(corpus, top)):
        for _ in range(per_doc):
            qs.append(terms[torch.randperm(len(terms), generator=g)[:length]])
            docs.append(d)
    return torch.stack(qs), torch.tensor(docs)


def windows(corpus: Corpus, length: int = 32, generator: torch.Generator | None = None) -> Tensor:
    """One ``length``-token window per document: random offsets (``generator``), or the first tokens (None)."""
    n, L = corpus.docs.shape
    if generator is None:
        return corpus.docs[:, :length]
    off = torch.randint(L - length + 1, (n,), generator=generator)
    return torch.stack([corpus.docs[i, o: o + length] for i, o in enumerate(off.tolist())])


class DocidTrie:
    """The valid docids as a prefix tree: which digit may follow a prefix."""

    def __init__(self, docids: Sequence[Docid]) -> None:
        self.ids = set(docids)
        self.length = len(docids[0])
        self.next: dict[Docid, set[int]] = {}
        for d in docids:
            for i in range(self.length):
                self.next.setdefault(d[:i], set()).add(d[i])

    def allowed(self, prefix: Docid) -> set[int]:
        return self.next.get(prefix, set())


class DSI(nn.Module):
    """Query tokens -> Transformer encoder -> a Transformer decoder that emits the docid digit by digit."""

    def __init__(self, vocab: int, d: int = 64, heads: int = 4, ff: int = 128, layers: int = 2, id_len: int = 3,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab + 1, d, padding_idx=PAD)
        enc = nn.TransformerEncoderLayer(d, heads, ff, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(enc, layers, enable_nested_tensor=False)
        self.digit = nn.Embedding(11, d)  # digits 0..9 and BOS
        self.pos = nn.Parameter(torch.zeros(id_len, d))
        self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(d, heads, ff, dropout, batch_first=True), 1)
        self.head = nn.Linear(d, 10)
        self.id_len = id_len

    def encode(self, src: Tensor) -> tuple[Tensor, Tensor]:
        """src (B, L) terms (padding: -1) -> (memory (B, L, d), padding mask (B, L))."""
        tokens = src + 1  # term v -> token v + 1; padding -1 -> 0
        pad = tokens == PAD
        return self.encoder(self.embed(tokens), src_key_padding_mask=pad), pad

    def decode(self, memory: Tensor, pad: Tensor, prefix: Tensor) -> Tensor:
        """Logits (B, P + 1, 10) of the next digit after BOS + each prefix position; prefix (B, P) digits."""
        tgt = torch.cat([torch.full((len(prefix), 1), BOS, dtype=torch.long), prefix], dim=1)
        h = self.digit(tgt) + self.pos[: tgt.shape[1]]
        causal = nn.Transformer.generate_square_subsequent_mask(tgt.shape[1])
        return self.head(self.decoder(h, memory, tgt_mask=causal, memory_key_padding_mask=pad))

    def forward(self, src: Tensor, docids: Tensor) -> Tensor:
        """Teacher-forced logits (B, id_len, 10) for target docids (B, id_len)."""
        memory, pad = self.encode(src)
        return self.decode(memory, pad, docids[:, :-1])


def pad_batch(rows: Sequence[Tensor]) -> Tensor:
    """Variable-length term rows -> (B, max length), padded with -1."""
    out = torch.full((len(rows), max(len(r) for r in rows)), -1, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def train(model: DSI, sample_batch, steps: int, lr: float = 1e-3, seed: int = 0) -> list[float]:
    """``steps`` AdamW steps; ``sample_batch(generator) -> (src (B, L), docids (B, id_len))``."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, foreach=True)
    model.train()
    losses = []
    for _ in range(steps):
        src, ids = sample_batch(g)
        loss = F.cross_entropy(model(src, ids).flatten(0, 1), ids.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


@torch.no_grad()
def beam_search(model: DSI, src: Tensor, beam: int = 10, trie: DocidTrie | None = None) -> list[list[Docid]]:
    """The ``beam`` best docids per query (src (B, L)), best first, by beam search over the digits. With a
    ``trie`` a beam may only extend a prefix by a digit the trie allows, so only valid ids come out; without,
    any digit string can (DSI-QG's digit-restricted decoding)."""
    model.eval()
    memory, pad = model.encode(src)
    B = len(src)
    prefixes = torch.zeros(B, 1, 0, dtype=torch.long)  # (B, K beams, P digits so far)
    scores = torch.zeros(B, 1)
    for step in range(model.id_len):
        K = prefixes.shape[1]
        logits = model.decode(memory.repeat_interleave(K, 0), pad.repeat_interleave(K, 0),
                              prefixes.reshape(B * K, step))[:, -1]
        logp = torch.log_softmax(logits, dim=-1).reshape(B, K, 10)
        if trie is not None:
            allowed = torch.zeros(B, K, 10, dtype=torch.bool)
            for b, row in enumerate(prefixes.tolist()):
                for k, p in enumerate(row):
                    allowed[b, k, list(trie.allowed(tuple(p)))] = True
            logp = logp.masked_fill(~allowed, float("-inf"))
        top = (scores[:, :, None] + logp).flatten(1).topk(min(beam, K * 10), dim=1)  # (B, beam)
        scores = top.values
        parent, digit = top.indices // 10, top.indices % 10
        prefixes = torch.cat([prefixes.gather(1, parent[:, :, None].expand(-1, -1, step)), digit[:, :, None]], dim=2)
    return [[tuple(p) for p, s in zip(row, sc, strict=True) if s > float("-inf")]
            for row, sc in zip(prefixes.tolist(), scores.tolist(), strict=True)]


def hits(ranked: Sequence[Sequence[Docid]], gold: Sequence[Docid], k: int, valid: set[Docid] | None = None
         ) -> float:
    """Hits@k: the share of queries whose gold docid is among the first ``k`` ranked ids, after removing
    duplicates and (with ``valid``) invalid ids from each list, as DSI-QG's evaluation does."""
    found = 0
    for ids, g in zip(ranked, gold, strict=True):
        clean = [d for d in dict.fromkeys(ids) if valid is None or d in valid]
        found += g in clean[:k]
    return found / max(len(gold), 1)


def docid_tensor(corpus: Corpus, index: Tensor) -> Tensor:
    """The docids (B, id_len) of documents ``index`` (B,)."""
    return torch.tensor([corpus.docids[i] for i in index.tolist()], dtype=torch.long)


#: what DSI is trained on ("indexing"): the documents' first tokens, random windows of them, or generated queries
ARMS = ("first", "windows", "queries")


def indexing_batches(corpus: Corpus, arm: str, batch: int = 64, window: int = 32, per_doc: int = 10) -> Any:
    """``sample(generator) -> (src, docids)`` for one arm: a batch of documents as their first ``window`` tokens
    (DSI), as random ``window``-token windows, or a batch of generated queries (DSI-QG, ``per_doc`` per document)."""
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {', '.join(ARMS)}, got {arm!r}")
    gq, gd = generate_queries(corpus, per_doc=per_doc)
    n, L = corpus.docs.shape

    def sample(g: torch.Generator) -> tuple[Tensor, Tensor]:
        if arm == "queries":
            i = torch.randint(len(gq), (batch,), generator=g)
            return gq[i], docid_tensor(corpus, gd[i])
        i = torch.randint(n, (batch,), generator=g)
        if arm == "first":
            return corpus.docs[i, :window], docid_tensor(corpus, i)
        off = torch.randint(L - window + 1, (batch,), generator=g).tolist()
        return torch.stack([corpus.docs[j, o: o + window] for j, o in zip(i.tolist(), off, strict=True)]), \
            docid_tensor(corpus, i)

    return sample


@dataclass(frozen=True)
class Training:
    """The pilot's model and optimiser (SEEDS_2 §11.4), with CPU-sized defaults: 400 AdamW steps of 64."""

    steps: int = 400
    batch: int = 64
    lr: float = 2e-3
    d: int = 64
    dropout: float = 0.1
    seed: int = 0


def index_corpus(corpus: Corpus, arm: str, cfg: Training = Training()) -> tuple[DSI, list[float]]:
    """A DSI model trained on one arm's (input -> docid) pairs; returns it and its losses."""
    torch.manual_seed(cfg.seed)
    model = DSI(corpus.config.vocab, d=cfg.d, dropout=cfg.dropout)
    return model, train(model, indexing_batches(corpus, arm, cfg.batch), cfg.steps, cfg.lr, cfg.seed)


def evaluate(model: DSI, corpus: Corpus, queries: Tensor, docs: Tensor, trie: DocidTrie | None = None,
             beam: int = 10) -> dict[str, float]:
    """Hits@1 and Hits@10 of ``model`` on ``queries`` whose relevant documents are ``docs``."""
    ranked = beam_search(model, pad_batch(list(queries)), beam, trie)
    gold = [corpus.docids[i] for i in docs.tolist()]
    return {"hits@1": hits(ranked, gold, 1), "hits@10": hits(ranked, gold, 10)}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


if __name__ == "__main__":  # every arm at the default size: python notebooks/dsi_qg.py [steps]
    import sys
    import time

    torch.set_num_threads(1)
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else Training.steps
    corpus = make_corpus()
    trie = DocidTrie(corpus.docids)
    rq, rd = real_queries(corpus)
    print(f"{len(corpus.docs)} documents, {len(rq)} held-out queries, {steps} steps per arm")
    for arm in ARMS:
        t0 = time.process_time()
        model, losses = index_corpus(corpus, arm, Training(steps=steps))
        res = evaluate(model, corpus, rq, rd, trie)
        print(f"{arm:8s} hits@1 {res['hits@1']:.4f}  hits@10 {res['hits@10']:.4f}  final loss "
              f"{sum(losses[-50:]) / 50:.3f}  {time.process_time() - t0:.1f} s CPU", flush=True)
