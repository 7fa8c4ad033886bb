"""``xgb``: gradient-boosted trees (xgboost, ``hist``) on a feature vector per window.

Multi-class soft-probability boosting with early stopping on the validation
set's log loss (the kept model is the best round), class weights passed as
sample weights, and a per-round history (``mlogloss`` -> ``loss``, ``1 - merror``
-> ``accuracy``, same for ``val_*``) for the learning curves. Trees need no
feature scaling, so none is stored.

Saved files: ``model.json`` and ``booster.json`` (xgboost's own JSON model
format; loading it runs no code). A loaded model predicts with its trees in
numpy (:mod:`.xgb_trees`, within 1e-6 of xgboost), so predicting never imports
xgboost (nor the scikit-learn and SciPy it imports, ~1.5 s of a fresh
process); xgboost parses the file only to save it again or for models the
numpy reader does not cover.

Example
-------
>>> from genre_core.backends import get_backend
>>> xgb = get_backend("xgb")(n_estimators=300, max_depth=4, seed=0)   # default input: mfcc_stats on 3 s
>>> xgb.fit(X, y, X_valid=Xv, y_valid=yv)                            # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RunError, TrainingCancelled
from ..jsonio import read_json as read_json_file
from .xgb_trees import TreeEnsemble, UnsupportedTrees
from .base import (
    EpochReporter,
    GenreModel,
    Param,
    finite_or_none,
    n_threads,
    normalise_rows,
    register_backend,
    require_file,
    seed_everything,
    training_weights,
)


def _xgb():
    import xgboost

    return xgboost


@register_backend
class XGBModel(GenreModel):
    """xgboost gradient boosting (hist) with early stopping on validation log loss."""

    name = "xgb"
    label = "gradient-boosted trees"
    progress_unit = "boosting round"
    description = ("xgboost gradient-boosted trees (hist) on a feature vector per window (default: MFCC "
                   "statistics on 3 s windows), early stopping on validation log loss, class weights.")
    input_kinds = ("features",)
    default_input_spec = {"kind": "features", "feature_set": "mfcc_stats", "window": 3.0}
    libraries = ("xgboost",)

    @classmethod
    def param_specs(cls) -> list[Param]:
        return [
            Param("n_estimators", 600, int, "Maximum boosting rounds.", low=1, high=100000),
            Param("learning_rate", 0.05, float, "Shrinkage per round (eta).", low=1e-4, high=1.0),
            Param("max_depth", 6, int, "Maximum tree depth.", low=1, high=20),
            Param("min_child_weight", 1.0, float, "Minimum summed weight in a leaf.", low=0.0, high=1000.0),
            Param("subsample", 0.8, float, "Fraction of windows sampled per tree.", low=0.05, high=1.0),
            Param("colsample_bytree", 0.8, float, "Fraction of features sampled per tree.", low=0.05, high=1.0),
            Param("reg_lambda", 1.0, float, "L2 penalty on leaf weights.", low=0.0, high=1000.0, advanced=True),
            Param("reg_alpha", 0.0, float, "L1 penalty on leaf weights.", low=0.0, high=1000.0, advanced=True),
            Param("gamma", 0.0, float, "Minimum loss reduction to split.", low=0.0, high=100.0, advanced=True),
            Param("max_bin", 256, int, "Histogram bins per feature.", low=2, high=4096, advanced=True),
            Param("early_stopping", 40, int, "Stop after this many rounds without better validation log loss "
                  "(0 = never).", low=0, high=100000),
            Param("class_weight", "balanced", str, "Weight classes inversely to their frequency.",
                  choices=["balanced", "none"]),
            Param("seed", 0, int, "Random seed (row / column sampling).", low=0, high=2**31 - 1),
        ]

    def __init__(self, input_spec=None, **params):
        super().__init__(input_spec, **params)
        self._booster = None
        self._booster_path: Path | None = None
        self._trees: TreeEnsemble | None = None  # a loaded model's trees, predicted in numpy
        self.best_iteration_: int | None = None

    def _booster_params(self, n_classes: int) -> dict:
        p = self.params
        return {
            "objective": "multi:softprob", "num_class": n_classes, "tree_method": "hist",
            "eta": p["learning_rate"], "max_depth": p["max_depth"], "min_child_weight": p["min_child_weight"],
            "subsample": p["subsample"], "colsample_bytree": p["colsample_bytree"], "lambda": p["reg_lambda"],
            "alpha": p["reg_alpha"], "gamma": p["gamma"], "max_bin": p["max_bin"], "seed": p["seed"],
            "nthread": n_threads(), "eval_metric": ["merror", "mlogloss"], "verbosity": 0,
        }

    def fit(self, X, y, *, X_valid=None, y_valid=None, classes=None, sample_weight=None,
            progress=None, should_stop=None, groups=None) -> "XGBModel":
        t0 = time.perf_counter()
        X, y_idx, Xv, yv_idx = self._prepare_fit(X, y, X_valid, y_valid, classes)
        p = self.params
        n_classes = len(self.classes_)
        w = training_weights(y_idx, n_classes, p["class_weight"], sample_weight)
        xgb = _xgb()
        seed_everything(p["seed"])
        nthread = n_threads()
        dtrain = xgb.DMatrix(X.reshape(len(X), -1), label=y_idx, weight=w, nthread=nthread)
        evals = [(dtrain, "train")]
        has_valid = Xv is not None
        if has_valid:
            evals.append((xgb.DMatrix(Xv.reshape(len(Xv), -1), label=yv_idx, nthread=nthread), "valid"))
        reporter = EpochReporter(progress, p["n_estimators"])
        history = self.history
        flags = {"cancelled": False, "t": time.perf_counter()}

        class Watch(xgb.callback.TrainingCallback):
            def before_training(self, model):
                reporter.start()
                return model

            def after_iteration(self, model, epoch, evals_log):
                def last(data, metric):
                    vals = evals_log.get(data, {}).get(metric)
                    return finite_or_none(vals[-1]) if vals else None

                merr, vmerr = last("train", "merror"), last("valid", "merror")
                metrics = {"loss": last("train", "mlogloss"), "accuracy": None if merr is None else 1.0 - merr,
                           "val_loss": last("valid", "mlogloss"),
                           "val_accuracy": None if vmerr is None else 1.0 - vmerr, "lr": p["learning_rate"]}
                now = time.perf_counter()
                history.append({"epoch": epoch + 1, **metrics, "time_s": round(now - flags["t"], 4)})
                flags["t"] = now
                reporter.report(epoch + 1, metrics)
                if should_stop is not None and should_stop():
                    flags["cancelled"] = True
                    return True
                return False

        callbacks = [Watch()]
        if has_valid and p["early_stopping"] > 0:
            callbacks.append(xgb.callback.EarlyStopping(rounds=p["early_stopping"], metric_name="mlogloss",
                                                        data_name="valid", maximize=False, save_best=False))
        booster = xgb.train(self._booster_params(n_classes), dtrain, num_boost_round=p["n_estimators"],
                            evals=evals, verbose_eval=False, callbacks=callbacks)
        if flags["cancelled"]:
            raise TrainingCancelled(f"Training was cancelled after boosting round {len(history)} "
                                    f"of {p['n_estimators']}.")
        rounds = booster.num_boosted_rounds()
        best = getattr(booster, "best_iteration", None) if has_valid and p["early_stopping"] > 0 else None
        self.best_iteration_ = int(best) if best is not None else rounds - 1
        self.best_epoch_ = self.best_iteration_ + 1
        self._booster, self._booster_path, self._trees = booster, None, None
        self.fit_time_s_ = round(time.perf_counter() - t0, 3)
        return self

    def predict_proba(self, X) -> np.ndarray:
        X = self._check_predict_input(X)
        if self._booster is None and self._trees is None:
            raise RunError("The xgb model has no booster; fit or load it first.")
        if len(X) == 0:
            return np.zeros((0, len(self.classes_)), dtype=np.float64)
        X = X.reshape(len(X), -1)
        if self._trees is not None:  # a loaded model: its trees in numpy, xgboost not imported
            return normalise_rows(self._trees.predict_proba(X))
        xgb = _xgb()
        d = xgb.DMatrix(X, nthread=n_threads())
        proba = self._booster.predict(d, iteration_range=(0, self.best_iteration_ + 1))
        return normalise_rows(np.asarray(proba).reshape(len(X), len(self.classes_)))

    def _require_booster(self):
        """The xgboost booster (parsed from the loaded file on first need: saving, counting nodes)."""
        if self._booster is None and self._booster_path is not None:
            self._booster = _load_booster(self._booster_path)
        return self._booster

    def n_parameters(self) -> int | None:
        """Tree nodes in the kept rounds."""
        if self._trees is not None:
            return self._trees.n_nodes
        if self._require_booster() is None:
            return None
        dump = self._booster[: self.best_iteration_ + 1].get_dump()
        return int(sum(tree.count("\n") for tree in dump))

    def _manifest_state(self) -> dict:
        return {"best_iteration": self.best_iteration_}

    def _save_artifacts(self, folder: Path) -> list[Path]:
        path = folder / "booster.json"
        self._require_booster().save_model(str(path))
        return [path]

    def _load_artifacts(self, folder: Path, state: dict) -> None:
        path = require_file(folder / "booster.json", "booster file (booster.json)")
        # xgboost's own parser is lenient and its predictor trusts the trees (a cycle crashes the
        # process): read strictly and check every tree before anything uses the file
        doc = read_json_file(path, "booster file")
        check_booster_json(doc, path)
        n_features = int(np.prod(self.input_shape_)) if self.input_shape_ else -1
        best = state.get("best_iteration")
        try:
            trees = TreeEnsemble.from_json(doc)
        except UnsupportedTrees:  # valid, but not what the numpy predictor covers: xgboost predicts
            booster = _load_booster(path)
            try:
                n_class = int(json.loads(booster.save_config())["learner"]["learner_model_param"]["num_class"])
            except (KeyError, ValueError, TypeError):
                n_class = -1
            shape, rounds, trees = (booster.num_features(), n_class), booster.num_boosted_rounds(), None
        else:
            booster = None
            shape, rounds = (trees.n_features, trees.n_classes), len(trees.roots) // max(trees.n_classes, 1)
        if shape != (n_features, len(self.classes_)):
            raise RunError(f"{path}: the booster takes {shape[0]} features -> {shape[1]} classes, "
                           f"but the manifest says {n_features} -> {len(self.classes_)}.")
        if not isinstance(best, int) or not 0 <= best < rounds:
            raise RunError(f"{folder / 'model.json'}: best_iteration {best!r} is not within the booster's "
                           f"{rounds} rounds.")
        self.best_iteration_ = best
        self._booster = booster
        self._booster_path = path
        self._trees = TreeEnsemble.from_json(doc, n_rounds=best + 1) if trees is not None else None


def _load_booster(path: Path):
    """xgboost's ``Booster`` from a checked JSON file (:func:`check_booster_json` first)."""
    xgb = _xgb()
    try:
        booster = xgb.Booster(params={"nthread": n_threads()})
        booster.load_model(str(path))
    except xgb.core.XGBoostError as err:
        msg = str(err).strip().splitlines()
        raise RunError(f"{path}: the booster file is corrupt ({msg[0][:200] if msg else type(err).__name__}).") \
            from None
    return booster


