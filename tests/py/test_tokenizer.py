"""Our byte-level BPE tokenizer (src/model/tokenizer*.c, driven by the `tokenize`
tool) against Hugging Face `tokenizers`, built independently here from the GGUF
vocabulary and merges (gguf package reader).

Reference: BPE(vocab, merges) + pre_tokenizer Sequence[Digits(individual_digits),
ByteLevel(add_prefix_space=False)] (SmolLM2; also plain ByteLevel and the Qwen2
Split regex) + ByteLevel decoder + the control tokens as special added tokens.
Inputs: slices of assets/text/{eval,kjv}.txt and random strings drawn fresh each
run (seed printed). Ids must be identical; decode must give back the exact bytes.
"""
import json
import os
import random
import struct
import subprocess
import sys
import time
import unicodedata

import pytest

gguf = pytest.importorskip("gguf")
tokenizers = pytest.importorskip("tokenizers")
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers  # noqa: E402

BIN = os.environ.get("SP_BIN", "build")
ASSETS = os.environ.get("SP_ASSETS", "assets")
GGUF = os.path.join(ASSETS, "model", "smollm2-135m.gguf")
TOOL = os.path.join(BIN, "tokenize")
SLICE_CHARS = 700_000  # of each long text (all of eval.txt, >= 100 KB of each)

QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+")

pytestmark = pytest.mark.skipif(not (os.path.exists(GGUF) and os.path.exists(TOOL)),
                                reason="needs assets/model/smollm2-135m.gguf and the tokenize tool")

SEED = int(os.environ.get("SP_SEED", time.time_ns() % 2**31))
print(f"test_tokenizer seed {SEED} (SP_SEED={SEED} to repeat)", file=sys.stderr)


# ------------------------------------------------------------------ reference

def read_gguf_vocab(path):
    r = gguf.GGUFReader(path)

    def arr(key):
        f = r.fields[key]
        return [f.parts[i] for i in f.data]

    def s(key):
        f = r.fields[key]
        return bytes(f.parts[f.data[0]]).decode()

    tokens = [bytes(p).decode("utf-8") for p in arr("tokenizer.ggml.tokens")]
    types = [int(p[0]) for p in arr("tokenizer.ggml.token_type")]
    merges = [tuple(bytes(p).decode("utf-8").split(" ")) for p in arr("tokenizer.ggml.merges")]
    b2u = bytes_to_unicode()
    tokset = set(tokens)
    byte_ok = {b for b in range(256) if b2u[b] in tokset}
    bos = int(r.fields["tokenizer.ggml.bos_token_id"].parts[-1][0])
    eos = int(r.fields["tokenizer.ggml.eos_token_id"].parts[-1][0])
    return dict(tokens=tokens, types=types, merges=merges, pre=s("tokenizer.ggml.pre"),
                model=s("tokenizer.ggml.model"), bos=bos, eos=eos, byte_ok=byte_ok)


