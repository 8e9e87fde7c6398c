"""`--download` against a local stand-in of every source (an HTTP server on 127.0.0.1, never the internet): each task's
declared files, served in its own layout, arrive in the cache and load as the original folder does; a broken
connection resumes with a Range request; a file changed on disk, a source that is gone and a file that does not match
its declared SHA-256 are one line naming the file and the URL; licences print once; what cannot be fetched says how."""

import hashlib
import http.server
import io
import json
import os
import shutil
import threading
import urllib.parse
import zipfile
from dataclasses import replace

import pytest
from testing_utils.benchmark_layouts import write_aro, write_pope, write_vl_checklist_authors
from testing_utils.benchmarks import save_photo, write_json, write_sugarcrepe

from cf_vlm_hf.cli import main
from cf_vlm_hf.evaluation import TASKS, get_task
from cf_vlm_hf.evaluation.tasks import download
from cf_vlm_hf.evaluation.tasks.download import MANIFEST, DownloadError, fetch_task


class StandIn:
    """Serves byte strings at the paths a mirror maps URLs to (``/<host>/<path>?<query>``), with Range requests; can
    cut a response midway, once; records every request (path, Range header)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.cut_once: set[str] = set()
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                stand_in.requests.append((self.path, self.headers.get("Range")))
                body = stand_in.files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if self.path in stand_in.cut_once:
                    stand_in.cut_once.discard(self.path)
                    self.wfile.write(body[start : start + (len(body) - start) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body[start:])

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def key(url: str) -> str:
        parts = urllib.parse.urlsplit(url)
        return f"/{parts.netloc}{parts.path}" + (f"?{parts.query}" if parts.query else "")

    def requested(self, url: str) -> list:
        return [rng for path, rng in self.requests if path == self.key(url)]


def zip_folder(folder: str, prefix: str) -> dict[str, bytes]:
    members = {}
    for dirpath, _, filenames in os.walk(folder):
        for filename in filenames:
            path = os.path.join(dirpath, filename)
            with open(path, "rb") as f:
                members[prefix + os.path.relpath(path, folder).replace(os.sep, "/")] = f.read()
    return members


def publish(stand_in: StandIn, origins: dict[str, str], monkeypatch) -> None:
    """Serve each task's declared sources from a folder in its own layout (archives zipped from the folder they unpack
    into; one archive for an image set several tasks share), and declare the served bytes' SHA-256."""
    archives: dict[str, dict[str, bytes]] = {}
    for name, origin in origins.items():
        for source in TASKS[name].sources.files:
            local = os.path.join(origin, source.path)
            if source.unpack:
                archives.setdefault(source.url, {}).update(zip_folder(local, source.strip))
            elif os.path.isfile(local):
                with open(local, "rb") as f:
                    stand_in.files[stand_in.key(source.url)] = f.read()
            else:  # a file of the benchmark this small copy does not have: one entry whose image is there
                write_json(local, [["VG_100K/2372476.jpg", {"POS": ["a filler"], "NEG": ["a fuller"]}]])
                with open(local, "rb") as f:
                    stand_in.files[stand_in.key(source.url)] = f.read()
    for url, members in archives.items():
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zipped:
            for member, data in sorted(members.items()):
                zipped.writestr(member, data)
        stand_in.files[stand_in.key(url)] = buffer.getvalue()
    for name in origins:
        sources = TASKS[name].sources
        files = tuple(replace(s, sha256=hashlib.sha256(stand_in.files[stand_in.key(s.url)]).hexdigest())
                      for s in sources.files)
        monkeypatch.setattr(TASKS[name], "sources", replace(sources, files=files))
    monkeypatch.setenv(download.MIRROR_ENV, stand_in.base)
    monkeypatch.setattr(download, "_ANNOUNCED", set())


def write_retrieval_blip(root: str) -> None:
    """BLIP's Karpathy test format: [{image: val2014/..., caption: [...]}]."""
    entries = []
    for i, name in enumerate(("astronaut", "coffee", "chelsea")):
        image = f"val2014/COCO_val2014_{100 + i:012d}.jpg"
        save_photo(name, os.path.join(root, image))
        entries.append({"image": image, "caption": [f"a photo of {name}", f"{name}, photographed"]})
    write_json(os.path.join(root, "coco_karpathy_test.json"), entries)


