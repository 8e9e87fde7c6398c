"""A stand-in for the Hugging Face Hub's HTTP API on 127.0.0.1, enough for `create_repo` and `upload_folder`.

It answers ``whoami``, repo creation, the card check, pre-upload (every file "regular", so its bytes come inline
in the commit, whatever the client's Xet or LFS settings), commits and repo info, and records every file. It binds
only the loopback address and stops by itself after ``lifetime`` seconds.

    with FakeHub(token="hf_fake") as hub:
        HfApi(endpoint=hub.url, token="hf_fake").upload_folder(...)
        hub.files("me/model")  # {path: bytes}
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

PREFIXES = {"models": "", "datasets": "datasets/", "spaces": "spaces/"}


class FakeHub:
    def __init__(self, token: str = "hf_fake", user: str = "tester", lifetime: float = 120.0):
        self.token, self.user, self.lifetime = token, user, lifetime
        self.repos: dict[tuple[str, str], dict] = {}
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------------------------ lifecycle
    def __enter__(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                hub._handle(self, "GET")

            def do_POST(self):
                hub._handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self._timer = threading.Timer(self.lifetime, self.server.shutdown)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc):
        self._timer.cancel()
        self.server.shutdown()
        self.server.server_close()

    def files(self, repo_id: str, repo_type: str = "model") -> dict[str, bytes]:
        return dict(self.repos[(repo_type, repo_id)]["files"])

    # -------------------------------------------------------------------------------------------------- routing
    def _reply(self, handler, status: int, body: dict, headers: dict | None = None):
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Connection", "close")
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _handle(self, handler, method: str):
        path = urlparse(handler.path).path
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self._lock:
            self.requests.append((method, path))
        if handler.headers.get("Authorization") != f"Bearer {self.token}":
            return self._reply(handler, 401, {"error": "Invalid user token."})
        parts = path.strip("/").split("/")
        if path == "/api/whoami-v2":
            return self._reply(handler, 200, {"name": self.user, "type": "user", "orgs": [],
                                              "auth": {"accessToken": {"role": "write"}}})
        if path == "/api/repos/create" and method == "POST":
            request = json.loads(body)
            kind = (request.get("type") or "model") + "s"
            repo_id = f"{request.get('organization') or self.user}/{request['name']}"
            with self._lock:
                self.repos.setdefault((kind[:-1], repo_id), {"files": {}, "commits": [],
                                                             "private": request.get("visibility") == "private"})
            return self._reply(handler, 200, {"url": f"{self.url}/{PREFIXES[kind]}{repo_id}"})
        if path == "/api/validate-yaml":
            return self._reply(handler, 200, {"errors": [], "warnings": []})
        if len(parts) >= 4 and parts[0] == "api" and parts[1] in PREFIXES:
            kind, repo_id, rest = parts[1][:-1], f"{parts[2]}/{parts[3]}", parts[4:]
            repo = self.repos.get((kind, repo_id))
            if repo is None:
                return self._reply(handler, 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
            if rest and rest[0] == "preupload":
                files = json.loads(body)["files"]
                return self._reply(handler, 200, {"files": [
                    {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None} for f in files]})
            if rest and rest[0] == "commit":
                return self._commit(handler, repo, body, f"{self.url}/{PREFIXES[parts[1]]}{repo_id}")
            return self._reply(handler, 200, {"id": repo_id, "sha": "0" * 40, "siblings": [
                {"rfilename": name} for name in sorted(repo["files"])]})
        return self._reply(handler, 404, {"error": f"not emulated: {method} {path}"})

    def _commit(self, handler, repo: dict, body: bytes, repo_url: str):
        summary = None
        for line in body.decode().splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            value = item["value"]
            if item["key"] == "header":
                summary = value.get("summary")
            elif item["key"] == "file":
                with self._lock:
                    repo["files"][value["path"]] = base64.b64decode(value["content"])
            elif item["key"] == "deletedFile":
                repo["files"].pop(value["path"], None)
        repo["commits"].append(summary)
        oid = hashlib.sha1(str(len(repo["commits"])).encode()).hexdigest()
        return self._reply(handler, 200, {"commitOid": oid, "commitUrl": f"{repo_url}/commit/{oid}",
                                          "pullRequestUrl": None})
