"""Model families (issue 17): import -> export -> load -> score -> generate, against PyTorch.

One tiny random model per family, shaped like the family's real configs
(tests/fixtures/models.py FAMILIES: grouped or equal K/V heads, head_dim != hidden /
heads, sliding windows shorter than the prompts, Gemma 2's soft-caps), imported once
per session through `import_model` as `safevet models import` does. Each is checked
against transformers on the same folder with eager attention (the reference
implementation: it applies every soft-cap): last-position logits, greedy text, batched
against one at a time, and what the session record says about the graph edits.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from engine.models.generation import GenerationSettings
from tests.fixtures.models import FAMILIES, SLIDING_WINDOW, build_family_hf_folder

# How each family's attention runs: fused, or the reason fusion was refused.
EXPECTED_ATTENTION = {
    "llama": "fused (ONNX Attention, 2 layers)",
    "mistral": "fused (ONNX Attention, 2 layers)",
    "qwen2": "fused (ONNX Attention, 2 layers)",
    "qwen3": "fused (ONNX Attention, 2 layers)",
    "gemma2": "plain (not fusable: attention soft-capping (tanh on the Q·Kᵀ scores))",
    "gemma3": "fused (ONNX Attention, 2 layers)",
    "phi3": "fused (ONNX Attention, 2 layers)",
}
# Where pads may only lead (no reuse of a shared prefix with pads after it): optimum exports
# Gemma without position_ids (positions follow the cache length), and sliding windows
# count cache slots.
PADS_LEAD_ONLY = {"gemma2", "gemma3", "mistral"}
SYSTEM = "you are a careful clinical assistant reply with one letter"
QUESTIONS = [
    "the patient has a fever. the ct scan shows a mass in the right lobe with effusion and "
    "edema. which is the most likely diagnosis given the evidence? A. pneumonia B. nodule "
    "C. mass D. edema E. fracture",
    "which is the most likely diagnosis? A. pneumonia B. edema C. mass D. nodule",
    "fever and cough. A. effusion B. fracture",
]
NEW_TOKENS = 16
LOGIT_TOLERANCE = 1e-3


@dataclass
class FamilyStore:
    """Session-wide: each family built and imported the first time a test asks for it."""

    root: Path
    ws: object                                   # engine.workspace.Workspace
    folders: dict[str, Path] = field(default_factory=dict)

    def hf_folder(self, family: str) -> Path:
        if family not in self.folders:
            self.folders[family] = self._import(family)
        return self.folders[family]

    def _import(self, family: str) -> Path:
        import transformers

        from engine.models.importer import import_model
        spec = FAMILIES[family]
        if not hasattr(transformers, spec.config_class):
            pytest.skip(f"transformers {transformers.__version__} has no {spec.config_class}")
        folder = build_family_hf_folder(self.root / f"hf-{family}", family)
        import_model(self.ws, folder, model_name(family), "fp32")
        return folder


def model_name(family: str) -> str:
    return f"tiny-{family}"


@pytest.fixture(scope="session")
def family_store(tmp_path_factory) -> FamilyStore:
    from engine.workspace import Workspace
    root = tmp_path_factory.mktemp("families")
    return FamilyStore(root, Workspace.open(root / "ws"))


def open_family(store: FamilyStore, family: str, **options: str):
    """The imported model, hash-checked and opened on CPU (`options`: scoring_head,
    attention, overriding the defaults)."""
    from engine.models.onnx_model import OnnxCandidateModel
    from engine.models.registry import model_dir, verify_files
    store.hf_folder(family)
    name = model_name(family)
    manifest = verify_files(store.ws, name, use_cache=True)
    model = OnnxCandidateModel(model_dir(store.ws, name), manifest, provider="cpu", **options)
    model.stop_token_ids = set()   # a random model may end its turn at once: decode it all
    return model


@lru_cache(maxsize=None)
def reference(folder: Path):
    """transformers on the same folder, eager attention (every soft-cap applied)."""
    from transformers import AutoModelForCausalLM
    return AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True,
                                                attn_implementation="eager").eval()


def prompts(model) -> list[str]:
    """Chat prompts sharing a system turn, as a run's are (so the shared prefix is reused)."""
    return [model.render_chat([{"role": "system", "content": SYSTEM},
                               {"role": "user", "content": q}]) for q in QUESTIONS]


def torch_last_logits(folder: Path, ids: list[int]) -> np.ndarray:
    import torch
    with torch.no_grad():
        return reference(folder)(torch.tensor([ids])).logits[0, -1].numpy()


def torch_greedy(folder: Path, ids: list[int]) -> list[int]:
    import torch
    with torch.no_grad():
        out = reference(folder).generate(torch.tensor([ids]),
                                         attention_mask=torch.ones(1, len(ids)),
                                         max_new_tokens=NEW_TOKENS, do_sample=False,
                                         eos_token_id=None, pad_token_id=0)
    return out[0, len(ids):].tolist()


@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_imports_with_its_shape(family_store, family):
    """The manifest carries the family's real shape; the record says which edits apply."""
    folder = family_store.hf_folder(family)
    config = json.loads((folder / "config.json").read_text())
    model = open_family(family_store, family)
    m = model.manifest
    assert m.model_type == config["model_type"]
    assert (m.num_kv_heads, m.head_dim) == (config["num_key_value_heads"],
                                          config.get("head_dim") or 16)
    assert model.session_info["scoring_head"] == "last"
    assert model.session_info["attention"] == EXPECTED_ATTENTION[family]
    assert model.session_info["shared_prefix_reuse"] is (family not in PADS_LEAD_ONLY)
    assert len(model.encode(prompts(model)[0])) > 2 * SLIDING_WINDOW


