"""Float64 NumPy reference of the Llama forward pass, read straight from the GGUF file.

Independent of the C code on purpose: it reads weights with the `gguf` package (llama.cpp's
own reader), keeps llama.cpp's permuted Q/K rows and therefore applies RoPE to adjacent
pairs (x[2i], x[2i+1]) - the C code un-permutes at import and rotates (x[i], x[i+D/2]).
Agreement checks the dequantization, the un-permutation and the whole forward pass."""
import numpy as np
import gguf
from gguf.quants import dequantize


class RefLlama:
    def __init__(self, path):
        r = gguf.GGUFReader(path)
        f = lambda k: r.fields[k].contents()
        self.dim = int(f("llama.embedding_length"))
        self.n_layers = int(f("llama.block_count"))
        self.n_heads = int(f("llama.attention.head_count"))
        self.n_kv = int(f("llama.attention.head_count_kv"))
        self.theta = float(f("llama.rope.freq_base"))
        self.eps = float(f("llama.attention.layer_norm_rms_epsilon"))
        self.hd = self.dim // self.n_heads
        self.w = {}
        for t in r.tensors:
            a = dequantize(t.data, t.tensor_type).astype(np.float64)
            shape = tuple(int(x) for x in reversed(t.shape))  # ggml ne[] is innermost-first
            self.w[t.name] = a.reshape(shape)
        self.out = self.w.get("output.weight", self.w["token_embd.weight"])

    def rms(self, x, w):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps) * w

    def rope_interleaved(self, x, n_heads):
        T = x.shape[0]
        x = x.reshape(T, n_heads, self.hd // 2, 2)
        i = np.arange(self.hd // 2)
        ang = np.arange(T)[:, None] * self.theta ** (-2.0 * i / self.hd)[None, :]
        c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        a, b = x[..., 0], x[..., 1]
        return np.stack([a * c - b * s, a * s + b * c], axis=-1).reshape(T, n_heads * self.hd)

    def logits(self, ids):
        W = self.w
        x = W["token_embd.weight"][np.asarray(ids)]
        T, g = len(ids), self.n_heads // self.n_kv
        mask = np.triu(np.full((T, T), -np.inf), 1)
        for l in range(self.n_layers):
            p = f"blk.{l}."
            h = self.rms(x, W[p + "attn_norm.weight"])
            q = self.rope_interleaved(h @ W[p + "attn_q.weight"].T, self.n_heads)
            k = self.rope_interleaved(h @ W[p + "attn_k.weight"].T, self.n_kv)
            v = h @ W[p + "attn_v.weight"].T
            o = np.zeros((T, self.dim))
            for hh in range(self.n_heads):
                kh = hh // g
                qs = q[:, hh * self.hd:(hh + 1) * self.hd]
                ks = k[:, kh * self.hd:(kh + 1) * self.hd]
                vs = v[:, kh * self.hd:(kh + 1) * self.hd]
                s = qs @ ks.T / np.sqrt(self.hd) + mask
                s = np.exp(s - s.max(axis=1, keepdims=True))
                o[:, hh * self.hd:(hh + 1) * self.hd] = (s / s.sum(axis=1, keepdims=True)) @ vs
            x = x + o @ W[p + "attn_output.weight"].T
            h = self.rms(x, W[p + "ffn_norm.weight"])
            gt = h @ W[p + "ffn_gate.weight"].T
            up = h @ W[p + "ffn_up.weight"].T
            x = x + (gt / (1 + np.exp(-gt)) * up) @ W[p + "ffn_down.weight"].T
        return self.rms(x, W["output_norm.weight"]) @ self.out.T


def perplexity(ref, ids, ctx):
    """exp(mean NLL) over floor(len/ctx) non-overlapping windows, every token after the first scored."""
    nll, n = 0.0, 0
    for w in range(len(ids) // ctx):
        win = ids[w * ctx:(w + 1) * ctx]
        lg = ref.logits(win)[:-1]
        m = lg.max(axis=1, keepdims=True)
        lse = np.log(np.exp(lg - m).sum(axis=1)) + m[:, 0]
        nll += float(np.sum(lse - lg[np.arange(ctx - 1), win[1:]]))
        n += ctx - 1
    return float(np.exp(nll / n))
