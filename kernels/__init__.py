"""The OpenCL kernel source shipped with the package."""

from importlib.resources import files


def source(name: str = "work.cl") -> str:
    return files(__name__).joinpath(name).read_text(encoding="utf-8")
