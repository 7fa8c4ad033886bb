"""An xgboost tree ensemble predicted in numpy, from its JSON model file (no xgboost import).

Predicting with a saved xgb run only needs its trees: importing xgboost (which
imports scikit-learn and SciPy) costs a fresh process about 1.5 s of CPU,
more than the prediction. :class:`TreeEnsemble` reads the trees of a
``multi:softprob`` / ``multi:softmax`` gbtree model as xgboost writes it
(``Booster.save_model("....json")``) and walks every tree for every row at
once, vectorised: at each depth, each row's current node in each tree moves
to its left or right child (``x < split`` goes left, a missing value follows
``default_left``) until it sits on a leaf.

Margins are the model's ``base_score`` plus the sum of each class's leaf
values, summed in float64 (xgboost sums in float32, tree by tree: the two
agree to about 1e-6 on probabilities; ``tests/test_backends.py`` holds them
within 1e-5). Models this reader does not cover (categorical splits, several
parallel trees, other objectives) raise :class:`UnsupportedTrees`; the xgb
backend then uses xgboost itself.

Call :func:`~genre_core.backends.xgb.check_booster_json` first: this module
trusts that every tree is a finite, acyclic binary tree with features in range.

Examples
--------
>>> import json
>>> doc = json.load(open("models/shipped/xgb-mfcc/model/booster.json"))   # doctest: +SKIP
>>> trees = TreeEnsemble.from_json(doc)                                    # doctest: +SKIP
>>> trees.predict_proba(X).shape                                           # doctest: +SKIP
(n, 10)
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

__all__ = ["TreeEnsemble", "UnsupportedTrees"]

#: Objectives whose output is a softmax over per-class margins.
SOFTMAX_OBJECTIVES = ("multi:softprob", "multi:softmax")


class UnsupportedTrees(ValueError):
    """The JSON model is valid but not one :class:`TreeEnsemble` predicts (use xgboost)."""


def _base_margin(text: Any, n_classes: int) -> np.ndarray:
    """``learner_model_param.base_score``: one number, or ``"[a,b,...]"`` (one per class, xgboost >= 3)."""
    if isinstance(text, str) and text.strip().startswith("["):
        values = json.loads(text)
    else:
        values = [float(text)] * n_classes
    out = np.asarray(values, dtype=np.float64)
    if out.shape != (n_classes,) or not np.all(np.isfinite(out)):
        raise UnsupportedTrees(f"base_score {text!r} does not give one finite value per class")
    return out


class TreeEnsemble:
    """The trees of an xgboost softmax model as flat arrays, ready to predict in numpy.

    Build it with :meth:`from_json`. All trees' nodes are concatenated;
    ``left`` / ``right`` hold global node indices (``-1`` on a leaf), a leaf's
    value is its ``split_conditions`` entry, as xgboost stores it.
    """

    def __init__(self, left, right, feature, threshold, default_left, roots, tree_class, n_classes, n_features,
                 base_margin, depth):
        self.left = left
        self.right = right
        self.feature = feature
        self.threshold = threshold
        self.default_left = default_left
        self.roots = roots
        self.tree_class = tree_class
        self.n_classes = n_classes
        self.n_features = n_features
        self.base_margin = base_margin
        self.depth = depth

    @classmethod
    def from_json(cls, doc: dict, *, n_rounds: int | None = None) -> "TreeEnsemble":
        """The first ``n_rounds`` boosting rounds (all by default) of a checked JSON model.

        Raises :class:`UnsupportedTrees` for what this reader does not cover.
        """
        learner = doc["learner"]
        objective = learner.get("objective", {}).get("name")
        if objective not in SOFTMAX_OBJECTIVES:
            raise UnsupportedTrees(f"objective {objective!r}")
        booster = learner["gradient_booster"]
        if booster.get("name") != "gbtree":
            raise UnsupportedTrees(f"booster {booster.get('name')!r}")
        model = booster["model"]
        if int(model.get("gbtree_model_param", {}).get("num_parallel_tree", "1")) != 1:
            raise UnsupportedTrees("several parallel trees per round")
        mparam = learner["learner_model_param"]
        n_classes = int(mparam["num_class"])
        n_features = int(mparam["num_feature"])
        trees = model["trees"]
        n_trees = len(trees) if n_rounds is None else min(len(trees), int(n_rounds) * n_classes)
        lefts, rights, feats, thresholds, defaults, roots = [], [], [], [], [], []
        depth, offset = 0, 0
        for tree in trees[:n_trees]:
            if any(int(s) != 0 for s in tree.get("split_type", [])):
                raise UnsupportedTrees("categorical splits")
            left = np.asarray(tree["left_children"], dtype=np.int64)
            right = np.asarray(tree["right_children"], dtype=np.int64)
            leaf = left == -1
            lefts.append(np.where(leaf, -1, left + offset))
            rights.append(np.where(leaf, -1, right + offset))
            feats.append(np.where(leaf, 0, np.asarray(tree["split_indices"], dtype=np.int64)))
            thresholds.append(np.asarray(tree["split_conditions"], dtype=np.float32))
            defaults.append(np.asarray(tree["default_left"], dtype=bool))
            roots.append(offset)
            depth = max(depth, _depth(left, right))
            offset += len(left)
        tree_class = np.asarray(model["tree_info"][:n_trees], dtype=np.int64)
        empty = np.zeros(0, dtype=np.int64)
        return cls(
            left=np.concatenate(lefts) if lefts else empty,
            right=np.concatenate(rights) if rights else empty,
            feature=np.concatenate(feats) if feats else empty,
            threshold=np.concatenate(thresholds) if thresholds else np.zeros(0, np.float32),
            default_left=np.concatenate(defaults) if defaults else np.zeros(0, bool),
            roots=np.asarray(roots, dtype=np.int64),
            tree_class=tree_class,
            n_classes=n_classes,
            n_features=n_features,
            base_margin=_base_margin(mparam.get("base_score", "0"), n_classes),
            depth=depth,
        )

    def leaves(self, X: np.ndarray) -> np.ndarray:
        """Global index of the leaf each row reaches in each tree, ``(n_rows, n_trees)``."""
        X = np.ascontiguousarray(X, dtype=np.float32).reshape(len(X), -1)
        if X.shape[1] != self.n_features:
            raise ValueError(f"the trees take {self.n_features} features, got {X.shape[1]}")
        flat = X.ravel()
        row_offset = (np.arange(len(X), dtype=np.int64) * self.n_features)[:, None]
        node = np.broadcast_to(self.roots, (len(X), len(self.roots))).copy()
        for _ in range(self.depth):
            left = self.left[node]
            inner = left >= 0
            if not inner.any():
                break
            x = flat[row_offset + self.feature[node]]
            go_left = np.where(np.isnan(x), self.default_left[node], x < self.threshold[node])
            node = np.where(inner, np.where(go_left, left, self.right[node]), node)
        return node

    def margins(self, X: np.ndarray) -> np.ndarray:
        """``base_score`` plus each class's summed leaf values, ``(n_rows, n_classes)`` float64."""
        values = self.threshold[self.leaves(X)].astype(np.float64)  # a leaf's value is its split_conditions
        out = np.zeros((len(values), self.n_classes), dtype=np.float64)
        for c in range(self.n_classes):
            out[:, c] = values[:, self.tree_class == c].sum(axis=1)
        return out + self.base_margin

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Softmax of :meth:`margins`, ``(n_rows, n_classes)``."""
        m = self.margins(X)
        m -= m.max(axis=1, keepdims=True)
        e = np.exp(m)
        return e / e.sum(axis=1, keepdims=True)

    @property
    def n_nodes(self) -> int:
        return int(len(self.left))


def _depth(left: np.ndarray, right: np.ndarray) -> int:
    """Edges on the longest root-to-leaf path of one (checked, acyclic) tree."""
    depth = np.zeros(len(left), dtype=np.int64)
    best = 0
    stack = [0]
    while stack:
        i = stack.pop()
        if left[i] >= 0:
            for child in (int(left[i]), int(right[i])):
                depth[child] = depth[i] + 1
                best = max(best, int(depth[child]))
                stack.append(child)
    return best
