"""Train the ct-lung-seg 2D U-Net on synthetic chest-CT phantoms and export it to ONNX.

Run from the repository root (CPU only, ~15 minutes on 2 otherwise idle cores)::

    /work/main/.venv-train/bin/python models/ct-lung-seg/train.py

Seeded and deterministic: the same torch/numpy versions and thread count give the same
weights. Writes ``models/ct-lung-seg/ct-lung-seg.onnx`` and prints held-out Dice per lung on
full-size 512 x 512 phantoms. Needs torch, onnx, onnxscript, numpy; imports the phantom
generator from ``hub/testing/phantoms.py`` (plain numpy) by path.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
HU_MIN, HU_MAX = -1024.0, 600.0
CHANNELS = (16, 32, 64, 96, 128)
CROP = 192

Phantom = Callable[..., tuple[np.ndarray, np.ndarray]]
Pool = list[tuple[np.ndarray, np.ndarray]]


def load_phantoms() -> Phantom:
    """Import ``hub.testing.phantoms.chest_ct_phantom`` by path (no hub install needed)."""
    spec = importlib.util.spec_from_file_location("phantoms", ROOT / "hub/testing/phantoms.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["phantoms"] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.chest_ct_phantom  # type: ignore[no-any-return]


def normalise(hu: np.ndarray) -> np.ndarray:
    """The model's input normalisation: clip HU to [-1024, 600], scale to [0, 1]."""
    return ((np.clip(hu, HU_MIN, HU_MAX) - HU_MIN) / (HU_MAX - HU_MIN)).astype(np.float32)


class Block(nn.Sequential):
    """Two 3x3 convolutions, each with batch norm and ReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True),
        )


class UNet(nn.Module):
    """A 5-level 2D U-Net (4 poolings: H and W must be multiples of 16)."""

    def __init__(self, channels: tuple[int, ...] = CHANNELS, classes: int = 3) -> None:
        super().__init__()
        self.down = nn.ModuleList()
        cin = 1
        for c in channels:
            self.down.append(Block(cin, c))
            cin = c
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for c in reversed(channels[:-1]):
            self.up.append(nn.ConvTranspose2d(cin, c, 2, stride=2))
            self.merge.append(Block(2 * c, c))
            cin = c
        self.head = nn.Conv2d(cin, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        skips.pop()
        for up, merge in zip(self.up, self.merge, strict=True):
            x = merge(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x)


def make_pool(phantom: Phantom, rng: np.random.Generator, count: int, seed0: int) -> Pool:
    """Phantom volumes of varied size and spacing (FOV 330-480 mm), slices spread in z."""
    pool = []
    for i in range(count):
        size = int(rng.choice([256, 320, 384, 512]))
        pixel = rng.uniform(330.0, 480.0) / size
        slices = 20
        dz = rng.uniform(300.0, 380.0) / slices
        hu, labels = phantom(slices, size, size, (dz, pixel, pixel), seed=seed0 + i)
        pool.append((normalise(hu), labels))
    return pool


def sample_batch(
    pool: Pool, rng: np.random.Generator, batch: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random slices of random pool volumes, randomly cropped to CROP x CROP."""
    images = np.empty((batch, 1, CROP, CROP), np.float32)
    targets = np.empty((batch, CROP, CROP), np.int64)
    for b in range(batch):
        image, labels = pool[int(rng.integers(len(pool)))]
        k = int(rng.integers(image.shape[0]))
        size = image.shape[1]
        i, j = (int(v) for v in rng.integers(0, size - CROP + 1, 2))
        images[b, 0] = image[k, i:i + CROP, j:j + CROP]
        targets[b] = labels[k, i:i + CROP, j:j + CROP]
    # Mild intensity jitter (scanner calibration / noise differences).
    images = images * rng.uniform(0.97, 1.03, (batch, 1, 1, 1)).astype(np.float32)
    images += rng.uniform(-0.01, 0.01, (batch, 1, 1, 1)).astype(np.float32)
    return torch.from_numpy(images), torch.from_numpy(targets)


def loss_fn(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy plus soft Dice over the two lungs."""
    ce = F.cross_entropy(logits, target)
    prob = logits.softmax(1)[:, 1:]
    onehot = F.one_hot(target, 3).permute(0, 3, 1, 2)[:, 1:].float()
    inter = (prob * onehot).sum((0, 2, 3))
    dice = (2 * inter + 1) / (prob.sum((0, 2, 3)) + onehot.sum((0, 2, 3)) + 1)
    return ce + (1 - dice).mean()


def dice(pred: np.ndarray, truth: np.ndarray, label: int) -> float:
    """Dice coefficient of one label."""
    a, b = pred == label, truth == label
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2 * (a & b).sum() / total)


@torch.no_grad()
def evaluate(
    model: nn.Module, phantom: Phantom, seeds: list[int], size: int, pixel: float
) -> list[float]:
    """Dice per lung over whole held-out phantoms (every slice) at one size/spacing."""
    model.eval()
    preds, truths = [], []
    for seed in seeds:
        hu, labels = phantom(24, size, size, (14.0, pixel, pixel), seed=seed)
        image = torch.from_numpy(normalise(hu)[:, None])
        out = torch.cat([model(image[i:i + 8]) for i in range(0, len(image), 8)])
        preds.append(out.argmax(1).numpy().astype(np.uint8))
        truths.append(labels)
    pred, truth = np.concatenate(preds), np.concatenate(truths)
    return [dice(pred, truth, 1), dice(pred, truth, 2)]


def export(model: nn.Module, path: Path) -> None:
    """Export to ONNX opset 17: image [N,1,H,W] -> logits [N,3,H,W], N/H/W dynamic."""
    import onnx

    model.eval()
    example = torch.zeros(2, 1, 64, 64)
    batch, height, width = (torch.export.Dim(n, max=4096) for n in ("N", "H", "W"))
    program = torch.onnx.export(
        model, (example,), input_names=["image"], output_names=["logits"], opset_version=17,
        dynamo=True, dynamic_shapes={"x": {0: batch, 2: 16 * height, 3: 16 * width}},
    )
    program.optimize()
    proto = program.model_proto
    proto.doc_string = "ct-lung-seg: 2D U-Net, lungs on synthetic chest CT. NOT for clinical use."
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path), save_as_external_data=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=6)
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument("--out", type=Path, default=HERE / "ct-lung-seg.onnx")
    args = parser.parse_args()

    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(args.seed)
    phantom = load_phantoms()
    start = time.time()
    pool = make_pool(phantom, rng, count=40, seed0=1000)
    print(f"pool of {len(pool)} phantoms in {time.time() - start:.0f}s", flush=True)

    model = UNet()
    params = sum(p.numel() for p in model.parameters())
    print(f"U-Net {CHANNELS}: {params} parameters", flush=True)
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, 3e-3, total_steps=args.steps)
    for step in range(1, args.steps + 1):
        model.train()
        images, targets = sample_batch(pool, rng, args.batch)
        loss = loss_fn(model(images), targets)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 25 == 0 or step == 1:
            print(f"step {step:4d} loss {loss.item():.4f} {time.time() - start:.0f}s", flush=True)

    held_out = [900001, 900002, 900003]
    for size, pixel in ((512, 0.7), (256, 1.4)):
        right, left = evaluate(model, phantom, held_out, size, pixel)
        print(f"held-out Dice {size}x{size} @ {pixel} mm: right {right:.4f} left {left:.4f}")
    export(model, args.out)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes) sha256 {digest}")
    print(f"total {time.time() - start:.0f}s")


if __name__ == "__main__":
    main()