@pytest.fixture
def stand_in():
    server = StandIn()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def origins(tmp_path):
    """Each task's small copy, in its own layout (ARO with the Karpathy file its Order cases are built from)."""
    root = tmp_path / "origin"
    paths = {name: str(root / name) for name in ("sugarcrepe", "pope", "aro", "vl-checklist", "retrieval")}
    write_sugarcrepe(paths["sugarcrepe"])
    write_pope(paths["pope"])
    write_retrieval_blip(paths["retrieval"])
    write_aro(paths["aro"])
    os.remove(os.path.join(paths["aro"], "coco_order.json"))  # Order cases from BLIP's file, the one retrieval reads
    shutil.copy(os.path.join(paths["retrieval"], "coco_karpathy_test.json"), os.path.join(paths["aro"], "coco"))
    shutil.copytree(os.path.join(paths["retrieval"], "val2014"), os.path.join(paths["aro"], "coco", "val2014"),
                    dirs_exist_ok=True)
    write_vl_checklist_authors(paths["vl-checklist"])
    shutil.rmtree(os.path.join(paths["vl-checklist"], "hake"))  # fetched by hand: absent in both copies
    return paths


@pytest.fixture
def whitespace_tagger(monkeypatch):
    """ARO's Order cases need spaCy (not installed here): a tagger calling every word a noun."""
    from cf_vlm_hf.evaluation.tasks import aro

    monkeypatch.setattr(aro, "spacy_tagger", lambda: lambda text: (text.split(), ["NN"] * len(text.split())))


def test_every_task_arrives_in_its_layout_from_its_declared_sources(stand_in, origins, tmp_path, monkeypatch,
                                                                   capsys, whitespace_tagger):
    publish(stand_in, origins, monkeypatch)
    cache = str(tmp_path / "cache")
    for name, origin in origins.items():
        skip = "skip" if name == "vl-checklist" else "error"  # its HAKE images are fetched by hand
        fetched = get_task(name, download=True, cache_dir=cache, missing_images=skip).load()
        original = get_task(name, origin, missing_images=skip).load()
        assert fetched.source == os.path.join(cache, name)
        assert {k: len(v) for k, v in fetched.subsets.items()} == {k: len(v) for k, v in original.subsets.items()}
        assert fetched.exclusions == original.exclusions
        with open(os.path.join(cache, name, MANIFEST), encoding="utf-8") as f:
            manifest = json.load(f)
        own = [s for s in TASKS[name].sources.files if not s.shared]
        assert {s.url: s.sha256 for s in own} == {url: manifest[url]["sha256"] for url in (s.url for s in own)}
    # COCO val2014 serves POPE, ARO and retrieval: fetched once, unpacked once, linked into each folder
    val2014 = next(s for s in TASKS["pope"].sources.files if s.shared == "coco-val2014")
    assert stand_in.requested(val2014.url) == [None]
    for link in ("pope/val2014", "aro/coco/val2014", "retrieval/val2014"):
        assert os.path.realpath(os.path.join(cache, link)) == os.path.join(cache, "shared", "coco-val2014")
    err = capsys.readouterr().err
    assert err.count("sugarcrepe: licence and terms: SugarCrepe annotations: MIT") == 1
    assert "vl-checklist: not fetched automatically: HAKE images" in err
    assert "aro: not fetched automatically: Flickr30k-Order" in err and "forms.illinois.edu" in err
    # a second run reuses the cache (every file checked, nothing fetched) and prints no licence again
    count = len(stand_in.requests)
    assert get_task("sugarcrepe", download=True, cache_dir=cache).load().item_count == 21
    assert len(stand_in.requests) == count and "licence" not in capsys.readouterr().err


def test_a_broken_connection_resumes_with_a_range_request(stand_in, origins, tmp_path, monkeypatch):
    publish(stand_in, {"sugarcrepe": origins["sugarcrepe"]}, monkeypatch)
    source = TASKS["sugarcrepe"].sources.files[0]
    stand_in.cut_once.add(stand_in.key(source.url))
    cache = str(tmp_path / "cache")
    with pytest.raises(DownloadError) as err:
        fetch_task("sugarcrepe", TASKS["sugarcrepe"].sources, cache_dir=cache, retries=0, progress=False)
    message = str(err.value)
    assert f"the download of {source.url} broke off" in message and "run the same command again to resume" in message
    assert "\n" not in message
    part = os.path.join(cache, "sugarcrepe", "add_att.json.part")
    size = len(stand_in.files[stand_in.key(source.url)])
    assert 0 < os.path.getsize(part) < size
    first = os.path.getsize(part)
    data = get_task("sugarcrepe", download=True, cache_dir=cache).load()  # the next run
    assert stand_in.requested(source.url) == [None, f"bytes={first}-"]
    assert data.item_count == 21 and not os.path.exists(part)
    assert data.files[os.path.join(cache, "sugarcrepe", "add_att.json")] == \
        hashlib.sha256(stand_in.files[stand_in.key(source.url)]).hexdigest()