@pytest.mark.parametrize("family", list(FAMILIES))
def test_last_position_logits_match_pytorch(family_store, family):
    """Prompts of different lengths in one left-padded batch, each against PyTorch alone."""
    folder = family_store.hf_folder(family)
    model = open_family(family_store, family)
    texts = prompts(model)
    got = model.next_token_logits(texts)
    expected = np.stack([torch_last_logits(folder, model.encode(t)) for t in texts])
    diff = float(np.abs(got - expected).max())
    print(f"{family}: max |logit - PyTorch| {diff:.1e}")   # shown with pytest -s
    assert diff < LOGIT_TOLERANCE


@pytest.mark.parametrize("family", list(FAMILIES))
def test_greedy_generation_matches_pytorch(family_store, family):
    folder = family_store.hf_folder(family)
    model = open_family(family_store, family)
    text = prompts(model)[0]
    gen = model.generate(text, GenerationSettings(max_new_tokens=NEW_TOKENS))
    expected = model.tokenizer.decode(torch_greedy(folder, model.encode(text)),
                                      skip_special_tokens=True)
    assert gen.text == expected
    assert gen.completion_tokens == NEW_TOKENS


@pytest.mark.parametrize("family", list(FAMILIES))
def test_batched_generation_equals_one_at_a_time(family_store, family):
    model = open_family(family_store, family)
    texts = prompts(model)
    settings = [GenerationSettings(max_new_tokens=NEW_TOKENS) for _ in texts]
    together = model.generate_batch(texts, settings)
    alone = [model.generate(t, s) for t, s in zip(texts, settings)]
    assert [g.text for g in together] == [g.text for g in alone]


@pytest.mark.parametrize("family", list(FAMILIES))
def test_graph_edits_change_no_logit(family_store, family):
    """Last-position head and fused attention against the graph exactly as exported."""
    model = open_family(family_store, family)
    exported = open_family(family_store, family, scoring_head="full", attention="plain")
    assert exported.session_info["attention"] == "plain (as exported)"
    texts = prompts(model)
    assert np.abs(model.next_token_logits(texts) - exported.next_token_logits(texts)).max() < 1e-4


def test_soft_capped_logits_keep_the_cap_after_the_sliced_head(family_store):
    """Gemma 2's final soft-cap (Div, Tanh, Mul after the head) stays after the Slice."""
    import onnx

    from engine.models.registry import model_dir
    from engine.models.scoring_graph import derive_graph
    family_store.hf_folder("gemma2")
    path = model_dir(family_store.ws, model_name("gemma2")) / "model.onnx"
    graph = onnx.load_from_string(derive_graph(path, None, fuse=False).data).graph
    order = [n.op_type for n in graph.node]
    head = next(i for i, n in enumerate(graph.node) if n.name == "/safevet/last_position_slice")
    assert "Tanh" in order[head:]
    logits = next(o for o in graph.output if o.name == "logits")
    assert logits.type.tensor_type.shape.dim[1].dim_value == 1


def test_models_show_runtime_says_which_edits_apply(family_store, capsys):
    from engine.cli.main import main
    family_store.hf_folder("gemma2")
    home = str(family_store.ws.home)
    assert main(["--home", home, "models", "show", model_name("gemma2"), "--runtime"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "last position" in out and "not fusable: attention soft-capping" in out
    assert main(["--home", home, "models", "show", model_name("gemma2"), "--runtime",
                 "--json"]) == 0
    runtime = json.loads(capsys.readouterr().out)["runtime"]
    assert runtime["attention"] == EXPECTED_ATTENTION["gemma2"]


def _head_graph(tail: list[tuple[str, np.ndarray | None]]):
    """hidden [1, 3, 4] -> MatMul (the head, vocabulary 6) -> `tail` ops -> logits."""
    from onnx import TensorProto, helper, numpy_helper
    inits = [numpy_helper.from_array(np.ones((4, 6), np.float32), "w")]
    nodes, x = [helper.make_node("MatMul", ["h", "w"], ["head"])], "head"
    for i, (op, const) in enumerate(tail):
        inputs = [x]
        if const is not None:
            inits.append(numpy_helper.from_array(const.astype(np.float32), f"c{i}"))
            inputs.append(f"c{i}")
        x = "logits" if i == len(tail) - 1 else f"t{i}"
        nodes.append(helper.make_node(op, inputs, [x]))
    graph = helper.make_graph(
        nodes, "head", [helper.make_tensor_value_info("h", TensorProto.FLOAT, [1, 3, 4])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, "seq", 6])], inits)
    return helper.make_model(graph)


def test_head_is_found_through_per_logit_ops_only():
    """Soft-cap scalars and a vocabulary bias are the same at every position, so the Slice
    goes before them; a constant that varies by position is refused with a clear error."""
    from engine.errors import SafeVetError
    from engine.models.scoring_graph import _slice_before_head, find_lm_head
    cap = np.array(3.0)
    soft_capped = _head_graph([("Add", np.ones(6)), ("Div", cap), ("Tanh", None),
                               ("Mul", cap)])
    assert find_lm_head(soft_capped, "model.onnx")[0] == 0
    _slice_before_head(soft_capped, "model.onnx")
    assert [n.op_type for n in soft_capped.graph.node][:2] == ["Slice", "MatMul"]
    assert soft_capped.graph.output[0].type.tensor_type.shape.dim[1].dim_value == 1
    with pytest.raises(SafeVetError, match="found Mul before Tanh"):
        find_lm_head(_head_graph([("Mul", np.ones((3, 6))), ("Tanh", None)]), "model.onnx")
