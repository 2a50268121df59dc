source bench/gpu/bin-env.sh; tar -C /tmp -xJf .gpu-stage/bin.tar.xz; B=/tmp/binstage; mkdir -p $OUT/l; timeout 90 stdbuf -oL $B/test_cuda --f16 > $OUT/l/test-f16.txt 2>&1  # run 137 (a6026a3)
