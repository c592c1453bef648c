"""Image parameterisations for feature visualization: what the optimiser moves.

Both start from the current input (the protocol asks for gradient ascent
*from the current input*), one image per target channel:

- ``PixelImage``: the pixels themselves (the seed's way);
- ``FourierImage``: a 1/f-scaled Fourier spectrum of decorrelated colour
  channels, squashed by a sigmoid (Lucid/Lucent's parameterisation).  An
  equal step moves low frequencies and natural colour directions more than
  high-frequency noise, so the same number of steps gives stronger, cleaner
  pictures.  The start image is inverted exactly into this space.
"""

from __future__ import annotations

import torch

# Lucid's square root of ImageNet's colour correlation: decorrelated -> RGB.
_COLOR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
_COLOR = _COLOR_SQRT / _COLOR_SQRT.norm(dim=0).max()
_EPS = 1e-3  # pixels are kept inside (eps, 1 - eps) so the sigmoid's inverse is finite


class PixelImage:
    """The pixels in [0, 1], moved directly (kept in range by clamping)."""

    def __init__(self, start: torch.Tensor, n: int):
        self.tensor = start.unsqueeze(0).repeat(n, 1, 1, 1).contiguous().requires_grad_(True)

    def parameters(self) -> list[torch.Tensor]:
        return [self.tensor]

    def pixels(self) -> torch.Tensor:
        return self.tensor

    def after_step(self) -> None:
        with torch.no_grad():
            self.tensor.clamp_(0, 1)


def _frequency_scale(h: int, w: int, decay: float, device) -> torch.Tensor:
    fy = torch.fft.fftfreq(h, device=device).view(-1, 1)
    fx = torch.fft.rfftfreq(w, device=device).view(1, -1)
    freqs = (fx * fx + fy * fy).sqrt()
    # Lucid's scaling (with an orthonormal FFT): a unit step of every coefficient
    # moves each frequency band in proportion to natural images' 1/f spectrum
    return 1.0 / freqs.clamp_min(1.0 / max(h, w)) ** decay


class FourierImage:
    """Decorrelated colour in a 1/f-scaled Fourier basis, through a sigmoid."""

    def __init__(self, start: torch.Tensor, n: int, decay: float = 1.0):
        c, h, w = start.shape
        self.shape = (h, w)
        device = start.device
        self.scale = _frequency_scale(h, w, decay, device)
        self.color = _COLOR.to(device) if c == 3 else torch.eye(c, device=device)
        # exact inverse of pixels(): logit -> undo the colour mix -> spectrum / scale
        logits = torch.logit(start.float().clamp(_EPS, 1 - _EPS))
        flat = torch.linalg.solve(self.color, logits.reshape(c, -1)).reshape(c, h, w)
        spectrum = torch.fft.rfft2(flat, norm="ortho") / self.scale
        spectrum = torch.view_as_real(spectrum).unsqueeze(0).repeat(n, 1, 1, 1, 1)
        self.spectrum = spectrum.contiguous().requires_grad_(True)

    def parameters(self) -> list[torch.Tensor]:
        return [self.spectrum]

    def pixels(self) -> torch.Tensor:
        spectrum = torch.view_as_complex(self.spectrum) * self.scale
        image = torch.fft.irfft2(spectrum, s=self.shape, norm="ortho")  # [N, C, H, W], decorrelated
        image = torch.einsum("ij,njhw->nihw", self.color, image)
        return torch.sigmoid(image)

    def after_step(self) -> None:
        pass


PARAMETERISATIONS = {"fourier": FourierImage, "pixel": PixelImage}


def make_image(kind: str, start: torch.Tensor, n: int):
    """The parameterisation ``kind`` of ``n`` copies of ``start`` ([C, H, W] pixels in [0, 1])."""
    try:
        cls = PARAMETERISATIONS[kind]
    except KeyError:
        msg = f"unknown feature-visualization parameterisation {kind!r}: use one of {sorted(PARAMETERISATIONS)}"
        raise ValueError(msg) from None
    return cls(start, n)
