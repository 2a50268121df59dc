/* power.cu: the board's SM clock, power draw and temperature over a timed section, so that a
 * whole-model time says at what clock it was taken (H200 runs 49-51: at the 700 W limit dense
 * cuBLAS forwards ran ~10% slower, 2:4 ones ~2%). A thread samples NVML every SP_POWER_MS
 * between sp_cuda_power_start and sp_cuda_power_stop. NVML (libnvidia-ml.so.1, part of the
 * driver) is dlopen'ed, so the library builds and runs without it; host code only. */
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "common.cuh"

#define SP_POWER_MS 20

/* the few NVML entry points used, declared here (nvml.h is not in every toolkit install) */
typedef struct sp_nvml_dev *sp_nvml_dev_t;
enum { SP_NVML_CLOCK_SM = 1, SP_NVML_TEMPERATURE_GPU = 0 };
static struct {
    int state; /* 0 not tried, 1 ready, -1 unavailable (why in why) */
    char why[160];
    sp_nvml_dev_t dev;
    int (*clock)(sp_nvml_dev_t, int, unsigned *);
    int (*power)(sp_nvml_dev_t, unsigned *); /* milliwatts */
    int (*temp)(sp_nvml_dev_t, int, unsigned *);
} N;

static int nvml_open(void) {
    if (N.state) return N.state;
    N.state = -1;
    void *dl = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!dl) { snprintf(N.why, sizeof N.why, "NVML: libnvidia-ml.so.1 not found"); return -1; }
    int (*init)(void) = (int (*)(void))dlsym(dl, "nvmlInit_v2");
    int (*by_bus)(const char *, sp_nvml_dev_t *) = (int (*)(const char *, sp_nvml_dev_t *))dlsym(dl, "nvmlDeviceGetHandleByPciBusId_v2");
    *(void **)&N.clock = dlsym(dl, "nvmlDeviceGetClockInfo");
    *(void **)&N.power = dlsym(dl, "nvmlDeviceGetPowerUsage");
    *(void **)&N.temp = dlsym(dl, "nvmlDeviceGetTemperature");
    char bus[32];
    int rc;
    if (!init || !by_bus || !N.clock || !N.power || !N.temp) snprintf(N.why, sizeof N.why, "NVML: entry points missing");
    else if ((rc = init())) snprintf(N.why, sizeof N.why, "NVML: nvmlInit failed (%d)", rc);
    else if (cudaDeviceGetPCIBusId(bus, sizeof bus, 0) != cudaSuccess) snprintf(N.why, sizeof N.why, "NVML: no PCI id for device 0");
    else if ((rc = by_bus(bus, &N.dev))) snprintf(N.why, sizeof N.why, "NVML: no handle for %s (%d)", bus, rc);
    else N.state = 1; /* the same board the CUDA context runs on, whatever CUDA_VISIBLE_DEVICES says */
    return N.state;
}

static pthread_mutex_t S_mu = PTHREAD_MUTEX_INITIALIZER; /* guards S between the caller and the sampler */
static struct {
    pthread_t th;
    int running, stop, n;
    double mhz, watts, temp_max;
} S;

/* one reading into S unless the section has ended; returns whether it has */
static int sample_once(void) {
    unsigned mhz = 0, mw = 0, t = 0;
    const int ok = !N.clock(N.dev, SP_NVML_CLOCK_SM, &mhz) && !N.power(N.dev, &mw) && !N.temp(N.dev, SP_NVML_TEMPERATURE_GPU, &t);
    pthread_mutex_lock(&S_mu);
    const int stop = S.stop;
    if (ok && !stop) {
        S.mhz += mhz, S.watts += mw / 1e3, S.n++;
        if (t > S.temp_max) S.temp_max = t;
    }
    pthread_mutex_unlock(&S_mu);
    return stop;
}

static void *sampler(void *arg) {
    (void)arg;
    const struct timespec dt = {0, SP_POWER_MS * 1000000L};
    for (;;) {
        nanosleep(&dt, NULL);
        if (sample_once()) return NULL;
    }
}

extern "C" int sp_cuda_power_start(void) {
    if (!sp_cuda_ctx_get()) return SP_ERR_UNSUPPORTED;
    if (nvml_open() < 0) return sp_error(SP_ERR_UNSUPPORTED, "%s", N.why);
    if (S.running) return sp_error(SP_ERR_ARG, "sp_cuda_power_start: already sampling");
    S.stop = S.n = 0, S.mhz = S.watts = S.temp_max = 0;
    sample_once(); /* the first reading on the caller's thread: a section shorter than the thread's
                      start still has one (test_cuda_model's 24-token TTFT had none, H200 run 65) */
    if (pthread_create(&S.th, NULL, sampler, NULL)) return sp_error(SP_ERR_UNSUPPORTED, "sp_cuda_power_start: no thread");
    S.running = 1;
    return 0;
}

extern "C" int sp_cuda_power_stop(sp_cuda_power *p) {
    if (!p) return sp_error(SP_ERR_ARG, "sp_cuda_power_stop: no result");
    memset(p, 0, sizeof *p);
    if (!S.running) return 0; /* start failed (no NVML): nothing sampled, and no error over the caller's */
    pthread_mutex_lock(&S_mu);
    S.stop = 1;
    pthread_mutex_unlock(&S_mu);
    pthread_join(S.th, NULL);
    S.running = 0;
    if (S.n) p->sm_mhz = S.mhz / S.n, p->power_w = S.watts / S.n, p->temp_c_max = S.temp_max;
    p->samples = S.n;
    return 0;
}
