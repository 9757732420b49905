"""Saved workspaces in an S3 bucket (Linode Object Storage in production), through boto3.

One object per workspace: ``<prefix><tenant>/<name>.tar``, a tar relative to the workspace. boto3
is synchronous: every call runs in a thread. Uploads are multipart above 8 MiB and downloads
ranged, ``s3_transfer_concurrency`` parts at a time; an upload that fails leaves the previous
object as it was (S3 makes a multipart object visible only when it completes).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from sandbox_control_plane.config.settings import Settings

WORKSPACE_NAME = r"^[a-z0-9][a-z0-9._-]{0,62}$"
_NAME = re.compile(WORKSPACE_NAME)
SUFFIX = ".tar"


class StoreError(Exception):
    """The bucket did not answer or refused; the message names the operation, never a credential."""


@dataclass(frozen=True)
class StoredWorkspace:
    name: str
    size_bytes: int
    saved_at: datetime


def is_workspace_name(name: str) -> bool:
    return bool(_NAME.match(name)) and not name.endswith(SUFFIX) and ".." not in name


class WorkspaceStore:
    def __init__(self, settings: Settings) -> None:
        self._bucket = settings.s3_bucket
        self._prefix = settings.s3_prefix
        key_id = settings.s3_access_key_id.get_secret_value()
        secret = settings.s3_secret_access_key.get_secret_value()
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url or None,
            region_name=settings.s3_region,
            aws_access_key_id=key_id or None,
            aws_secret_access_key=secret or None,
            config=Config(
                retries={"max_attempts": 5, "mode": "standard"},
                connect_timeout=5,
                read_timeout=60,
                max_pool_connections=max(10, settings.s3_transfer_concurrency * 2),
            ),
        )
        self._transfer = TransferConfig(
            multipart_threshold=8 * 1024 * 1024,
            multipart_chunksize=8 * 1024 * 1024,
            max_concurrency=settings.s3_transfer_concurrency,
        )

    @property
    def configured(self) -> bool:
        return bool(self._bucket)

    def key(self, tenant_id: str, name: str) -> str:
        return f"{self._prefix}{tenant_id}/{name}{SUFFIX}"

    async def _run(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(call, *args, **kwargs)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "?")
            raise StoreError(f"the workspace bucket refused to {what}: {code}") from error
        except BotoCoreError as error:
            raise StoreError(f"the workspace bucket did not answer ({what}): {type(error).__name__}") from error

    async def size_of(self, tenant_id: str, name: str) -> int | None:
        """The saved workspace's size, or None when there is none."""
        try:
            head = await asyncio.to_thread(self._client.head_object, Bucket=self._bucket, Key=self.key(tenant_id, name))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise StoreError(f"the workspace bucket refused to read the workspace: {error}") from error
        except BotoCoreError as error:
            raise StoreError(f"the workspace bucket did not answer: {type(error).__name__}") from error
        return int(head["ContentLength"])

    async def download(self, tenant_id: str, name: str, target: IO[bytes]) -> None:
        await self._run(
            "download the workspace",
            self._client.download_fileobj,
            self._bucket,
            self.key(tenant_id, name),
            target,
            Config=self._transfer,
        )

    async def upload(self, tenant_id: str, name: str, source: IO[bytes]) -> None:
        await self._run(
            "save the workspace",
            self._client.upload_fileobj,
            source,
            self._bucket,
            self.key(tenant_id, name),
            ExtraArgs={"ContentType": "application/x-tar"},
            Config=self._transfer,
        )

    async def list(self, tenant_id: str) -> list[StoredWorkspace]:
        prefix = f"{self._prefix}{tenant_id}/"
        found: list[StoredWorkspace] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            page = await self._run("list the workspaces", self._client.list_objects_v2, **kwargs)
            for item in page.get("Contents") or []:
                name = str(item["Key"])[len(prefix) :]
                if name.endswith(SUFFIX) and "/" not in name:
                    found.append(StoredWorkspace(name[: -len(SUFFIX)], int(item["Size"]), item["LastModified"]))
            if not page.get("IsTruncated"):
                return sorted(found, key=lambda item: item.name)
            token = page.get("NextContinuationToken")

    async def delete(self, tenant_id: str, name: str) -> None:
        await self._run(
            "delete the workspace", self._client.delete_object, Bucket=self._bucket, Key=self.key(tenant_id, name)
        )

    async def ping(self) -> bool:
        try:
            await self._run("read the bucket", self._client.head_bucket, Bucket=self._bucket)
        except StoreError:
            return False
        return True

    def close(self) -> None:
        self._client.close()
