#!/usr/bin/env python3
"""Export ImageNet VGG16 (torchvision's weights), truncated after conv5_3's ReLU, to ONNX for
`convexgan extract --backbone`.

Needs PyTorch and the onnx package (`pip install torch onnx`) and, once, internet access to download the weights that
torchvision publishes (vgg16-397923af.pth, 528 MB, cached by torch.hub):

    python3 scripts/export_vgg16_onnx.py --out vgg16_conv5_3.onnx

The network is written out here layer by layer with torchvision's parameter names, so torchvision
itself is not needed. The graph is `features[:30]` (conv1_1 ... conv5_3 and its ReLU): only Conv,
Relu and MaxPool, which both the CPU path (tract) and the GPU path (cuDNN) run. Input `image`,
N×3×H×W, ImageNet-normalised RGB (convexgan normalises); output `conv5_3`, N×512×H/16×W/16
(14×14 at 224×224); the batch dimension is dynamic. `--random-weights` skips the download and
exports the same graph with random weights (to check the export offline).
"""
import argparse

import torch
from torch import nn

WEIGHTS_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
# torchvision's VGG16 configuration "D": channels, "M" = 2×2 max-pool.
CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def vgg16_features() -> nn.Sequential:
    layers, c_in = [], 3
    for v in CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(c_in, v, kernel_size=3, padding=1), nn.ReLU(inplace=False)]
            c_in = v
    return nn.Sequential(*layers)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="vgg16_conv5_3.onnx", help="where to write the model")
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("--random-weights", action="store_true", help="no download: random weights")
    args = ap.parse_args()

    features = vgg16_features()
    if not args.random_weights:
        state = torch.hub.load_state_dict_from_url(WEIGHTS_URL, progress=True)
        prefix = "features."
        features.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
    # features[29] is the ReLU after conv5_3 (features[28]); features[30] is the last max-pool.
    trunk = features[:30].eval()
    x = torch.zeros(1, 3, 224, 224)
    torch.onnx.export(
        trunk,
        x,
        args.out,
        input_names=["image"],
        output_names=["conv5_3"],
        dynamic_axes={"image": {0: "N"}, "conv5_3": {0: "N"}},
        opset_version=args.opset,
        do_constant_folding=True,
        dynamo=False,
    )
    with torch.no_grad():
        y = trunk(x)
    print(f"wrote {args.out}: output conv5_3 {tuple(y.shape)} for a 224×224 input")


if __name__ == "__main__":
    main()
