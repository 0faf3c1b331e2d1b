"""LoRA adapters on the association backbone (SPEC section 7), through peft.

Adapters sit on the q/k/v/output projections of every attention block; the backbone's own weights
are frozen, m_E and m_D stay fully trainable. An adapter file holds the LoRA settings, the adapter
weights and m_E, m_D; it is loaded back onto the Attrackt checkpoint it was trained from.
"""

from __future__ import annotations

from typing import Any

from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model, set_peft_model_state_dict

from attrackt.unsupervised_loss import AttracktModel
#: Modules of the backbone that get adapters (regex on their qualified names).
LORA_TARGETS = r".*attention\.(q_proj|k_proj|v_proj|out_proj)"


def add_lora(model: AttracktModel, r: int, alpha: float, dropout: float) -> AttracktModel:
    """Inject LoRA adapters into ``model.backbone`` in place; only adapters, m_E and m_D stay trainable."""
    settings = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=LORA_TARGETS)
    inject_adapter_in_model(settings, model.backbone)
    for name, parameter in model.backbone.named_parameters():
        parameter.requires_grad = "lora_" in name
    return model


def adapter_checkpoint(model: AttracktModel, r: int, alpha: float, dropout: float, **extra: Any) -> dict[str, Any]:
    """What an adapter file holds: LoRA settings and base config, adapter weights, m_E and m_D."""
    weights = {f"backbone.{k}": v for k, v in get_peft_model_state_dict(model.backbone).items()}
    for prefix, module in (("encode_mlp", model.encode_mlp), ("decode_mlp", model.decode_mlp)):
        weights.update({f"{prefix}.{k}": v for k, v in module.state_dict().items()})
    settings = {"r": r, "alpha": alpha, "dropout": dropout, "targets": LORA_TARGETS, "base": model.config.model_dump()}
    return {"config": settings, "state_dict": weights, **extra}


def load_adapter(base: AttracktModel, adapter: dict[str, Any]) -> AttracktModel:
    """``base`` (the Attrackt checkpoint the adapter was trained on) with the adapter applied, in place."""
    settings = adapter["config"]
    add_lora(base, settings["r"], settings["alpha"], settings["dropout"])
    weights = adapter["state_dict"]

    def part(prefix: str) -> dict[str, Any]:
        return {k[len(prefix) + 1 :]: v for k, v in weights.items() if k.startswith(prefix + ".")}

    set_peft_model_state_dict(base.backbone, part("backbone"))
    base.encode_mlp.load_state_dict(part("encode_mlp"))
    base.decode_mlp.load_state_dict(part("decode_mlp"))
    return base
