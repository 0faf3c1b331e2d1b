"""Profiles: validated run configurations (smoke, quick, paper) with dotted-key overrides.

A profile is a YAML file in ``benchmark/profiles/``; every field can be overridden by an entry-point
parameter ``section.field=value`` (e.g. ``linking.time_limit_s=60``). The resolved config is what a
run logs as its params.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from benchmark.errors import ConfigError

PROFILE_DIR = Path(__file__).parent / "profiles"
PROFILES: tuple[str, ...] = ("smoke", "quick", "paper")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Section):
    """Where data lives and how the synthetic presets are generated."""

    data_dir: str = Field("data", description="folder of generated and downloaded datasets")
    synth_seed: int = Field(0, ge=0, description="seed of the synthetic generator (fixed across run seeds)")
    synth: dict[str, Any] = Field(default_factory=dict, description="size overrides of the synthetic preset")
    allow_train_eval_overlap: bool = Field(
        False, description="let a method train with ground truth on sequences it is evaluated on (tagged "
        "leakage.train_eval_overlap; its scores are not a test result); else such a run is refused"
    )


class LinkingConfig(_Section):
    """Candidate graph and ILP (SPEC section 2). w2 is set by the method (None: no appearance term) and
    multiplied by ``w2_scale``."""

    k_neighbors: int = Field(10, ge=1)
    w1: float = 1.0
    w2_scale: float = Field(1.0, gt=0, description="|w2|; the sign is the method's (-1 association, +1 embedding)")
    b: float = 0.0
    appear_cost: float = 1.0
    disappear_cost: float = 1.0
    solver: str = Field("highs", description="highs | greedy | pulp | pulp:<PuLP solver name>")
    time_limit_s: float | None = Field(None, gt=0, description="wall-clock limit of the solver per sequence (s)")
    mip_rel_gap: float = Field(0.0, ge=0)
    threads: int = Field(
        1, ge=1, description="with decompose: frame pairs solved in parallel (1 HiGHS thread each); else HiGHS threads"
    )
    decompose: bool = Field(
        True, description="HiGHS: solve each frame pair as its own problem (exact: the same optimum); false: one model"
    )
    weights_run: str | None = Field(
        None, description="id of a finished `tune` run whose best w1, w2_scale, b, appear_cost, disappear_cost replace these"
    )


class ModelConfig(_Section):
    """The Trackastra-style association model (SPEC section 4). Defaults are the paper's sizes."""

    d_model: int = Field(256, ge=8)
    n_heads: int = Field(4, ge=1)
    encoder_layers: int = Field(6, ge=1)
    decoder_layers: int = Field(6, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    window: int = Field(6, ge=2, description="frames per window")
    max_tokens: int = Field(2048, ge=16, description="most detections in one training window")
    position_features: int = Field(32, ge=2, description="Fourier features per coordinate t, y, x")
    feature_features: int = Field(8, ge=2, description="Fourier features per shallow detection feature")
    time_cutoff: float = Field(6.0, gt=0, description="Fourier cutoff of t (frames)")
    space_cutoff: float = Field(256.0, gt=0, description="Fourier cutoff of y, x (px)")
    feature_cutoff: float = Field(1000.0, gt=0, description="Fourier cutoff of the shallow features")
    attention_cutoff: float = Field(256.0, gt=0, description="tokens farther apart (px) do not attend")
    attention_prior_decay: float = Field(0.1, ge=0, description="mask bias exp(-decay * distance)")


class TrainConfig(_Section):
    """Optimisation of a network: AdamW, the reference's schedule (linear warm-up from 0.01 x the learning
    rate, then cosine decay to 0.001 x it; see attrackt.training.warmup_cosine_factor), periodic validation."""

    iterations: int = Field(..., ge=1)
    batch_size: int = Field(8, ge=1)
    learning_rate: float = Field(1e-4, gt=0)
    weight_decay: float = Field(1e-5, ge=0)
    warmup_iterations: int = Field(0, ge=0)
    log_every: int = Field(10, ge=1, description="iterations between logged training metrics")
    val_every: int = Field(100, ge=1, description="iterations between validations (and best checkpoints)")
    val_windows: int = Field(32, ge=1, description="validation windows (fixed, unaugmented)")
    crop_size: float = Field(256.0, gt=0, description="px side of the random training crop")
    augment: bool = True
    max_grad_norm: float | None = Field(
        None, gt=0, description="clip the gradients' global L2 norm to this before each step; None: no clipping"
    )


class SupervisedConfig(TrainConfig):
    """Supervised Trackastra training (SPEC section 6): the optimisation plus where it validates."""

    held_out_fraction: float = Field(
        0.15,
        ge=0,
        lt=1,
        description="without validation sequences: this last fraction of each training sequence's frames "
        "(rounded to whole frames) validates and is not trained on (the reference: HeLa 01 frames 78-91); "
        "0: no validation, the last checkpoint is kept",
    )


class UnsupervisedConfig(TrainConfig):
    """Attrackt training (SPEC section 5): the optimisation plus the loss's transitive term."""

    transitive_weight: float = Field(0.1, ge=0, description="λ of the transitive term")
    transitive_reduction: Literal["mean"] = Field(
        "mean", description="decision: averaged over the batch (the reference sums over its batch of 8)"
    )


class FinetuneConfig(TrainConfig):
    """Interactive fine-tuning and training from scratch (SPEC section 7). ``iterations`` caps the
    budget of iterations_per_annotation · k (decision); ``batch_size`` windows of each kind per step."""

    iterations_per_annotation: int = Field(100, ge=1)
    lora_r: int = Field(32, ge=1)
    lora_alpha: float = Field(32.0, gt=0)
    lora_dropout: float = Field(0.1, ge=0, lt=1)
    pseudo_label_fraction: float = Field(0.1, ge=0, le=1, description="least uncertain nodes used as pseudo-labels")
    pseudo_label_rule: Literal["reference", "no_last_frame_negatives"] = Field(
        "reference",
        description="reference: the fraction of all nodes, annotated ones and ILP leaves included (they give no "
        "label); no_last_frame_negatives: the fraction of the nodes not annotated and not in a last frame, "
        "a node without ILP child labelled 'no child' (see attrackt.sampling.pseudo_labels)",
    )


class AttracktModelConfig(_Section):
    """What an Attrackt checkpoint is built from: the backbone and the embedding width of m_E, m_D."""

    backbone: ModelConfig
    embedding_dim: int = Field(64, ge=1)


class InferenceConfig(_Section):
    """How a trained association model is run over a whole sequence (SPEC section 4, inference)."""

    min_association: float = Field(0.01, ge=0, le=1, description="adjacent-frame associations below are dropped")
    tta: bool = Field(True, description="average over the 8 rotations/flips")
    max_tokens: int = Field(
        4096,
        ge=16,
        description="most tokens in one forward pass; larger windows run as overlapping spatial tiles (docs/tokens.md)",
    )


class PatchNetConfig(_Section):
    """A convolutional network on square detection patches (SPEC sections 5, 6) and its optimisation.

    Levels run at patch_size, patch_size/2, ... (a 2x downsampling between levels), each with
    ``res_blocks`` residual blocks of base_width * multiplier channels (GroupNorm, SiLU); the encoder
    ends in a latent_channels x latent_size^2 latent whose flattening is the embedding (4 x 4 x 4 = 64
    with the defaults). Training: Adam, learning rate decayed as lr * (1 - step / iterations) ** poly_power.
    """

    patch_size: int = Field(64, ge=8, description="side (px) of the square patch centred on a detection")
    base_width: int = Field(32, ge=1, description="channels of the first level")
    multipliers: list[int] = Field([1, 1, 2, 2, 4], min_length=1, description="channels per level / base_width")
    res_blocks: int = Field(2, ge=1, description="residual blocks per level")
    attention_resolution: int | None = Field(
        16, ge=1, description="side (px) of the levels with self-attention (also the middle block); None: none"
    )
    groups: int = Field(16, ge=1, description="GroupNorm groups (must divide every level's channels)")
    latent_channels: int = Field(4, ge=1)
    iterations: int = Field(100_000, ge=1)
    batch_size: int = Field(8, ge=2)
    learning_rate: float = Field(5e-5, gt=0)
    poly_power: float = Field(0.9, ge=0, description="exponent of the polynomial learning-rate decay")
    log_every: int = Field(100, ge=1, description="iterations between logged training metrics")
    max_grad_norm: float | None = Field(
        None, gt=0, description="clip the gradients' global L2 norm to this before each step; None: no clipping"
    )

    @property
    def latent_size(self) -> int:
        """Side of the deepest level: patch_size / 2 ** (levels - 1)."""
        return self.patch_size >> (len(self.multipliers) - 1)

    @property
    def embedding_dim(self) -> int:
        return self.latent_channels * self.latent_size**2

    @model_validator(mode="after")
    def _check_shapes(self) -> "PatchNetConfig":
        if self.latent_size < 1 or self.latent_size << (len(self.multipliers) - 1) != self.patch_size:
            raise ValueError(
                f"patch_size={self.patch_size} must be divisible by 2 ** (len(multipliers) - 1) "
                f"= {2 ** (len(self.multipliers) - 1)}"
            )
        bad = [m * self.base_width for m in self.multipliers if (m * self.base_width) % self.groups]
        if bad or any(m < 1 for m in self.multipliers):
            raise ValueError(f"groups={self.groups} must divide every level's channels (got {bad or self.multipliers})")
        return self


class AutoencoderConfig(PatchNetConfig):
    """The appearance autoencoder (SPEC section 5): the patch encoder, a mirrored decoder (one more
    residual block per level, as the reference's), per-pixel MSE; the best validation checkpoint is kept."""

    val_patches: int = Field(
        100,
        ge=0,
        description="fixed random patches whose reconstruction error selects the best checkpoint (drawn from "
        "all detections and also trained on, as the reference's); 0: keep the last checkpoint",
    )
    val_every: int = Field(100, ge=1, description="iterations between validations")


class ReidConfig(PatchNetConfig):
    """The Re-ID embedding (SPEC section 6 decision): the patch encoder, trained with NT-Xent on two
    augmentations of each patch through a projection head.

    Augmentations (each drawn per patch): a random rotation by k * 90 degrees and flip (when
    ``symmetries``), an integer shift of up to ``max_shift`` px, contrast x U(1 - contrast, 1 + contrast),
    brightness + U(-brightness, brightness), Gaussian noise of sd ``noise`` (intensities are in [0, 1]).
    """

    projection_dim: int = Field(64, ge=1, description="output of the projection head the loss sees")
    max_grad_norm: float | None = Field(1.0, gt=0, description="decision (no reference): gradient-norm clipping")
    temperature: float = Field(0.1, gt=0, description="NT-Xent temperature")
    symmetries: bool = Field(False, description="augment by random rotations by k * 90 degrees and flips")
    max_shift: int = Field(4, ge=0, description="px")
    brightness: float = Field(0.1, ge=0)
    contrast: float = Field(0.2, ge=0, lt=1)
    noise: float = Field(0.02, ge=0)


#: Searched LinkingConfig fields on a log scale (the others, b, on a linear one).
LOG_SCALE_WEIGHTS = ("w1", "w2_scale", "appear_cost", "disappear_cost")


class TuneConfig(_Section):
    """Optuna (TPE) search of the ILP weights by the ``tune`` entry point. Each range is [low, high] of
    the LinkingConfig field of that name; LOG_SCALE_WEIGHTS are searched on a log scale."""

    n_trials: int = Field(40, ge=1, description="finished trials of a study in all, whichever worker runs them")
    time_limit_s: float = Field(
        10.0, gt=0, description="ILP time limit (s) of each solve in a trial; a trial that hits it is pruned"
    )
    w1: tuple[float, float] = (0.1, 10.0)
    w2_scale: tuple[float, float] = (0.1, 10.0)
    b: tuple[float, float] = (-5.0, 5.0)
    appear_cost: tuple[float, float] = (0.1, 10.0)
    disappear_cost: tuple[float, float] = (0.1, 10.0)

    @model_validator(mode="after")
    def _check_ranges(self) -> "TuneConfig":
        for name in ("b", *LOG_SCALE_WEIGHTS):
            low, high = getattr(self, name)
            if not low < high:
                raise ValueError(f"{name}: range [{low}, {high}] must have low < high")
            if name in LOG_SCALE_WEIGHTS and low <= 0:
                raise ValueError(f"{name}: range [{low}, {high}] is searched on a log scale, low must be > 0")
        return self


class RunConfig(_Section):
    """The fully resolved configuration of one run."""

    profile: Literal["smoke", "quick", "paper"]
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="auto: CUDA when present")
    threads: int = Field(
        1,
        ge=1,
        description="torch's CPU threads in this run, whatever the machine or the sweep's workers: results "
        "depend on the thread count (see benchmark.runtime)",
    )
    data: DataConfig = Field(default_factory=DataConfig)
    linking: LinkingConfig = Field(default_factory=LinkingConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    supervised: SupervisedConfig = Field(
        default_factory=lambda: SupervisedConfig(
            iterations=100_000, warmup_iterations=1_000, learning_rate=1e-4, max_grad_norm=1.0
        )
    )
    attrackt: UnsupervisedConfig = Field(
        default_factory=lambda: UnsupervisedConfig(iterations=1_000_000, warmup_iterations=10_000, learning_rate=1e-4)
    )
    finetune: FinetuneConfig = Field(
        default_factory=lambda: FinetuneConfig(iterations=100_000, warmup_iterations=0, learning_rate=1e-4)
    )
    inference: InferenceConfig = Field(default_factory=InferenceConfig)
    autoencoder: AutoencoderConfig = Field(default_factory=AutoencoderConfig)
    reid: ReidConfig = Field(default_factory=lambda: ReidConfig(batch_size=256, learning_rate=3e-4))
    tune: TuneConfig = Field(default_factory=TuneConfig)


def parse_override(text: str) -> tuple[str, Any]:
    """``"section.field=value"`` -> (key, YAML-parsed value)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r}: expected KEY=VALUE, e.g. linking.time_limit_s=60")
    try:
        return key.strip(), yaml.safe_load(value) if value.strip() else None
    except (yaml.YAMLError, ValueError) as error:  # ValueError: an impossible date such as 2001-13-01
        problem = getattr(error, "problem", None) or error
        raise ConfigError(f"override {text!r}: the value is not valid YAML ({problem})") from None


def _set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    *sections, leaf = key.split(".")
    node = tree
    for section in sections:
        child = node.setdefault(section, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {key!r}: {section!r} is a value, not a section")
        node = child
    node[leaf] = value


def load_config(profile: str, overrides: dict[str, Any] | None = None) -> RunConfig:
    """The profile's YAML with ``overrides`` (dotted keys) applied, validated."""
    if profile not in PROFILES:
        raise ConfigError(f"parameter profile={profile!r}: must be one of {', '.join(PROFILES)}")
    tree = yaml.safe_load((PROFILE_DIR / f"{profile}.yaml").read_text()) or {}
    tree["profile"] = profile
    for key, value in (overrides or {}).items():
        _set_dotted(tree, key, value)
    try:
        return RunConfig.model_validate(tree)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r})" for e in error.errors()
        )
        raise ConfigError(f"profile {profile!r} with overrides {overrides or {}}: {problems}") from None


def flatten(config: BaseModel) -> dict[str, Any]:
    """Dotted-key view of a config (``linking.w1`` ...), for MLflow params."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for key, child in value.items():
                walk(f"{prefix}.{key}" if prefix else key, child)
        else:
            flat[prefix] = value

    walk("", config.model_dump())
    return flat
