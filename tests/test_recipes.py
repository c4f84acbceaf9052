"""The declarative recipes under datasets/: they load, agree with the CLI and the
published facts, and malformed ones fail with the file and field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark import paths
from benchmark.errors import UserError
from benchmark.recipes import describe_datasets, load_recipe, recipe_names


def test_every_recipe_is_valid():
    for name in recipe_names():
        r = load_recipe(name)
        assert r.name == name and r.expect and r.sources
        folder = paths.DATASETS_DIR / name
        assert {"manifest.toml", "checksums.toml", "README.md"} <= {p.name for p in folder.iterdir()}
        if any(s.kind == "http" for s in r.sources):
            assert r.files and all(f.url.startswith("https://") for f in r.files)


def test_datasets_folder_is_declarative_only():
    offenders = [p for p in paths.DATASETS_DIR.rglob("*") if p.suffix in (".py", ".pyc") or p.name == "__init__.py"]
    assert offenders == []


def test_published_facts():
    us = load_recipe("urbansound8k")
    assert us.files[0].md5 == "9aa69802bbf37fb986f71ec1483a196e"
    assert us.files[0].known_hash == "md5:9aa69802bbf37fb986f71ec1483a196e"
    assert "1203745" in us.files[0].url
    assert us.source("kaggle").handle == "chrisfilo/urbansound8k"
    assert load_recipe("esc50").source("kaggle").handle == "mmoreaux/environmental-sound-classification-50"
    zf = load_recipe("zebra_finch")
    assert "11905533" in zf.files[0].url and zf.nested_zips
    assert zf.members[0].md5 == "696bb91ca90ea116468bbce85a67aa0f"
    assert load_recipe("chime5").manual and load_recipe("voxceleb1").manual
    with pytest.raises(UserError, match="cannot be fetched via 'kaggle'"):
        load_recipe("ami").source("kaggle")


def test_ami_split_is_the_136_18_16_setup_with_matching_references():
    r = load_recipe("ami")
    by_split = {}
    for f in r.files:
        parts = Path(f.filename).parts
        if parts[0] == "rttms":
            by_split.setdefault(parts[1], set()).add(Path(f.filename).stem)
    assert {k: len(v) for k, v in by_split.items()} == {"train": 136, "dev": 18, "test": 16}
    meetings = set().union(*by_split.values())
    assert len(meetings) == 170
    wavs = {Path(f.filename).name for f in r.files if f.filename.startswith("amicorpus/")}
    assert wavs == {f"{m}.Mix-Headset.wav" for m in meetings}
    uems = {f.filename.replace("uems/", "rttms/").replace(".uem", ".rttm") for f in r.files
            if f.filename.startswith("uems/")}
    assert uems == {f.filename for f in r.files if f.filename.startswith("rttms/")}
    assert "136" in r.split and "115" in r.split


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UserError, match="did you mean 'urbansound8k'"):
        load_recipe("urbansound")


def test_describe_lists_every_dataset():
    text = describe_datasets()
    for name in recipe_names():
        assert any(line.startswith(name) for line in text.splitlines())
    assert "chrisfilo/urbansound8k" in text and "manual" in text


GOOD = ('name = "toy"\nversion = "1"\ntask = "t"\nhomepage = "h"\nlicence = "l"\ncitation = "c"\n'
        'sample_rate = 16000\nsize = "s"\nexpect = ["a"]\n[[sources]]\nkind = "http"\n')
GOOD_SUMS = '[[files]]\nurl = "https://x/y"\nfilename = "y.zip"\n'


@pytest.mark.parametrize("manifest,sums,field", [
    (GOOD.replace('task = "t"\n', ""), GOOD_SUMS, "'task' is missing"),
    (GOOD.replace("sample_rate = 16000", "sample_rate = 1.5"), GOOD_SUMS, "'sample_rate' must be int/str"),
    (GOOD.replace('kind = "http"', 'kind = "ftp"'), GOOD_SUMS, "'sources[0].kind' must be one of"),
    (GOOD.replace('name = "toy"', 'name = "other"'), GOOD_SUMS, "'name' must equal the folder name"),
    (GOOD.replace('expect = ["a"]', 'expect = ["../a"]'), GOOD_SUMS, "'expect' must be a relative path"),
    (GOOD, GOOD_SUMS + 'md5 = "abc"\n', "'files[0].md5' must be 32 hexadecimal"),
    (GOOD, GOOD_SUMS.replace("https://x/y", "ftp://x/y"), "'files[0].url' must be an http"),
    (GOOD, "files = []\n", "'files' is empty"),
    (GOOD.replace('kind = "http"', 'kind = "manual"'), "files = []\n", "'sources[0].steps' must list"),
    (GOOD + "[[sources]]\nkind = \"kaggle\"\nhandle = \"nohandle\"\n", GOOD_SUMS, "'sources[1].handle' must be"),
    (GOOD + "version2 = [", GOOD_SUMS, "not valid TOML"),
])
def test_malformed_recipe_names_file_and_field(tmp_path, manifest, sums, field):
    folder = tmp_path / "toy"
    folder.mkdir()
    (folder / "manifest.toml").write_text(manifest)
    (folder / "checksums.toml").write_text(sums)
    with pytest.raises(UserError) as e:
        load_recipe("toy", tmp_path)
    msg = str(e.value)
    assert field in msg
    assert str(folder) in msg


def test_good_toy_recipe_loads(tmp_path):
    folder = tmp_path / "toy"
    folder.mkdir()
    (folder / "manifest.toml").write_text(GOOD)
    (folder / "checksums.toml").write_text(GOOD_SUMS + 'sha256 = "' + "A" * 64 + '"\nsize = 10\nextract = true\n')
    r = load_recipe("toy", tmp_path)
    assert r.files[0].known_hash == "sha256:" + "a" * 64 and r.files[0].size == 10 and r.files[0].extract
    assert r.source().kind == "http" and not r.manual


def test_every_recipe_names_a_registered_task_or_is_not_a_benchmark_column():
    from benchmark.recipes import load_recipe, recipe_names
    from benchmark.datasets import dataset_names
    from benchmark.tasks import tasks

    columns = set(dataset_names())
    for name in recipe_names():
        task = load_recipe(name).task
        assert (task in tasks()) == (name in columns), name
