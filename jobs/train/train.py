"""Logistic regression by full-batch gradient descent on a synthetic, separable-ish set."""

import argparse
import math
import os
import random


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args()
    rng = random.Random(int(os.environ.get("SEED", "0")))
    true_w = [rng.uniform(-2, 2) for _ in range(8)]
    data = []
    for _ in range(args.samples):
        x = [rng.gauss(0, 1) for _ in true_w]
        z = sum(a * b for a, b in zip(true_w, x)) + rng.gauss(0, 0.5)
        data.append((x, 1.0 if z > 0 else 0.0))
    w = [0.0] * len(true_w)
    b = 0.0
    for step in range(1, args.steps + 1):
        grad_w = [0.0] * len(w)
        grad_b = 0.0
        loss = 0.0
        for x, y in data:
            p = 1 / (1 + math.exp(-(sum(a * c for a, c in zip(w, x)) + b)))
            loss -= y * math.log(p + 1e-12) + (1 - y) * math.log(1 - p + 1e-12)
            for i, xi in enumerate(x):
                grad_w[i] += (p - y) * xi
            grad_b += p - y
        n = len(data)
        w = [wi - args.lr * g / n for wi, g in zip(w, grad_w)]
        b -= args.lr * grad_b / n
        print(f"step {step:3d}  loss {loss / n:.4f}", flush=True)
    accuracy = sum((sum(a * c for a, c in zip(w, x)) + b > 0) == (y == 1.0) for x, y in data) / len(data)
    print(f"done: accuracy {accuracy:.3f}")


if __name__ == "__main__":
    main()
