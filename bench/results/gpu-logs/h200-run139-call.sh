#!/usr/bin/env bash
# session 27 call 8 (run 139): cuBLAS's 6144x4096 1-token call took ~15.8 us in some processes
# and ~16.7 in others (runs 128-138, same binary). PyTorch (torch.matmul) as one CUDA graph of 4
# rotated calls, six fresh allocations a process, four processes; 4096x4096 beside it
# .gpu-stage/cublas_modes.py was bench/gpu/torch_dense_decode.py before its copies rule (here: 4 copies a trial, 1 token)
mkdir -p $OUT
for i in 1 2 3 4; do timeout 60 python3 .gpu-stage/cublas_modes.py $i 6144x4096 2>&1 | tail -2; done | tee $OUT/modes.txt
for i in 1 2; do timeout 60 python3 .gpu-stage/cublas_modes.py $i 4096x4096 2>&1 | tail -2; done | tee -a $OUT/modes.txt
