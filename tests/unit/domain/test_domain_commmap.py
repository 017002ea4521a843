"""The communication map shows every chain with its steps, waits, branches, channels and exits."""

from chalicelib.domain.commmap import to_dot, to_mermaid
from chalicelib.domain.model import Strategy


def test_mermaid_map_shows_chains_steps_waits_branches_channels_exits(strategy: Strategy) -> None:
    text = to_mermaid(strategy)
    assert text.startswith("flowchart TD\n")
    for chain in strategy.chains:
        assert f'["{chain}"]' in text
    assert "send welcome-thanks<br/>email" in text
    assert '[/"wait 2d"/]' in text
    assert '{"clicked or opened?"}' in text and "-->|yes|" in text and "-->|no|" in text
    assert "push > sms<br/>SMS if no reaction" in text
    assert "A/B: A, B" in text
    assert "exits on order_placed" in text
    assert "hook retargeting for 14d" in text
    assert "favorite_added (favorites_count at_least 3)" in text


def test_dot_map_is_one_digraph_with_a_cluster_per_chain(strategy: Strategy) -> None:
    text = to_dot(strategy)
    assert text.startswith("digraph strategy {") and text.rstrip().endswith("}")
    assert text.count("subgraph ") == len(strategy.chains)
    assert "shape=diamond" in text and "shape=parallelogram" in text
    assert text.count("{") == text.count("}")
