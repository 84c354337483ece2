"""Membership-inference attacks as reusable building blocks on 1-D (or k-D) features."""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC


def _column(features) -> np.ndarray:
    array = np.asarray(features, dtype=np.float64)
    return array.reshape(len(array), -1)


def entropy_lr_mia(member_entropy, nonmember_entropy, target_entropy) -> float:
    """SSD/LFSSD attack: logistic regression (balanced classes) on output entropy, trained on
    members (D_r, label 1) vs non-members (test, label 0); returns the percentage of ``target``
    (D_f) samples predicted members. A retrained model should score low."""
    x = np.concatenate([_column(member_entropy), _column(nonmember_entropy)])
    y = np.concatenate([np.ones(len(member_entropy)), np.zeros(len(nonmember_entropy))])
    attack = LogisticRegression(class_weight="balanced", solver="lbfgs").fit(x, y)
    return 100.0 * float(attack.predict(_column(target_entropy)).mean())


def knn_attack(neighbours: int = 5) -> KNeighborsClassifier:
    """SURE's representation-space attacker (MIARS): k-NN, Euclidean, uniform weights."""
    return KNeighborsClassifier(n_neighbors=neighbours)


def svc_mia_efficacy(shadow_member, shadow_nonmember, target, classifier=None) -> float:
    """Unlearn-Sparse MIA-efficacy: an RBF SVC (C=3, gamma='auto'; or ``classifier``) on the
    features of shadow members vs non-members, applied to ``target`` (D_f); returns TN/|D_f| in
    percent, the share of forget samples called non-members (higher = more forgotten)."""
    x = np.concatenate([_column(shadow_member), _column(shadow_nonmember)])
    y = np.concatenate([np.ones(len(shadow_member)), np.zeros(len(shadow_nonmember))])
    attack = (classifier or SVC(C=3, gamma="auto", kernel="rbf")).fit(x, y)
    return 100.0 * float(1.0 - attack.predict(_column(target)).mean())


def binary_attack_accuracy(member, nonmember, seed: int = 0, n_splits: int = 5,
                           clip: float = 100.0, classifier=None) -> tuple[float, float]:
    """Kurmanji et al.'s attack: balance the two groups by subsampling, clip the features, fit a
    logistic regression (or ``classifier``, e.g. SURE's k-NN on embeddings) over ``n_splits``
    stratified 90/10 splits; return mean and std of the held-out accuracy in percent. 50% means
    the attacker cannot tell the groups apart."""
    rng = np.random.RandomState(seed)
    member, nonmember = _column(member), _column(nonmember)
    size = min(len(member), len(nonmember))
    member = member[rng.choice(len(member), size, replace=False)]
    nonmember = nonmember[rng.choice(len(nonmember), size, replace=False)]
    x = np.clip(np.concatenate([member, nonmember]), -clip, clip)
    y = np.concatenate([np.ones(size), np.zeros(size)])
    test_size = max(0.1, 2 / len(x))  # at least one sample of each group held out
    splits = StratifiedShuffleSplit(n_splits=n_splits, test_size=test_size, random_state=seed)
    attack = classifier or LogisticRegression()
    scores = [attack.fit(x[train], y[train]).score(x[test], y[test])
              for train, test in splits.split(x, y)]
    return 100.0 * float(np.mean(scores)), 100.0 * float(np.std(scores))


def class_threshold_efficacy(shadow_in, shadow_in_labels, shadow_out, shadow_out_labels,
                             target, target_labels) -> float:
    """Song & Mittal's metric attack with class-wise thresholds: for every class c choose the
    tau_c that maximises (Pr_in[v >= tau] + Pr_out[v < tau]) / 2 on the shadow sets, predict
    member iff v >= tau_y; returns the percentage of ``target`` predicted non-members. Classes
    missing from the shadow sets use one threshold fitted on all classes."""
    shadow_in, shadow_out, target = (np.asarray(a, dtype=np.float64)
                                     for a in (shadow_in, shadow_out, target))
    shadow_in_labels, shadow_out_labels, target_labels = (
        np.asarray(a) for a in (shadow_in_labels, shadow_out_labels, target_labels))

    def best_threshold(inside: np.ndarray, outside: np.ndarray) -> float:
        inside, outside = np.sort(inside), np.sort(outside)
        candidates = np.unique(np.concatenate([inside, outside]))
        tpr = 1 - np.searchsorted(inside, candidates, side="left") / len(inside)
        tnr = np.searchsorted(outside, candidates, side="left") / len(outside)
        return candidates[np.argmax(tpr + tnr)]

    overall = best_threshold(shadow_in, shadow_out)
    thresholds = {}
    for c in np.unique(target_labels):
        inside, outside = shadow_in[shadow_in_labels == c], shadow_out[shadow_out_labels == c]
        # a class absent from a shadow set (the forgotten class in class-wise forgetting)
        # falls back to the threshold fitted on all classes
        thresholds[c] = best_threshold(inside, outside) if len(inside) and len(outside) else overall
    tau = np.array([thresholds[c] for c in target_labels])
    return 100.0 * float(np.mean(target < tau))
