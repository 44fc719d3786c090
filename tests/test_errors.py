import pickle

from gridlab.errors import DataFormatError, did_you_mean, first_line


def test_first_line_survives_empty_and_multi_line_messages():
    assert first_line(ValueError()) == ""
    assert first_line(RuntimeError("first\nsecond")) == "first"
    assert first_line(OSError("disk"), with_type=True) == "OSError: disk"


def test_data_format_error_keeps_its_fields_across_processes():
    err = pickle.loads(pickle.dumps(DataFormatError("f.txt", "expected 3 values, received 2", "Fix it.", line=7)))
    assert (err.path, err.line, str(err)) == ("f.txt", 7, "f.txt:7: expected 3 values, received 2. Fix it.")


def test_did_you_mean():
    assert did_you_mean("epoch", ["epochs", "batch"]) == ' Did you mean "epochs"?'
    assert did_you_mean("zzz", ["epochs"]) == ""
