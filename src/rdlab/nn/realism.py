"""Realism head: a stochastic decoder stage that puts texture back into a reconstruction.

A rate–distortion-optimal decoder outputs the conditional mean of the image given the
bitstream, which is blurred wherever the bits did not pin detail down. Realism needs the
decoder to *sample* instead (Blau & Michaeli 2019; Theis et al. 2022), driven by noise
both sides can reproduce. The head does this after the unchanged synthesis:

    x_real = x_hat + head([x_hat − ½, noise, t / (K − 1)])

with ``noise`` (B, ``noise_channels``, H, W) standard normal from :mod:`rdlab.rng`
(:func:`shared_noise`: a function of the seed and the pixel row, so any band of rows
regenerates the same values), ``t`` the file's rate parameter and K the model's levels.
The head is a small fully convolutional net (3×3 convolutions, receptive field
``2·layers + 1`` pixels), so it runs in bands with a halo of :attr:`RealismHead.halo`
rows and changes neither the bitstream nor the encoder: the same file decodes to the
plain reconstruction or, with the head, to a sharper sample at a measured PSNR cost.

It is trained by :mod:`rdlab.train.realism` on a frozen image model (MSE plus a patch
realism term); :mod:`rdlab.codecs.realism_file` stores it next to the model it belongs to.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import rng
from ..errors import InputError
from ..rec.streams import stream_id

__all__ = ["NOISE_STREAM", "RealismHead", "RealismHeadConfig", "shared_noise"]

#: the rdlab.rng stream of the head's noise
NOISE_STREAM = "realism/image-head"


@dataclass(frozen=True)
class RealismHeadConfig:
    """Shape of a :class:`RealismHead`.

    Args:
        channels: feature channels of the hidden convolutions.
        layers: number of 3×3 convolutions (>= 2); the receptive field is
            ``2·layers + 1`` pixels.
        noise_channels: standard normal input planes.
        levels: rate levels K of the image model it serves (``t`` is scaled by K − 1).
    """

    channels: int = 32
    layers: int = 6
    noise_channels: int = 2
    levels: int = 6

    def __post_init__(self) -> None:
        for name, low in (("channels", 1), ("layers", 2), ("noise_channels", 1), ("levels", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"realism head {name}", f"must be an integer >= {low}")

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RealismHeadConfig:
        try:
            return cls(
                **{k: int(data[k]) for k in ("channels", "layers", "noise_channels", "levels")}
            )
        except (KeyError, TypeError, ValueError):
            raise InputError("realism head", "its configuration is incomplete") from None


class RealismHead(nn.Module):
    """``forward(x_hat, noise, t) -> x_real``, all images (B, 3, H, W) in [0, 1] units.

    Args:
        config: the shape (:class:`RealismHeadConfig`).
    """

    def __init__(self, config: RealismHeadConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or RealismHeadConfig()
        width = config.channels
        inputs = 3 + config.noise_channels + 1
        layers: list[nn.Module] = [nn.Conv2d(inputs, width, 3, padding=1), nn.LeakyReLU(0.2)]
        for _ in range(config.layers - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(width, 3, 3, padding=1))
        self.net = nn.Sequential(*layers)
        # starts as the identity: the plain reconstruction is where training begins
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    @property
    def halo(self) -> int:
        """Rows above and below a band that its kept rows depend on (the receptive radius)."""
        return self.config.layers

    def forward(self, x_hat: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The realism sample.

        Args:
            x_hat: plain reconstructions (B, 3, H, W), [0, 1] scale (unclamped is fine).
            noise: (B, noise_channels, H, W) standard normal (:func:`shared_noise`).
            t: rate parameters (B,) in ``[0, K − 1]``.

        Returns:
            (B, 3, H, W): ``x_hat`` plus the head's residual (unclamped).
        """
        scale = max(1, self.config.levels - 1)
        level = (t.to(x_hat.dtype) / scale)[:, None, None, None].expand(-1, 1, *x_hat.shape[2:])
        return x_hat + self.net(torch.cat([x_hat - 0.5, noise, level], dim=1))


def shared_noise(seed: int, channels: int, start: int, count: int, width: int) -> torch.Tensor:
    """Rows ``start .. start + count`` of the head's noise for an image ``width`` wide.

    Row ``r`` holds ``channels × width`` standard normal values from stream
    :data:`NOISE_STREAM` of :mod:`rdlab.rng` (identical on every machine), the same
    whichever rows are read with it.

    Returns:
        (1, channels, count, width) float32.
    """
    z = rng.normal_rows(int(seed), stream_id(NOISE_STREAM), 0, start, count, channels * width)
    planes = z.astype(np.float32).reshape(count, channels, width).transpose(1, 0, 2)
    return torch.from_numpy(np.ascontiguousarray(planes))[None]
