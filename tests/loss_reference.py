"""Independent, deliberately naive references of the paper's losses (METHOD.md), for the tests.

Plain Python loops over proposals and classes with ``math``: slow, but written straight from the
formulas and sharing no code with the package.
"""
import math
from typing import List, Optional, Sequence

Matrix = List[List[float]]


def bce(x: float, y: int) -> float:
    p = 1 / (1 + math.exp(-x))
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


def eql_weight(label: int, j: int, tail: Sequence[bool], num_classes: int) -> float:
    is_fg = label != num_classes
    y = 1 if label == j else 0
    return 1.0 - (1 if is_fg else 0) * (1 if tail[j] else 0) * (1 - y)


def eql_weights(labels: Sequence[int], tail: Sequence[bool]) -> Matrix:
    c = len(tail)
    return [[eql_weight(g, j, tail, c) for j in range(c)] for g in labels]


def beql_weights(logits: Matrix, labels: Sequence[int], tail: Sequence[bool], base: float) -> Matrix:
    c = len(tail)
    w = eql_weights(labels, tail)
    for i, g in enumerate(labels):
        if g == c:
            for j in range(c):
                p = 1 / (1 + math.exp(-logits[i][j]))
                w[i][j] = 1 - (1 if tail[j] else 0) * min(-math.log(p, base), 1)
    return w


def drop_weights(labels: Sequence[int], tail: Sequence[bool], uniform: Matrix,
                 drop_frequent: bool = False, keep_tail: Optional[float] = None) -> Matrix:
    """Released-code DropLoss (or eq. 7 with ``drop_frequent``, or a fixed keep rate)."""
    c = len(tail)
    fg = [g for g in labels if g != c]
    n_tail = sum(1 for g in fg if tail[g])
    if keep_tail is not None:
        mu_tail, mu_freq = keep_tail, 1.0
    elif not fg:
        mu_tail, mu_freq = 1.0, 1.0
    else:
        mu_tail = n_tail / len(fg)
        mu_freq = (len(fg) - n_tail) / len(fg) if drop_frequent else 1.0
    w = eql_weights(labels, tail)
    for i, g in enumerate(labels):
        if g == c:
            for j in range(c):
                mu = mu_tail if tail[j] else mu_freq
                w[i][j] = 1.0 if uniform[i][j] <= mu else 0.0
    return w


def weighted_loss(logits: Matrix, labels: Sequence[int], weights: Matrix, normaliser: float) -> float:
    c = len(logits[0]) if logits else 0
    total = 0.0
    for i, g in enumerate(labels):
        for j in range(c):
            total += weights[i][j] * bce(logits[i][j], 1 if g == j else 0)
    return total / normaliser


def weighted_grad(logits: Matrix, labels: Sequence[int], weights: Matrix, normaliser: float) -> Matrix:
    """d loss / d x_ij = w_ij * (p_ij - y_ij) / N for constant weights."""
    out = []
    for i, g in enumerate(labels):
        row = []
        for j, x in enumerate(logits[i]):
            p = 1 / (1 + math.exp(-x))
            row.append(weights[i][j] * (p - (1 if g == j else 0)) / normaliser)
        out.append(row)
    return out


def focal(x: float, y: int, gamma: float, alpha: float) -> float:
    """Sigmoid focal loss (Lin et al. 2017) of one logit, straight from its definition."""
    p = 1 / (1 + math.exp(-x))
    if y == 1:
        return -alpha * (1 - p) ** gamma * math.log(p)
    return -(1 - alpha) * p ** gamma * math.log(1 - p)


def focal_derivative(x: float, y: int, gamma: float, alpha: float) -> float:
    """d focal / dx by the chain rule through p = sigmoid(x), dp/dx = p (1 - p)."""
    p = 1 / (1 + math.exp(-x))
    if y == 1:  # -alpha [ -gamma (1-p)^(gamma-1) log p + (1-p)^gamma / p ] p (1-p)
        return -alpha * (-gamma * (1 - p) ** gamma * p * math.log(p) + (1 - p) ** (gamma + 1))
    # -(1-alpha) [ gamma p^(gamma-1) log(1-p) - p^gamma / (1-p) ] p (1-p)
    return -(1 - alpha) * (gamma * p ** gamma * (1 - p) * math.log(1 - p) - p ** (gamma + 1))


def weighted_focal(logits: Matrix, labels: Sequence[int], weights: Matrix, row: Sequence[float],
                   gamma: float, alpha: float) -> float:
    """sum_i row_i sum_j w_ij focal(x_ij, y_ij); ``row`` = label_weight_i / normaliser."""
    return sum(row[i] * weights[i][j] * focal(x, 1 if g == j else 0, gamma, alpha)
               for i, g in enumerate(labels) for j, x in enumerate(logits[i]))


def weighted_focal_grad(logits: Matrix, labels: Sequence[int], weights: Matrix,
                        row: Sequence[float], gamma: float, alpha: float) -> Matrix:
    """The gradient of :func:`weighted_focal` for constant weights."""
    return [[row[i] * weights[i][j] * focal_derivative(x, 1 if g == j else 0, gamma, alpha)
             for j, x in enumerate(logits[i])] for i, g in enumerate(labels)]
