"""Heat-map evidence, review 25: the map lands where the evidence is on the photo as shown,
for every resize policy and for wide and tall photos alike (a guard: no defect was found)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from vision.artifact import Preprocessing
from vision.explain import heatmap
from vision.model import ModelOutput


class BrightNet(nn.Module):
    """One feature channel that is the pixel's brightness, pooled into every head: its
    Grad-CAM map for any sign is the brightness of the model input itself."""

    def __init__(self, taxonomy) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 1)
        self.out = nn.Identity()  # the last 4-D output: Grad-CAM's feature map
        self.room = nn.Linear(1, taxonomy.head_size("room"))
        self.condition = nn.Linear(1, taxonomy.head_size("condition") - 1)
        self.signs = nn.Linear(1, taxonomy.head_size("signs"))
        with torch.no_grad():
            self.conv.weight.fill_(1 / 3)
            self.conv.bias.zero_()
            self.signs.weight.fill_(1.0)

    def forward(self, pixels: torch.Tensor) -> ModelOutput:
        features = self.out(torch.relu(self.conv(pixels)))
        embedding = features.mean(dim=(2, 3))
        return ModelOutput(
            self.room(embedding), self.condition(embedding), self.signs(embedding), embedding
        )


@pytest.mark.parametrize("policy", ["squash", "letterbox", "shorter_side_crop"])
@pytest.mark.parametrize(
    ("height", "width", "y", "x"),
    [(60, 200, 30, 80), (200, 60, 90, 30), (90, 90, 20, 70)],
    ids=["wide", "tall", "square"],
)
def test_the_map_lands_on_the_bright_patch_of_the_photo(taxonomy, policy, height, width, y, x):
    # Black photo, one white patch (inside the centre square, so a crop sees it too); black
    # input gives zero features, so the evidence is the patch and nowhere else.
    photo = np.zeros((height, width, 3), dtype=np.uint8)
    photo[y - 6 : y + 6, x - 6 : x + 6] = 255
    spec = Preprocessing(size=32, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), resize=policy)
    heat = heatmap(
        BrightNet(taxonomy).eval(), photo, head="signs", label=taxonomy.sign_names[0],
        preprocessing=spec,
    )  # fmt: skip
    assert heat.shape == (height, width) and heat.max() == pytest.approx(1.0)
    assert heat[y - 3 : y + 3, x - 3 : x + 3].min() > 0.6  # its core (6x squashed: smoothed)
    far = np.ones((height, width), dtype=bool)
    far[max(0, y - 16) : y + 16, max(0, x - 16) : x + 16] = False  # a patch's width around it
    assert heat[far].max() < 0.05, "evidence drawn away from where it is on the photo"
