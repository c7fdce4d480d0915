"""The torch-free runtime on tiny exported models: scoring, batching, generation, parity."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from engine.errors import SafeVetError
from engine.models.generation import GenerationSettings
from engine.models.protocol import ContextLengthError

SYSTEM = "you are a careful clinical assistant"
QUESTIONS = [
    "which is the most likely diagnosis? A. pneumonia B. edema C. mass D. nodule",
    "the chest radiograph shows consolidation in the right lower lobe. which is safe? "
    "A. ct B. mri C. ultrasound D. contrast scan",
    "fever and cough. A. effusion B. fracture",
    "the patient has a fever. the ct scan shows a mass in the right lobe with effusion and "
    "edema. which is the most likely diagnosis given the evidence? A. pneumonia B. nodule "
    "C. mass D. edema E. fracture",
]
LETTERS = [list("ABCD"), list("ABCD"), list("AB"), list("ABCDE")]


def mcq_prompts(model, questions=QUESTIONS) -> list[str]:
    return [model.render_chat([{"role": "system", "content": SYSTEM},
                               {"role": "user", "content": q}]) + "Answer:"
            for q in questions]


def torch_model(folder):
    from transformers import AutoModelForCausalLM
    return AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True).eval()


def test_score_options_contract(tiny_model):
    prompts = mcq_prompts(tiny_model)
    scores = tiny_model.score_options(prompts, LETTERS)
    assert len(scores) == len(prompts)
    for s, letters, prompt in zip(scores, LETTERS, prompts):
        assert list(s.probs) == letters and list(s.logprobs) == letters
        assert abs(sum(s.probs.values()) - 1.0) < 1e-9
        assert all(lp < 0 for lp in s.logprobs.values())
        # probs are the logprobs renormalised over the offered letters
        lp = np.array(list(s.logprobs.values()))
        assert np.allclose(list(s.probs.values()), np.exp(lp) / np.exp(lp).sum(), atol=1e-9)
        assert s.prompt_tokens == tiny_model.count_tokens(prompt)
        assert s.latency_ms > 0
        assert s.choice in letters


@pytest.mark.parametrize("variant", ["chatml", "llama"])
def test_ort_logits_match_pytorch(tiny_model_store, workspace, variant):
    import torch

    from engine.models.registry import load_model
    from tests.fixtures.models import copy_models

    copy_models(tiny_model_store, workspace, variant)
    model = load_model(workspace, tiny_model_store.names[variant])
    ref = torch_model(tiny_model_store.hf_folders[variant])
    for prompt in mcq_prompts(model):
        ids = model.encode(prompt)
        n = len(ids)
        ort_logits, _ = model._forward(np.asarray([ids]), np.ones((1, n)), np.arange(n)[None],
                                       None)
        with torch.no_grad():
            pt = ref(torch.tensor([ids])).logits.numpy()
        pt = pt[:, -ort_logits.shape[1]:]   # the default last-position head returns one column
        assert np.abs(ort_logits - pt).max() < 1e-3
        assert np.argmax(ort_logits[0, -1]) == np.argmax(pt[0, -1])


@pytest.mark.parametrize("variant", ["chatml", "llama"])
def test_letter_token_is_what_follows_the_prompt(tiny_model_store, workspace, variant):
    """Both tokenizers: the scored token is the one the text 'Answer: A' actually uses."""
    from engine.models.registry import load_model
    from tests.fixtures.models import copy_models

    copy_models(tiny_model_store, workspace, variant)
    model = load_model(workspace, tiny_model_store.names[variant])
    prompt = mcq_prompts(model)[0]
    base = model.encode(prompt)
    for letter in "ABCDE":
        full = model.encode(prompt + " " + letter)
        assert full[:len(base)] == base
        assert full[len(base)] == model.letter_token_id(letter)
        piece = model.tokenizer.id_to_token(model.letter_token_id(letter))
        assert piece == {"chatml": "Ġ", "llama": "▁"}[variant] + letter


def test_letter_without_a_token_is_refused(tiny_model):
    with pytest.raises(SafeVetError, match="not a single token"):
        tiny_model.score_options(mcq_prompts(tiny_model)[:1], [["A", "Ωλ"]])


@pytest.mark.parametrize("variant", ["chatml", "llama"])
def test_batched_and_prefix_reuse_equal_one_at_a_time(tiny_model_store, workspace, variant):
    from engine.models.registry import load_model
    from tests.fixtures.models import copy_models

    copy_models(tiny_model_store, workspace, variant)
    model = load_model(workspace, tiny_model_store.names[variant])
    prompts = mcq_prompts(model) * 2
    letters = LETTERS * 2
    model.batch_size, model.reuse_prefix = 1, False
    alone = [model.score_options([p], [ls])[0] for p, ls in zip(prompts, letters)]
    model.batch_size, model.reuse_prefix = 8, True
    batched = model.score_options(prompts, letters)
    assert model._prefix_cache is not None and len(model._prefix_cache.tokens) >= 8
    # a later single prompt reuses the cached prefix
    again = model.score_options(prompts[3:4], letters[3:4])[0]
    for a, b in zip(alone, batched):
        assert a.prompt_tokens == b.prompt_tokens
        for k in a.logprobs:
            assert abs(a.logprobs[k] - b.logprobs[k]) < 1e-4
            assert abs(a.probs[k] - b.probs[k]) < 1e-4
    for k in again.logprobs:
        assert abs(again.logprobs[k] - alone[3].logprobs[k]) < 1e-4
    # left padding: the raw last-position logits agree too
    model.reuse_prefix = False
    padded = model.next_token_logits(prompts[:4])
    model.batch_size = 1
    single = model.next_token_logits(prompts[:4])
    assert np.abs(padded - single).max() < 1e-4


def test_batches_group_similar_lengths(tiny_model):
    tiny_model.batch_size = 3
    batches = tiny_model._batches([10, 200, 11, 12, 13, 190])
    assert sorted(i for b in batches for i in b) == list(range(6))
    assert all(len(b) <= 3 for b in batches)
    assert [1, 5] in [sorted(b) for b in batches]  # the two long prompts together


def test_greedy_generation_matches_pytorch(tiny_model_store, tiny_model):
    import torch
    ref = torch_model(tiny_model_store.hf_folders["chatml"])
    prompt = tiny_model.render_chat([{"role": "user", "content": QUESTIONS[0]}])
    gen = tiny_model.generate(prompt, GenerationSettings(max_new_tokens=24))
    ids = tiny_model.encode(prompt)
    with torch.no_grad():
        out = ref.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids)),
                           max_new_tokens=24, do_sample=False, eos_token_id=None,
                           pad_token_id=0)
    expected = tiny_model.tokenizer.decode(out[0, len(ids):].tolist(), skip_special_tokens=True)
    assert gen.text == expected
    assert gen.finish_reason == "length" and gen.completion_tokens == 24
    assert gen.prompt_tokens == len(ids) and gen.latency_ms > 0


def test_seeded_sampling(tiny_model):
    prompt = tiny_model.render_chat([{"role": "user", "content": QUESTIONS[1]}])
    s = dict(max_new_tokens=16, temperature=1.0, top_p=0.95)
    a = tiny_model.generate(prompt, GenerationSettings(seed=7, **s))
    b = tiny_model.generate(prompt, GenerationSettings(seed=7, **s))
    c = tiny_model.generate(prompt, GenerationSettings(seed=8, **s))
    greedy = tiny_model.generate(prompt, GenerationSettings(max_new_tokens=16))
    nucleus_of_one = tiny_model.generate(prompt, GenerationSettings(
        max_new_tokens=16, temperature=1.0, top_p=1e-9, seed=1))
    assert a.text == b.text
    assert a.text != c.text
    assert nucleus_of_one.text == greedy.text


def test_stop_on_end_of_turn_and_stop_strings(tiny_model):
    prompt = tiny_model.render_chat([{"role": "user", "content": QUESTIONS[2]}])
    greedy = tiny_model.generate(prompt, GenerationSettings(max_new_tokens=30))
    # End of turn: make the greedy first token the model's end-of-turn token.
    first = int(np.argmax(tiny_model.next_token_logits([prompt])[0]))
    tiny_model.stop_token_ids = {first}
    ended = tiny_model.generate(prompt, GenerationSettings(max_new_tokens=30))
    assert (ended.text, ended.finish_reason, ended.completion_tokens) == ("", "stop", 1)
    tiny_model.stop_token_ids = set()
    # Stop string: a piece from the middle of the greedy text cuts it there.
    stop = greedy.text[10:14]
    cut = tiny_model.generate(prompt, GenerationSettings(max_new_tokens=30, stop=[stop]))
    assert cut.finish_reason == "stop"
    assert cut.text == greedy.text[:greedy.text.find(stop)]
    assert cut.completion_tokens < 30


def test_context_limits(tiny_model):
    long_prompt = " ".join(["fever cough consolidation"] * 200)
    assert tiny_model.count_tokens(long_prompt) > tiny_model.context_length
    with pytest.raises(ContextLengthError, match="tokens"):
        tiny_model.score_options([long_prompt], [["A", "B"]])
    with pytest.raises(ContextLengthError):
        tiny_model.generate(long_prompt)
    near_full = " ".join(["fever"] * (tiny_model.context_length - 3))
    n = tiny_model.count_tokens(near_full)
    gen = tiny_model.generate(near_full, GenerationSettings(max_new_tokens=50))
    assert gen.finish_reason == "context"
    assert gen.completion_tokens == tiny_model.context_length - n


def test_int8_close_to_fp32(tiny_model_store, workspace):
    from engine.models.registry import load_model
    from tests.fixtures.models import copy_models

    copy_models(tiny_model_store, workspace, "chatml", "chatml-int8")
    fp32 = load_model(workspace, tiny_model_store.names["chatml"])
    int8 = load_model(workspace, tiny_model_store.names["chatml-int8"])
    assert int8.manifest.precision == "int8"
    assert int8.manifest.quantization["excluded_nodes"] == ["/lm_head/MatMul"]
    assert int8.manifest.quantization["quantized_nodes"] > 0
    # A random tiny model is far more sensitive to weight rounding than a trained one
    # (the real default's bound, 0.026 on option probabilities, is checked in the slow test).
    x = fp32.next_token_logits(mcq_prompts(fp32))
    y = int8.next_token_logits(mcq_prompts(int8))
    assert not np.array_equal(x, y)
    assert (x.argmax(axis=1) == y.argmax(axis=1)).all()
    assert min(np.corrcoef(a, b)[0, 1] for a, b in zip(x, y)) > 0.99


def test_runtime_needs_no_torch(tiny_model_ws):
    """Load, score and generate in a fresh process where torch cannot even be imported."""
    ws, name = tiny_model_ws
    code = textwrap.dedent(f"""
        import importlib.abc, json, sys
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, fullname, path, target=None):
                if fullname.split('.')[0] in ('torch', 'transformers', 'optimum'):
                    raise ImportError('blocked: ' + fullname)
        sys.meta_path.insert(0, Block())
        from engine.workspace import Workspace
        from engine.models.registry import load_model
        m = load_model(Workspace.open({str(ws.home)!r}), {name!r})
        p = m.render_chat([{{'role': 'user', 'content': 'which? A. x B. y'}}]) + 'Answer:'
        s = m.score_options([p, p + ' '], [['A', 'B'], ['A', 'B']])
        g = m.generate(p)
        assert 'torch' not in sys.modules and 'transformers' not in sys.modules
        print(json.dumps({{'p': s[0].probs, 'n': g.completion_tokens}}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=str(ws.home.parent), env=_env_with_repo())
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(result["p"]) == {"A", "B"} and result["n"] > 0


def _env_with_repo() -> dict[str, str]:
    import os
    from pathlib import Path
    env = dict(os.environ)
    repo = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = repo + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_prefix_cache_is_extended_across_calls(tiny_model):
    """System prompt first, then system prompt + evidence: only new tokens are run."""
    evidence = ("the ct scan shows consolidation in the right lower lobe with effusion. " * 3)
    prompts = mcq_prompts(tiny_model)
    with_evidence = mcq_prompts(tiny_model, [evidence + q for q in QUESTIONS])
    tiny_model.score_options(prompts, LETTERS)
    short = tiny_model._prefix_cache.tokens
    got = tiny_model.score_options(with_evidence, LETTERS)
    longer = tiny_model._prefix_cache.tokens
    assert len(longer) > len(short) + 20 and longer[:len(short)] == short
    tiny_model.reuse_prefix, tiny_model.batch_size = False, 1
    ref = [tiny_model.score_options([p], [l])[0] for p, l in zip(with_evidence, LETTERS)]
    for a, b in zip(got, ref):
        assert max(abs(a.logprobs[k] - b.logprobs[k]) for k in a.logprobs) < 1e-4


def test_int8_scoring_batches_are_pad_free_and_exact(tiny_model_store, workspace):
    from engine.models.registry import load_model
    from tests.fixtures.models import copy_models

    copy_models(tiny_model_store, workspace, "chatml-int8")
    model = load_model(workspace, tiny_model_store.names["chatml-int8"])
    assert model.pad_multiple is not None and model.pad_multiple > 1
    assert model.session_info["pad_multiple"] == model.pad_multiple
    assert sorted(map(sorted, model._batches([5, 7, 5, 7, 9]))) == [[0, 2], [1, 3], [4]]
    prompts = mcq_prompts(model) + [p.replace("fever", "cough") for p in mcq_prompts(model)]
    letters = LETTERS * 2
    batched = model.score_options(prompts, letters)
    model.batch_size, model.reuse_prefix = 1, False
    alone = [model.score_options([p], [l])[0] for p, l in zip(prompts, letters)]
    for a, b in zip(alone, batched):
        assert a.logprobs == b.logprobs                     # bitwise


def test_prefix_cache_keeps_the_head_shared_with_the_next_item(tiny_model, monkeypatch):
    """Item 1's permutations cache system prompt + question; item 2 then runs only what
    follows the system prompt, and its probabilities equal a cold computation."""
    first = mcq_prompts(tiny_model, [QUESTIONS[0]] * 2)
    second = mcq_prompts(tiny_model, [QUESTIONS[1]] * 2)
    tiny_model.score_options(first, LETTERS[:2])
    cached = tiny_model._prefix_cache.tokens
    shared = 0
    ids_b = tiny_model.encode(second[0])
    while cached[shared] == ids_b[shared]:
        shared += 1
    assert shared >= 8 and len(cached) > shared           # system prompt shared, question not
    widths = []
    forward = tiny_model._forward
    monkeypatch.setattr(tiny_model, "_forward",
                        lambda ids, *a: widths.append(ids.shape[1]) or forward(ids, *a))
    got = tiny_model.score_options(second, LETTERS[:2])
    assert widths[0] == len(tiny_model._prefix_cache.tokens) - shared   # only the new part
    monkeypatch.undo()
    tiny_model.reuse_prefix, tiny_model.batch_size = False, 1
    ref = [tiny_model.score_options([p], [l])[0] for p, l in zip(second, LETTERS[:2])]
    for a, b in zip(got, ref):
        assert max(abs(a.logprobs[k] - b.logprobs[k]) for k in a.logprobs) < 1e-4
    # a lone prompt reuses the cached system prompt too
    tiny_model.reuse_prefix = True
    lone = mcq_prompts(tiny_model, [QUESTIONS[2]])
    assert len(tiny_model._shared_prefix([tiny_model.encode(lone[0])])) >= 8


def _extended_pairs(model):
    """Prompt pairs shaped like one item's standard-RAG and max-context prompts: the second
    opens with all of the first's evidence and adds more before the question."""
    prompts = []
    for i, q in enumerate(QUESTIONS[:3]):
        evidence = f"passage {i}: " + "the ct shows a small effusion and clear lungs. " * 6
        more = "a further passage about contrast timing and renal function. " * 2
        prompts += mcq_prompts(model, [evidence + q, evidence + more + q])
    return prompts


def test_prompts_sharing_a_long_head_compute_it_once(tiny_model, monkeypatch):
    """Within one call, each pair's long shared head gets its own prefix pass: the forward
    passes after it run only what differs, and every score equals the prompt scored alone."""
    from engine.models.prefix_cache import SUBSET_PREFIX_GAIN, prefix_groups

    prompts = _extended_pairs(tiny_model)
    letters = [LETTERS[0]] * len(prompts)
    encoded = [tiny_model.encode(p) for p in prompts]
    base = len(tiny_model._shared_prefix(encoded))
    groups, rest = prefix_groups(encoded, base)
    assert sorted(map(sorted, groups)) == [[0, 1], [2, 3], [4, 5]] and rest == []
    tiny_model.forget_prefix_cache()
    widths = []
    forward = tiny_model._forward
    monkeypatch.setattr(tiny_model, "_forward",
                        lambda ids, *a: widths.append(ids.shape) or forward(ids, *a))
    got = tiny_model.score_options(prompts, letters)
    monkeypatch.undo()
    total = sum(len(e) for e in encoded)
    assert sum(b * w for b, w in widths) < total - 2 * SUBSET_PREFIX_GAIN   # heads run once
    tiny_model.reuse_prefix, tiny_model.batch_size = False, 1
    ref = [tiny_model.score_options([p], [l])[0] for p, l in zip(prompts, letters)]
    for a, b in zip(got, ref):
        assert a.prompt_tokens == b.prompt_tokens
        assert max(abs(a.logprobs[k] - b.logprobs[k]) for k in a.logprobs) < 1e-4


def test_int8_long_shared_heads_score_bitwise_as_alone(tiny_model_store, workspace):
    """Computing a prefix first and the rest after it is exact for a quantised model too."""
    from engine.models.registry import load_model
    from tests.fixtures.models import copy_models

    copy_models(tiny_model_store, workspace, "chatml-int8")
    model = load_model(workspace, tiny_model_store.names["chatml-int8"])
    prompts = _extended_pairs(model)
    letters = [LETTERS[0]] * len(prompts)
    got = model.score_options(prompts, letters)
    model.batch_size, model.reuse_prefix = 1, False
    alone = [model.score_options([p], [l])[0] for p, l in zip(prompts, letters)]
    assert [a.logprobs for a in alone] == [b.logprobs for b in got]
