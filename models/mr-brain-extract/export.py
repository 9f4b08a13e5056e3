"""Export deepbet 1.0.2's two networks as ONE ONNX graph: ``deepbet-1.0.2.onnx``.

deepbet (https://github.com/wwu-mmll/deepbet, MIT) ships two TorchScript LinkNet3d networks in
its wheel: a coarse one that finds the brain on a 128^3 copy of the volume, and a fine one that
segments the brain inside the bounding box the coarse one found, resampled to 256^3. This script
wraps both in one traced module so the hub runs a single graph:

    inputs  image       (1, 1, D, H, W) float32, the volume in RAS axis order (NaN-free)
            window      (2,) float32, the 0.5 % and 99.5 % intensity quantiles of the 128^3
                        nearest-neighbour copy of ``image`` (computed by the plugin)
    outputs probability (256, 256, 256) float32, brain probability inside the box
            box         (3, 2) int64, the box as [start, stop) voxel indices per axis of ``image``

Differences from deepbet's own code: the coarse mask is not reduced to its largest connected
component before the box is measured (the box uses a 2 % occupancy threshold per plane, which
ignores small specks anyway); with no coarse foreground at all the box is the whole volume
instead of an error.

Usage (torch, onnx, onnxruntime and the deepbet wheel's files needed; not the hub's venv)::

    python models/mr-brain-extract/export.py --wheel deepbet-1.0.2-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
OUT = HERE / "deepbet-1.0.2.onnx"
SMALL = 128
FINE = 256
MARGIN = 0.1
OCCUPANCY = 0.02


def nearest_indices(start: torch.Tensor, stop: torch.Tensor, size: int) -> torch.Tensor:
    """Source indices of a nearest-neighbour ('nearest-exact') resize of [start, stop) to size."""
    length = (stop - start).to(torch.float32)
    steps = torch.arange(size, dtype=torch.float32)
    index = torch.floor((steps + 0.5) * length / size).to(torch.int64)
    return start + torch.minimum(index, (stop - start - 1).clamp(min=0))


def resample(volume: torch.Tensor, box: list[tuple[torch.Tensor, torch.Tensor]], size: int):
    """Crop ``volume`` (3D) to ``box`` and resize it to ``size``^3 by nearest neighbour."""
    for axis, (start, stop) in enumerate(box):
        volume = torch.index_select(volume, axis, nearest_indices(start, stop, size))
    return volume


def standardise(volume: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """deepbet's intensity normalisation: window to [0, 1], z-score, then * 0.226 + 0.449."""
    scaled = ((volume - window[0]) / (window[1] - window[0])).clamp(0.0, 1.0)
    mean = scaled.mean()
    std = torch.sqrt(((scaled - mean) ** 2).sum() / (scaled.numel() - 1))
    return 0.226 * (scaled - mean) / std + 0.449


class BrainExtractGraph(nn.Module):
    """Coarse box finding plus fine segmentation, deepbet's ``run_model`` as one graph."""

    def __init__(self, coarse: nn.Module, fine: nn.Module) -> None:
        super().__init__()
        self.coarse = coarse
        self.fine = fine

    def forward(self, image: torch.Tensor, window: torch.Tensor):
        volume = image[0, 0]
        shape = torch._shape_as_tensor(volume)
        zero = torch.zeros((), dtype=torch.int64)
        whole = [(zero, shape[axis]) for axis in range(3)]
        small = resample(volume, whole, SMALL)
        coarse = self.coarse(standardise(small, window)[None, None])[0, 1]
        found = (coarse > 0.5).to(torch.float32)
        box = []
        for axis in range(3):
            others = [a for a in range(3) if a != axis]
            occupied = found.mean(dim=others) > OCCUPANCY
            positions = torch.arange(SMALL, dtype=torch.int64)
            first = torch.where(occupied, positions, SMALL).min()
            last = torch.where(occupied, positions, -1).max()
            any_found = occupied.any()
            first = torch.where(any_found, first, 0).to(torch.float32)
            last = torch.where(any_found, last, SMALL - 1).to(torch.float32)
            # deepbet truncates toward zero; floor is the same here (negative starts clamp to 0)
            scale = shape[axis].to(torch.float32) / SMALL
            centre = torch.round((first + last + 1) / 2 * scale)
            extent = torch.round((1 + 2 * MARGIN) * (last + 1 - first) * scale)
            start = torch.floor(centre - extent / 2).to(torch.int64).clamp(min=0)
            stop = torch.minimum(torch.floor(centre + extent / 2).to(torch.int64), shape[axis])
            box.append((start, stop))
        crop = resample(volume, box, FINE)
        probability = self.fine(standardise(crop, window)[None, None])[0, 1]
        return probability, torch.stack([torch.stack(pair) for pair in box])


