"""tus 1.0 resumable uploads over HTTP (core, creation, termination, checksum) at /v1/uploads.

Bytes stream from the socket straight into the upload's file with ``os.write`` (never the whole
body in memory), fsynced before the offset is acknowledged. The request that completes an upload
also validates it as a video and queues the title's pipeline; an upload that is not a video is
refused with 422 and removed. Origin copies sharing the upload directory may take any request of
any upload: a PATCH holds the upload's file lock (UploadStore) from its first byte until it has
completed the upload, so a concurrent PATCH anywhere gets 409 and a DELETE 423.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
from collections.abc import Callable

import anyio.to_thread
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from streamfleet.httpkit import json_error
from streamfleet.sessions import Session

from .config import OriginConfig
from .errors import IngestError, UploadError
from .submit import meta_from_upload, submit_source
from .uploads import Upload, encode_metadata, parse_metadata
from .web import Authenticator, Resources, resources

log = logging.getLogger(__name__)

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,termination,checksum"
CHECKSUMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "md5": hashlib.md5}
# tus checksum extension: the body did not match Upload-Checksum.
CHECKSUM_MISMATCH = 460
UPLOAD_ROLES = ("creator",)  # operators have every role


def _tus(response: Response) -> Response:
    response.headers["tus-resumable"] = TUS_VERSION
    return response


def _error(status: int, message: str) -> Response:
    response = _tus(json_error(status, message))
    if status == 412:
        response.headers["tus-version"] = TUS_VERSION
    return response


def _int_header(request: Request, name: str) -> int:
    value = request.headers.get(name, "")
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise UploadError(400, f"{name} must be a non-negative integer")
    return int(value)


class UploadRoutes:
    """The tus endpoints; uploads belong to the creator who made them (operators see all)."""

    def __init__(self, config: OriginConfig, auth: Authenticator, clock: Callable[[], float]) -> None:
        self.config = config
        self.auth = auth
        self.clock = clock
        # Uploads with a PATCH in flight in this process, refused at once. The file lock guards them
        # across processes; this also guards them within one where flock is emulated with POSIX
        # locks, which do not exclude one another inside a process (NFS).
        self._busy: set[str] = set()

    def routes(self) -> list[Route]:
        return [
            Route("/v1/uploads", self.options, methods=["OPTIONS"], name="tus_options"),
            Route("/v1/uploads", self.create, methods=["POST"], name="tus_create"),
            Route("/v1/uploads/{upload_id}", self.options, methods=["OPTIONS"], name="tus_options_one"),
            Route("/v1/uploads/{upload_id}", self.head, methods=["HEAD"], name="tus_head"),
            Route("/v1/uploads/{upload_id}", self.status, methods=["GET"], name="tus_status"),
            Route("/v1/uploads/{upload_id}", self.patch, methods=["PATCH"], name="tus_patch"),
            Route("/v1/uploads/{upload_id}", self.terminate, methods=["DELETE"], name="tus_terminate"),
        ]

    async def options(self, request: Request) -> Response:
        headers = {"tus-version": TUS_VERSION, "tus-extension": EXTENSIONS,
                   "tus-checksum-algorithm": ",".join(CHECKSUMS)}
        if self.config.uploads.max_size:
            headers["tus-max-size"] = str(self.config.uploads.max_size)
        return _tus(Response(status_code=204, headers=headers))

    async def _session(self, request: Request) -> Session | Response:
        if request.headers.get("tus-resumable") != TUS_VERSION:
            return _error(412, f"Tus-Resumable: {TUS_VERSION} is required")
        session = await self.auth.require(request, *UPLOAD_ROLES)
        return session if isinstance(session, Session) else _tus(session)

    async def _owned(self, request: Request, session: Session) -> Upload:
        upload_id = str(request.path_params["upload_id"])
        upload = await anyio.to_thread.run_sync(resources(request).uploads.get, upload_id)
        if upload.owner != session.user_id and session.role != "operator":
            raise UploadError(404, "no such upload")  # others' uploads are not even confirmed
        return upload

    async def create(self, request: Request) -> Response:
        session = await self._session(request)
        if not isinstance(session, Session):
            return session
        try:
            if "upload-defer-length" in request.headers:
                raise UploadError(400, "Upload-Defer-Length is not supported; send Upload-Length")
            length = _int_header(request, "upload-length")
            metadata = parse_metadata(request.headers.get("upload-metadata", ""))
            upload = await anyio.to_thread.run_sync(resources(request).uploads.create, session.user_id,
                                                    length, metadata)
        except UploadError as exc:
            return _error(exc.status, str(exc))
        log.info("upload created", extra={"upload": upload.id, "user": session.user_id, "length": length})
        return _tus(Response(status_code=201, headers={"location": f"/v1/uploads/{upload.id}",
                                                       "upload-offset": "0"}))

    async def head(self, request: Request) -> Response:
        session = await self._session(request)
        if not isinstance(session, Session):
            return session
        try:
            upload = await self._owned(request, session)
            offset = await anyio.to_thread.run_sync(resources(request).uploads.offset, upload.id)
        except UploadError as exc:
            return _tus(Response(status_code=exc.status, headers={"cache-control": "no-store"}))
        headers = {"upload-offset": str(offset), "upload-length": str(upload.length),
                   "cache-control": "no-store"}
        if upload.metadata:
            headers["upload-metadata"] = encode_metadata(upload.metadata)
        if upload.title:
            headers["x-streamfleet-title"] = upload.title
        return _tus(Response(status_code=200, headers=headers))

    async def status(self, request: Request) -> Response:
        """Not tus: the upload as JSON (offset, length, metadata, title once accepted)."""
        session = await self.auth.require(request, *UPLOAD_ROLES)
        if not isinstance(session, Session):
            return session
        try:
            upload = await self._owned(request, session)
            offset = await anyio.to_thread.run_sync(resources(request).uploads.offset, upload.id)
        except UploadError as exc:
            return json_error(exc.status, str(exc))
        return JSONResponse({"id": upload.id, "offset": offset, "length": upload.length,
                             "metadata": dict(upload.metadata), "title": upload.title})

    async def terminate(self, request: Request) -> Response:
        session = await self._session(request)
        if not isinstance(session, Session):
            return session
        try:
            upload = await self._owned(request, session)
        except UploadError as exc:
            return _error(exc.status, str(exc))
        if upload.id in self._busy:
            return _error(423, "upload is being written; try again")
        try:
            await anyio.to_thread.run_sync(resources(request).uploads.terminate, upload.id)
        except UploadError as exc:
            return _error(exc.status, str(exc))
        log.info("upload terminated", extra={"upload": upload.id})
        return _tus(Response(status_code=204))

    async def patch(self, request: Request) -> Response:
        session = await self._session(request)
        if not isinstance(session, Session):
            return session
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/offset+octet-stream":
            return _error(415, "Content-Type must be application/offset+octet-stream")
        res = resources(request)
        try:
            upload = await self._owned(request, session)
            offset = _int_header(request, "upload-offset")
            checksum = self._checksum(request)
            if upload.title is not None:
                raise UploadError(409, "upload is already complete")
            if "content-length" in request.headers:
                if _int_header(request, "content-length") > upload.length - offset:
                    raise UploadError(413, "body runs past Upload-Length")
        except UploadError as exc:
            return _error(exc.status, str(exc))
        if upload.id in self._busy:
            return _error(409, "another request is writing this upload")
        self._busy.add(upload.id)
        try:
            return await self._append(request, res, upload, offset, checksum)
        finally:
            self._busy.discard(upload.id)

    @staticmethod
    def _checksum(request: Request) -> tuple[str, bytes] | None:
        header = request.headers.get("upload-checksum")
        if header is None:
            return None
        algorithm, _, value = header.strip().partition(" ")
        if algorithm not in CHECKSUMS:
            raise UploadError(400, f"unsupported checksum algorithm {algorithm!r}")
        try:
            return algorithm, base64.b64decode(value.strip(), validate=True)
        except ValueError:  # not base64, or not even ASCII
            raise UploadError(400, "Upload-Checksum value is not base64") from None

    async def _append(self, request: Request, res: Resources, upload: Upload, offset: int,
                      checksum: tuple[str, bytes] | None) -> Response:
        try:
            fd = await anyio.to_thread.run_sync(res.uploads.open_append, upload.id, offset)
        except UploadError as exc:
            return _error(exc.status, str(exc))
        try:  # the descriptor holds the upload's lock: closed only once the upload is completed
            verdict, written = await self._receive(request, upload, offset, checksum, fd)
            if verdict is not None:
                return verdict
            new_offset = offset + written
            headers = {"upload-offset": str(new_offset)}
            if new_offset == upload.length:
                try:
                    title = await anyio.to_thread.run_sync(self._accept, res, upload)
                except IngestError as exc:
                    return _error(422, str(exc))
                headers["x-streamfleet-title"] = title
            return _tus(Response(status_code=204, headers=headers))
        finally:
            os.close(fd)

    async def _receive(self, request: Request, upload: Upload, offset: int,
                       checksum: tuple[str, bytes] | None, fd: int) -> tuple[Response | None, int]:
        """Append the body to ``fd`` and fsync; (refusal or None, bytes kept)."""
        digest = CHECKSUMS[checksum[0]]() if checksum else None
        limit = upload.length - offset
        written = 0
        verdict: Response | None = None
        try:
            async for chunk in request.stream():
                if written + len(chunk) > limit:
                    verdict = _error(413, "body runs past Upload-Length")
                    break
                view = memoryview(chunk)
                while view:  # page-cache writes: short enough to do on the loop
                    view = view[os.write(fd, view):]
                written += len(chunk)
                if digest is not None:
                    digest.update(chunk)
        except ClientDisconnect:
            # What arrived stays: the client resumes from HEAD's offset. Unless it was to be
            # checksummed, since a partial body cannot be verified.
            log.info("upload interrupted", extra={"upload": upload.id, "received": written})
            verdict = Response(status_code=400)
        if checksum is not None and digest is not None and verdict is None \
                and digest.digest() != checksum[1]:
            verdict = _error(CHECKSUM_MISMATCH, "Upload-Checksum does not match the body")
        if verdict is not None and (verdict.status_code == 413 or checksum is not None):
            os.ftruncate(fd, offset)
            written = 0
        await anyio.to_thread.run_sync(os.fsync, fd)
        return verdict, written

    def _accept(self, res: Resources, upload: Upload) -> str:
        """Validate the finished upload and queue its title; on IngestError nothing is left behind."""
        meta = upload.metadata
        filename = os.path.basename(meta.get("filename", "")) or f"upload {upload.id}"
        name = meta.get("title") or os.path.splitext(filename)[0] or upload.id
        source = res.uploads.data_path(upload.id)
        try:
            title = submit_source(self.config, res.catalog, res.queue, source, filename, name,
                                  meta_from_upload(meta, upload.owner), meta.get("id") or None)
        except IngestError as exc:
            res.uploads.delete(upload.id)
            log.info("upload refused", extra={"upload": upload.id, "reason": str(exc)})
            raise
        except BaseException:
            res.uploads.delete(upload.id)
            raise
        with contextlib.suppress(UploadError):
            res.uploads.finish(upload.id, title)
        log.info("upload accepted", extra={"upload": upload.id, "title": title})
        return title
