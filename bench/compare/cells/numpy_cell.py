"""numpy cell of the comparison benchmark (bench/compare/cells/numpy.ts spawns it).

    python3 numpy_cell.py JOB_DIR

JOB_DIR holds job.json and raw little-endian float32 files written by the Node side (the same data,
batches and initial weights every framework gets). Everything is float32, on one core (the caller
sets OPENBLAS_NUM_THREADS=1 and friends). Prints one line "@@NUMPY {json}".

Training is hand-written backprop as a numpy user writes it: forward keeping the activations,
the loss's gradient with respect to the logits, then per layer dW = a.T @ dz, db = dz.sum(0),
dz_prev = (dz @ W.T) * act'(a), and the SGD update p -= step * grad in place.
"""

import json
import math
import os
import resource
import sys
import time

import numpy as np

SAMPLES = 16


def load(job_dir, name, shape):
    return np.fromfile(os.path.join(job_dir, name), dtype="<f4").reshape(shape)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def relu(z):
    return np.maximum(z, 0)


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class Net:
    """A dense network trained by plain SGD with hand-written backprop."""

    def __init__(self, spec, params):
        self.hidden = spec["hidden"]
        self.loss = spec["loss"]
        self.batch = spec["batch"]
        self.params = params  # [(W [in, out], b [out]), ...]

    def step(self, x, y, lr):
        """Forward, backward and (lr > 0) the update; returns the loss before the update."""
        acts = [x]
        h = x
        last = len(self.params) - 1
        for l, (W, b) in enumerate(self.params):
            z = h @ W + b
            if l < last:
                h = sigmoid(z) if self.hidden == "sigmoid" else relu(z)
                acts.append(h)
            else:
                h = z
        if self.loss == "halfSumSq":
            out = sigmoid(h)
            diff = out - y
            loss = 0.5 * np.sum(diff * diff)
            dz = diff * out * (1 - out)
        elif self.loss == "softmaxSumSq":
            s = softmax(h)
            diff = s - y
            loss = np.sum(diff * diff)
            g = 2 * diff
            dz = s * (g - np.sum(g * s, axis=1, keepdims=True))
        else:  # meanXent: -sum(log_softmax(z) * y) / batch, y one-hot
            shifted = h - h.max(axis=1, keepdims=True)
            e = np.exp(shifted)
            se = e.sum(axis=1, keepdims=True)
            loss = -np.sum((shifted - np.log(se)) * y) / self.batch
            dz = (e / se - y) / self.batch
        for l in range(last, -1, -1):
            W, b = self.params[l]
            a = acts[l]
            dW = a.T @ dz
            db = dz.sum(axis=0)
            if l > 0:
                da = dz @ W.T
                dz = da * a * (1 - a) if self.hidden == "sigmoid" else da * (a > 0)
            if lr:
                W -= lr * dW
                b -= lr * db
        return float(loss)


class Batches:
    """Batch s holds rows (s * batch + r) mod n, as bench/compare/data.ts's Batcher."""

    def __init__(self, x, y, batch):
        self.x, self.y, self.batch, self.n = x, y, batch, x.shape[0]

    def get(self, s):
        start = (s * self.batch) % self.n
        end = start + self.batch
        if end <= self.n:
            return self.x[start:end], self.y[start:end]
        idx = np.arange(start, end) % self.n
        return self.x[idx], self.y[idx]


def train(job_dir, spec, x, y, prefix):
    sizes = spec["sizes"]
    params = []
    for l in range(len(sizes) - 1):
        params.append(
            (
                load(job_dir, f"{prefix}W{l}.f32", (sizes[l], sizes[l + 1])).copy(),
                load(job_dir, f"{prefix}b{l}.f32", (sizes[l + 1],)).copy(),
            )
        )
    net = Net(spec, params)
    batches = Batches(x, y, spec["batch"])
    # warm-up: loss and gradients of batch 0 at the initial weights, no update
    initial = net.step(*batches.get(0), 0.0)
    lr = np.float32(spec["stepSize"])
    steps = spec["steps"]
    loss = initial
    t0 = time.perf_counter()
    for s in range(steps):
        xb, yb = batches.get(s)
        loss = net.step(xb, yb, lr)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "initialLoss": initial, "finalLoss": loss}


def sample(c):
    flat = c.reshape(-1)
    size = flat.size
    pos = [min(size - 1, math.floor((j + 0.5) * size / SAMPLES)) for j in range(SAMPLES)]
    rms = math.sqrt(float(np.sum(flat.astype(np.float64) ** 2)) / size)
    return [float(flat[p]) for p in pos], rms


def matmul_sweep(job_dir, job):
    a = np.fromfile(os.path.join(job_dir, "a.f32"), dtype="<f4")
    b = np.fromfile(os.path.join(job_dir, "b.f32"), dtype="<f4")
    entries = []
    last_rate = {}
    budget, max_reps = job["budgetSeconds"], job["maxReps"]
    for sh in job["shapes"]:
        m, k, n = sh["m"], sh["k"], sh["n"]
        flops = 2 * m * k * n
        for variant in ("nn", "tn", "nt"):
            rate = last_rate.get(variant)
            estimate = flops / (rate * 1e9) if rate else 0
            if estimate > job["maxProductSeconds"]:
                entries.append(
                    {"m": m, "k": k, "n": n, "variant": variant, "seconds": None, "reps": 0,
                     "gflops": None, "sample": [], "rms": 0, "skippedEstimate": estimate}
                )
                continue
            A = a[: m * k].reshape((k, m) if variant == "tn" else (m, k))
            B = b[: k * n].reshape((n, k) if variant == "nt" else (k, n))
            if variant == "nn":
                f = lambda: A @ B  # noqa: E731
            elif variant == "tn":
                f = lambda: A.T @ B  # noqa: E731
            else:
                f = lambda: A @ B.T  # noqa: E731
            c = f()  # warm-up
            # timed runs of 1, 1, 2, 4, ... products until the budget or max_reps (as timeSweep)
            reps, chunk, total = 0, 1, 0.0
            while total < budget and reps < max_reps:
                cnt = min(chunk, max_reps - reps)
                t0 = time.perf_counter()
                for _ in range(cnt):
                    c = f()
                total += time.perf_counter() - t0
                reps += cnt
                if reps > 1:
                    chunk *= 2
            seconds = total / reps
            gflops = flops / seconds / 1e9
            last_rate[variant] = gflops
            s, rms = sample(c)
            entries.append(
                {
                    "m": m,
                    "k": k,
                    "n": n,
                    "variant": variant,
                    "seconds": seconds,
                    "reps": reps,
                    "gflops": gflops,
                    "sample": s,
                    "rms": rms,
                }
            )
    return {"entries": entries}


def main():
    job_dir = sys.argv[1]
    with open(os.path.join(job_dir, "job.json")) as fh:
        job = json.load(fh)
    if job["kind"] == "matmul":
        out = matmul_sweep(job_dir, job)
    else:
        n, f = job["n"], job["features"]
        x = load(job_dir, "x.f32", (n, f))
        y = load(job_dir, "y.f32", (n, 10))
        with np.errstate(over="ignore"):
            out = {"runs": [train(job_dir, p, x, y, p["prefix"]) for p in job["points"]]}
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas_name = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # older numpy: no mode="dicts"
        blas_name = "?"
    out["numpy"] = np.__version__
    out["blas"] = blas_name
    out["python"] = sys.version.split()[0]
    out["rssPeakMB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sys.stdout.write("@@NUMPY " + json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
