"""Chat templates rendered from the model's own template, without transformers."""
from __future__ import annotations

import pytest

from engine.models.chat import TemplateError, render_chat

CONVERSATIONS = [
    [{"role": "user", "content": "Is contrast safe in pregnancy?"}],
    [{"role": "system", "content": "You are a careful radiology assistant."},
     {"role": "user", "content": "Which option? A. CT B. MRI"}],
    [{"role": "system", "content": "Be brief."},
     {"role": "user", "content": "First question"},
     {"role": "assistant", "content": "First answer"},
     {"role": "user", "content": "Second question"}],
]


@pytest.mark.parametrize("variant", ["chatml", "llama"])
@pytest.mark.parametrize("add_generation_prompt", [True, False])
def test_rendering_matches_transformers(tiny_model_store, workspace, variant,
                                        add_generation_prompt):
    """The reference is transformers' own apply_chat_template on the source HF folder."""
    from transformers import AutoTokenizer

    from engine.models.registry import load_model
    from tests.fixtures.models import copy_models

    copy_models(tiny_model_store, workspace, variant)
    model = load_model(workspace, tiny_model_store.names[variant])
    ref = AutoTokenizer.from_pretrained(str(tiny_model_store.hf_folders[variant]),
                                        local_files_only=True)
    for messages in CONVERSATIONS:
        ours = model.render_chat(messages, add_generation_prompt=add_generation_prompt)
        theirs = ref.apply_chat_template(messages, tokenize=False,
                                         add_generation_prompt=add_generation_prompt)
        assert ours == theirs


def test_chatml_and_llama_shapes(tiny_model, tiny_llama_model):
    msgs = CONVERSATIONS[1]
    chatml = tiny_model.render_chat(msgs)
    assert chatml.startswith("<|im_start|>system\nYou are a careful radiology assistant.")
    assert chatml.endswith("<|im_start|>assistant\n")
    llama = tiny_llama_model.render_chat(msgs)
    assert llama == ("<s>[INST] <<SYS>>\nYou are a careful radiology assistant.\n<</SYS>>\n\n"
                     "Which option? A. CT B. MRI [/INST]")
    # the rendered BOS is parsed as the special token, never doubled by the encoder
    ids = tiny_llama_model.encode(llama)
    assert ids[0] == tiny_llama_model.manifest.special_tokens.bos_token_id
    assert ids[1] != ids[0]


def test_template_refusal_is_a_clear_error(tiny_llama_model):
    bad = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    with pytest.raises(TemplateError, match="alternate"):
        tiny_llama_model.render_chat(bad)


def test_missing_template_or_fields():
    with pytest.raises(TemplateError, match="no chat template"):
        render_chat(None, [{"role": "user", "content": "x"}])
    with pytest.raises(TemplateError, match="'role' and 'content'"):
        render_chat("{{ messages }}", [{"content": "x"}])
