/* The baseline of bench/jobs_bench.py (`BENCH_ONLY=jobs`): the same no-op program started N
 * times with a plain posix_spawn() loop, C in flight at once, nothing else (no job folder, no
 * queue, no redirections).
 *
 *     spawn_loop PROGRAM N C INTERVAL_US STARTS_FILE
 *
 * Every child gets this process's environment (the bench passes one shaped like a supervisor
 * job's: PATH, HOME, LANG, EVENT, SLUICE_*, NOOP_LOG, ...) with SLUICE_EVENT_ID and
 * SLUICE_COMMITTED_MS set for it: SLUICE_EVENT_ID is a 32-character id like sluice's, and
 * SLUICE_COMMITTED_MS the wall-clock ms right before its posix_spawn() call.
 * INTERVAL_US > 0 starts child i at start + i × INTERVAL_US + a random 0–999 µs (a paced
 * schedule, as files arriving; the bench uses it with C = 1 for the latency figure; the
 * sub-millisecond jitter spreads where in its millisecond each SLUICE_COMMITTED_MS stamp
 * falls, so that truncating it to whole ms adds 0–1 ms uniformly instead of one offset for
 * the whole run), 0 as fast as possible.
 * STARTS_FILE gets "<id> <Unix µs right before posix_spawn>" per child, written at the end.
 * stdout: one JSON line: jobs, concurrency, failures, seconds (first spawn to last reap) and
 * this process's own CPU (user + system) per job. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long now_us(clockid_t clk) {
  struct timespec ts;
  clock_gettime(clk, &ts);
  return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: spawn_loop PROGRAM N C INTERVAL_US STARTS_FILE\n");
    return 2;
  }
  const char *program = argv[1];
  long n = atol(argv[2]), conc = atol(argv[3]);
  long long interval = atoll(argv[4]);
  if (n < 1 || conc < 1 || interval < 0) return 2;

  size_t nenv = 0;
  while (environ[nenv]) ++nenv;
  char **envp = calloc(nenv + 3, sizeof *envp);
  size_t k = 0;
  for (size_t i = 0; i < nenv; ++i)
    if (strncmp(environ[i], "SLUICE_EVENT_ID=", 16) &&
        strncmp(environ[i], "SLUICE_COMMITTED_MS=", 20))
      envp[k++] = environ[i];
  char idvar[64], msvar[64];
  envp[k++] = idvar;
  envp[k++] = msvar;
  envp[k] = NULL;
  char *child_argv[] = {(char *)program, NULL};

  long long *t0 = calloc((size_t)n, sizeof *t0);
  long inflight = 0, failed = 0;
  srandom((unsigned)getpid());
  const long long begin = now_us(CLOCK_MONOTONIC);
  for (long i = 0; i < n; ++i) {
    while (inflight >= conc) {
      int st;
      if (waitpid(-1, &st, 0) > 0) {
        --inflight;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) ++failed;
      } else if (errno != EINTR) {
        perror("waitpid");
        return 1;
      }
    }
    if (interval > 0) {
      long long at = begin + i * interval + random() % 1000;
      struct timespec ts = {at / 1000000, (at % 1000000) * 1000};
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
      }
    }
    snprintf(idvar, sizeof idvar, "SLUICE_EVENT_ID=b%031ld", i);
    long long t = now_us(CLOCK_REALTIME);  // the formatting below takes well under 1 µs
    snprintf(msvar, sizeof msvar, "SLUICE_COMMITTED_MS=%lld", t / 1000);
    t0[i] = t;
    pid_t pid;
    int rc = posix_spawn(&pid, program, NULL, NULL, child_argv, envp);
    if (rc != 0) {
      fprintf(stderr, "posix_spawn: %s\n", strerror(rc));
      return 1;
    }
    ++inflight;
  }
  while (inflight > 0) {
    int st;
    if (waitpid(-1, &st, 0) > 0) {
      --inflight;
      if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) ++failed;
    } else if (errno != EINTR) {
      perror("waitpid");
      return 1;
    }
  }
  const long long end = now_us(CLOCK_MONOTONIC);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu_us = (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec +
                  (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
  FILE *f = fopen(argv[5], "w");
  if (!f) {
    perror(argv[5]);
    return 1;
  }
  for (long i = 0; i < n; ++i) fprintf(f, "b%031ld %lld\n", i, t0[i]);
  fclose(f);
  printf("{\"jobs\": %ld, \"concurrency\": %ld, \"failed\": %ld, \"seconds\": %.6f, "
         "\"spawner_cpu_us_per_job\": %.1f}\n",
         n, conc, failed, (double)(end - begin) / 1e6, cpu_us / (double)n);
  return failed ? 1 : 0;
}
