"""Weight-only quantisation (MatMulNBits): the int8 and int4 a hospital would deploy.

Each quantised precision has one recipe, in `QUANT_RECIPES`; import and
derive both go through `quantize`, so a precision means the same bytes
whichever way it was made, and the manifest records the recipe that made them.
The output projection stays fp32 in both, since option-letter logits are what
we measure.

Measured on SmolLM2-135M (fp32 weights dequantised from a Q4_1 GGUF), option
probabilities on 60 demo MCQ prompts scored one at a time, against fp32:
- int8, bits 8, block 32, asymmetric, accuracy_level 4: max |dp| 0.045, 98% same
  answers (symmetric: 0.041, 95%); without accuracy_level the kernel is 8x
  slower; dynamic int8 changes answers.
- int4, bits 4, block 32, symmetric, accuracy_level 4: max |dp| 0.36, 75% same
  answers. Block 128 keeps only 10% of answers (either symmetry), and asymmetric
  block 32 only 17%: its rounded integer zero point shifts every weight of a block
  together. accuracy_level changes agreement by under 3 points (acc 0: 77%).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from engine.errors import SafeVetError
from engine.models.manifest import PRECISIONS, Precision

METHOD = "MatMulNBits weight-only"
EXTERNAL_DATA_ABOVE = 1_800_000_000  # protobuf's 2 GB ceiling, with margin


@dataclass(frozen=True)
class QuantRecipe:
    """How one precision is made: MatMulNBitsQuantizer's settings, recorded in the manifest.

    `excluded` is a substring of the MatMul/Gemm node names left in fp32.
    accuracy_level 4 lets the kernel quantise activations to int8 per block at
    run time (fast integer dot products); the price is that results depend on
    the exact activations, so padding a batch can move logits (see
    `pads_exactly`).
    """

    bits: int
    block_size: int
    accuracy_level: int | None
    symmetric: bool = False
    excluded: str = "lm_head"

    def settings(self) -> dict[str, object]:
        """The manifest's `quantization` record, before the per-model node lists."""
        return {"method": METHOD, "bits": self.bits, "block_size": self.block_size,
                "accuracy_level": self.accuracy_level, "is_symmetric": self.symmetric,
                "excluded": self.excluded}


QUANT_RECIPES: dict[Precision, QuantRecipe] = {
    "int8": QuantRecipe(bits=8, block_size=32, accuracy_level=4),
    "int4": QuantRecipe(bits=4, block_size=32, accuracy_level=4, symmetric=True),
}
assert set(QUANT_RECIPES) <= set(PRECISIONS)

# What `import --precision` accepts: the export itself, or one of the recipes.
IMPORT_PRECISIONS: tuple[str, ...] = ("fp32", *QUANT_RECIPES)

# fp16 is not quantised but cast: weights, activations and the KV cache in half precision
# (onnxruntime's float16 converter, its default list of ops kept in float32). It halves a
# model's memory on a GPU, where half-precision kernels are fast; SafeVet runs it on CUDA
# only (providers.ProviderChoice.fp16_allowed).
FP16_METHOD = "fp16 cast (onnxruntime.transformers.float16, default op block list)"
# What `models derive --precision` makes from an imported fp32 model.
DERIVED_PRECISIONS: tuple[str, ...] = (*QUANT_RECIPES, "fp16")
assert set(DERIVED_PRECISIONS) <= set(PRECISIONS)


def _spoken(values: list[str]) -> str:
    """'fp32, int8 or int4': for help texts and error messages alike."""
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"


def precision_choices(quantised_only: bool = False, derived: bool = False) -> str:
    """The accepted `--precision` values, in words (CLI help and errors share it)."""
    if derived:
        return _spoken(list(DERIVED_PRECISIONS))
    return _spoken(list(QUANT_RECIPES) if quantised_only else list(IMPORT_PRECISIONS))


def describe_conversion(record: Mapping[str, object]) -> str:
    """A manifest's `quantization` record in words, for the models page and `models show`."""
    if record.get("method") == FP16_METHOD:
        return "fp16 cast (weights, activations and KV cache in half precision)"
    return (f"{record.get('method', '?')}, {record.get('bits', '?')} bits, block "
            f"{record.get('block_size', '?')}, excluded {record.get('excluded') or 'nothing'}")


def check_derived_precision(precision: str) -> None:
    """Refuse a precision `models derive` cannot make, before any slow work."""
    if precision not in DERIVED_PRECISIONS:
        raise SafeVetError(f"precision {precision!r} cannot be derived: use "
                           f"{precision_choices(derived=True)}")


