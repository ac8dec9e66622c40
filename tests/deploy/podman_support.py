"""Rootful podman in a throw-away folder, the stand-in base images, and the project's images.

No container registry is reachable in CI, so every base image is made here: ``localhost/debian:bookworm``
with debootstrap from the host's Debian mirror, then stand-ins for ``python:3.11-slim-bookworm``, the
Google Cloud CLI emulator image (from the host's installed SDK) and ``redis:7-bookworm`` (Debian's
redis-server), tagged with the official names and used without pulling. Image storage, run state,
networks and podman's configuration all live under one temporary folder that ``PodmanRoot.remove``
deletes: nothing is left on the machine.

Settings this machine kind needs (``containers.conf``): runc (crun refuses its hybrid cgroup layout),
cgroupfs and a file event log (no systemd), and default ulimits no higher than the caller's hard limits
(containers may not raise rlimits). Health checks never run on their own without systemd:
``podman healthcheck run`` runs one.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from deploy_support import ROOT

from harness.polling import wait_until

STANDINS = Path(__file__).resolve().parent / "standins"
DEBIAN_BASE = "localhost/debian:bookworm"
PYTHON_BASE = "docker.io/library/python:3.11-slim-bookworm"
EMULATOR_IMAGE = "gcr.io/google.com/cloudsdktool/google-cloud-cli:emulators"
REDIS_IMAGE = "docker.io/library/redis:7-bookworm"
CPU_IMAGE = "localhost/atto-work:0.1.0"
GPU_IMAGE = "localhost/atto-work:0.1.0-gpu"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
#: Where the host keeps extra CA certificates that ``update-ca-certificates`` folds into its bundle.
HOST_EXTRA_CAS = Path("/usr/local/share/ca-certificates")


class ContainerError(RuntimeError):
    """A podman command failed; the message holds its output."""


def debian_mirror() -> str:
    """The host's Debian archive (apt's sources), so debootstrap uses what apt-get already reaches."""
    for path in [Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")]:
        if path.is_file():
            found = re.search(r"(?:URIs:|^deb)\s+(\S+/debian)\s*$", path.read_text(), re.MULTILINE)
            if found:
                return found.group(1)
    return DEFAULT_MIRROR


def _containers_conf(root: Path) -> str:
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    limits = [f"nofile={min(nofile, 65536)}:{min(nofile, 65536)}",
              f"nproc={min(nproc, 32768)}:{min(nproc, 32768)}"]
    return f"""[containers]
default_ulimits = {limits!r}

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{root}/events.log"
tmp_dir = "{root}/libpod-tmp"
volume_path = "{root}/volumes"

[network]
network_backend = "netavark"
network_config_dir = "{root}/networks"
""".replace("'", '"')


class PodmanRoot:
    """podman with all its state under a fresh temporary folder."""

    def __init__(self) -> None:
        if shutil.which("podman") is None:
            raise ContainerError("podman is not installed (scripts/system-deps.sh test installs it)")
        self.root = Path(tempfile.mkdtemp(prefix="atto-podman-"))
        (self.root / "containers.conf").write_text(_containers_conf(self.root))
        (self.root / "storage.conf").write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{self.root}/storage"\n'
            f'runroot = "{self.root}/run"\n')
        self.env = {**os.environ, "CONTAINERS_CONF": str(self.root / "containers.conf"),
                    "CONTAINERS_STORAGE_CONF": str(self.root / "storage.conf")}
        #: Seconds each image took to build, by image name, for the notes.
        self.build_seconds: dict[str, float] = {}

    def run(self, *args: str, timeout: float = 120, check: bool = True,
            **kwargs) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout,
                                env=self.env, **kwargs)
        if check and result.returncode != 0:
            raise ContainerError(f"podman {' '.join(args)} -> {result.returncode}\n"
                                 f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
        return result

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(["podman", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=self.env)

    def build(self, tag: str, containerfile: Path, context: Path, *extra: str) -> None:
        start = time.monotonic()
        self.run("build", "--format", "docker", "--pull=never", "--layers", "-t", tag,
                 "-f", str(containerfile), *extra, str(context), timeout=1200)
        self.build_seconds[tag] = time.monotonic() - start

    def size(self, tag: str) -> int:
        return int(self.run("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip())

    # -- the images ------------------------------------------------------------------------------

    def build_debian_base(self) -> None:
        if shutil.which("debootstrap") is None:
            raise ContainerError("debootstrap is not installed (scripts/system-deps.sh test installs it)")
        start = time.monotonic()
        rootfs = self.root / "rootfs"
        result = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs),
                                 debian_mirror()], capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            raise ContainerError(f"debootstrap failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
        # Builds reach HTTPS through whatever the host trusts: its extra CAs go in before any pip.
        if HOST_EXTRA_CAS.is_dir():
            shutil.copytree(HOST_EXTRA_CAS, rootfs / "usr/local/share/ca-certificates", dirs_exist_ok=True)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        self.run("import", "-", DEBIAN_BASE, stdin=tar.stdout, timeout=300)
        assert tar.wait(timeout=60) == 0
        shutil.rmtree(rootfs)
        self.build_seconds[DEBIAN_BASE] = time.monotonic() - start

    def build_standins(self) -> None:
        self.build_debian_base()
        self.build(PYTHON_BASE, STANDINS / "python.Containerfile", STANDINS)
        sdk = subprocess.run(["gcloud", "info", "--format=value(installation.sdk_root)"],
                             capture_output=True, text=True, timeout=120, check=True).stdout.strip()
        self.build(EMULATOR_IMAGE, STANDINS / "emulator.Containerfile", STANDINS, "-v", f"{sdk}:/sdk:ro")
        self.build(REDIS_IMAGE, STANDINS / "redis.Containerfile", STANDINS)

    def build_project_images(self) -> None:
        self.build(CPU_IMAGE, ROOT / "docker" / "Dockerfile", ROOT)
        self.build(GPU_IMAGE, ROOT / "docker" / "Dockerfile.gpu", ROOT,
                   "--build-arg", f"CUDA_IMAGE={DEBIAN_BASE}")

    # -- containers ------------------------------------------------------------------------------

    def healthy(self, container: str) -> bool:
        return self.run("healthcheck", "run", container, check=False, timeout=60).returncode == 0

    def wait_healthy(self, container: str, timeout: float = 120) -> None:
        wait_until(lambda: self.healthy(container), within=timeout, what=f"{container} healthy",
                   details=lambda: self.logs(container)[-6000:], interval=1)

    def logs(self, container: str) -> str:
        result = self.run("logs", container, check=False)
        return result.stdout + result.stderr

    def remove(self) -> None:
        """Every container, pod and network, then the whole folder (storage included)."""
        for args in (["pod", "rm", "-af", "-t", "0"], ["rm", "-af", "-t", "0"], ["network", "prune", "-f"],
                     ["system", "reset", "-f"]):
            try:
                self.run(*args, check=False, timeout=300)
            except subprocess.TimeoutExpired:
                pass
        # Overlay mounts left by a failed reset would make rmtree fail: unmount what is still ours.
        for line in reversed(Path("/proc/self/mounts").read_text().splitlines()):
            mountpoint = line.split()[1]
            if mountpoint.startswith(str(self.root)):
                subprocess.run(["umount", "-l", mountpoint], check=False)
        shutil.rmtree(self.root, ignore_errors=True)



def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False
