/* The no-op job of bench/jobs_bench.py (`BENCH_ONLY=jobs`), run by sluice's supervisor sink
 * and by bench/spawn_loop.c alike.
 *
 * First thing in main(): read CLOCK_REALTIME, then append ONE line
 *     "<SLUICE_EVENT_ID> <SLUICE_COMMITTED_MS> <now, Unix µs>\n"
 * to the file named by $NOOP_LOG with a single write() on an O_APPEND descriptor (so lines of
 * concurrent jobs never interleave), and exit 0. Nothing else: no stdio, no allocation.
 * Built by the bench with `cc -O2`. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char *put(char *p, const char *s) {
  size_t n = strlen(s);
  memcpy(p, s, n);
  return p + n;
}

static char *put_u64(char *p, unsigned long long v) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) *p++ = tmp[--n];
  return p;
}

int main(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  unsigned long long now_us =
      (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL;
  const char *log = getenv("NOOP_LOG");
  const char *id = getenv("SLUICE_EVENT_ID");
  const char *committed = getenv("SLUICE_COMMITTED_MS");
  if (!log) return 2;
  if (!id) id = "-";
  if (!committed) committed = "-";
  if (strlen(id) > 200 || strlen(committed) > 30) return 3;
  char line[300];
  char *p = put(line, id);
  *p++ = ' ';
  p = put(p, committed);
  *p++ = ' ';
  p = put_u64(p, now_us);
  *p++ = '\n';
  int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return 4;
  ssize_t want = p - line;
  if (write(fd, line, (size_t)want) != want) return 5;
  close(fd);
  return 0;
}