def load_networks(wheel: Path) -> tuple[nn.Module, nn.Module]:
    """The coarse (bbox) and fine networks from the deepbet wheel."""
    with zipfile.ZipFile(wheel) as archive, tempfile.TemporaryDirectory() as tmp:
        nets = []
        for member in ("data/models/bbox_model.pt", "data/models/model.pt"):
            path = archive.extract(member, tmp)
            nets.append(torch.jit.load(path, map_location="cpu").eval())
    return nets[0], nets[1]


def example_window(image: torch.Tensor) -> torch.Tensor:
    """The plugin's window computation, reproduced for the check input."""
    volume = image[0, 0].numpy()
    small = volume
    for axis, n in enumerate(volume.shape):
        idx = np.minimum(np.floor((np.arange(SMALL) + 0.5) * n / SMALL).astype(int), n - 1)
        small = np.take(small, idx, axis=axis)
    return torch.tensor(np.quantile(small, [0.005, 0.995]), dtype=torch.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, required=True, help="deepbet-1.0.2 wheel")
    parser.add_argument("--check", type=Path, help="NIfTI to compare torch and ONNX on")
    args = parser.parse_args()
    torch.set_num_threads(2)
    graph = BrainExtractGraph(*load_networks(args.wheel)).eval()
    if args.check:
        import nibabel

        data = nibabel.as_closest_canonical(nibabel.load(args.check)).get_fdata(dtype=np.float32)
        image = torch.from_numpy(np.nan_to_num(data))[None, None]
    else:
        rng = np.random.default_rng(0)
        image = torch.from_numpy(rng.random((1, 1, 150, 180, 160), dtype=np.float32))
    window = example_window(image)
    with torch.no_grad():
        traced = torch.jit.trace(graph, (image, window), check_trace=False)
    torch.onnx.export(
        traced,
        (image, window),
        str(OUT),
        dynamo=False,
        opset_version=17,
        input_names=["image", "window"],
        output_names=["probability", "box"],
        dynamic_axes={"image": {2: "depth", 3: "height", 4: "width"}},
    )
    import onnx
    import onnxruntime

    onnx.checker.check_model(onnx.load(str(OUT)))
    with torch.no_grad():
        expected, expected_box = graph(image, window)
    session = onnxruntime.InferenceSession(str(OUT), providers=["CPUExecutionProvider"])
    start = time.perf_counter()
    got, got_box = session.run(None, {"image": image.numpy(), "window": window.numpy()})
    seconds = time.perf_counter() - start
    diff = float(np.abs(got - expected.numpy()).max())
    flipped = int(((got > 0.5) != (expected.numpy() > 0.5)).sum())
    print(f"box torch {expected_box.tolist()} onnx {got_box.tolist()}")
    print(f"max abs diff torch vs onnxruntime: {diff:.3g} (onnxruntime {seconds:.1f} s)")
    print(f"voxels on different sides of 0.5: {flipped} of {got.size}")
    # InstanceNorm and convolutions accumulate in a different order in onnxruntime; a few
    # 1e-2 differences in probability are expected, decisions must (nearly) all agree.
    if diff > 0.05 or flipped > got.size * 1e-4 or not np.array_equal(got_box, expected_box):
        raise SystemExit("ONNX output does not match torch")
    digest = hashlib.sha256(OUT.read_bytes()).hexdigest()
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes) sha256 {digest}")


if __name__ == "__main__":
    main()
