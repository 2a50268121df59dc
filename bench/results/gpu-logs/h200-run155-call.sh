#!/usr/bin/env bash
# session 33 call 1 (run 155): the tree of sessions 31-33 (HEAD 961cd47) on the GPU: bench/gpu/verify-tree.sh
# (test_cuda with the 5-bit, length-order and x-as-f32 cases, test_cuda_model, the one-copy decode
# scoreboard, the split-K A/B)
tar -C /tmp -xJf .gpu-stage/bin.tar.xz
SP_GPU_BIN=/tmp/binstage OUT=$OUT/l bash bench/gpu/verify-tree.sh
