"""Speaker verification and identification (VoxCeleb1): the x-vector protocol.

Verification is the task (Coria et al.'s recipe): an x-vector network trained
with an additive angular margin loss on 3 s crops, embeddings compared by
cosine, equal error rate on the official ``veri_test2.txt`` trials.

The model never sees a trial speaker. VoxCeleb1's ``iden_split.txt`` lists all
1,251 speakers, the 40 test speakers of ``veri_test2.txt`` included; every
utterance of those speakers is removed from training and validation (the
standard 1,211-speaker verification training set), and the run stops if a
trial speaker is left in training. Identification accuracy is still reported,
on the official ``iden_split`` test utterances of the speakers the model was
trained on (1,211-way on the real data, not the 1,251-way identification
benchmark). Model selection uses the EER of trials drawn from the development
utterances of the training speakers (unseen utterances, seen speakers).

The test EER is reported on raw cosine scores (``eer``, the main metric) and,
as the reused protocol also does, after adaptive s-norm (``eer_snorm``,
:mod:`benchmark.scoring`) against a cohort of training-speaker mean embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark import metrics, scoring
from benchmark.adapters.voxceleb1 import verification_speakers
from benchmark.errors import UserError
from benchmark.features import FeatureConfig
from benchmark.settings import CI_TRAIN, DEMO_TRAIN, PAPER_TRAIN, TrainSettings, check
from benchmark.tasks import register_task
from benchmark.tasks.base import (windows, EpochBatches, Splits, Task, fix_length,
                                  make_splits, mean_loss, permute_labels, predict_batched,
                                  top_lines)

# Keras, and benchmark.heads built on it, load inside the methods that build or train a
# model: the configuration and the command line read a task's settings without
# TensorFlow's start-up (seconds).

MAX_VAL_TRIALS = 4000
SNORM_UTTERANCES = 5   # training utterances per cohort speaker (bounds the test-time cost)


@dataclass(frozen=True)
class XvectorHead:
    """x-vector TDNN, mean‖std pooling, embedding, cosine classifier with AAM loss."""

    compress: int = 64
    tdnn_channels: int = 512
    tdnn_pooling_channels: int = 1500
    embedding: int = 512
    aam_margin: float = 0.05
    aam_scale: float = 10.0

    def __post_init__(self):
        check(min(self.compress, self.tdnn_channels, self.tdnn_pooling_channels, self.embedding) > 0,
              f"head widths must be positive (got {self})")
        check(0 <= self.aam_margin < 1 and self.aam_scale > 0,
              f"head.aam_margin must be in [0, 1) and head.aam_scale positive (got {self})")


@dataclass(frozen=True)
class SpeakerProtocol:
    chunk_seconds: float = 3.0
    eval_hop_fraction: float = 0.5
    noise_prob: float = 1.0
    noise_snr_db: tuple[float, float] = (10.0, 20.0)
    # Adaptive s-norm: the N most similar cohort speakers (Coria et al.: 400); 0: raw cosine only
    snorm_top_n: int = 400

    def __post_init__(self):
        check(self.chunk_seconds > 0, "protocol.chunk_seconds must be positive")
        check(0 < self.eval_hop_fraction <= 1, "protocol.eval_hop_fraction must be in (0, 1]")
        check(0 <= self.noise_prob <= 1, f"protocol.noise_prob must be in [0, 1] (got {self.noise_prob})")
        check(self.noise_snr_db[0] <= self.noise_snr_db[1], "protocol.noise_snr_db must be (low, high)")
        check(self.snorm_top_n >= 0, f"protocol.snorm_top_n must be >= 0 (got {self.snorm_top_n})")


@register_task
class Speaker(Task):
    name = "speaker"
    version = 2
    output = "clip"
    main_metric = "eer"
    direction = "min"
    table_metrics = ("eer", "eer_snorm", "accuracy")
    Head = XvectorHead
    Protocol = SpeakerProtocol
    head = XvectorHead()
    protocol = SpeakerProtocol()
    # Per-band mean removed per utterance (cepstral mean normalisation, in the mel domain).
    features = FeatureConfig(sample_rate=16000, n_mels=64, win_ms=25.0, hop_ms=10.0,
                             fmin=0.0, fmax=8000.0, level="band_mean")
    train = TrainSettings(epochs=100, batch_size=64, learning_rate=0.01, optimizer="sgd",
                          patience=20)
    protocol_text = ("verification: trained on the non-trial speakers (3 s crops, noise at "
                     "10-20 dB SNR, AAM loss), EER (cosine) on veri_test2 trials; identification "
                     "accuracy on iden_split test utterances of the training speakers")
    sizes = {
        "ci": {"features": {"n_mels": 24},
               "head": {"compress": 8, "tdnn_channels": 16, "tdnn_pooling_channels": 32,
                        "embedding": 16},
               "train": CI_TRAIN,
               "protocol": {"chunk_seconds": 1.0}},
        "demo": {"features": {"n_mels": 32},
                 "head": {"compress": 16, "tdnn_channels": 32, "tdnn_pooling_channels": 64,
                          "embedding": 32},
                 "train": DEMO_TRAIN,
                 "protocol": {"chunk_seconds": 1.5, "noise_prob": 0.5}},
        # The authors' 2048-point FFT, as for speech activity (see there).
        "paper": {"train": PAPER_TRAIN, "features": {"n_fft": 2048, "window": "win_ms"}},
        "paper-window": {"train": PAPER_TRAIN, "features": {"n_fft": 2048, "window": "fft"}},
    }

    def make_splits(self, examples: list, fold) -> Splits:
        held = verification_speakers(self.prepared.trials, self.prepared.examples)
        s = make_splits(examples, fold)
        train = [e for e in s.train if e.label not in held]
        val = [e for e in s.val if e.label not in held]
        test = [e for e in s.test if e.label not in held]
        leaked = {e.label for e in train} & held
        if leaked:  # cannot happen after the filter; kept as the protocol's guarantee
            raise UserError(f"verification speakers in training: {sorted(leaked)}")
        return Splits(train, val, test, f"{s.protocol}; {len(held)} verification speaker(s) "
                                        f"removed from training, validation and identification")

    def __init__(self, cfg, prepared, store, noise=None):
        super().__init__(cfg, prepared, store, noise)
        s = self.splits
        self.label_classes(f"{cfg.dataset}")
        self.chunk, self.hop = windows(cfg)
        # Utterances are read per batch (VoxCeleb's features do not fit in memory).
        self.train_ids = [e.id for e in s.train]
        self.train_y = np.array([self.index[e.label] for e in s.train], np.int64)
        if cfg.train.permute_labels:
            self.train_y = permute_labels(self.train_y, cfg.seed)
        # Validation loss: one deterministic centre crop per utterance.
        self.val_x = np.stack([fix_length(x, self.chunk, max(0, (len(x) - self.chunk) // 2))
                               for x in (store.get(e.id) for e in s.val)])
        self.val_y = np.array([self.index[e.label] for e in s.val], np.float32)
        self.val_trials = self._val_trials(s.val, cfg.seed)
        # Standardisation statistics from (at most) 2000 training utterances, evenly spread.
        step = max(1, len(self.train_ids) // 2000)
        cat = np.concatenate([store.get(i) for i in self.train_ids[::step]])
        self.norm = (cat.mean(axis=0), cat.var(axis=0))

    def _val_trials(self, val: list, seed: int) -> list[tuple[str, str, bool]]:
        """Trials for model selection: every development utterance against the others and
        against one training utterance per speaker (so each has a target), at most
        MAX_VAL_TRIALS of them, drawn deterministically."""
        first = {}
        for e in self.splits.train:
            first.setdefault(e.label, e)
        pool = val + [first[k] for k in sorted(first)]
        n_val = len(val)
        pairs = [(pool[i].id, pool[j].id, pool[i].label == pool[j].label)
                 for i in range(n_val) for j in range(i + 1, len(pool))]
        if len(pairs) > MAX_VAL_TRIALS:
            rng = np.random.default_rng([seed, 11])
            pairs = [pairs[i] for i in sorted(rng.choice(len(pairs), MAX_VAL_TRIALS, replace=False))]
        if len({t for _, _, t in pairs}) < 2:
            raise UserError("the development utterances give no target or no non-target trial: "
                            "verification model selection needs both")
        return pairs

    # -- model --------------------------------------------------------------

    def build_head(self, x):
        from benchmark.heads import xvector_head

        return xvector_head(x, self.cfg.head, self.n_outputs)

    def loss(self):
        from benchmark.heads import AAMLoss

        return AAMLoss(self.cfg.head.aam_margin, self.cfg.head.aam_scale)

    # -- data ---------------------------------------------------------------

    def train_batches(self) -> EpochBatches:
        ids, ys, n, store, p = self.train_ids, self.train_y, self.chunk, self.store, self.cfg.protocol
        noise = self.noise if p.noise_prob > 0 else None

        def load(idx, rng):
            xb = []
            for i in idx:
                x = store.get(ids[i])
                x = fix_length(x, n, int(rng.integers(0, max(1, len(x) - n + 1))))
                if noise is not None and rng.random() < p.noise_prob:
                    x = noise.mix(x, rng, p.noise_snr_db)
                xb.append(x)
            return np.stack(xb).astype(np.float32), ys[idx].astype(np.float32)

        return EpochBatches(len(ids), self.cfg.train.batch_size, load, self.cfg.seed, shuffle=True,
                            steps=self.cfg.train.steps_per_epoch)

    # -- evaluation ---------------------------------------------------------

    def _outputs(self, model, ids: list[str]) -> np.ndarray:
        """Model outputs averaged over each utterance's sliding windows."""
        return utterance_outputs(model, [self.store.get(i) for i in ids], self.chunk, self.hop,
                                 self.cfg.train.batch_size)

    def _eer(self, model, trials) -> tuple[float, np.ndarray, np.ndarray]:
        from benchmark.heads import embedding_model

        ids = sorted({a for a, _, _ in trials} | {b for _, b, _ in trials})
        emb = self._outputs(embedding_model(model), ids)
        emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-9)
        pos = {i: k for k, i in enumerate(ids)}
        cos = np.array([float(emb[pos[a]] @ emb[pos[b]]) for a, b, _ in trials])
        lab = np.array([int(t) for _, _, t in trials])
        self._trial_emb = (emb[[pos[a] for a, _, _ in trials]], emb[[pos[b] for _, b, _ in trials]])
        return metrics.equal_error_rate(cos, lab), cos, lab

    def _snorm_scores(self, model, cos: np.ndarray) -> np.ndarray:
        """Adaptive s-norm of the last ``_eer`` call's trial scores; the cohort is the
        training speakers' mean embeddings (their first SNORM_UTTERANCES utterances)."""
        from benchmark.heads import embedding_model

        per: dict[str, list[str]] = {}
        for e in sorted(self.splits.train, key=lambda e: e.id):
            if len(per.setdefault(e.label, [])) < SNORM_UTTERANCES:
                per[e.label].append(e.id)
        ids = [i for spk in sorted(per) for i in per[spk]]
        spk = [s for s in sorted(per) for _ in per[s]]
        cohort = scoring.cohort_means(self._outputs(embedding_model(model), ids), spk)
        return scoring.adaptive_snorm(cos, *self._trial_emb, cohort, self.cfg.protocol.snorm_top_n)

    def validate(self, model, epoch: int) -> dict:
        p = predict_batched(model, self.val_x, self.cfg.train.batch_size)
        eer, _, _ = self._eer(model, self.val_trials)
        return {"val_loss": mean_loss(self.loss(), self.val_y, p), "val_main": eer,
                "val_accuracy": float(np.mean(p.argmax(1) == self.val_y))}

    def test(self, model) -> dict:
        test = self.splits.test
        scores = self._outputs(model, [e.id for e in test])
        y = np.array([self.index[e.label] for e in test])
        out = {"accuracy": metrics.accuracy(y, scores.argmax(1))}
        trials = [(t.enroll, t.test, bool(t.target)) for t in self.prepared.trials
                  if t.enroll in self.store and t.test in self.store]
        check(len({t for _, _, t in trials}) == 2,
              f"{self.cfg.dataset}: the verification trials need target and non-target pairs "
              f"with readable audio ({len(trials)} usable)")
        eer, cos, lab = self._eer(model, trials)
        out["eer"] = eer
        # Trials of one enrolment speaker are resampled together (they share a voice), and
        # identification items by their speaker: the report's intervals resample speakers.
        speaker = {e.id: e.label or e.group or e.id for e in self.prepared.examples}
        trial_cols = {"item": [f"{a} {b}" for a, b, _ in trials],
                      "unit": [speaker.get(a, a) for a, _, _ in trials],
                      "enroll": [a for a, _, _ in trials], "test": [b for _, b, _ in trials],
                      "score": [float(c) for c in cos], "target": [int(v) for v in lab]}
        if self.cfg.protocol.snorm_top_n > 0 and len(set(e.label for e in self.splits.train)) > 1:
            snorm = self._snorm_scores(model, cos)
            out["eer_snorm"] = metrics.equal_error_rate(snorm, lab)
            trial_cols["score_snorm"] = [float(c) for c in snorm]
        self.outputs = {
            "classification": {"item": [e.id for e in test], "unit": [e.label for e in test],
                               "y_true": y.tolist(), "y_pred": scores.argmax(1).tolist()},
            "verification": trial_cols}
        return out

    def record(self) -> dict:
        return {"classes": self.classes}

    # -- prediction ---------------------------------------------------------

    @classmethod
    def predict_lines(cls, predictor, path: str, logmel: np.ndarray, top: int) -> list[str]:
        cfg = predictor.config
        chunk, hop = windows(cfg)
        scores = utterance_outputs(predictor.model, [logmel], chunk, hop, cfg.train.batch_size)[0]
        return top_lines(path, scores, predictor.labels, top)


def utterance_outputs(model, utterances: list[np.ndarray], chunk: int, hop: int,
                      batch_size: int) -> np.ndarray:
    """Outputs averaged over each utterance's ``chunk``-frame windows every ``hop`` frames."""
    wins = [np.stack([fix_length(x, chunk, s) for s in range(0, max(1, len(x) - chunk + 1), hop)])
            for x in utterances]
    flat = predict_batched(model, np.concatenate(wins), batch_size)
    bounds = np.cumsum([0] + [len(w) for w in wins])
    return np.stack([flat[a:b].mean(0) for a, b in zip(bounds[:-1], bounds[1:])])

