// A supervisor job for the GPU check (tests/integration/test_gpu_device.py): runs one kernel on
// the device it was given and appends one JSON line to $KERNEL_LOG with what it saw — how many
// devices CUDA shows it, the UUID of device 0 (to compare with NVIDIA_VISIBLE_DEVICES), whether
// the kernel computed the right numbers, and when the process started (for sluice's
// commit-to-start latency, with SLUICE_COMMITTED_MS).
#include <cuda_runtime.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

__global__ void twice(int* out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = 2 * i;
}

int main() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  const long long start_us = ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  char uuid[64] = "";
  bool ok = false;
  if (err == cudaSuccess && count > 0) {
    cudaDeviceProp p{};
    cudaGetDeviceProperties(&p, 0);
    const unsigned char* u = reinterpret_cast<const unsigned char*>(p.uuid.bytes);
    std::snprintf(uuid, sizeof uuid,
                  "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
                  u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
                  u[14], u[15]);
    const int n = 1 << 20;
    int* d = nullptr;
    int* h = static_cast<int*>(std::malloc(n * sizeof(int)));
    if (cudaMalloc(&d, n * sizeof(int)) == cudaSuccess) {
      twice<<<(n + 255) / 256, 256>>>(d, n);
      err = cudaMemcpy(h, d, n * sizeof(int), cudaMemcpyDeviceToHost);
      ok = err == cudaSuccess;
      for (int i = 0; ok && i < n; ++i) ok = h[i] == 2 * i;
      cudaFree(d);
    }
    std::free(h);
  }
  const char* id = std::getenv("SLUICE_EVENT_ID");
  const char* committed = std::getenv("SLUICE_COMMITTED_MS");
  const char* given = std::getenv("NVIDIA_VISIBLE_DEVICES");
  char line[512];
  int len = std::snprintf(line, sizeof line,
                          "{\"event\":\"%s\",\"committed_ms\":%s,\"start_us\":%lld,\"devices\":%d,"
                          "\"uuid\":\"%s\",\"given\":\"%s\",\"ok\":%s,\"error\":\"%s\"}\n",
                          id ? id : "", committed ? committed : "0", start_us, count, uuid,
                          given ? given : "", ok ? "true" : "false", cudaGetErrorString(err));
  const char* log = std::getenv("KERNEL_LOG");
  int fd = log ? open(log, O_WRONLY | O_CREAT | O_APPEND, 0644) : -1;
  if (fd < 0 || write(fd, line, len) != len) return 3;
  close(fd);
  return ok ? 0 : 1;
}
