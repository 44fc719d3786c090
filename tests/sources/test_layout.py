"""Where a data set's files come from: class folders, or a CSV manifest of ``path,label[,split]`` lines."""
import pytest

from gridlab.errors import DataFormatError
from gridlab.sources.layout import discover
from gridlab.sources.skips import Skipped


def _manifest(tmp_path, header: str, lines: list[str]):
    for name in ("a/1.txt", "a/2.txt", "b/3.txt", "b/4.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("1 2\n3 4\n")
    path = tmp_path / "frames.csv"
    path.write_text("\n".join(([header] if header else []) + lines) + "\n")
    return path


@pytest.mark.parametrize("header", ["path,label", "file,label", "filename,class", ""])
def test_a_manifest_lists_files_relative_to_itself_with_an_optional_header_and_split(tmp_path, header):
    path = _manifest(tmp_path, header, ["a/1.txt,warm", "b/3.txt,cold", "a/2.txt,warm,test", "b/4.txt,cold,test"])
    train, test, names = discover(path)
    assert names == ["cold", "warm"]
    assert train == [(tmp_path / "a/1.txt", 1), (tmp_path / "b/3.txt", 0)]
    assert test == [(tmp_path / "a/2.txt", 1), (tmp_path / "b/4.txt", 0)]


def test_a_missing_file_is_named_with_its_line_or_listed_when_skipping(tmp_path):
    path = _manifest(tmp_path, "file,label", ["a/1.txt,warm", "a/gone.txt,warm", "b/3.txt,cold"])
    with pytest.raises(DataFormatError, match=r"frames\.csv:3: expected a file, received 'a/gone\.txt', which is not "
                                              r"one \(looked for .*a/gone\.txt\)\. Paths are relative to the "
                                              r"manifest's folder\."):
        discover(path)
    skipped = Skipped("skip")
    train, _, names = discover(path, skipped=skipped)
    assert [p.name for p, _ in train] == ["1.txt", "3.txt"] and names == ["cold", "warm"]
    assert [str(p) for p, _ in skipped.files] == [str(path)] and "a/gone.txt" in skipped.files[0][1]
