#!/usr/bin/python3
"""bench_numpy: the post's SSGD as a plain NumPy loop, no simulation at all.

The baseline the foundation issue compares dtsim with: logistic regression
on the breast-cancer data with the post's split, 4 workers holding
contiguous quarters of the training rows, each drawing a Bernoulli(0.1)
mini-batch per round, the server averaging the workers' mean gradients,
lr 0.1, 1500 rounds, test accuracy after every round (what the post
records). Prints the wall time of the loop and of the whole process.

usage: /usr/bin/python3 tools/bench_numpy.py   (Debian's python3-numpy)
"""
import json
import os
import time

T0 = time.perf_counter()
import numpy as np  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def main():
    data = np.loadtxt(os.path.join(ROOT, "data", "breast_cancer.csv"),
                      delimiter=",", skiprows=1)
    split = json.load(open(os.path.join(ROOT, "data",
                                        "breast_cancer_split.json")))
    X = np.concatenate([data[:, :-1], np.ones((len(data), 1))], axis=1)
    y = data[:, -1]
    Xtr, ytr = X[split["train"]], y[split["train"]]
    Xte, yte = X[split["test"]], y[split["test"]]
    K, rounds, lr, frac = 4, 1500, 0.1, 0.1
    n = len(Xtr)
    parts = [(k * n // K, (k + 1) * n // K) for k in range(K)]
    rng = np.random.default_rng(1)
    w = rng.uniform(-1, 1, X.shape[1])

    def sigmoid(z):
        return 1 / (np.exp(-z) + 1 + 1e-6)

    t_loop = time.perf_counter()
    accs = []
    for _ in range(rounds):
        grads = []
        for lo, hi in parts:
            mask = rng.random(hi - lo) < frac
            xb, yb = Xtr[lo:hi][mask], ytr[lo:hi][mask]
            g = (-(yb - sigmoid(xb @ w))[:, None] * xb).mean(axis=0) \
                if len(xb) else np.zeros_like(w)
            grads.append(g)
        w = w - lr * np.mean(grads, axis=0)
        accs.append(np.mean(np.where(sigmoid(Xte @ w) < 0.5, 0, 1) == yte))
    t_end = time.perf_counter()
    print(f"numpy SSGD, {rounds} rounds, {K} workers: loop {t_end - t_loop:.3f} s, "
          f"whole process {t_end - T0:.3f} s, final accuracy {accs[-1]:.6f}")


main()
