#!/usr/bin/env bash
# session 28 call 5 (run 145): review mends (the K-parts condition in one function shared by
# gemm_tile and wg_launch; the dense and cuSPARSELt uploads through sp_dev_copy): test_cuda,
# test_cuda --wgmma 16,17, test_cuda_model
source bench/gpu/bin-env.sh
tar -C /tmp -xJf .gpu-stage/bin.tar.xz; B=/tmp/binstage; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 240 $B/test_cuda > $L/test_cuda.log 2>&1; echo "test_cuda rc $? $(el): $(tail -1 $L/test_cuda.log)"
timeout 100 $B/test_cuda --wgmma 16,17 > $L/test_cuda-wgmma16-17.log 2>&1; echo "--wgmma 16,17 rc $? $(el): $(tail -1 $L/test_cuda-wgmma16-17.log)"
timeout 100 $B/test_cuda_model > $L/test_cuda_model.log 2>&1; echo "test_cuda_model rc $? $(el): $(tail -1 $L/test_cuda_model.log)"
grep -c 'FAIL' $L/*.log