def bytes_to_unicode():
    """GPT-2's byte -> printable stand-in character map."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    out, extra = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return out


@pytest.fixture(scope="module")
def vocab():
    v = read_gguf_vocab(GGUF)
    assert v["model"] == "gpt2" and v["pre"] == "smollm"
    assert len(set(v["tokens"])) == len(v["tokens"])
    return v


def hf_tokenizer(v, pre):
    vocab = {t: i for i, t in enumerate(v["tokens"])}
    tk = Tokenizer(models.BPE(vocab, v["merges"]))
    bl = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=(pre != "qwen2"))
    if pre == "smollm":
        tk.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), bl])
    elif pre == "qwen2":
        tk.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False), bl])
    else:
        tk.pre_tokenizer = bl
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens([AddedToken(t, special=True, normalized=False)
                           for t, ty in zip(v["tokens"], v["types"]) if ty == 3])
    return tk


@pytest.fixture(scope="module")
def ref(vocab):
    return hf_tokenizer(vocab, "smollm")


# ------------------------------------------------------------------ ours

def run_tool(*args, check=True):
    p = subprocess.run([TOOL, *args], capture_output=True)
    if check and p.returncode != 0:
        raise AssertionError(f"tokenize {' '.join(args)} failed ({p.returncode}): {p.stderr.decode()}")
    return p


def gguf_ok():
    return run_tool("--gguf", GGUF, "--info", check=False).returncode == 0


def encode_many(src, texts, tmp_path):
    """Our ids for each of texts (str or bytes), and whether decode gave back its bytes."""
    inp, out = tmp_path / "in.bin", tmp_path / "out.bin"
    with open(inp, "wb") as f:
        for t in texts:
            b = t.encode("utf-8") if isinstance(t, str) else t
            f.write(struct.pack("<I", len(b)) + b)
    run_tool(*src, "--multi", str(inp), str(out))
    data, res, at = out.read_bytes(), [], 0
    for _ in texts:
        n, ok = struct.unpack_from("<II", data, at)
        res.append((list(struct.unpack_from(f"<{n}i", data, at + 8)), ok))
        at += 8 + 4 * n
    assert at == len(data)
    return res


def encodable(t, vocab):
    """Every byte of t has a token (else both tokenizers drop it and decode cannot round-trip)."""
    return all(b in vocab["byte_ok"] for b in t.encode("utf-8"))


def compare(ref_tk, src, texts, tmp_path, vocab):
    ours = encode_many(src, texts, tmp_path)
    for i, (t, (got, ok)) in enumerate(zip(texts, ours)):
        want = ref_tk.encode(t, add_special_tokens=False).ids
        if got != want:
            k = next((j for j, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
            pytest.fail(f"seed {SEED}: text {i} {t[:200]!r}: ids differ at {k}: ours {got[max(0, k - 3):k + 5]} "
                        f"hf {want[max(0, k - 3):k + 5]} ({len(got)} vs {len(want)} ids)")
        if encodable(t, vocab):
            assert ok, f"seed {SEED}: text {i} {t[:200]!r}: our decode does not give back the bytes"
            assert ref_tk.decode(got, skip_special_tokens=False) == t


# ------------------------------------------------------------------ inputs

def assigned_chars(lo, hi):
    return [chr(c) for c in range(lo, hi) if unicodedata.category(chr(c)) not in ("Cn", "Cs", "Co")]


POOLS = {
    "ascii": [chr(c) for c in range(32, 127)],
    "digits": list("0123456789") + list("²³¹¼½ⅫⅣ٣٤۵०१๓〇①⑳"),
    "punct": list(".,;:!?'\"()[]{}<>|/\\-_=+*&^%$#@~`…—–«»“”‘’¡¿・。、"),
    "space": [" ", " ", " ", "  ", "\t", "\n", "\n\n", "\r\n", "\x0b", "\x0c", "\x85", "\xa0", "\u1680",
              "\u2000", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\x1c", "\u180e", "\u200b", "\ufeff",
              "\x04", "\x1d", "\U00040000"],  # the last three have bytes without a token
    "latin": assigned_chars(0xC0, 0x250) + ["e\u0301", "a\u0308", "n\u0303"],
    "greek_cyr": assigned_chars(0x370, 0x530),
    "cjk": assigned_chars(0x4E00, 0x4F00) + assigned_chars(0x3040, 0x3100) + assigned_chars(0xAC00, 0xAC80),
    "emoji": ["😀", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️", "🚀", "∑", "≠", "→", "€", "𝔘", "𝟘"],
    "special": ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<repo_name>", "<|im_start|", "<|im_",
                "<|endoftext|><|im_end|>", "<file_sep>"],
    "contraction": ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "'x", "'ſ", " 's"],
    "any": assigned_chars(0x80, 0x3000) + assigned_chars(0x10000, 0x10500),
}
WORDS = ["the", "The", " the", "hello", " world", "don't", "tokenizer", "2024", "3.14159", "x86_64",
         "naïve", "Zürich", "日本語", "Ελληνικά", "Москва", "   ", "\n", "\t\t", "int main() {", "    return 0;"]


def random_text(rng, n_parts):
    parts = []
    for _ in range(n_parts):
        r = rng.random()
        if r < 0.3:
            parts.append(rng.choice(WORDS))
        else:
            pool = POOLS[rng.choice(list(POOLS))]
            parts.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 8))))
    return "".join(parts)


def long_text(name):
    p = os.path.join(ASSETS, "text", name)
    if not os.path.exists(p):
        pytest.skip(f"{p} absent")
    with open(p, encoding="utf-8") as f:
        return f.read(SLICE_CHARS)


# ------------------------------------------------------------------ tests

@pytest.fixture(scope="module")
def ref_json(ref, tmp_path_factory):
    """tokenizer.json written by Hugging Face from the reference, for our loader."""
    p = tmp_path_factory.mktemp("tok") / "hf_tokenizer.json"
    ref.save(str(p))
    return str(p)


def sources(ref_json):
    s = [("--json", ref_json)]
    if gguf_ok():
        s.append(("--gguf", GGUF))
    return s


def test_info(ref_json, vocab):
    if not gguf_ok():
        pytest.skip("sp_gguf not available yet")
    out = run_tool("--gguf", GGUF, "--info").stdout.decode().split()
    assert out == ["vocab", "49152", "bos", str(vocab["bos"]), "eos", str(vocab["eos"])]


@pytest.mark.parametrize("name", ["eval.txt", "kjv.txt"])
def test_long_text(ref, ref_json, vocab, name, tmp_path):
    text = long_text(name)
    assert len(text.encode()) >= 100_000
    for src in sources(ref_json):
        compare(ref, src, [text], tmp_path, vocab)


def test_random_strings(ref, ref_json, vocab, tmp_path):
    rng = random.Random(SEED)
    texts = [random_text(rng, rng.randint(1, 40)) for _ in range(400)]
    texts += ["", " ", "a", "1", "  1", "<|im_start|>", "<|im_start|>user\nHi 123!<|im_end|>\n",
              "a\u0085\u0085b", "x\x1c\x1cy", "hello  world\n\n\nfoo   ", "'s's'''s", "  \n  \n"]
    texts += ["a\x04\x04b \x04\x04\x04", "\x04", "\U00040000x"]  # bytes without a token are dropped
    for src in sources(ref_json):
        compare(ref, src, texts, tmp_path, vocab)


def test_raw_bytes_roundtrip(ref_json, vocab, tmp_path):
    """Invalid UTF-8 (of bytes that have a token) must encode and decode back to the same bytes."""
    rng = random.Random(SEED + 1)
    ok = sorted(vocab["byte_ok"])
    blobs = [bytes(rng.choice(ok) for _ in range(rng.randint(1, 300))) for _ in range(100)]
    blobs.append(b"\xe6\x97\xa5\xe6\x97" + b"\xe0\xc3" + "<|im_end|>".encode() + b"\xc3")
    for i, (ids, good) in enumerate(encode_many(("--json", ref_json), blobs, tmp_path)):
        assert good, f"seed {SEED}: blob {i} {blobs[i][:64]!r} does not round-trip"


def test_decode_roundtrip_long(ref_json):
    for name in ["eval.txt", "kjv.txt"]:
        p = os.path.join(ASSETS, "text", name)
        if os.path.exists(p):
            run_tool("--json", ref_json, "--decode", p)


@pytest.mark.parametrize("pre", ["gpt2", "qwen2"])
def test_other_pretokenizers(vocab, pre, tmp_path):
    """Same vocabulary with the plain GPT-2 and the Qwen2 pre-tokenizers."""
    hf = hf_tokenizer(vocab, pre)
    p = tmp_path / f"{pre}.json"
    hf.save(str(p))
    rng = random.Random(SEED + 2)
    texts = [random_text(rng, rng.randint(1, 40)) for _ in range(300)]
    texts += ["Hello World's 12345 test\r\n\r\n  x", "(foo) 'LL 'Ve\n\n  bar", "a  \n\t b"]
    compare(hf, ("--json", str(p)), texts, tmp_path, vocab)


def test_save_loads_in_hf(ref, ref_json, vocab, tmp_path):
    """Our sp_tokenizer_save output, read back by Hugging Face and by us."""
    out = tmp_path / "ours.json"
    src = ("--gguf", GGUF) if gguf_ok() else ("--json", ref_json)
    run_tool(*src, "--save", str(out))
    mine = Tokenizer.from_file(str(out))
    assert mine.get_vocab_size() == len(vocab["tokens"])
    rng = random.Random(SEED + 3)
    texts = [random_text(rng, rng.randint(1, 40)) for _ in range(200)]
    try:
        texts.append(long_text("eval.txt")[:100_000])
    except pytest.skip.Exception:
        pass
    for t in texts:
        assert mine.encode(t, add_special_tokens=False).ids == ref.encode(t, add_special_tokens=False).ids, t[:200]
    # and our loader reads our own file
    compare(ref, ("--json", str(out)), texts[:50], tmp_path, vocab)
    if src[0] == "--gguf":
        info = run_tool("--json", str(out), "--info").stdout.decode().split()
        assert info[3] == str(vocab["bos"]) and info[5] == str(vocab["eos"])


def write_json(tmp_path, obj, name="bad.json"):
    p = tmp_path / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return str(p)


def test_malformed_json(ref_json, tmp_path):
    good = json.load(open(ref_json))
    no_vocab = json.loads(json.dumps(good))
    del no_vocab["model"]["vocab"]
    bad_merge = json.loads(json.dumps(good))
    bad_merge["model"]["merges"] = [["Ġ", "zzzq"]]
    gap = json.loads(json.dumps(good))
    del gap["model"]["vocab"]["Ġt"]
    unsup = json.loads(json.dumps(good))
    unsup["pre_tokenizer"] = {"type": "Whitespace"}
    cases = [
        ({"version": "1.0"}, "missing \"model\""),
        (no_vocab, "missing model.vocab"),
        ("{ not json", "not a JSON object"),
        (bad_merge, "not in vocab"),
        (gap, "no token has id"),
        (unsup, "pre_tokenizer not supported"),
    ]
    for obj, msg in cases:
        p = write_json(tmp_path, obj)
        r = run_tool("--json", p, "--info", check=False)
        err = r.stderr.decode()
        assert r.returncode == 1, (msg, r.returncode, err)
        assert msg in err and p in err, (msg, err)
    r = run_tool("--json", str(tmp_path / "absent.json"), "--info", check=False)
    assert r.returncode == 1 and "absent.json" in r.stderr.decode()


def write_gguf(path, model="gpt2", pre="smollm", tokens=None, types=None, merges=None, drop=()):
    """A tiny GGUF holding only tokenizer keys (no tensors)."""
    b2u = bytes_to_unicode()
    tokens = tokens if tokens is not None else ["<|endoftext|>"] + [b2u[b] for b in range(256)] + ["ab", "abĠ"]
    w = gguf.GGUFWriter(str(path), "llama")
    if "model" not in drop:
        w.add_tokenizer_model(model)
    if "pre" not in drop:
        w.add_tokenizer_pre(pre)
    if "tokens" not in drop:
        w.add_token_list(tokens)
    w.add_token_types(types if types is not None else [3] + [1] * (len(tokens) - 1))
    if "merges" not in drop:
        w.add_token_merges(merges if merges is not None else ["a b", "ab Ġ"])
    w.add_bos_token_id(0)
    w.add_eos_token_id(0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return str(path)


def test_tiny_gguf(tmp_path):
    p = write_gguf(tmp_path / "tiny.gguf")
    (tmp_path / "t.txt").write_bytes(b"abab ab <|endoftext|>ab 12")
    run_tool("--gguf", p, str(tmp_path / "t.txt"), str(tmp_path / "t.i32"))
    got = list(struct.unpack(f"<{(tmp_path / 't.i32').stat().st_size // 4}i", (tmp_path / "t.i32").read_bytes()))
    ab, space, one, two = 257, 1 + 0x20, 1 + ord("1"), 1 + ord("2")  # token 1 + b is byte b
    # "abab" -> ab ab; " ab" -> Ġ ab (no merge Ġ+ab); " " -> Ġ; special; "ab"; " " "1" "2" (digits alone)
    assert got == [ab, ab, space, ab, space, 0, ab, space, one, two], got


def test_malformed_gguf(tmp_path):
    b2u = bytes_to_unicode()
    base = [b2u[b] for b in range(256)]
    cases = [
        (dict(model="llama"), "tokenizer.ggml.model 'llama' not supported"),
        (dict(pre="deepseek-llm"), "pre-tokenizer 'deepseek-llm' not supported"),
        (dict(drop=("merges",)), "tokenizer.ggml.merges missing"),
        (dict(drop=("tokens",)), "tokenizer.ggml.tokens missing"),
        (dict(tokens=base, merges=["a zz"]), "not in vocab"),
        (dict(tokens=base, merges=["a b"]), "merged token not in vocab"),
        (dict(tokens=base, merges=["ab"]), "is not 'left right'"),
        (dict(tokens=base, types=[1, 1]), "token types for"),
    ]
    for i, (kw, msg) in enumerate(cases):
        p = write_gguf(tmp_path / f"bad{i}.gguf", **kw)
        r = run_tool("--gguf", p, "--info", check=False)
        err = r.stderr.decode()
        assert r.returncode == 1 and msg in err, (kw, msg, err)
