"""Bad input to the CLI: a clear one-line error, a non-zero exit, no crash, no partial output."""
import json
import os
import subprocess

import pytest

from conftest import tool


def run(*args):
    return subprocess.run([tool("sparsity")] + list(args), capture_output=True, text=True)


def assert_clean_error(r, *needles):
    assert r.returncode not in (0,) and r.returncode > 0, r  # negative = killed by a signal
    err = r.stderr.strip()
    assert err.startswith("sparsity"), err
    for n in needles:
        assert n in err, err
    assert "AddressSanitizer" not in err and "runtime error" not in err


def test_unknown_option():
    assert_clean_error(run("eval", "--modle", "x"), "unknown option", "--modle")


def test_unknown_command():
    assert_clean_error(run("prunee"), "unknown command")


def test_help_on_every_command():
    for cmd in ["convert", "eval", "generate", "verify"]:
        r = run(cmd, "--help")
        assert r.returncode == 0 and "usage:" in r.stdout


def test_missing_data_file(model_dir, tmp_path):
    assert_clean_error(run("eval", "--model", model_dir, "--data", str(tmp_path / "nope.txt")), "nope.txt")


def test_empty_data_file(model_dir, tmp_path):
    p = tmp_path / "empty.txt"
    p.write_text("")
    assert_clean_error(run("eval", "--model", model_dir, "--data", str(p)), "empty")


def test_bad_number(model_dir, tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("hello world")
    assert_clean_error(run("eval", "--model", model_dir, "--data", str(p), "--ctx", "abc"), "--ctx")


def test_missing_model_folder(tmp_path):
    assert_clean_error(run("verify", str(tmp_path / "nomodel")), "nomodel")


def test_missing_config_key(model_dir, tmp_path):
    bad = tmp_path / "bad"
    os.mkdir(bad)
    for f in ["model.safetensors", "tokenizer.json"]:
        os.symlink(os.path.join(model_dir, f), bad / f)
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    del cfg["hidden_size"]
    json.dump(cfg, open(bad / "config.json", "w"))
    assert_clean_error(run("verify", str(bad)), "hidden_size")


def test_truncated_weights(model_dir, tmp_path):
    bad = tmp_path / "trunc"
    os.mkdir(bad)
    for f in ["config.json", "tokenizer.json"]:
        os.symlink(os.path.join(model_dir, f), bad / f)
    data = open(os.path.join(model_dir, "model.safetensors"), "rb").read(1 << 20)
    (bad / "model.safetensors").write_bytes(data)
    assert_clean_error(run("verify", str(bad)), "model.safetensors")


def test_convert_failure_leaves_no_output(tmp_path):
    src = tmp_path / "broken.gguf"
    src.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x00" * 10)
    out = tmp_path / "out"
    assert_clean_error(run("convert", str(src), str(out)), "broken.gguf")
    assert not out.exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith("out")]


# bench --gpu kernel tables: a bad table stops the run before anything runs, GPU or not.
def gpu_bench(*args):
    return run("bench", "--gpu", "--synthetic", "llama3-8b", *args)


def table_text(device, version=1):
    return json.dumps({"format": "sparsity-kernel-table", "version": version, "device": device, "date": "2025-01-01",
                       "entries": [{"out": 4096, "in": 4096, "pattern": "2:4", "sparsity_decile": 5, "tokens": 1,
                                    "us": {"dense-cublas": 17.1, "24-mma.sp": 10.8}, "pick": "24-mma.sp"}]})


def test_bench_gpu_kernel_table_missing(tmp_path):
    missing = str(tmp_path / "nope.json")
    assert_clean_error(gpu_bench("--kernel-table", missing), "--kernel-table", missing, "no such file", "nothing was run")


def test_bench_gpu_kernel_table_bad(tmp_path):
    p = tmp_path / "t.json"
    p.write_text(table_text("dev", version=2))
    assert_clean_error(gpu_bench("--kernel-table", str(p)), "version 2", "nothing was run")
    p.write_text(table_text("dev")[:-20])
    assert_clean_error(gpu_bench("--kernel-table", str(p)), "not JSON", "nothing was run")
    p.write_text(table_text("dev").replace('"24-mma.sp": 10.8', '"24-mma.sp": -1'))
    assert_clean_error(gpu_bench("--kernel-table", str(p)), "24-mma.sp", "nothing was run")


def test_bench_gpu_kernel_table_other_device(tmp_path):
    # a valid table of a device that does not exist: without a GPU the run stops for the GPU,
    # with one for the device name; either way nothing runs
    p = tmp_path / "t.json"
    p.write_text(table_text("no such GPU (sm_00)"))
    r = gpu_bench("--kernel-table", str(p))
    assert_clean_error(r, "nothing was run")
    assert "no usable GPU" in r.stderr or ("no such GPU (sm_00)" in r.stderr and "--calibrate-kernels" in r.stderr), r.stderr


def test_bench_gpu_table_flags_misused(tmp_path):
    p = tmp_path / "t.json"
    p.write_text(table_text("dev"))
    assert_clean_error(gpu_bench("--kernel-table", str(p), "--calibrate-kernels", str(tmp_path / "o.json")),
                       "--calibrate-kernels", "--kernel-table")
    assert_clean_error(gpu_bench("--calibrate-kernels", str(tmp_path / "no" / "o.json")), "cannot write", "nothing was run")
    assert_clean_error(gpu_bench("--calibrate-kernels", str(tmp_path)), "is a folder", "nothing was run")
    assert not (tmp_path / "o.json").exists()


def test_bench_gpu_trim_flags(tmp_path):
    # a trim policy that does not exist, and the sparse-only trim with a calibrated table (it
    # would record choices it overrode): refused before anything runs, GPU or not
    assert_clean_error(gpu_bench("--trim", "half"), "--trim half", "picks, sparse or none")
    out = tmp_path / "o.json"
    assert_clean_error(gpu_bench("--trim", "sparse", "--calibrate-kernels", str(out)), "--calibrate-kernels", "--trim sparse")
    assert not out.exists()
