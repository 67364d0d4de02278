"""The tiny DSI-QG demo beside notebook 13 (``notebooks/dsi_qg.py``, outside the engine): the oracles of SEEDS_2
§11.5. The claim (generated queries index better than the documents) is asserted in ``_part_dsi.py``."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

_PATH = Path(__file__).resolve().parents[1] / "notebooks" / "dsi_qg.py"
_spec = importlib.util.spec_from_file_location("dsi_qg", _PATH)
dsi = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("dsi_qg", dsi)
_spec.loader.exec_module(dsi)

SMALL = dsi.CorpusConfig(vocab=400, topic_sizes=(13, 4, 8), pool=40, doc_len=32, seed=0)


def _model(seed: int = 0, d: int = 32) -> dsi.DSI:
    torch.manual_seed(seed)
    return dsi.DSI(SMALL.vocab, d=d, heads=2, ff=64, dropout=0.0)


def test_trie_constrained_decoding_emits_only_valid_docids_and_unconstrained_decoding_does_not():
    corpus = dsi.make_corpus(SMALL)
    trie = dsi.DocidTrie(corpus.docids)
    assert trie.allowed(()) == {0, 1, 2} and trie.allowed((1,)) == {0} and trie.allowed((0, 1)) == {0, 1, 2}
    queries, _ = dsi.real_queries(corpus)
    src = dsi.pad_batch(list(queries))
    invalid = 0
    for seed in range(3):  # untrained models: whatever they prefer, the trie keeps them on real docids
        model = _model(seed)
        constrained = dsi.beam_search(model, src, beam=10, trie=trie)
        assert all(len(r) == 10 and len(set(r)) == 10 and set(r) <= trie.ids for r in constrained)
        free = dsi.beam_search(model, src, beam=10)
        invalid += sum(d not in trie.ids for r in free for d in r)
    assert invalid > 0  # digit-restricted decoding (DSI-QG's code) does produce ids of no document


def test_beam_search_ranks_every_valid_docid_by_its_exact_sequence_probability():
    corpus = dsi.make_corpus(SMALL)
    trie = dsi.DocidTrie(corpus.docids)
    model = _model(1).eval()
    src = dsi.pad_batch(list(dsi.real_queries(corpus)[0][:4]))
    ranked = dsi.beam_search(model, src, beam=len(corpus.docids), trie=trie)  # a beam as wide as the corpus
    ids = torch.tensor(corpus.docids)
    with torch.no_grad():
        for b, row in enumerate(ranked):
            logits = model(src[b: b + 1].expand(len(ids), -1), ids)
            score = F.log_softmax(logits, -1).gather(2, ids[:, :, None]).sum((1, 2))  # log P(docid | query)
            exact = [corpus.docids[i] for i in score.argsort(descending=True).tolist()]
            assert row == exact


def test_hits_at_k_counts_distinct_valid_ids_in_rank_order():
    gold = [(0, 0, 1), (0, 0, 2), (0, 0, 3)]
    other = [(1, 0, k) for k in range(20)]
    bad = (9, 9, 9)  # not a document
    first = [gold[0], *other[:9]]  # rank 1
    fourth = [other[0], other[0], bad, other[1], other[1], other[2], gold[1], *other[3:9]]  # raw position 7, rank 4
    twelfth = [*other[:6], other[5], *other[6:11], gold[2]]  # raw position 13, rank 12
    valid = set(gold) | set(other)
    ranked = [first, fourth, twelfth]
    assert dsi.hits(ranked, gold, 1, valid) == 1 / 3
    assert dsi.hits(ranked, gold, 10, valid) == 2 / 3
    assert dsi.hits(ranked, gold, 12, valid) == 1.0
    assert dsi.hits(ranked, gold, 4) == 1 / 3  # without the validity filter the invalid id takes a rank


def test_query_generation_is_seeded_and_draws_distinct_terms_of_the_document():
    corpus = dsi.make_corpus(SMALL)
    q1, d1 = dsi.generate_queries(corpus, per_doc=5, seed=3)
    q2, d2 = dsi.generate_queries(corpus, per_doc=5, seed=3)
    assert torch.equal(q1, q2) and torch.equal(d1, d2) and not torch.equal(q1, dsi.generate_queries(corpus, 5)[0])
    top = dsi.top_terms(corpus)
    for q, d in zip(q1, d1.tolist(), strict=True):
        assert len(set(q.tolist())) == 4 and set(q.tolist()) <= set(corpus.docs[d].tolist())
        assert set(q.tolist()) <= set(top[d].tolist())
    rq, rd = dsi.real_queries(corpus, mismatch=0.0)
    assert all(set(q.tolist()) <= set(corpus.keys[d].tolist()) for q, d in zip(rq, rd.tolist(), strict=True))
    assert torch.equal(dsi.make_corpus(SMALL).docs, corpus.docs)


def test_a_model_trained_on_generated_queries_retrieves_their_documents():
    corpus = dsi.make_corpus(SMALL)
    model = _model(0)
    losses = dsi.train(model, dsi.indexing_batches(corpus, "queries", batch=32, per_doc=4), steps=150, lr=3e-3)
    gq, gd = dsi.generate_queries(corpus, per_doc=4)
    res = dsi.evaluate(model, corpus, gq, gd, dsi.DocidTrie(corpus.docids))
    assert losses[-1] < 0.05 * losses[0] and res["hits@1"] == 1.0  # every training query finds its document
