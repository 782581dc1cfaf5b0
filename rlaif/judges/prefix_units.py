"""Work order for prefix-caching engines: prompts sorted so shared prefixes are adjacent, cut into units of work.

Sorting token sequences lexicographically puts every prompt next to the one it shares the longest prefix with
(the order of a trie's leaves), so a context that keeps its previous prompt's KV cache evaluates each shared
prefix about once. The sorted run is then cut where the shared prefix drops to a local minimum: a unit is a
group such as a pair's two orders, which must stay on one context; units go to whichever context is free.
"""

from __future__ import annotations

from typing import Sequence


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Number of leading tokens ``a`` and ``b`` share."""
    n, limit = 0, min(len(a), len(b))
    while n < limit and a[n] == b[n]:
        n += 1
    return n


def prefix_units(tokens: Sequence[Sequence[int]], share: bool = True) -> list[list[int]]:
    """Indices of ``tokens`` in units of work. With ``share``: in lexicographic order, cut between neighbours
    ``k`` and ``k+1`` when their common prefix is shorter than that of an adjacent neighbour pair; without it,
    one unit per prompt in input order."""
    if not share:
        return [[i] for i in range(len(tokens))]
    order = sorted(range(len(tokens)), key=lambda i: (list(tokens[i]), i))
    shared = [common_prefix(tokens[a], tokens[b]) for a, b in zip(order, order[1:])]
    units: list[list[int]] = [[order[0]]] if order else []
    for k, s in enumerate(shared):
        neighbours = shared[max(0, k - 1):k] + shared[k + 1:k + 2]
        if neighbours and s < max(neighbours):
            units.append([])
        units[-1].append(order[k + 1])
    return units