def recipe_for(precision: str) -> QuantRecipe:
    """The recipe of a quantised precision; a one-line error naming those there are."""
    recipe = QUANT_RECIPES.get(precision)
    if recipe is None:
        raise SafeVetError(f"precision {precision!r} is not one SafeVet quantises to: use "
                           f"{precision_choices(quantised_only=True)}")
    return recipe


def check_import_precision(precision: str) -> None:
    """Refuse an unknown precision before any slow work (export takes minutes)."""
    if precision not in IMPORT_PRECISIONS:
        raise SafeVetError(f"precision {precision!r} cannot be imported: use "
                           f"{precision_choices()}")


def pads_exactly(quantization: Mapping[str, object] | None) -> bool:
    """Whether prompts of different lengths may share a padded batch without changing results,
    judged from a manifest's `quantization` record.

    Not when the kernel quantises activations (accuracy_level 4): a last-bit change from
    padding can flip a rounding. Measured on SmolLM2-135M, 40 MCQ prompts, batches of 8,
    padded vs one at a time: fp32 and int4 without accuracy_level move letter
    log-probabilities by 2e-5 at most; with it int8 moves them by up to 0.18 (1 answer in
    40 changes), int4 (its recipe here) by 0.13, and asymmetric int4 by 0.31 (block 32) to 0.60
    (block 128), 4-7 answers changing.
    """
    return not quantization or quantization.get("accuracy_level") != 4


def _excluded_nodes(model, recipe: QuantRecipe) -> list[str]:
    return [n.name for n in model.graph.node
            if n.op_type in ("MatMul", "Gemm") and recipe.excluded in n.name]


def _save(model, dst: Path) -> None:
    """Save beside `dst`; a proto over protobuf's 2 GB ceiling keeps its weights in
    `<dst name>_data`, which the model folder's hash list then covers like any file."""
    import onnx

    external = model.ByteSize() > EXTERNAL_DATA_ABOVE
    onnx.save_model(model, str(dst), save_as_external_data=external,
                    all_tensors_to_one_file=True,
                    location=dst.name + "_data" if external else None)


def _quantizer_class():
    """onnxruntime's MatMulNBitsQuantizer, quietened; it needs onnx and onnx-ir, which only
    the export extra installs, so a runtime-only machine gets one line saying so."""
    import logging
    try:
        import onnx  # noqa: F401
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    except ImportError as exc:
        raise SafeVetError(f"quantising needs the 'export' extra (onnx, onnx-ir): {exc}"
                           ) from None
    logging.getLogger("onnxruntime.quantization").setLevel(logging.WARNING)
    return MatMulNBitsQuantizer


def quantize(src: Path, dst: Path, precision: str) -> dict[str, object]:
    """Write `precision`'s weight-only copy of `src` to `dst`; return the manifest record.

    `dst` must be the file's final name: with external data, the data file's
    name is written inside the graph. A `src` keeping its weights in external data is
    quantised one MatMul at a time (engine.models.quantize_stream), never loaded whole.
    """
    recipe = recipe_for(precision)
    quantizer_class = _quantizer_class()
    import onnx
    from engine.models.external_data import referenced_locations
    model = onnx.load(str(src), load_external_data=False)   # all of it, when inline
    excluded = _excluded_nodes(model, recipe)
    if referenced_locations(model):
        from engine.models.quantize_stream import quantize_streaming
        del model
        quantized = quantize_streaming(src, dst, quantizer_class, recipe, excluded)
        return {**recipe.settings(), "excluded_nodes": excluded, "quantized_nodes": quantized}
    quantizer = quantizer_class(model, bits=recipe.bits, block_size=recipe.block_size,
                                is_symmetric=recipe.symmetric,
                                accuracy_level=recipe.accuracy_level, nodes_to_exclude=excluded)
    quantizer.process()
    out = quantizer.model.model
    _save(out, dst)
    quantized = sum(1 for n in out.graph.node if n.op_type == "MatMulNBits")
    return {**recipe.settings(), "excluded_nodes": excluded, "quantized_nodes": quantized}



def to_fp16(src: Path, dst: Path) -> dict[str, object]:
    """Write the fp16 cast of `src` to `dst`; return the manifest's `quantization` record
    (its method says it is a cast, so the report's recipe line reads truthfully)."""
    _quantizer_class()   # the same 'export' extra check: onnx is needed to rewrite the graph
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16
    model = onnx.load(str(src))
    half = convert_float_to_float16(model, keep_io_types=False, disable_shape_infer=True)
    _save(half, dst)
    return {"method": FP16_METHOD, "keep_io_types": False}


def derive_graph_file(src: Path, dst: Path, precision: str) -> dict[str, object]:
    """`precision`'s copy of the fp32 graph `src` at `dst`: quantised or cast."""
    check_derived_precision(precision)
    if precision == "fp16":
        return to_fp16(src, dst)
    return quantize(src, dst, precision)
