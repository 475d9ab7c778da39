#!/usr/bin/env python3
"""Writes an OCI image layout for the neutral-client benchmarks (bench/neutral.sh).

    bench/make-image.py DIR TAG SIZE [SIZE...]

One layer per SIZE (bytes; suffixes K, M, G are powers of 1024): a tar of one file of random
bytes, gzip-wrapped at level 0 (stored blocks), so that skopeo takes it as compressed and sends
it as it is, without spending the run's CPU on compressing random data. The layer's blob is
therefore a little larger than SIZE. Written a MiB at a time, never held in memory.
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

CHUNK = 1024 * 1024


def parse_size(text):
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    if text[-1].upper() in units:
        return int(text[:-1]) * units[text[-1].upper()]
    return int(text)


class Hashing(io.RawIOBase):
    """A write-only file that hashes and counts what passes through it to another file."""

    def __init__(self, target):
        self.target, self.sha, self.size = target, hashlib.sha256(), 0

    def writable(self):
        return True

    def write(self, data):
        self.sha.update(data)
        self.size += len(data)
        self.target.write(data)
        return len(data)


class RandomReader(io.RawIOBase):
    def __init__(self, size):
        self.left = size

    def readable(self):
        return True

    def readinto(self, buffer):
        n = min(len(buffer), self.left, CHUNK)
        buffer[:n] = os.urandom(n)
        self.left -= n
        return n


def write_blob(blobs, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    root, tag, sizes = sys.argv[1], sys.argv[2], [parse_size(s) for s in sys.argv[3:]]
    blobs = os.path.join(root, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    layers, diff_ids = [], []
    for i, size in enumerate(sizes):
        partial = os.path.join(blobs, "partial")
        with open(partial, "wb") as out:
            compressed = Hashing(out)
            with gzip.GzipFile(fileobj=compressed, mode="wb", compresslevel=0, mtime=0) as gz:
                uncompressed = Hashing(gz)
                with tarfile.open(fileobj=uncompressed, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                    info = tarfile.TarInfo(f"layer{i}.bin")
                    info.size, info.mtime = size, 0
                    tar.addfile(info, io.BufferedReader(RandomReader(size), CHUNK))
        digest = compressed.sha.hexdigest()
        os.replace(partial, os.path.join(blobs, digest))
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                       "digest": "sha256:" + digest, "size": compressed.size})
        diff_ids.append("sha256:" + uncompressed.sha.hexdigest())
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    config_digest, config_size = write_blob(blobs, config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": config_digest, "size": config_size},
                           "layers": layers}).encode()
    manifest_digest, manifest_size = write_blob(blobs, manifest)
    with open(os.path.join(root, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(root, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
            "size": manifest_size, "annotations": {"org.opencontainers.image.ref.name": tag}}]}, f)


if __name__ == "__main__":
    main()
