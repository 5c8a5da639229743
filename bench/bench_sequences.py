"""Week 10's speed questions: attention in NumPy against PyTorch, and the tiny GPT's tokens/s.

Part 1, attention forward plus backward. :func:`lapenna_labs.attention.attention_forward` and
:func:`~lapenna_labs.attention.attention_backward` (NumPy: two batched GEMMs and a softmax
each way, the (heads, T, T) score matrix materialised) against
``torch.nn.functional.scaled_dot_product_attention`` and autograd on the CPU (which may pick
a fused kernel that never stores the scores), on the same float32 q, k, v (1, heads, T, d)
and the same upstream gradient, for T = 128 ... 2048, with and without the causal mask.
Each row gives the flops and the score matrix's bytes from
:func:`lapenna_labs.attention.attention_cost` (its ``score_flops`` counts QK^T and PV
forward; forward plus backward is about three times that: the backward does four such
products), the largest difference between the two outputs and gradients, and the
lapenna / torch ratio of the seconds, the median of the rounds' paired ratios.

Part 2, the tiny GPT (:func:`lapenna_labs.charlm.make_tiny_gpt`) on the pydoc text:
training tokens per second (:func:`~lapenna_labs.charlm.train_tiny_gpt`, AdamW, batch 32 of
block-size windows), and generation tokens per second with and without the KV cache
(:func:`~lapenna_labs.charlm.generate_gpt`, ``block_size - 1`` tokens from a one-token
prompt, so the context grows to the full block and is never shifted), for the default
model (block 64) and a longer-context one (block 256); on the CPU, and on CUDA where
``torch.cuda.is_available()``.

Every library is pinned to ``--threads`` threads (default 1: threadpoolctl on NumPy's BLAS,
``torch.set_num_threads``).

Method: one warm-up call per contestant and size, then ``--repeats`` rounds, each timing
lapenna and torch in a new random order (garbage collected before each call, the collector
paused during it); seconds are medians over the rounds, ratios the medians of the rounds'
paired ratios (two calls of the same round). Tokens per second: the median of
``--gpt-repeats`` runs.

Usage (from the repository root)::

    .venv/bin/python bench/bench_sequences.py                  # full run, about 3 min here
    .venv/bin/python bench/bench_sequences.py --lengths 64,128 --repeats 2 --gpt-steps 3 \\
        --gpt-blocks 16 --gpt-repeats 1 --out /tmp/sequences.json   # smoke test
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from typing import Any

import _common


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lengths", default="128,256,512,1024,2048", help="sequence lengths T")
    p.add_argument("--heads", type=int, default=4, help="attention heads (default 4)")
    p.add_argument("--head-dim", type=int, default=64, help="d per head (default 64)")
    p.add_argument("--batch", type=int, default=1, help="batch size of part 1 (default 1)")
    p.add_argument("--repeats", type=int, default=5, help="timed rounds per T (default 5)")
    p.add_argument("--threads", type=int, default=1, help="BLAS/torch threads (default 1)")
    p.add_argument("--gpt-blocks", default="64,256", help="block sizes of the tiny GPT")
    p.add_argument("--gpt-steps", type=int, default=20, help="timed training steps (default 20)")
    p.add_argument("--gpt-batch", type=int, default=32, help="training batch (default 32)")
    p.add_argument("--gpt-repeats", type=int, default=3, help="runs per GPT figure (default 3)")
    p.add_argument("--no-cuda", action="store_true", help="skip the CUDA figures")
    p.add_argument("--out", default=str(_common.RESULTS / "sequences.json"), help="JSON path")
    args = p.parse_args(argv)
    try:
        args.lengths = [int(t) for t in args.lengths.split(",") if t.strip()]
        args.gpt_blocks = [int(t) for t in args.gpt_blocks.split(",") if t.strip()]
    except ValueError:
        p.error("--lengths and --gpt-blocks are comma-separated integers")
    numbers = [args.heads, args.head_dim, args.batch, args.repeats, args.threads, args.gpt_steps]
    numbers += [args.gpt_batch, args.gpt_repeats, *args.lengths, *args.gpt_blocks]
    if not args.lengths or not args.gpt_blocks or min(numbers) < 1:
        p.error("every size, count and length must be positive")
    return args


def timed(fn) -> float:
    """Seconds of one call of ``fn``, garbage collected before and paused during (as timeit)."""
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0
    finally:
        if was_enabled:
            gc.enable()


# ------------------------------------------------------------------------- part 1: attention


def attention_contestants(torch, q, k, v, dout, causal: bool):
    """``{"lapenna": fn, "torch": fn}``: forward + backward, returning (out, dq, dk, dv)."""
    from lapenna_labs.attention import attention_backward, attention_forward

    def lapenna():
        out, cache = attention_forward(q, k, v, causal=causal)
        return (out, *attention_backward(dout, cache))

    tq, tk, tv = (torch.from_numpy(a) for a in (q, k, v))
    tdout = torch.from_numpy(dout)
    F = torch.nn.functional

    def torch_sdpa():
        qq, kk, vv = (a.detach().requires_grad_() for a in (tq, tk, tv))
        out = F.scaled_dot_product_attention(qq, kk, vv, is_causal=causal)
        out.backward(tdout)
        return out.detach(), qq.grad, kk.grad, vv.grad

    return {"lapenna": lapenna, "torch": torch_sdpa}


def bench_attention(args, torch, np) -> list[dict[str, Any]]:
    from lapenna_labs.attention import attention_cost

    rows = []
    order_rng = np.random.default_rng(2024)
    d_model = args.heads * args.head_dim
    for t in args.lengths:
        rng = np.random.default_rng(t)
        shape = (args.batch, args.heads, t, args.head_dim)
        q, k, v, dout = (rng.standard_normal(shape, dtype=np.float32) for _ in range(4))
        cost = attention_cost(t, d_model, num_heads=args.heads, batch=args.batch)
        for causal in (False, True):
            fns = attention_contestants(torch, q, k, v, dout, causal)
            results = {name: fn() for name, fn in fns.items()}  # warm-up, and the check
            diff = max(
                float(np.max(np.abs(np.asarray(a) - b.numpy())))
                for a, b in zip(results["lapenna"], results["torch"], strict=True)
            )
            scale = max(float(np.max(np.abs(b.numpy()))) for b in results["torch"])
            times: dict[str, list[float]] = {name: [] for name in fns}
            for _ in range(args.repeats):
                for i in order_rng.permutation(len(fns)):
                    name = list(fns)[int(i)]
                    times[name].append(timed(fns[name]))
            paired = [a / b for a, b in zip(times["lapenna"], times["torch"], strict=True)]
            med = {name: _common.median(ts) for name, ts in times.items()}
            fwd_bwd_flops = 3 * cost.score_flops
            rows.append(
                {
                    "seq_len": t,
                    "causal": causal,
                    "cost": cost._asdict(),
                    "forward_backward_score_flops": fwd_bwd_flops,
                    "max_abs_diff": diff,
                    "max_abs_value": scale,
                    "lapenna_seconds": times["lapenna"],
                    "torch_seconds": times["torch"],
                    "lapenna_seconds_median": med["lapenna"],
                    "torch_seconds_median": med["torch"],
                    "lapenna_gflops": fwd_bwd_flops / med["lapenna"] / 1e9,
                    "torch_gflops": fwd_bwd_flops / med["torch"] / 1e9,
                    "ratio_lapenna_to_torch": _common.median(paired),
                    "ratio_per_round": paired,
                }
            )
            print(
                f"attention T={t} causal={causal}: lapenna {med['lapenna'] * 1e3:.1f} ms, "
                f"torch {med['torch'] * 1e3:.1f} ms",
                file=sys.stderr,
                flush=True,
            )
    return rows


# ------------------------------------------------------------------------ part 2: tiny GPT


def _sync(torch, device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bench_gpt_block(args, torch, np, device, block, vocab, train_ids, val_ids) -> dict[str, Any]:
    """Training and generation tokens/s of one tiny GPT of context `block` on `device`."""
    from lapenna_labs import charlm

    model = charlm.make_tiny_gpt(vocab.size, block_size=block, seed=0)
    n_params = sum(p.numel() for p in model.parameters())

    def train(steps):
        charlm.train_tiny_gpt(
            model, train_ids, val_ids, steps=steps, batch_size=args.gpt_batch,
            eval_every=steps, eval_batches=1, seed=0, device=device, progress=False,
        )  # fmt: skip
        _sync(torch, device)

    train(2)  # warm-up (and the move to the device)
    train_s = [timed(lambda: train(args.gpt_steps)) for _ in range(args.gpt_repeats)]
    train_tokens = args.gpt_steps * args.gpt_batch * block
    gen = {}
    for use_cache in (True, False):

        def generate(use_cache=use_cache):
            charlm.generate_gpt(model, [0], block - 1, use_kv_cache=use_cache, seed=0)
            _sync(torch, device)

        generate()  # warm-up
        gen[use_cache] = [timed(generate) for _ in range(args.gpt_repeats)]
    same = bool(
        np.array_equal(
            charlm.generate_gpt(model, [0], block - 1, use_kv_cache=True, seed=1),
            charlm.generate_gpt(model, [0], block - 1, use_kv_cache=False, seed=1),
        )
    )
    row = {
        "device": device,
        "block_size": block,
        "d_model": model.d_model,
        "num_heads": model.num_heads,
        "num_layers": model.num_layers,
        "vocab_size": vocab.size,
        "n_params": n_params,
        "train_batch": args.gpt_batch,
        "train_steps_timed": args.gpt_steps,
        "train_seconds": train_s,
        "train_tokens_per_second": train_tokens / _common.median(train_s),
        "generated_tokens": block - 1,
        "generate_seconds_kv_cache": gen[True],
        "generate_seconds_no_cache": gen[False],
        "generate_tokens_per_second_kv_cache": (block - 1) / _common.median(gen[True]),
        "generate_tokens_per_second_no_cache": (block - 1) / _common.median(gen[False]),
        "kv_cache_speedup": _common.median(gen[False]) / _common.median(gen[True]),
        "same_tokens_with_and_without_cache": same,
    }
    print(
        f"gpt {device} block {block}: train {row['train_tokens_per_second']:,.0f} tok/s, "
        f"generate {row['generate_tokens_per_second_kv_cache']:,.0f} (cache) / "
        f"{row['generate_tokens_per_second_no_cache']:,.0f} tok/s",
        file=sys.stderr,
        flush=True,
    )
    return row


def bench_gpt(args, torch, np, device: str) -> list[dict[str, Any]]:
    from lapenna_labs import charlm

    text = charlm.load_text()
    vocab = charlm.CharVocabulary(text)
    train_ids, val_ids = charlm.train_val_split(vocab.encode(text))
    return [
        bench_gpt_block(args, torch, np, device, block, vocab, train_ids, val_ids)
        for block in args.gpt_blocks
    ]


def run(args: argparse.Namespace) -> dict[str, Any]:
    _common.limit_threads_env(args.threads)
    import numpy as np
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    load_before = _common.load()
    with threadpool_limits(args.threads):
        attention = bench_attention(args, torch, np)
        gpt = bench_gpt(args, torch, np, "cpu")
        cuda = None
        if not args.no_cuda and torch.cuda.is_available():
            gpt += bench_gpt(args, torch, np, "cuda")
            cuda = torch.cuda.get_device_name(0)
    load_after = _common.load()
    return {
        "benchmark": "sequences",
        "date_utc": _common.now(),
        "command": _common.command(),
        "attention_setup": {
            "batch": args.batch,
            "heads": args.heads,
            "head_dim": args.head_dim,
            "d_model": args.heads * args.head_dim,
            "dtype": "float32",
            "lapenna": "attention_forward + attention_backward (NumPy)",
            "torch": "F.scaled_dot_product_attention + autograd backward, CPU",
            "flops_note": (
                "cost from lapenna_labs.attention.attention_cost (a multiply-add is 2 flops); "
                "forward_backward_score_flops = 3 x score_flops (QK^T and PV forward, four "
                "products of the same size backward); softmax and projections not counted"
            ),
        },
        "gpt_setup": {
            "text": "pydoc topics (lapenna_labs.charlm.load_text)",
            "optimizer": "AdamW (train_tiny_gpt), one evaluation batch included in the time",
            "generation": "block_size - 1 tokens from a one-token prompt, temperature 1",
        },
        "method": (
            f"warm-up call per contestant and size, then {args.repeats} rounds timing lapenna "
            "and torch in a new random order (gc collected before, paused during each call); "
            "seconds: medians; ratios: medians of the rounds' paired ratios. GPT figures: "
            f"median of {args.gpt_repeats} runs after one warm-up"
        ),
        "threads": args.threads,
        "cuda_device": cuda,
        "machine": _common.machine(),
        "load_before": load_before,
        "load_after": load_after,
        "attention": attention,
        "gpt": gpt,
    }


ATTENTION_HEADER = (
    "T", "causal", "fwd+bwd GFLOP", "score MiB", "lapenna ms", "torch ms", "x torch",
    "lapenna GFLOP/s", "torch GFLOP/s", "max abs diff",
)  # fmt: skip

GPT_HEADER = (
    "device", "block", "params", "train tok/s", "generate tok/s (KV cache)",
    "generate tok/s (no cache)", "cache speedup", "same tokens",
)  # fmt: skip


def attention_rows(payload: dict[str, Any]) -> list[list[str]]:
    """The attention table's rows, for this script's printout and ``bench/report.py``."""
    return [
        [
            str(r["seq_len"]), "yes" if r["causal"] else "no",
            f"{r['forward_backward_score_flops'] / 1e9:.2f}",
            f"{r['cost']['score_bytes'] / 2**20:.1f}",
            f"{r['lapenna_seconds_median'] * 1e3:.1f}", f"{r['torch_seconds_median'] * 1e3:.1f}",
            f"{r['ratio_lapenna_to_torch']:.2f}", f"{r['lapenna_gflops']:.1f}",
            f"{r['torch_gflops']:.1f}", f"{r['max_abs_diff']:.1e}",
        ]
        for r in payload["attention"]
    ]  # fmt: skip


def gpt_rows(payload: dict[str, Any]) -> list[list[str]]:
    """The tiny GPT's rows, for this script's printout and ``bench/report.py``."""
    return [
        [
            r["device"], str(r["block_size"]), f"{r['n_params']:,}",
            f"{r['train_tokens_per_second']:,.0f}",
            f"{r['generate_tokens_per_second_kv_cache']:,.0f}",
            f"{r['generate_tokens_per_second_no_cache']:,.0f}",
            f"{r['kv_cache_speedup']:.2f}",
            "yes" if r["same_tokens_with_and_without_cache"] else "NO",
        ]
        for r in payload["gpt"]
    ]  # fmt: skip


def section(payload: dict[str, Any]) -> str:
    """This benchmark's section of ``bench/README.md`` (Markdown)."""
    s = payload["attention_setup"]
    return "\n".join(
        [
            "## 7. Sequences: attention and the tiny GPT",
            "",
            "Attention forward plus backward, float32, batch "
            f"{s['batch']}, {s['heads']} heads of d = {s['head_dim']}: lapenna's NumPy "
            "`attention_forward` + `attention_backward` against PyTorch's "
            "`scaled_dot_product_attention` + autograd on the CPU, "
            f"{payload['threads']} thread(s). Flops and score memory from "
            "`attention.attention_cost` (forward + backward = 3 x its `score_flops`); "
            "x torch is lapenna's time over torch's (median of paired rounds).",
            "",
            _common.table(attention_rows(payload), ATTENTION_HEADER),
            "",
            "The tiny GPT (`charlm.make_tiny_gpt`, D = 64, 4 heads, 2 layers) on the pydoc "
            "text: training tokens/s (AdamW, batch of block-size windows) and generation "
            "tokens/s of `block - 1` tokens with and without the KV cache.",
            "",
            _common.table(gpt_rows(payload), GPT_HEADER),
            "",
            _machine_line(payload),
            "",
            f"Command: `{payload['command']}`",
        ]
    )


def _machine_line(payload: dict[str, Any]) -> str:
    m = payload["machine"]
    gpu = f"; CUDA: {payload['cuda_device']}" if payload.get("cuda_device") else "; no CUDA GPU"
    return (
        f"Machine: {m['cpu_model']}, {m['usable_cpus']} usable CPUs, torch "
        f"{m['versions']['torch']}, NumPy {m['versions']['numpy']}{gpu}; load "
        f"{payload['load_before']['loadavg_1m']:.2f} before, "
        f"{payload['load_after']['loadavg_1m']:.2f} after; {payload['date_utc']}."
    )


def print_table(payload: dict[str, Any]) -> None:
    print()
    print(section(payload))
    _common.print_load(payload)


def main(argv: list[str] | None = None) -> int:
    _common.run_and_write(parse_args(argv), run, print_table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
