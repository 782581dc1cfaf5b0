"""Work order for prefix-caching judges: shared prefixes adjacent, a pair's orders in one unit."""

from rlaif.judges.prefix_units import common_prefix, prefix_units


def test_common_prefix():
    assert common_prefix([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix([1, 2], [1, 2, 3]) == 2
    assert common_prefix([], [1]) == 0 and common_prefix([5], [6]) == 0


def test_units_keep_a_pairs_orders_together_and_group_shared_principles():
    # preamble 0, principle 10 or 20, conversation 100+k, then the two orders' responses
    def prompt(principle, conv, order):
        return [0, 0, principle, conv, conv, conv] + ([7, 8] if order == "ab" else [8, 7])

    prompts = [prompt(10, 101, "ab"), prompt(10, 101, "ba"), prompt(20, 102, "ab"), prompt(20, 102, "ba"),
               prompt(10, 103, "ab"), prompt(10, 103, "ba")]
    units = prefix_units(prompts)
    assert sorted(i for u in units for i in u) == list(range(6))  # every prompt exactly once
    assert [sorted(u) for u in units] == [[0, 1], [4, 5], [2, 3]]  # pairs with principle 10 first, then 20
    assert prefix_units(prompts, share=False) == [[i] for i in range(6)]
    assert prefix_units([]) == []


def test_units_cut_only_at_local_minima_of_the_shared_prefix():
    # three prompts sharing 3 tokens, the last two 5: the first stands alone, the others form one unit
    prompts = [[1, 1, 1, 2, 2, 9], [1, 1, 1, 3, 3, 4, 9], [1, 1, 1, 3, 3, 5, 9]]
    assert prefix_units(prompts) == [[0], [1, 2]]
    # identical prompts and a single prompt
    assert prefix_units([[4, 4], [4, 4]]) == [[0, 1]]
    assert prefix_units([[3]]) == [[0]]
