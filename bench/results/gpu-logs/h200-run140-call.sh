#!/usr/bin/env bash
# session 27 call 9 (run 140): PyTorch's dense decode call (bench/gpu/torch_dense_decode.py) on
# the four target shapes at 1 and 16 tokens, three fresh allocations a process, two processes a
# shape at 1 token: the best existing dense path beside run 138's cublasGemmEx times
mkdir -p $OUT
for s in 4096x4096 6144x4096 14336x4096 4096x14336; do
  for n in 1 16; do timeout 60 python3 bench/gpu/torch_dense_decode.py 1 $s $n 3 2>&1 | tail -1; done
  timeout 60 python3 bench/gpu/torch_dense_decode.py 2 $s 1 3 2>&1 | tail -1
done | tee $OUT/torch-dense.txt
