"""Fetching a benchmark: its files from the sources its authors' own code uses, into a cache folder.

    cf-vlm eval --model M --task sugarcrepe,aro --download [--cache-dir DIR] [--force-download]
    get_task("sugarcrepe", download=True).load()        # or BenchmarkSuite(..., download=True)

A task declares its :class:`Sources`: the files to fetch (URL, where it goes in the task's folder, its SHA-256 when
known), archives to unpack, image sets several tasks share (COCO val2014 serves POPE, ARO and retrieval: unpacked once
under ``<cache>/shared/`` and linked into each task's folder), what cannot be fetched automatically (a terms form, a
gated dataset: the exact steps) and its licence, printed once per run.

* A task with no local folder and ``download=True`` is fetched into ``<cache>/<task>/``, in the task's own layout.
* Every file is written to ``<file>.part`` and renamed when whole; a ``.part`` left by a broken connection is resumed
  with an HTTP Range request (within the run, up to ``retries`` times, and by the next run); a progress bar per file.
* The SHA-256 of every fetched file is checked against the declared one and recorded in the folder's
  ``.cf_vlm_download.json``; on reuse every file is hashed again and checked against the record (an unpacked
  archive: each member's size). A mismatch is one line naming the file and its URL; ``force_download=True`` /
  ``--force-download`` fetches it anew.
* A source that is gone or unreachable is one line naming its URL.

Default cache: ``$CF_VLM_BENCHMARKS_CACHE``, else ``$HF_HOME/cf_vlm_hf/benchmarks`` (``~/.cache/huggingface/...``).
``$CF_VLM_BENCHMARKS_MIRROR`` reads every URL from a mirror instead: ``https://host/path`` is fetched from
``<mirror>/host/path`` (an offline copy, an institute's proxy, the tests' local server).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import sys
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass

from tqdm.auto import tqdm

from .files import sha256_file

MANIFEST = ".cf_vlm_download.json"
CACHE_ENV = "CF_VLM_BENCHMARKS_CACHE"
MIRROR_ENV = "CF_VLM_BENCHMARKS_MIRROR"
CHUNK = 1 << 20
_ANNOUNCED: set[str] = set()
_FORCED: set[tuple[str, str]] = set()  # (folder, url) fetched anew in this run: a shared set is forced once


class DownloadError(OSError):
    """A benchmark file that could not be fetched or does not match its record; the message is one line."""


class _Broken(Exception):
    """A transfer that stopped before its end (resumable)."""


@dataclass(frozen=True)
class Source:
    """One file a task fetches.

    Attributes:
        url: where the benchmark's authors' code fetches it.
        path: where it goes, relative to the task's folder (an archive: the folder it is unpacked into).
        sha256: its SHA-256 when known (checked); None: recorded at the first fetch and checked from then on.
        unpack: a zip archive, unpacked into ``path`` (and deleted once unpacked).
        strip: a leading folder of the archive's member names left out (``"val2017/"``), where present.
        shared: the name of an image set several tasks use: unpacked once into ``<cache>/shared/<shared>/`` and linked
            at ``path`` in each task's folder.
    """

    url: str
    path: str
    sha256: str | None = None
    unpack: bool = False
    strip: str = ""
    shared: str | None = None


@dataclass(frozen=True)
class Sources:
    """Where a benchmark comes from.

    Attributes:
        licence: its licence and terms, one line (printed once per run).
        files: the files fetched automatically.
        manual: what cannot be fetched automatically, each the exact steps (printed once per run with the licence).
        hub: a Hub repository the task reads itself (through ``datasets`` / ``huggingface_hub``, with the user's token).
    """

    licence: str
    files: tuple[Source, ...] = ()
    manual: tuple[str, ...] = ()
    hub: str | None = None


# Image sets several tasks read: fetched once into <cache>/shared/ (cocodataset.org/#download gives these links).
COCO_TERMS = "COCO images: Flickr terms of use; COCO annotations: CC BY 4.0 (cocodataset.org/#termsofuse)"
COCO_VAL2014 = Source("http://images.cocodataset.org/zips/val2014.zip", "val2014", unpack=True, strip="val2014/",
                      shared="coco-val2014")
COCO_VAL2017 = Source("http://images.cocodataset.org/zips/val2017.zip", "val2017", unpack=True, strip="val2017/",
                      shared="coco-val2017")


def default_cache_dir() -> str:
    """``$CF_VLM_BENCHMARKS_CACHE``, else ``<HF_HOME>/cf_vlm_hf/benchmarks``."""
    if os.environ.get(CACHE_ENV):
        return os.path.expanduser(os.environ[CACHE_ENV])
    from huggingface_hub import constants

    return os.path.join(constants.HF_HOME, "cf_vlm_hf", "benchmarks")


def mirrored(url: str, mirror: str | None = None) -> str:
    """``url`` as read from ``mirror`` (default ``$CF_VLM_BENCHMARKS_MIRROR``): ``<mirror>/<host>/<path>?<query>``."""
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV)
    if not mirror:
        return url
    parts = urllib.parse.urlsplit(url)
    return f"{mirror.rstrip('/')}/{parts.netloc}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def announce(task: str, sources: Sources, folder: str) -> None:
    """Print the benchmark's licence and what must be fetched by hand, once per run (to stderr)."""
    if task in _ANNOUNCED:
        return
    _ANNOUNCED.add(task)
    print(f"{task}: licence and terms: {sources.licence}", file=sys.stderr)
    for step in sources.manual:
        print(f"{task}: not fetched automatically: {step.format(folder=folder)}", file=sys.stderr)


def fetch_task(task: str, sources: Sources, folder_name: str | None = None, cache_dir: str | None = None,
               force: bool = False, progress: bool = True, retries: int = 2, mirror: str | None = None) -> str:
    """Fetch (or check) every file of ``sources`` into ``<cache_dir>/<folder_name>``; return that folder."""
    cache = os.path.abspath(os.path.expanduser(cache_dir or default_cache_dir()))
    folder = os.path.join(cache, folder_name or task)
    os.makedirs(folder, exist_ok=True)
    announce(task, sources, folder)
    fetcher = _Fetcher(task, force, progress, retries, mirror)
    for source in sources.files:
        if source.shared:
            link = os.path.join(folder, source.path)
            if os.path.isdir(link) and not os.path.islink(link):
                continue  # the user's own copy of the image set: used as it is
            shared = os.path.join(cache, "shared", source.shared)
            fetcher.ensure(source, shared, "")
            _link(shared, link)
        else:
            fetcher.ensure(source, folder, source.path)
    return folder


def _link(target: str, link: str) -> None:
    """``link`` -> ``target`` (a symbolic link; hard-linked copies where links cannot be made)."""
    if os.path.islink(link) and os.path.realpath(link) == os.path.realpath(target):
        return
    if os.path.lexists(link):
        if os.path.isdir(link):
            return  # the user's own folder: left as it is
        os.remove(link)
    os.makedirs(os.path.dirname(link), exist_ok=True)
    try:
        os.symlink(target, link, target_is_directory=True)
    except OSError:
        try:
            shutil.copytree(target, link, copy_function=os.link)
        except OSError:
            shutil.copytree(target, link)


def _read_manifest(folder: str) -> dict:
    path = os.path.join(folder, MANIFEST)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _write_manifest(folder: str, manifest: dict) -> None:
    path = os.path.join(folder, MANIFEST)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    os.replace(path + ".tmp", path)


class _Fetcher:
    def __init__(self, task: str, force: bool, progress: bool, retries: int, mirror: str | None):
        self.task, self.force, self.progress, self.retries, self.mirror = task, force, progress, retries, mirror

    def ensure(self, source: Source, base: str, path: str) -> None:
        """``source`` in place under ``base`` (fetched, or checked against its record)."""
        os.makedirs(base, exist_ok=True)
        manifest = _read_manifest(base)
        record = manifest.get(source.url)
        force = self.force and (base, source.url) not in _FORCED
        if record is not None and not force and self._check(source, base, record):
            return
        if force:
            _FORCED.add((base, source.url))
        if source.unpack:
            record = self._fetch_archive(source, base, path)
        else:
            dest = os.path.join(base, path)
            if os.path.isfile(dest) and record is None and not force:
                digest = sha256_file(dest)  # a file already there (the user's copy): adopted when it matches
                self._expect(source, digest, dest)
            else:
                digest = self._download(source, dest)
            record = {"path": path, "sha256": digest, "bytes": os.path.getsize(dest)}
        manifest = _read_manifest(base)
        manifest[source.url] = record
        _write_manifest(base, manifest)

    def _check(self, source: Source, base: str, record: dict) -> bool:
        """Whether what ``record`` describes is intact (a DownloadError naming the file when it is not)."""
        again = "run again with --force-download (force_download=True) to fetch it anew"
        if "members" in record:
            for name, size in record["members"].items():
                member = os.path.join(base, record["path"], name)
                if not os.path.isfile(member) or os.path.getsize(member) != size:
                    raise DownloadError(f"{self.task}: {member}, unpacked from {source.url}, is missing or changed "
                                        f"since it was fetched; {again}")
            return True
        dest = os.path.join(base, record["path"])
        if not os.path.isfile(dest):
            return False  # deleted: fetched again
        if sha256_file(dest) != record["sha256"]:
            raise DownloadError(f"{self.task}: {dest} does not match the SHA-256 recorded when it was fetched from "
                                f"{source.url} (changed or corrupted on disk); {again}")
        return True

    def _expect(self, source: Source, digest: str, path: str) -> None:
        if source.sha256 and digest != source.sha256:
            raise DownloadError(f"{self.task}: {path} from {source.url} has SHA-256 {digest}, expected "
                                f"{source.sha256} (the source changed or the transfer was corrupted); it was not kept, "
                                "run again to fetch it anew")

    def _download(self, source: Source, dest: str) -> str:
        os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
        part = dest + ".part"
        if self.force and os.path.exists(part):
            os.remove(part)
        name = os.path.basename(urllib.parse.urlsplit(source.url).path)
        label = name if os.path.splitext(name)[1] else os.path.basename(source.path.rstrip("/")) or name
        for attempt in range(self.retries + 1):
            try:
                self._transfer(source.url, part, label)
                break
            except _Broken as err:
                if attempt == self.retries:
                    raise DownloadError(f"{self.task}: the download of {source.url} broke off ({err}); {part} keeps "
                                        "what arrived: run the same command again to resume it") from None
        digest = sha256_file(part)
        try:
            self._expect(source, digest, dest)
        except DownloadError:
            os.remove(part)
            raise
        os.replace(part, dest)
        return digest

    def _transfer(self, url: str, part: str, label: str) -> None:
        offset = os.path.getsize(part) if os.path.isfile(part) else 0
        headers = {"User-Agent": "cf-vlm-hf (benchmark download)"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        request = urllib.request.Request(mirrored(url, self.mirror), headers=headers)
        try:
            response = urllib.request.urlopen(request, timeout=60)
        except urllib.error.HTTPError as err:
            if err.code == 416 and offset:  # the range asked for does not exist: start over
                os.remove(part)
                raise _Broken("the partial file did not fit the source; starting over") from None
            raise DownloadError(f"{self.task}: {url} answered HTTP {err.code} ({err.reason}): the source is gone or "
                                "has moved (docs/evaluation.md lists every source)") from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise DownloadError(f"{self.task}: {url} could not be reached ({reason}); check the connection, or set "
                                f"{MIRROR_ENV} to a mirror") from None
        with response:
            if offset and response.status != 206:
                offset = 0  # the server ignored the range: the whole file comes again
            if response.headers.get_content_type() == "text/html" and not url.endswith((".html", ".htm")):
                raise DownloadError(f"{self.task}: {url} served a web page instead of the file (a sign-in, quota or "
                                    f"confirmation page); fetch it in a browser and put it at {part[:-5]}")
            length = response.headers.get("Content-Length")
            total = offset + int(length) if length and length.isdigit() else None
            bar = tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
                       disable=not self.progress, leave=False)
            with bar, open(part, "ab" if offset else "wb") as f:
                try:
                    for chunk in iter(lambda: response.read(CHUNK), b""):
                        f.write(chunk)
                        bar.update(len(chunk))
                except (http.client.HTTPException, OSError) as err:
                    raise _Broken(str(err) or type(err).__name__) from None
        size = os.path.getsize(part)
        if total is not None and size < total:
            raise _Broken(f"{size:,} of {total:,} bytes arrived")

    def _fetch_archive(self, source: Source, base: str, path: str) -> dict:
        name = os.path.basename(source.path.rstrip("/")) or "archive"
        archive = os.path.join(base, f".{name}-{_short(source.url)}.zip")
        digest = self._download(source, archive)
        target = os.path.join(base, path)
        members = {}
        try:
            with zipfile.ZipFile(archive) as zipped:
                infos = [info for info in zipped.infolist() if not info.is_dir()]
                for info in tqdm(infos, desc=f"unpacking {os.path.basename(source.path.rstrip('/')) or 'archive'}",
                                 unit="file", disable=not self.progress, leave=False):
                    relative = info.filename[len(source.strip):] if source.strip and info.filename.startswith(
                        source.strip) else info.filename
                    clean = os.path.normpath(relative)
                    if os.path.isabs(clean) or clean.startswith(".."):
                        raise DownloadError(f"{self.task}: {source.url}: the archive holds a path outside its folder "
                                            f"({info.filename!r}); not unpacked")
                    dest = os.path.join(target, clean)
                    os.makedirs(os.path.dirname(dest), exist_ok=True)
                    with zipped.open(info) as src, open(dest, "wb") as out:
                        shutil.copyfileobj(src, out, CHUNK)
                    members[clean.replace(os.sep, "/")] = info.file_size
        except zipfile.BadZipFile as err:
            os.remove(archive)
            raise DownloadError(f"{self.task}: {source.url} is not a readable zip archive ({err}); run again to fetch "
                                "it anew") from None
        os.remove(archive)
        return {"path": path, "sha256": digest, "members": members}


def _short(url: str) -> str:
    import hashlib

    return hashlib.sha256(url.encode()).hexdigest()[:8]
