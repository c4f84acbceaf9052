"""Verification scoring: cosine and adaptive s-norm against hand-computed values."""

import numpy as np
import pytest

from benchmark.scoring import adaptive_snorm, cohort_means, cosine_scores


def test_cosine_scores_ignore_length():
    e = np.array([[3.0, 0.0], [1.0, 1.0]])
    t = np.array([[0.5, 0.0], [-2.0, 0.0]])
    np.testing.assert_allclose(cosine_scores(e, t), [1.0, -np.sqrt(0.5)])


def test_cohort_means_one_row_per_speaker_in_sorted_order():
    emb = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    np.testing.assert_allclose(cohort_means(emb, ["b", "b", "a"]), [[0.0, 2.0], [2.0, 0.0]])


def test_adaptive_snorm_by_hand():
    # Unit cohort at 0, 90 and 180 degrees; enrolment along x, test at 45 degrees.
    cohort = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    e, t = np.array([[2.0, 0.0]]), np.array([[1.0, 1.0]])
    s = cosine_scores(e, t)                                   # cos 45 = 0.7071
    # enrolment vs cohort: 1, 0, -1 -> top 2: (1, 0): mean 0.5, std 0.5
    # test vs cohort: 0.7071, 0.7071, -0.7071 -> top 2: mean 0.7071, std 0 (its term is 0)
    # top 3: enrolment mean 0, std sqrt(2/3); test mean 0.2357, std 0.6667
    r = 1 / np.sqrt(2)
    want = 0.5 * ((r - 0.0) / np.sqrt(2 / 3) + (r - r / 3) / np.std([r, r, -r]))
    assert adaptive_snorm(s, e, t, cohort, top_n=3) == pytest.approx([want])
    assert adaptive_snorm(s, e, t, cohort, top_n=400) == pytest.approx([want])   # capped
    top2 = adaptive_snorm(s, e, t, cohort, top_n=2)
    assert top2[0] == pytest.approx(0.5 * ((r - 0.5) / 0.5 + 0.0), abs=1e-6)


def test_snorm_ranks_like_the_distance_form():
    # Coria et al. normalise cosine distances against the N closest cohort entries;
    # on similarities with the N most similar the result is exactly negated.
    rng = np.random.default_rng(0)
    e, t, cohort = rng.normal(size=(20, 8)), rng.normal(size=(20, 8)), rng.normal(size=(30, 8))
    s = cosine_scores(e, t)
    ours = adaptive_snorm(s, e, t, cohort, top_n=10)

    def unit(x):
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    d = 1 - s
    d1, d2 = 1 - unit(e) @ unit(cohort).T, 1 - unit(t) @ unit(cohort).T
    p1, p2 = np.partition(d1, 10, axis=1)[:, :10], np.partition(d2, 10, axis=1)[:, :10]
    theirs = 0.5 * ((d - p1.mean(1)) / p1.std(1) + (d - p2.mean(1)) / p2.std(1))
    np.testing.assert_allclose(ours, -theirs, rtol=1e-9)


def test_a_cohort_of_one_is_refused():
    with pytest.raises(ValueError, match="at least 2 cohort entries"):
        adaptive_snorm(np.zeros(1), np.ones((1, 2)), np.ones((1, 2)), np.ones((1, 2)), 5)
