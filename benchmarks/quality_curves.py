"""Quality-gate measurements on synthetic degradations: the curves behind configs/engine.yaml.

`python -m benchmarks.quality_curves` renders room photos, blurs, darkens and brightens them
by known amounts, measures each with vision.quality, writes docs/images/quality_curves.png
and prints how clean and degraded photos fall on either side of the configured thresholds.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from vision.engine import load_engine_config
from vision.quality import QualityConfig, assess_quality, measure

OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "images" / "quality_curves.png"
BLUR_SIGMAS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)  # px at 1024 px width
GAINS = (0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0, 1.3, 1.6, 2.0, 2.5, 3.0)


def scenes(n: int, *, seed: int, width: int = 1024) -> list[np.ndarray]:
    """Synthetic room photos: training.synth when it is installed, else a simple scene."""
    height = width * 3 // 4
    try:
        from training.synth.photos import render_photo
        from training.synth.spec import PhotoSpec
    except ImportError:
        from tests.vision.engine_fixtures import room_scene

        return [room_scene(seed + i, height=height, width=width) for i in range(n)]
    from shanyraq.taxonomy import get_taxonomy

    rng = np.random.default_rng(seed)
    rooms = get_taxonomy().dwelling_rooms
    out = []
    for i in range(n):
        spec = PhotoSpec(room=rooms[i % len(rooms)], condition=3, signs=frozenset(), style=i)
        image = render_photo(spec, size=height, rng=rng).image
        out.append(cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC))
    return out


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return image if sigma == 0 else cv2.GaussianBlur(image, (0, 0), sigma)


def gain(image: np.ndarray, factor: float) -> np.ndarray:
    return np.clip(image.astype(np.float32) * factor, 0, 255).astype(np.uint8)


def dim_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Blurred, at 0.3 of the light: the blur score is scaled for the exposure."""
    return gain(blur(image, sigma), 0.3)


def noisy_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Blurred, then sensor noise of sd 2 (a fixed seed): noise must not read as detail."""
    noise = np.random.default_rng(0).normal(0, 2.0, image.shape)
    return np.clip(blur(image, sigma).astype(np.float32) + noise, 0, 255).astype(np.uint8)


def curve(
    images: list[np.ndarray],
    levels: tuple[float, ...],
    degrade: Callable[[np.ndarray, float], np.ndarray],
    key: str,
    working_side_px: int,
) -> np.ndarray:
    """(len(levels), len(images)) measurements of `key`."""
    return np.array(
        [
            [measure(degrade(im, lv), working_side_px=working_side_px)[key] for im in images]
            for lv in levels
        ]
    )


def _band(ax: object, x: tuple[float, ...], values: np.ndarray, label: str) -> None:
    lo, mid, hi = np.percentile(values, [5, 50, 95], axis=1)
    ax.plot(x, mid, marker="o", label=f"{label} (median)")  # type: ignore[attr-defined]
    ax.fill_between(x, lo, hi, alpha=0.25, label=f"{label} (5-95%)")  # type: ignore[attr-defined]


def plot(curves: dict[str, np.ndarray], config: QualityConfig, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    _band(axes[0], BLUR_SIGMAS, curves["blur"], "blur score")
    axes[0].set(xlabel="Gaussian blur sigma (px at 1024 px width)", ylabel="variance of Laplacian")
    axes[0].set_yscale("log")
    for name, value in (("fail", config.blur_fail), ("warn", config.blur_warn)):
        axes[0].axhline(value, ls="--", color="red" if name == "fail" else "orange", label=name)
    _band(axes[1], GAINS, curves["luminance"], "mean luminance")
    axes[1].set(xlabel="exposure gain", ylabel="mean luminance (0-255)", xscale="log")
    for value, colour in (
        (config.dark_fail, "red"), (config.dark_warn, "orange"),
        (config.bright_warn, "orange"), (config.bright_fail, "red"),
    ):  # fmt: skip
        axes[1].axhline(value, ls="--", color=colour)
    _band(axes[2], GAINS, curves["clipped"], "clipped fraction")
    axes[2].set(xlabel="exposure gain", ylabel="fraction at 0-4 or 251-255", xscale="log")
    axes[2].axhline(config.clipped_warn, ls="--", color="orange")
    axes[2].axhline(config.clipped_fail, ls="--", color="red")
    for ax, title in zip(axes, ("blur", "exposure", "clipping"), strict=True):
        ax.set_title(title)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle("Quality gate on synthetic degradations (dashed: configured thresholds)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def verdict_table(images: list[np.ndarray], config: QualityConfig) -> list[str]:
    """Share of photos given each status at every degradation level."""
    lines = []
    for name, levels, degrade in (
        ("blur sigma", BLUR_SIGMAS, blur),
        ("blur sigma at 0.3 light", BLUR_SIGMAS, dim_blur),
        ("blur sigma, noise sd 2", BLUR_SIGMAS, noisy_blur),
        ("exposure gain", GAINS, gain),
    ):
        for level in levels:
            statuses = [assess_quality(degrade(im, level), config=config).status for im in images]
            shares = {s: statuses.count(s) / len(statuses) for s in ("pass", "warn", "fail")}
            lines.append(
                f"{name:>23} {level:>4}: pass {shares['pass']:.0%}  warn {shares['warn']:.0%}  "
                f"fail {shares['fail']:.0%}"
            )
    return lines


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 40
    config = load_engine_config().quality
    images = scenes(n, seed=0)
    side = config.working_side_px
    curves = {
        "blur": curve(images, BLUR_SIGMAS, blur, "blur_score", side),
        "luminance": curve(images, GAINS, gain, "mean_luminance", side),
        "clipped": curve(images, GAINS, gain, "clipped_fraction", side),
    }
    plot(curves, config, OUTPUT)
    for key, levels in (("blur", BLUR_SIGMAS), ("luminance", GAINS), ("clipped", GAINS)):
        for level, row in zip(levels, curves[key], strict=True):
            lo, mid, hi = np.percentile(row, [5, 50, 95])
            print(f"{key:9} {level:>4}: p5 {lo:8.2f}  median {mid:8.2f}  p95 {hi:8.2f}")
    print("\n".join(verdict_table(images, config)))
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main(sys.argv[1:])
