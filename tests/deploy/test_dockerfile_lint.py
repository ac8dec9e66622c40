"""Lint of the Dockerfiles and .dockerignore, read as text: conventions a build would not catch
(multi-stage, non-root, a health check, the NVIDIA ICD file, what the build copies). The images are
really built and run by test_images_podman.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy_support import ROOT

DOCKER = ROOT / "docker"


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out, current = [], ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#"):  # Docker drops comment lines, inside continuations too
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            if current.strip():
                word, _, rest = current.strip().partition(" ")
                out.append((word.upper(), rest))
            current = ""
    return out


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.gpu"])
def test_images_are_multi_stage_non_root_with_healthcheck(name: str) -> None:
    steps = instructions(DOCKER / name)
    froms = [args for word, args in steps if word == "FROM"]
    assert len(froms) == 2 and froms[0].endswith(" AS build") and froms[1].endswith(" AS runtime")
    assert any(word == "COPY" and args.startswith("--from=build /opt/venv") for word, args in steps)
    users = [args for word, args in steps if word == "USER"]
    assert users == ["10001:10001"]  # numeric, so Kubernetes' runAsNonRoot can check it
    assert any(word == "HEALTHCHECK" and "atto-work-healthcheck" in args for word, args in steps)
    assert ("ENTRYPOINT", '["atto-work"]') in steps
    # Exact versions from the lock, then the project without resolving anything else.
    assert ("COPY", "requirements.lock ./") in steps
    assert ("RUN", "pip install --require-hashes --no-deps -r requirements.lock") in steps
    runtime_from = [i for i, (word, _) in enumerate(steps) if word == "FROM"][1]
    runtime = " ".join(args for word, args in steps[runtime_from:] if word == "RUN")
    assert "binutils" in runtime  # PoCL links kernels with ld at run time
    assert "pocl-opencl-icd" in runtime  # PyPI's PoCL cannot build kernels on newer CPUs


def test_gpu_image_registers_the_nvidia_opencl_icd() -> None:
    text = (DOCKER / "Dockerfile.gpu").read_text()
    assert "ARG CUDA_IMAGE=nvidia/cuda:" in text and "-runtime-" in text
    assert "ocl-icd-libopencl1" in text
    assert 'echo "libnvidia-opencl.so.1" > /etc/OpenCL/vendors/nvidia.icd' in text
    assert "NVIDIA_DRIVER_CAPABILITIES=compute,utility" in text


def test_dockerignore_keeps_what_the_build_copies() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", ".tools", "tests", "helm"} <= ignored
    for needed in ("pyproject.toml", "README.md", "requirements.lock", "docker", "docker/healthcheck.py",
                   "atto_work"):
        assert needed not in ignored


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.gpu"])
def test_images_allow_no_private_callback_network_unless_configured(name: str) -> None:
    # Set, though empty: `atto-work up` in a container must not open loopback (a callback could
    # POST to the container's own endpoints); `-e CALLBACK_ALLOWED_NETWORKS=...` still overrides it.
    env = " ".join(args for word, args in instructions(DOCKER / name) if word == "ENV")
    assert 'CALLBACK_ALLOWED_NETWORKS=""' in env.split()
