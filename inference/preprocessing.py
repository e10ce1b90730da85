"""The backbone's input geometry and pixel scaling. PIL and numpy only (no torch, no Django),
so the importer can write each view's model input without loading the model.

`preprocess` = resize the short side to 256 (bicubic), centre-crop 224, scale to [-1, 1]. Its
first step is the costly one on a 768-1024 px view (JPEG decoding and resizing), so the importer
stores that step's output as the view's model input (`model_input_npy`), and `preprocess` on it
resizes nothing: the tensor, hence the features and their cache key (the view's sha256), are
the same as from the view's JPEG, bit for bit.
"""

import io

import numpy as np
from PIL import Image

# timm's pretrained_cfg for tf_efficientnet_lite0 (a test keeps these in step with it): the TF
# Lite models were trained on inputs scaled to [-1, 1], not with the usual ImageNet mean/std.
INPUT_SIZE = 224
CROP_PCT = 0.875
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)
SHORT_SIDE = int(INPUT_SIZE / CROP_PCT)  # 256
MODEL_INPUT_SUFFIX = f".input{SHORT_SIDE}.npy"


def resize_short_side(image: Image.Image) -> Image.Image:
    """RGB copy with its short side SHORT_SIDE px (bicubic); an image already that size is only
    copied (PIL resizes nothing when the size does not change)."""
    image = image.convert("RGB")
    width, height = image.size
    if width <= height:
        size = (SHORT_SIDE, int(SHORT_SIDE * height / width))
    else:
        size = (int(SHORT_SIDE * width / height), SHORT_SIDE)
    return image.resize(size, Image.BICUBIC)


def preprocess(image: Image.Image) -> np.ndarray:
    """Resize the short side to 256 (bicubic), centre-crop 224, scale to [-1, 1]; CHW float32.

    The same steps timm's eval transform takes for this model, without going through torchvision.
    """
    image = resize_short_side(image)
    width, height = image.size
    left = int(round((width - INPUT_SIZE) / 2.0))
    top = int(round((height - INPUT_SIZE) / 2.0))
    image = image.crop((left, top, left + INPUT_SIZE, top + INPUT_SIZE))
    chw = np.asarray(image).transpose(2, 0, 1).astype(np.float32, order="C")
    # (x / 255 - mean) / std in float32, a channel at a time: with a scalar per operation numpy
    # runs long inner loops, not loops of 3 as when broadcasting over HWC; the same bits result.
    chw /= np.float32(255.0)
    for channel, (mean, std) in enumerate(zip(MEAN, STD, strict=True)):
        chw[channel] -= np.float32(mean)
        chw[channel] /= np.float32(std)
    return chw


def decode_view(data: bytes) -> Image.Image:
    """A stored view's JPEG bytes as the RGB image the backbone sees."""
    return Image.open(io.BytesIO(data)).convert("RGB")


def model_input_npy(view_jpeg: bytes) -> bytes:
    """The view's model input: `resize_short_side` of the decoded view, as .npy bytes (uint8,
    height x width x 3): loading it is a file read, where the view's JPEG needs decoding and
    resizing (bench/machine_latency.py times both)."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(resize_short_side(decode_view(view_jpeg)), dtype=np.uint8))
    return buffer.getvalue()


def model_input_image(data: bytes) -> Image.Image:
    """The image stored by `model_input_npy`. Raises ValueError for anything else (a wrong
    shape, type or size, or a pickle), so a caller can fall back to the view itself."""
    try:
        pixels = np.load(io.BytesIO(data), allow_pickle=False)
    except (OSError, EOFError, ValueError) as exc:
        raise ValueError(f"not a model input: {exc}") from None
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"not a model input: {pixels.dtype} array of shape {pixels.shape}")
    if min(pixels.shape[:2]) != SHORT_SIDE:
        height, width = pixels.shape[:2]
        raise ValueError(f"model input is {width}x{height}; its short side must be {SHORT_SIDE}")
    return Image.fromarray(pixels, "RGB")
