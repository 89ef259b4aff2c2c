"""A real SeaweedFS S3 server for tests: ``weed mini`` on 127.0.0.1, data in a temporary folder.

``SeaweedS3`` starts the server with one identity whose credentials it enforces, creates a bucket,
and can be stopped and started again on the same ports and data (for "server went away" tests).
Every port is picked free on 127.0.0.1 and every listener binds to it only; nothing is left
running after ``stop()`` (the whole process group is killed).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.ports import start_on_free_ports

ROOT = Path(__file__).resolve().parents[1]
WEED = ROOT / ".venv" / "bin" / "weed"
HOST = "127.0.0.1"
START_TIMEOUT_S = 90.0

# weed mini's listeners: each gets its own free port so parallel test sessions never collide.
PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
    "webdav.port",
    "debug.port",
    "s3.debug.port",
)


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to SIGTERM weed if the test process dies (no orphan
    even when pytest is killed)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: stop() still ends the server on every normal exit


class ServerExited(RuntimeError):
    """weed stopped on its own while starting (e.g. a port was taken)."""


@dataclass
class SeaweedS3:
    """One SeaweedFS ``weed mini`` process serving S3 with enforced credentials."""

    workdir: Path
    bucket: str = "tradeforge-test"
    access_key: str = field(default_factory=lambda: "AK" + secrets.token_hex(8).upper())
    secret_key: str = field(default_factory=lambda: secrets.token_hex(20))
    reader_key: str = field(default_factory=lambda: "RO" + secrets.token_hex(8).upper())
    """A second identity that may only read and list (a store that refuses writes)."""
    reader_secret: str = field(default_factory=lambda: secrets.token_hex(20))
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def endpoint_url(self) -> str:
        """The S3 endpoint, e.g. ``http://127.0.0.1:41234``."""
        return f"http://{HOST}:{self.ports['s3.port']}"

    def env(self) -> dict[str, str]:
        """AWS_* variables pointing a client at this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint_url,
        }

    def _write_config(self) -> Path:
        config = {
            "identities": [
                {
                    "name": "tradeforge",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                },
                {
                    "name": "reader",
                    "credentials": [
                        {"accessKey": self.reader_key, "secretKey": self.reader_secret}
                    ],
                    "actions": ["Read", "List"],
                },
            ]
        }
        path = self.workdir / "s3.json"
        path.write_text(json.dumps(config))
        path.chmod(0o600)
        return path

    def start(self) -> None:
        """Start the server (same ports and data on a restart) and wait until S3 answers.

        On the first start, a port taken between ``free_port()`` and weed's bind (another
        process won the race) makes weed exit; new ports are drawn, up to three times.
        """
        if self.process is not None and self.process.poll() is None:
            return
        if self.ports:
            self._launch()
            return

        def launch(ports: list[int]) -> None:
            self.ports = dict(zip(PORT_FLAGS, ports, strict=True))
            self._launch()

        # weed exits when any of its 13 listeners cannot bind: every exit counts as a lost port.
        start_on_free_ports(
            launch, len(PORT_FLAGS), retry_if=lambda exc, _: isinstance(exc, ServerExited)
        )

    def _launch(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        data = self.workdir / "data"
        data.mkdir(exist_ok=True)
        config = self._write_config()
        args = [
            str(WEED),
            "mini",
            f"-dir={data}",
            f"-ip={HOST}",
            f"-ip.bind={HOST}",
            f"-s3.config={config}",
            f"-bucket={self.bucket}",
            "-admin.ui=false",
            "-webdav=false",
            "-master.telemetry=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
        ]
        log = (self.workdir / "weed.log").open("ab")
        self.process = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            start_new_session=True,  # its own process group: stop() kills every child with it
            preexec_fn=_die_with_parent,
        )
        log.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        last = ""
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise ServerExited(f"weed mini exited with {code}: {self.log()}")
            if self._bucket_ready():
                return
            last = "S3 not answering yet"
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"weed mini not ready after {START_TIMEOUT_S}s ({last}): {self.log()}")

    def _bucket_ready(self) -> bool:
        """True once an authenticated request for the bucket succeeds."""
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5),
        )
        try:
            client.head_bucket(Bucket=self.bucket)
            # The bucket answers before the volume server has joined: only a real write and
            # read-back of an object proves the server can serve tests.
            probe = "readiness-probe"
            client.put_object(Bucket=self.bucket, Key=probe, Body=b"ok")
            ok = client.get_object(Bucket=self.bucket, Key=probe)["Body"].read() == b"ok"
            client.delete_object(Bucket=self.bucket, Key=probe)
            return ok
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket"):
                # weed mini's -bucket may create it between our HEAD and this call: then it
                # answers BucketAlreadyOwnedByYou, and the next look finds the bucket.
                with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                    client.create_bucket(Bucket=self.bucket)
            return False
        except (BotoCoreError, urllib.error.URLError, OSError):
            return False

    def stop(self, *, keep_data: bool = True) -> None:
        """Kill the server's whole process group and wait for it.

        ``keep_data``: SIGTERM, so a later ``start()`` finds every object (weed may take 10 s
        or more to shut down so); False for a server whose data is thrown away: SIGKILL at once.
        """
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM if keep_data else signal.SIGKILL)
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)
            except ProcessLookupError:
                pass
        self.process = None

    def log(self, tail: int = 2000) -> str:
        """The end of the server's log, for error messages."""
        path = self.workdir / "weed.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    def __enter__(self) -> SeaweedS3:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(keep_data=False)  # the server is done with: its data is not read again
