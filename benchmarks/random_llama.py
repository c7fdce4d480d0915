"""A random-weight Llama-family HF folder of any size, written with about one tensor in memory.

For realistic-size evidence without a download (issue 17): config.json shaped as asked,
the tokenizer, chat template and generation config of SmolLM2-135M (the default model;
so prompts tokenise as a real model's do and " A".." E" are single tokens), and
model.safetensors in bf16 (how real checkpoints ship), written header first and then
tensor by tensor from numpy: no torch model, no dict of every tensor.

Weights: every projection N(0, std²) (std 0.02, transformers' initializer_range), the
tied embedding / LM head N(0, embed_std²) with embed_std 0.05, norms 1. With unit-RMS
hidden states after the final RMSNorm, logits then have a spread of about
embed_std·√hidden (≈ 2.3 at hidden 2048), so option probabilities are far from uniform
and depend on the prompt (the projections are large against the embedding, so every
layer's attention moves the residual): an int4-vs-fp32 agreement means something.

    .venv/bin/python benchmarks/random_llama.py OUT --hidden 2048 --layers 23 ...
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_TOKENIZER = REPO / ".cache" / "default-workspace" / "models" / "smollm2-135m-fp32"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "chat_template.jinja", "generation_config.json")


@dataclass(frozen=True)
class RandomLlama:
    hidden: int = 2048
    layers: int = 23
    heads: int = 32
    kv_heads: int = 8
    intermediate: int = 8192
    vocab: int = 49152
    std: float = 0.02
    embed_std: float = 0.05
    seed: int = 0

    def tensors(self) -> list[tuple[str, tuple[int, ...], float | None]]:
        """(name, shape, std or None for a norm of ones), in file order."""
        h, d = self.hidden, self.hidden // self.heads
        out = [("model.embed_tokens.weight", (self.vocab, h), self.embed_std)]
        for i in range(self.layers):
            p = f"model.layers.{i}"
            out += [(f"{p}.input_layernorm.weight", (h,), None),
                    (f"{p}.self_attn.q_proj.weight", (self.heads * d, h), self.std),
                    (f"{p}.self_attn.k_proj.weight", (self.kv_heads * d, h), self.std),
                    (f"{p}.self_attn.v_proj.weight", (self.kv_heads * d, h), self.std),
                    (f"{p}.self_attn.o_proj.weight", (h, self.heads * d), self.std),
                    (f"{p}.post_attention_layernorm.weight", (h,), None),
                    (f"{p}.mlp.gate_proj.weight", (self.intermediate, h), self.std),
                    (f"{p}.mlp.up_proj.weight", (self.intermediate, h), self.std),
                    (f"{p}.mlp.down_proj.weight", (h, self.intermediate), self.std)]
        return out + [("model.norm.weight", (h,), None)]

    def parameters(self) -> int:
        return sum(int(np.prod(s)) for _, s, _ in self.tensors())

    def config(self, base: dict) -> dict:
        return {**base, "hidden_size": self.hidden, "num_hidden_layers": self.layers,
                "num_attention_heads": self.heads, "num_key_value_heads": self.kv_heads,
                "head_dim": self.hidden // self.heads, "intermediate_size": self.intermediate,
                "vocab_size": self.vocab, "tie_word_embeddings": True, "dtype": "bfloat16",
                "initializer_range": self.std, "_model_name_or_path": "random-llama"}


def _bf16(x: np.ndarray) -> np.ndarray:
    """float32 -> bf16 bits (round to nearest even), as uint16."""
    u = x.view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def _values(spec: RandomLlama, name: str, shape: tuple[int, ...], std: float | None):
    if std is None:
        return np.full(shape, 0x3F80, np.uint16)          # 1.0 in bf16
    seed = int.from_bytes(hashlib.sha256(f"{spec.seed}:{name}".encode()).digest()[:8], "little")
    x = np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
    x *= std
    return _bf16(x)


def write(out: Path, spec: RandomLlama, tokenizer_from: Path = DEFAULT_TOKENIZER) -> Path:
    """The HF folder `out` (created); returns it."""
    base = tokenizer_from / "config.json"
    if not base.is_file():
        sys.exit(f"{tokenizer_from}: no SmolLM2 model folder to take the tokenizer from "
                 f"(run `safevet models install-default` or pass --tokenizer-from)")
    out.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        if (tokenizer_from / name).is_file():
            shutil.copy2(tokenizer_from / name, out / name)
    config = spec.config(json.loads(base.read_text()))
    (out / "config.json").write_text(json.dumps(config, indent=2))
    header, offset = {}, 0
    for name, shape, _ in spec.tensors():
        size = int(np.prod(shape)) * 2
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset,
                                                                                 offset + size]}
        offset += size
    header["__metadata__"] = {"format": "pt"}
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(out / "model.safetensors", "wb") as fh:
        fh.write(len(raw).to_bytes(8, "little"))
        fh.write(raw)
        for name, shape, std in spec.tensors():
            fh.write(memoryview(_values(spec, name, shape, std)).cast("B"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    for field, value in RandomLlama().__dict__.items():
        parser.add_argument(f"--{field.replace('_', '-')}", type=type(value), default=value)
    parser.add_argument("--tokenizer-from", type=Path, default=DEFAULT_TOKENIZER)
    args = parser.parse_args()
    spec = RandomLlama(**{k: getattr(args, k) for k in RandomLlama().__dict__})
    write(args.out, spec, args.tokenizer_from)
    print(f"{args.out}: {spec.parameters():,} parameters")


if __name__ == "__main__":
    main()
