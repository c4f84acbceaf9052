"""Verification scores: cosine similarity, and adaptive symmetric score normalisation.

The reused speaker protocol (Coria et al. 2020) reports its EER twice: on raw
cosine scores and after adaptive s-norm. A cohort holds one mean embedding per
cohort speaker; each side of a trial is compared with every cohort entry, and
the ``top_n`` most similar entries give that side's mean and standard deviation
(population, as ``np.std``). The trial's score is normalised against each side
and the two are averaged:

    s' = ((s - mu_e) / sd_e + (s - mu_t) / sd_t) / 2

Coria et al. worked with cosine distances (1 - similarity) and the N smallest;
on similarities with the N largest the normalised score is exactly the negated
one, so the EER is the same. NumPy only.
"""

from __future__ import annotations

import numpy as np


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def cosine_scores(enroll: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Cosine similarity of row ``i`` of ``enroll`` with row ``i`` of ``test``."""
    return np.sum(unit_rows(enroll) * unit_rows(test), axis=1)


def cohort_means(embeddings: np.ndarray, speakers) -> np.ndarray:
    """One mean embedding per cohort speaker (speakers in sorted order)."""
    speakers = np.asarray(speakers)
    emb = np.asarray(embeddings, dtype=np.float64)
    return np.stack([emb[speakers == s].mean(axis=0) for s in sorted(set(speakers.tolist()))])


def adaptive_snorm(scores: np.ndarray, enroll: np.ndarray, test: np.ndarray,
                   cohort: np.ndarray, top_n: int) -> np.ndarray:
    """Adaptive s-norm of trial ``scores`` (one per row of ``enroll`` and ``test``).

    ``top_n`` is capped at the cohort size; fewer than two cohort entries cannot give
    a standard deviation, so that is an error.
    """
    cohort = unit_rows(cohort)
    if len(cohort) < 2:
        raise ValueError(f"adaptive s-norm needs at least 2 cohort entries, got {len(cohort)}")
    n = max(2, min(int(top_n), len(cohort)))

    def stats(side: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sims = unit_rows(side) @ cohort.T
        top = -np.partition(-sims, n - 1, axis=1)[:, :n]     # the n most similar entries
        return top.mean(axis=1), np.maximum(top.std(axis=1), 1e-12)

    (mu_e, sd_e), (mu_t, sd_t) = stats(enroll), stats(test)
    s = np.asarray(scores, dtype=np.float64)
    return 0.5 * ((s - mu_e) / sd_e + (s - mu_t) / sd_t)