def check_booster_json(doc: Any, path: Path) -> None:
    """Check an xgboost JSON model before xgboost loads it; :class:`RunError` naming the tree otherwise.

    Every tree must be a finite, acyclic binary tree: child indices within
    the tree (``-1`` for a leaf, both or neither), each node reached once from
    the root, split features below the model's feature count, finite split
    values and leaf weights. (That the counts match the manifest's
    ``n_features`` / ``n_classes`` is checked once xgboost has parsed the file,
    before anything is predicted.)
    """
    def bad(why: str) -> RunError:
        return RunError(f"{path}: the booster file is damaged ({why}); the run is refused.")

    try:
        learner = doc["learner"]
        mparam = learner["learner_model_param"]
        model = learner["gradient_booster"]["model"]
        trees = model["trees"]
        tree_info = model["tree_info"]
        num_class = int(mparam.get("num_class", "0"))
        num_feature = int(mparam.get("num_feature", "0"))
    except (KeyError, TypeError, ValueError) as err:
        raise bad(f"missing or malformed field {err}") from None
    if not isinstance(trees, list) or not isinstance(tree_info, list) or len(tree_info) != len(trees):
        raise bad("the tree list and tree_info disagree")
    if not 0 <= num_class <= 100_000 or not 0 < num_feature <= 10_000_000:
        raise bad(f"{num_class} classes and {num_feature} features are not plausible")
    for t, (tree, group) in enumerate(zip(trees, tree_info)):
        if not isinstance(group, int) or not 0 <= group < max(num_class, 1):
            raise bad(f"tree {t} belongs to class {group!r}")
        try:
            left = np.asarray(tree["left_children"], dtype=np.int64)
            right = np.asarray(tree["right_children"], dtype=np.int64)
            feat = np.asarray(tree["split_indices"], dtype=np.int64)
            cond = np.asarray(tree["split_conditions"], dtype=np.float64)
            weights = np.asarray(tree["base_weights"], dtype=np.float64)
        except (KeyError, TypeError, ValueError, OverflowError) as err:
            raise bad(f"tree {t}: malformed arrays ({err})") from None
        n = len(left)
        if n == 0 or not (len(right) == len(feat) == len(cond) == n) or len(weights) < n \
                or left.ndim != 1 or right.ndim != 1:
            raise bad(f"tree {t}: node arrays of different lengths")
        seen = np.zeros(n, dtype=bool)
        stack = [0]
        while stack:  # walk from the root: every reachable node in range, reached once
            i = stack.pop()
            if seen[i]:
                raise bad(f"tree {t}: node {i} is reached twice (a cycle)")
            seen[i] = True
            lo, hi = int(left[i]), int(right[i])
            if lo == -1 and hi == -1:
                continue
            if not (0 < lo < n and 0 < hi < n):
                raise bad(f"tree {t}: node {i} has a child out of range or only one child")
            if not 0 <= int(feat[i]) < max(num_feature, 1):
                raise bad(f"tree {t}: node {i} splits on a feature the model does not have")
            stack.append(lo)
            stack.append(hi)
        if not (np.all(np.isfinite(cond[seen])) and np.all(np.isfinite(weights[:n][seen]))):
            raise bad(f"tree {t}: non-finite split values or leaf weights")
