"""S3-compatible object store (AWS S3, MinIO, Ceph RGW...): one object per ChunkKey under a prefix.

Writes stream through a multipart upload (one part buffered at a time, never the whole object) and
become visible only when the upload completes, so readers see the whole object or none; a failed
write aborts its upload. Reads are ranged GETs streamed in chunks. boto3 clients are thread-safe,
so one store serves every thread of the process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from streamfleet.addressing import ChunkKey, master_key, parse_key

from .errors import ObjectNotFound
from .store import READ_CHUNK, ObjectInfo, ObjectStoreError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# S3 parts must be at least 5 MiB (but the last); larger parts mean fewer requests per object.
PART_SIZE = 8 * 1024 * 1024
_MISSING = {"404", "NoSuchKey", "NotFound"}


def _missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code", "")) in _MISSING


class S3ObjectStore:
    """Objects at ``s3://{bucket}/{prefix}{title}/{rendition}/{name}``. Implements
    :class:`origin.store.ObjectStore`."""

    def __init__(self, client: S3Client, bucket: str, prefix: str = "", part_size: int = PART_SIZE) -> None:
        if part_size < 5 * 1024 * 1024:
            raise ValueError("part_size must be at least 5 MiB (the S3 minimum)")
        self._client = client
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.part_size = part_size

    @classmethod
    def connect(cls, bucket: str, prefix: str = "", endpoint_url: str | None = None,
                region: str | None = None) -> S3ObjectStore:
        """A store on a new client; credentials from the usual AWS sources (environment, profile)."""
        # Path-style addressing: S3-compatible servers rarely have a DNS name per bucket.
        config = Config(s3={"addressing_style": "path"} if endpoint_url else {},
                        retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=60)
        try:
            client = boto3.session.Session().client("s3", endpoint_url=endpoint_url,
                                                     region_name=region or "us-east-1", config=config)
        except (BotoCoreError, ValueError) as exc:
            raise ObjectStoreError(f"cannot use S3 endpoint {endpoint_url!r}: {exc}") from None
        return cls(client, bucket, prefix)

    def name(self, key: ChunkKey) -> str:
        """The object name of ``key``. Raises AddressError for a key outside the addressing scheme."""
        return self.prefix + parse_key(key.cache_key).relative_path

    # -- writing ---------------------------------------------------------------------------
    def put_chunks(self, key: ChunkKey, chunks: Iterable[bytes]) -> int:
        name = self.name(key)
        buffer = bytearray()
        size = 0
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            for chunk in chunks:
                buffer += chunk
                size += len(chunk)
                while len(buffer) >= self.part_size:
                    if upload_id is None:
                        created = self._client.create_multipart_upload(Bucket=self.bucket, Key=name)
                        upload_id = created["UploadId"]
                    parts.append(self._part(name, upload_id, len(parts) + 1, bytes(buffer[:self.part_size])))
                    del buffer[:self.part_size]
            if upload_id is None:
                self._client.put_object(Bucket=self.bucket, Key=name, Body=bytes(buffer))
                return size
            if buffer:
                parts.append(self._part(name, upload_id, len(parts) + 1, bytes(buffer)))
            self._client.complete_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id,
                                                   MultipartUpload={"Parts": parts})  # type: ignore[typeddict-item]
        except BaseException:
            if upload_id is not None:
                with contextlib.suppress(BotoCoreError, ClientError):
                    self._client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
            raise
        return size

    def _part(self, name: str, upload_id: str, number: int, body: bytes) -> dict[str, Any]:
        answer = self._client.upload_part(Bucket=self.bucket, Key=name, UploadId=upload_id, PartNumber=number,
                                          Body=body)
        return {"ETag": answer["ETag"], "PartNumber": number}

    def put_bytes(self, key: ChunkKey, data: bytes) -> int:
        return self.put_chunks(key, [data])

    def put_file(self, key: ChunkKey, source: Path) -> int:
        with open(source, "rb") as fh:
            return self.put_chunks(key, iter(lambda: fh.read(self.part_size), b""))

    def move_file(self, key: ChunkKey, source: Path) -> int:
        size = self.put_file(key, source)
        source.unlink()
        return size

    # -- reading ---------------------------------------------------------------------------
    def stat(self, key: ChunkKey) -> ObjectInfo:
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=self.name(key))
        except ClientError as exc:
            if _missing(exc):
                raise ObjectNotFound(key.cache_key) from None
            raise
        return ObjectInfo(int(head["ContentLength"]), head["LastModified"].timestamp())

    def read(self, key: ChunkKey, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        if end is not None and end <= start:
            self.stat(key)  # still a miss when there is no object
            return iter(())
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": self.name(key)}
        if start or end is not None:
            request["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            body = self._client.get_object(**request)["Body"]
        except ClientError as exc:
            if _missing(exc):
                raise ObjectNotFound(key.cache_key) from None
            raise
        return _stream(body)

    def local_path(self, key: ChunkKey) -> None:
        return None

    def exists(self, key: ChunkKey) -> bool:
        try:
            self.stat(key)
        except ObjectNotFound:
            return False
        return True

    # -- deleting --------------------------------------------------------------------------
    def delete(self, key: ChunkKey) -> bool:
        found = self.exists(key)
        self._client.delete_object(Bucket=self.bucket, Key=self.name(key))
        return found

    def delete_title(self, title: str) -> bool:
        prefix = self.name(master_key(title)).rsplit("/", 1)[0] + "/"
        found = False
        for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            names = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if names:
                found = True
                self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": names, "Quiet": True})  # type: ignore[typeddict-item]
        return found

    def titles(self) -> list[str]:
        found: set[str] = set()
        pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix,
                                                                        Delimiter="/")
        for page in pages:
            found.update(p["Prefix"][len(self.prefix):].rstrip("/") for p in page.get("CommonPrefixes", []))
        return sorted(found)

    def check(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise ObjectStoreError(f"bucket {self.bucket!r} is not usable: {exc}") from None

    def close(self) -> None:
        self._client.close()


def _stream(body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(READ_CHUNK)
    finally:
        body.close()
