"""Interactive fine-tuning (SPEC section 7): sampling strategies, label targets and masks, LoRA, pinning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.entities import Param, Run, RunData, RunInfo

from attrackt.finetune import autoencoder_run_of
from attrackt.inference import predict_associations
from attrackt.label_windows import labelled_window, labels_from_table
from attrackt.lora import adapter_checkpoint, add_lora, load_adapter
from attrackt.sampling import choose_annotations, node_pool, parse_k, pseudo_labels, rank_annotations, uncertainty
from attrackt.training import load_checkpoint, save_checkpoint
from attrackt.unsupervised_loss import AttracktModel
from attrackt.windows import SequenceTokens
from benchmark.config import AttracktModelConfig, ModelConfig, load_config
from benchmark.entry_points import load_dataset
from benchmark.errors import ConfigError
from benchmark.linking import build_candidate_graph
from benchmark.pipeline import evaluate_sequence, track_sequence
from conftest import hand_made_sequence


def hand_made_pool() -> pd.DataFrame:
    """The hand-made sequence with an ILP that got node 2's division and node 6's link wrong."""
    sequence = hand_made_sequence()
    # GT children: 0->2, 1->3, 2->(4,5), 3->6, 6->7. The ILP: 2->4 only (missed division), 6 -> nothing.
    ilp = np.array([[0, 2], [1, 3], [2, 4], [3, 6]])
    associations = pd.DataFrame(
        {
            "parent": [0, 1, 2, 2, 3, 6, 6],
            "child": [2, 3, 4, 5, 6, 7, 8],
            "weight": [0.9, 0.95, 0.9, 0.5, 0.7, 0.4, 0.3],
        }
    )
    return node_pool(sequence, associations, ilp)


def test_uncertainty_is_forward_mass_minus_ilp_children():
    pool = hand_made_pool()
    expected = {0: 0.1, 1: 0.05, 2: 0.4, 3: 0.3, 6: 0.7, 4: 0.0, 7: 0.0}
    for node, value in expected.items():
        assert pool.loc[pool["node_id"] == node, "uncertainty"].item() == pytest.approx(value)
    direct = uncertainty(3, pd.DataFrame({"parent": [0, 0], "child": [1, 2], "weight": [0.6, 0.6]}), np.array([[0, 1]]))
    assert direct == pytest.approx([0.2, 0.0, 0.0])


def test_confidence_random_and_optimal_orders():
    pool = hand_made_pool()
    rng = np.random.default_rng(0)
    # Annotatable: nodes with GT children (0, 1, 2, 3, 6)
    assert list(rank_annotations(pool, "confidence", rng)["node_id"]) == [6, 2, 3, 0, 1]
    assert list(rank_annotations(pool, "optimal", rng)["node_id"]) == [6, 2, 3, 0, 1]  # ILP wrong on 6, 2
    # make the ILP wrong on a certain node: the oracle ranks it before the uncertain but correct ones
    wrong_certain = pool.copy()
    wrong_certain.at[1, "ilp_children"] = ()
    assert list(rank_annotations(wrong_certain, "optimal", rng)["node_id"]) == [6, 2, 1, 3, 0]
    first = rank_annotations(pool, "random", np.random.default_rng(7))["node_id"].tolist()
    assert first == rank_annotations(pool, "random", np.random.default_rng(7))["node_id"].tolist()
    assert sorted(first) == [0, 1, 2, 3, 6]
    orders = {tuple(rank_annotations(pool, "random", np.random.default_rng(s))["node_id"]) for s in range(10)}
    assert len(orders) > 1
    assert list(choose_annotations(pool, "confidence", 2, rng)["node_id"]) == [6, 2]
    assert len(choose_annotations(pool, "confidence", None, rng)) == 5
    with pytest.raises(ConfigError, match="sampling='best'"):
        rank_annotations(pool, "best", rng)


def test_k_parameter():
    assert parse_k("all") is None and parse_k("10") == 10 and parse_k(100) == 100
    for bad in ("0", "-3", "ten", "1.5"):
        with pytest.raises(ConfigError, match="parameter k="):
            parse_k(bad)


def test_reference_pseudo_labels_count_annotated_nodes_and_leaves_which_give_no_label():
    pool = hand_made_pool()
    # uncertainty, most first: 6 (0.7), 2 (0.4), 3 (0.3), 0 (0.1), 1 (0.05), then 4, 5, 7, 8 (0.0, leaves)
    nothing = pseudo_labels(pool, pool.iloc[:0], fraction=0.34)  # int(3.06) = 3 least: 5, 7, 8, all leaves
    assert nothing.empty and list(nothing.columns) == list(pool.columns)
    annotated = pool[pool["node_id"] == 1]
    pseudo = pseudo_labels(pool, annotated, fraction=0.67)  # the 6 least: 0, 1, 4, 5, 7, 8
    assert list(pseudo["node_id"]) == [0]  # 1 is annotated, 4, 5, 7, 8 have no ILP child
    assert list(pseudo["ilp_children"]) == [(2,)]
    everything = pseudo_labels(pool, pool.iloc[:0], fraction=1.0, rule="reference")
    assert list(everything["node_id"]) == [1, 0, 3, 2]  # every node with an ILP child, least uncertain first


def test_no_last_frame_negatives_pseudo_labels_keep_no_child_as_a_label():
    pool = hand_made_pool()
    annotated = choose_annotations(pool, "confidence", 2, np.random.default_rng(0))  # nodes 6, 2
    pseudo = pseudo_labels(pool, annotated, fraction=0.34, rule="no_last_frame_negatives")  # 3 of 9 nodes
    # candidates: frames 0-2, not 6 or 2: 0 (0.1), 1 (0.05), 3 (0.3), 4 (0.0), 5 (0.0)
    assert list(pseudo["node_id"]) == [4, 5, 1]
    assert list(pseudo["ilp_children"]) == [(), (), (3,)]
    with pytest.raises(ConfigError, match="pseudo_label_rule='best'"):
        pseudo_labels(pool, annotated, fraction=0.34, rule="best")


def test_label_targets_and_masks():
    tokens = SequenceTokens.from_sequence(hand_made_sequence())
    window = labelled_window(tokens.window(0, 4, with_targets=False), {2: (4, 5)})
    rows = list(window.rows)
    known = {(rows[i], rows[j]) for i, j in zip(*np.nonzero(window.mask))}
    # node 2's row to frame 2 (nodes 4, 5, 6), and the children's columns from frame 1 (nodes 2, 3)
    assert known == {(2, 4), (2, 5), (2, 6), (3, 4), (3, 5)}
    positives = {(rows[i], rows[j]) for i, j in zip(*np.nonzero(window.target))}
    assert positives == {(2, 4), (2, 5)}
    end = labelled_window(tokens.window(0, 4, with_targets=False), {7: ()})  # last frame, no child: nothing known
    assert not end.mask.any()
    stop = labelled_window(tokens.window(0, 4, with_targets=False), {5: ()})  # "no child": row known, all 0
    assert {(rows[i], rows[j]) for i, j in zip(*np.nonzero(stop.mask))} == {(5, 7), (5, 8)}
    assert not stop.target.any()
    labels = labels_from_table(pd.DataFrame({"sequence": ["a", "a"], "node_id": [3, 4], "c": [(5,), ()]}), "c")
    assert labels == {"a": {3: (5,), 4: ()}}


def small_attrackt(seed: int = 0) -> AttracktModel:
    torch.manual_seed(seed)
    backbone = ModelConfig(d_model=16, n_heads=2, encoder_layers=1, decoder_layers=1, dropout=0.0, window=4)
    return AttracktModel(AttracktModelConfig(backbone=backbone, embedding_dim=8))


def test_lora_trains_only_adapters_and_mlps_and_reloads_exactly(tmp_path):
    base = small_attrackt()
    save_checkpoint(tmp_path / "base.pt", base.checkpoint())
    before = {name: value.clone() for name, value in base.state_dict().items()}
    model = add_lora(base, r=4, alpha=4.0, dropout=0.0)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or n.startswith(("encode_mlp.", "decode_mlp.")) for n in trainable)
    assert any(n.startswith("encode_mlp.") for n in trainable) and any("lora_" in n for n in trainable)

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    inputs = (torch.rand(2, 9, 3) * 50, torch.rand(2, 9, 7), torch.ones(2, 9, dtype=torch.bool))
    for _ in range(5):
        loss = model.backbone(*inputs).pow(2).mean() + model.encode_mlp(torch.rand(4, 8)).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    state = model.state_dict()
    for name, value in before.items():  # the base weights did not move (peft renames wrapped layers)
        key = name if name in state else name.replace(".weight", ".base_layer.weight").replace(".bias", ".base_layer.bias")
        if name.startswith(("encode_mlp.", "decode_mlp.")):
            continue
        assert torch.equal(state[key], value), name
    assert not torch.equal(state["encode_mlp.body.1.weight"], before["encode_mlp.body.1.weight"])

    save_checkpoint(tmp_path / "adapter.pt", adapter_checkpoint(model, 4, 4.0, 0.0, step=5))
    reloaded = load_adapter(AttracktModel.from_checkpoint(load_checkpoint(tmp_path / "base.pt")), load_checkpoint(tmp_path / "adapter.pt"))
    sequence = hand_made_sequence()
    tokens = SequenceTokens.from_sequence(sequence)
    kwargs = dict(window=4, min_association=0.0, tta=False, device=torch.device("cpu"))
    ids = sequence.detections["node_id"].to_numpy()
    pd.testing.assert_frame_equal(
        predict_associations(model.backbone, tokens, ids, **kwargs), predict_associations(reloaded.backbone, tokens, ids, **kwargs)
    )
    plain = predict_associations(AttracktModel.from_checkpoint(load_checkpoint(tmp_path / "base.pt")).backbone, tokens, ids, **kwargs)
    assert not np.allclose(plain["weight"], predict_associations(model.backbone, tokens, ids, **kwargs)["weight"])


def test_pinning_every_annotation_reproduces_the_gt_where_it_is_a_candidate(tmp_path):
    config = load_config("smoke", {"data.data_dir": str(tmp_path)})
    sequence = load_dataset("synth-bacteria", config).sequences["04"]
    pool = node_pool(sequence, pd.DataFrame({"parent": [], "child": [], "weight": []}), np.empty((0, 2), int))
    pins = labels_from_table(choose_annotations(pool, "random", None, np.random.default_rng(0)), "gt_children")["04"]
    candidates = build_candidate_graph(sequence.frames(), sequence.positions(), config.linking.k_neighbors)
    not_candidate = {
        parent for parent, children in pins.items()
        if (candidates.edge_ids(np.full(len(children), parent), np.array(children)) < 0).any()
    }
    assert evaluate_sequence(sequence, track_sequence(sequence, config.linking).edges)["AOGM"] > 0

    solution = track_sequence(sequence, config.linking, pins=pins)
    assert solution.stats["n_pins"] == len(pins) and solution.stats["n_pins_missing"] == len(not_candidate)
    predicted = {tuple(edge) for edge in solution.edges.tolist()}
    wrong = {tuple(edge) for edge in sequence.gt_edges().tolist()} - predicted
    assert {parent for parent, _ in wrong} <= not_candidate  # every remaining error is a non-candidate GT link
    if not not_candidate:
        assert evaluate_sequence(sequence, solution.edges)["AOGM"] == 0


def _attrackt_run(params: dict[str, str]) -> Run:
    info = RunInfo(run_id="a" * 32, experiment_id="0", user_id="", status="FINISHED", start_time=0, end_time=0,
                   lifecycle_stage="active")
    return Run(info, RunData(params=[Param(key, value) for key, value in params.items()]))


def test_the_autoencoder_run_of_an_attrackt_run_is_its_recorded_one_or_a_clear_error():
    assert autoencoder_run_of(_attrackt_run({"resolved.autoencoder_run": "b" * 32})) == "b" * 32
    with pytest.raises(ConfigError, match="attrackt_run='a{32}': the run does not record its autoencoder run"):
        autoencoder_run_of(_attrackt_run({"autoencoder_run": "b" * 32}))
