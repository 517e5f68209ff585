"""Checkpoint helpers every training stage uses (distill pretrain and SFT, DPO): where to resume
from, and the one summary they all record, so stage reports and the pipeline read the same fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def training_summary(trainer, result, seconds: float, resume: str | None) -> dict[str, Any]:
    """What both training stages record: steps, losses (every logged step), time, resume point.
    train_loss is the mean of the logged losses over the whole run (the trainer's own figure covers
    only the steps since a resume), so a resumed run records what an uninterrupted one does."""
    logged = [(h["step"], h["loss"]) for h in trainer.state.log_history if "loss" in h]
    return {
        "steps": trainer.state.global_step,
        "train_loss": sum(x for _, x in logged) / len(logged) if logged else result.training_loss,
        "first_loss": logged[0][1] if logged else None,
        "last_loss": logged[-1][1] if logged else None,
        "loss_by_step": logged,
        "seconds": round(seconds, 1),
        "resumed_from": resume,
    }


def last_checkpoint(out: Path) -> str | None:
    ckpts = sorted(
        out.glob("checkpoint-*"),
        key=lambda p: int(p.name.split("-")[-1]) if p.name.split("-")[-1].isdigit() else -1,
    )
    ckpts = [c for c in ckpts if (c / "trainer_state.json").exists()]
    return str(ckpts[-1]) if ckpts else None
