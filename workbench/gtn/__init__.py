"""Generative teaching networks (Such, Rawal, Lehman, Stanley, Clune; ICML 2020; arXiv 1912.07768; SEEDS_2 §9).

The pieces, one concept per module (none imports the space or the method, so there is no import cycle):

* :mod:`workbench.gtn.learner` -- functional weight-normalised MLP learners (:class:`LearnerArch`);
* :mod:`workbench.gtn.inner` -- the unrolled momentum SGD with learned per-step lr and momentum;
* :mod:`workbench.gtn.generator` -- the generator, the learned curriculum, the soft-label inner loss;
* :mod:`workbench.gtn.train` -- plain training of a learner on given batches (no meta-gradient), accuracy;
* :mod:`workbench.gtn.data` -- ``digits_std``, the digits standardised per pixel (the GTN pilot's data);
* :mod:`workbench.gtn.evaluate` -- fresh learners on GTN data vs on real data (the paper's claim, small);
* :mod:`workbench.gtn.nas` -- GTN-NAS: ranking candidate learners by a few steps on generated data,
  Spearman's rank correlation in numpy.

The teacher as a supernet is the ``gtn`` space (:mod:`workbench.spaces.gtn_teacher`); the meta-training is
the ``gtn`` method (:mod:`workbench.methods.gtn`), driven by the :class:`~workbench.search.Searcher`.
"""
from __future__ import annotations

from workbench.gtn.generator import Curriculum, Generator, curriculum_labels, soft_cross_entropy
from workbench.gtn.inner import unroll
from workbench.gtn.learner import (
           LearnerArch,
           LearnerModule,
           init_learner,
           learner_forward,
           wn_weight,
)

__all__ = ["Curriculum", "Generator", "LearnerArch", "LearnerModule", "curriculum_labels", "init_learner",
           "learner_forward", "soft_cross_entropy", "unroll", "wn_weight"]
