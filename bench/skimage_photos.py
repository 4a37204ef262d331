"""Write scikit-image's sample photos (in neither the training pool nor Kodak) as PNGs into a folder.

astronaut, chelsea, coffee, rocket, hubble_deep_field, immunohistochemistry, and a 1024px centre
crop of retina: a check that models chosen on held-out crops of the pool are not tuned to it.

    .venv/bin/python -m bench.skimage_photos DIR
"""

import sys
from pathlib import Path

from PIL import Image
from skimage import data

NAMES = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry",
         "retina")


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        a = getattr(data, name)()
        if name == "retina":
            h, w = a.shape[:2]
            a = a[(h - 1024) // 2:(h + 1024) // 2, (w - 1024) // 2:(w + 1024) // 2]
        Image.fromarray(a).save(out / f"{name}.png")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
