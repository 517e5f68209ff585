"""Test helper: tokenizers (and tiny random models) that carry a real model's chat template.

The templates in tests/data/chat_templates/ are the ones real models ship, byte for byte (see
SOURCES.txt there). A tokenizer for one of them is SmolLM2's vocabulary plus that model's special
tokens (special_tokens.json), with its BOS/EOS/pad set and the template installed: enough to render,
tokenize and train exactly as the real tokenizer would, at a size that runs on a CPU in seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).parent / "data" / "chat_templates"
SPECIAL = json.loads((DATA / "special_tokens.json").read_text(encoding="utf-8"))
# model -> its template file (every template collected in tests/data/chat_templates/)
TEMPLATES = {
    model: DATA / f"{model.replace('/', '--')}.jinja"
    for model in SPECIAL
    if not model.startswith("_") and (DATA / f"{model.replace('/', '--')}.jinja").exists()
}


def tokenizer_for(model: str, base: str):
    """SmolLM2's tokenizer (from folder `base`) with `model`'s special tokens and chat template."""
    from transformers import AutoTokenizer

    spec = SPECIAL[model]
    tok = AutoTokenizer.from_pretrained(base)
    named = {k: spec.get(k) for k in ("bos_token", "eos_token", "pad_token", "unk_token")}
    extra = [spec["end_of_turn"], *spec.get("role_tokens", [])]
    tokens = [t for t in [*named.values(), *extra] if t]
    tok.add_special_tokens({"additional_special_tokens": list(dict.fromkeys(tokens))})
    for key, value in named.items():
        if value:
            setattr(tok, key, value)
    if not named["pad_token"]:  # Llama-3 ships none; training needs one
        tok.pad_token = spec["eos_token"]
    tok.chat_template = TEMPLATES[model].read_text(encoding="utf-8")
    return tok


def tiny_model_for(model: str, base: str, out: Path) -> str:
    """A 2-layer random Llama whose tokenizer carries `model`'s template and special tokens.

    Generation stops on the template's end-of-turn token and on EOS, as the real models' generation
    configs do. Returns the saved folder.
    """
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    tok = tokenizer_for(model, base)
    spec = SPECIAL[model]
    stop = sorted({tok.convert_tokens_to_ids(spec["end_of_turn"]), tok.eos_token_id})
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        eos_token_id=stop,
        bos_token_id=tok.bos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
    )
    net = LlamaForCausalLM(cfg)
    net.generation_config = GenerationConfig(
        eos_token_id=stop, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id
    )
    net.save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)