def test_a_file_changed_on_disk_is_named_with_its_url_and_force_download_fetches_it_anew(stand_in, origins, tmp_path,
                                                                                         monkeypatch, capsys):
    publish(stand_in, {"sugarcrepe": origins["sugarcrepe"]}, monkeypatch)
    cache = str(tmp_path / "cache")
    get_task("sugarcrepe", download=True, cache_dir=cache).load()
    path = os.path.join(cache, "sugarcrepe", "swap_obj.json")
    with open(path, "a", encoding="utf-8") as f:
        f.write(" ")
    url = next(s.url for s in TASKS["sugarcrepe"].sources.files if s.path == "swap_obj.json")
    capsys.readouterr()
    status = main(["eval", "--model", str(tmp_path / "no-model"), "--task", "sugarcrepe", "--download", "--cache-dir",
                   cache, "--no-progress"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("cf-vlm eval: error:")]
    assert status == 2 and err == [(
        f"cf-vlm eval: error: sugarcrepe: {path} does not match the SHA-256 recorded when it was fetched from {url} "
        "(changed or corrupted on disk); run again with --force-download (force_download=True) to fetch it anew")]
    data = get_task("sugarcrepe", download=True, cache_dir=cache, force_download=True).load()
    assert data.item_count == 21 and len(stand_in.requested(url)) == 2
    # an unpacked image that changed: named with the archive it came from
    shared = os.path.join(cache, "shared", "coco-val2017")
    image = os.path.join(shared, min(f for f in os.listdir(shared) if f.endswith(".jpg")))
    with open(image, "ab") as f:
        f.write(b"junk")
    with pytest.raises(DownloadError, match=r"val2017\.zip, is missing or changed since it was fetched; run again "
                                            r"with --force-download"):
        get_task("sugarcrepe", download=True, cache_dir=cache).load()


def test_a_gone_source_and_a_wrong_checksum_are_one_line_naming_the_url(stand_in, origins, tmp_path, monkeypatch,
                                                                        capsys):
    publish(stand_in, {"pope": origins["pope"]}, monkeypatch)
    gone = TASKS["pope"].sources.files[1]
    del stand_in.files[stand_in.key(gone.url)]
    cache = str(tmp_path / "cache")
    status = main(["eval", "--model", "x", "--task", "pope", "--download", "--cache-dir", cache, "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2 and (f"cf-vlm eval: error: pope: {gone.url} answered HTTP 404 (Not Found): the source is gone "
                            "or has moved") in err and "Traceback" not in err
    sources = TASKS["pope"].sources
    monkeypatch.setattr(TASKS["pope"], "sources", replace(sources, files=(replace(sources.files[0], sha256="0" * 64),)))
    with pytest.raises(DownloadError) as error:
        get_task("pope", download=True, cache_dir=str(tmp_path / "other")).load()
    assert f"from {sources.files[0].url} has SHA-256 " in str(error.value) and "expected 0000" in str(error.value)
    folder = os.path.join(tmp_path, "other", "pope")
    assert not any(name.startswith("coco_pope_random") for name in os.listdir(folder))  # neither kept nor .part


def test_gated_winoground_says_exactly_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(download, "_ANNOUNCED", set())
    with pytest.raises(FileNotFoundError) as err:
        get_task("winoground", download=True, cache_dir=str(tmp_path / "cache")).load()
    message = str(err.value)
    assert "\n" not in message and "1) accept its terms at https://huggingface.co/datasets/facebook/winoground" in \
        message and "2) log in here (`hf auth login`, or HF_TOKEN, or --task-option winoground.token=hf_...)" in message
    assert "winoground: licence and terms: Winoground: research use only" in capsys.readouterr().err


def test_the_default_cache_follows_hf_home(tmp_path, monkeypatch):
    monkeypatch.delenv(download.CACHE_ENV, raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HOME", str(tmp_path / "hf"))
    assert download.default_cache_dir() == str(tmp_path / "hf" / "cf_vlm_hf" / "benchmarks")
    monkeypatch.setenv(download.CACHE_ENV, str(tmp_path / "mine"))
    assert get_task("sugarcrepe").cache_folder() == str(tmp_path / "mine" / "sugarcrepe")
    with pytest.raises(FileNotFoundError, match=r"; or pass --download \(download=True\) to fetch it$"):
        get_task("sugarcrepe").load(str(tmp_path))
