"""ShardedSession's placement: contiguous runs of the declared order, balanced by bytes."""

from stepd.sharded import place


def test_runs_cover_the_declared_order_contiguously_and_in_order():
    sizes = [400, 4, 4, 300, 300, 4, 100, 900, 8]
    for nodes in (1, 2, 3, 4, 9, 12):
        runs = place(sizes, nodes)
        assert len(runs) == nodes
        assert [i for r in runs for i in r] == list(range(len(sizes)))


def test_runs_are_balanced_by_bytes():
    sizes = [1000] * 30
    shares = [sum(sizes[i] for i in r) for r in place(sizes, 3)]
    assert shares == [10000, 10000, 10000]
    sizes = [4 * 8_700_000, *([4 * 262_144] * 48), 4 * 8_700_000]
    shares = [sum(sizes[i] for i in r) for r in place(sizes, 3)]
    assert max(shares) - min(shares) <= 2 * 4 * 262_144


def test_every_node_gets_a_tensor_when_there_are_enough():
    runs = place([10_000, 1, 1], 3)
    assert all(len(r) == 1 for r in runs)
