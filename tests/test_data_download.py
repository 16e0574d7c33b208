"""Download helpers, offline only: the hub is stubbed, URLs are file:// ones."""

from __future__ import annotations

import io
import tarfile
import urllib.request
import zipfile

import huggingface_hub
import pytest
from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

from llmcal.data import download
from llmcal.data.download import (
    DownloadError,
    download_dataset,
    hub_files,
    hub_snapshot,
    url_file,
)

HINT = "source: local"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any hub call a test does not stub fails loudly instead of going online."""

    def forbidden(*args, **kwargs):
        raise AssertionError("a test reached the network")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", forbidden)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", forbidden)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


def fake_hf_hub_download(calls):
    def fetch(*, repo_id, filename, repo_type, revision, local_dir):
        calls.append((repo_id, filename, repo_type, revision))
        path = local_dir / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{repo_id}:{filename}")
        return str(path)

    return fetch


@pytest.mark.parametrize("value", ["1", "true", "YES", "on"])
def test_offline_env_refuses_hub_download_with_hint(monkeypatch, tmp_path, value):
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    dest = tmp_path / "mmlu"

    with pytest.raises(DownloadError) as caught:
        download_dataset({"source": "hub", "repo": "cais/mmlu", "files": ["all/test-00000-of-00001.parquet"]}, dest)

    message = str(caught.value)
    assert "cais/mmlu" in message and str(dest) in message
    assert "machine with internet access" in message and HINT in message


def test_offline_env_refuses_snapshot_and_remote_url(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    with pytest.raises(DownloadError, match="cais/mmlu"):
        hub_snapshot("cais/mmlu", tmp_path, ["all/*"])
    with pytest.raises(DownloadError, match=r"https://example\.org/data\.tar.*source: local"):
        url_file("https://example.org/data.tar", tmp_path / "data.tar")


@pytest.mark.parametrize("value", ["0", "false", ""])
def test_false_offline_values_allow_hub_download(monkeypatch, tmp_path, value):
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    calls = []
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_hf_hub_download(calls))

    paths = hub_files("cais/mmlu", ["all/dev.parquet", "all/test.parquet"], tmp_path, revision="abc")

    assert paths == [tmp_path / "all" / "dev.parquet", tmp_path / "all" / "test.parquet"]
    assert calls == [
        ("cais/mmlu", "all/dev.parquet", "dataset", "abc"),
        ("cais/mmlu", "all/test.parquet", "dataset", "abc"),
    ]


@pytest.mark.parametrize(
    "error",
    [
        OfflineModeIsEnabled("offline"),
        LocalEntryNotFoundError("cannot reach the hub and nothing cached"),
        ConnectionError("connection refused"),
        TimeoutError("timed out"),
    ],
)
def test_unreachable_hub_becomes_download_error(monkeypatch, tmp_path, error):
    def unreachable(**kwargs):
        raise error

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", unreachable)

    with pytest.raises(DownloadError, match=r"dataset EleutherAI/pile.*source: local") as caught:
        hub_files("EleutherAI/pile", ["val.jsonl.zst"], tmp_path)
    assert caught.value.__cause__ is error


def test_hub_errors_that_are_not_about_the_network_pass_through(monkeypatch, tmp_path):
    def broken(**kwargs):
        raise ValueError("bad filename")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", broken)

    with pytest.raises(ValueError, match="bad filename"):
        hub_files("cais/mmlu", ["x"], tmp_path)


def test_snapshot_returns_the_matching_files(monkeypatch, tmp_path):
    seen = {}

    def snapshot(*, repo_id, repo_type, revision, local_dir, allow_patterns):
        seen.update(repo_id=repo_id, repo_type=repo_type, allow_patterns=allow_patterns)
        for name in ["all/dev-00000.parquet", "all/test-00000.parquet", ".cache/huggingface/all/x.parquet"]:
            (local_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (local_dir / name).write_text(name)
        return str(local_dir)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot)
    (tmp_path / "other.txt").write_text("left over from before")

    paths = download_dataset({"source": "hub", "repo": "cais/mmlu", "allow_patterns": ["all/*"], "n": 5}, tmp_path)

    assert paths == [tmp_path / "all" / "dev-00000.parquet", tmp_path / "all" / "test-00000.parquet"]
    assert seen == {"repo_id": "cais/mmlu", "repo_type": "dataset", "allow_patterns": ["all/*"]}


def test_file_url_download(tmp_path):
    source = tmp_path / "src" / "val.jsonl"
    source.parent.mkdir()
    source.write_bytes(b'{"text": "x"}\n' * 1000)
    dest_dir = tmp_path / "raw" / "pile"

    paths = download_dataset({"source": "url", "url": source.as_uri(), "unzip": False}, dest_dir)

    assert paths == [dest_dir / "val.jsonl"]
    assert paths[0].read_bytes() == source.read_bytes()
    assert sorted(p.name for p in dest_dir.iterdir()) == ["val.jsonl"]


def test_file_url_download_is_allowed_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = tmp_path / "a.txt"
    source.write_text("local")

    assert url_file(source.as_uri(), tmp_path / "out" / "a.txt") == [tmp_path / "out" / "a.txt"]


def test_file_url_download_unzips(tmp_path):
    archive = tmp_path / "TREx.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("TREx/re-nlg_0-10000.json", "[]")
        zf.writestr("TREx/re-nlg_10000-20000.json", "[]")
    dest = tmp_path / "trex"

    paths = download_dataset({"source": "url", "url": archive.as_uri(), "unzip": True}, dest)

    assert paths == [dest / "TREx" / "re-nlg_0-10000.json", dest / "TREx" / "re-nlg_10000-20000.json"]
    assert all(p.read_text() == "[]" for p in paths)
    assert sorted(p.name for p in dest.iterdir()) == ["TREx"]


def test_file_url_download_unpacks_tar(tmp_path):
    archive = tmp_path / "data.tar"
    with tarfile.open(archive, "w") as tf:
        payload = b"q,a,b,c,d,A\n"
        info = tarfile.TarInfo("data/dev/anatomy_dev.csv")
        info.size = len(payload)
        tf.addfile(info, io.BytesIO(payload))

    paths = url_file(archive.as_uri(), tmp_path / "mmlu", unzip=True)

    assert paths == [tmp_path / "mmlu" / "data" / "dev" / "anatomy_dev.csv"]
    assert paths[0].read_bytes() == b"q,a,b,c,d,A\n"


def test_unzip_refuses_members_outside_dest(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../escaped.txt", "x")

    with pytest.raises(ValueError, match="outside"):
        url_file(archive.as_uri(), tmp_path / "out", unzip=True)
    assert not (tmp_path / "escaped.txt").exists()


def test_unzip_refuses_a_plain_file(tmp_path):
    source = tmp_path / "plain.txt"
    source.write_text("not an archive")

    with pytest.raises(ValueError, match="neither a zip nor a tar"):
        url_file(source.as_uri(), tmp_path / "out", unzip=True)
    assert list((tmp_path / "out").iterdir()) == []


def test_missing_file_url_names_url_and_destination(tmp_path):
    url = (tmp_path / "absent.zip").as_uri()

    with pytest.raises(DownloadError) as caught:
        url_file(url, tmp_path / "dest.zip")

    assert url in str(caught.value) and str(tmp_path / "dest.zip") in str(caught.value)
    assert HINT in str(caught.value)
    assert not (tmp_path / "dest.zip").exists()


def test_url_downloads_always_carry_a_timeout(monkeypatch, tmp_path):
    seen = {}

    def stalled(url, timeout=None):
        seen["timeout"] = timeout
        raise TimeoutError("timed out")

    monkeypatch.setattr(urllib.request, "urlopen", stalled)

    with pytest.raises(DownloadError, match="timed out"):
        download_dataset({"source": "url", "url": "https://example.org/TREx.zip", "unzip": True}, tmp_path)
    assert seen["timeout"] == download.DEFAULT_TIMEOUT_S > 0


@pytest.mark.parametrize("source", ["ftp", "local", None])
def test_unknown_source_is_refused(tmp_path, source):
    with pytest.raises(ValueError, match=f"unknown download source {source!r}"):
        download_dataset({"source": source, "url": "x"}, tmp_path)


def test_incomplete_specs_are_refused(tmp_path):
    with pytest.raises(ValueError, match="'files' or 'allow_patterns'"):
        download_dataset({"source": "hub", "repo": "cais/mmlu"}, tmp_path)
    with pytest.raises(ValueError, match="needs 'url'"):
        download_dataset({"source": "url"}, tmp_path)
