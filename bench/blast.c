// Benchmark traffic tool (not part of gwlb): a bounded UDP generator and counter at sendmmsg/recvmmsg speed,
// since a Node loop cannot load the forwarder. Compiled by bench/forwarder.ts with the machine's cc.
//
//   blast send SRC_IP SRC_PORT DST_IP DST_PORT RATE_PPS SECONDS ID_AT PAYLOAD_HEX [PAYLOAD_HEX...]
//       sends payload i from port SRC_PORT+i (as a GENEVE sender spreads flows over source ports), in
//       batches round-robin (RATE_PPS 0 = as fast as it can), for SECONDS at most; prints {"sent":N,"seconds":S}.
//       ID_AT >= 0: an IPv4 header starts at that byte of every payload, and its ID counts up packet by packet
//       within each flow (header checksum kept right), as a host's connected socket numbers them.
//   blast count PORT SECONDS
//       counts datagrams arriving on PORT for SECONDS; prints {"packets":N,"bytes":B}
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static int udp_socket(const char *ip, int port) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int one = 1, big = 32 << 20;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = ip ? inet_addr(ip) : htonl(INADDR_ANY);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    perror("bind");
    exit(1);
  }
  return fd;
}

static int unhex(const char *hex, unsigned char *out) {
  int n = strlen(hex) / 2;
  for (int i = 0; i < n; i++) sscanf(hex + 2 * i, "%2hhx", &out[i]);
  return n;
}

// Packet `id` of a flow: the IPv4 header at `at` gets that ID and its checksum again.
static void number_packet(unsigned char *p, int at, unsigned id) {
  unsigned char *ip = p + at;
  ip[4] = id >> 8;
  ip[5] = id & 0xff;
  ip[10] = ip[11] = 0;
  unsigned sum = 0;
  for (int i = 0; i < 20; i += 2) sum += ip[i] << 8 | ip[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  ip[10] = ~sum >> 8;
  ip[11] = ~sum & 0xff;
}

static int do_send(int argc, char **argv) {
  if (argc < 10) return 2;
  int fds[64];
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[5]))};
  to.sin_addr.s_addr = inet_addr(argv[4]);
  double rate = atof(argv[6]), seconds = atof(argv[7]);
  int id_at = atoi(argv[8]);
  int payloads = argc - 9;
  if (payloads > 64) payloads = 64;
  // One batch of each flow's payload (a copy per packet, for its ID), sent from that flow's socket.
  static struct mmsghdr msgs[64][BATCH];
  static struct iovec iov[64][BATCH];
  unsigned ids[64] = {0};
  for (int p = 0; p < payloads; p++) {
    fds[p] = udp_socket(argv[2], atoi(argv[3]) + p);
    unsigned char *data = malloc(strlen(argv[9 + p]) / 2 + 1);
    int length = unhex(argv[9 + p], data);
    for (int i = 0; i < BATCH; i++) {
      iov[p][i].iov_base = memcpy(malloc(length), data, length);
      iov[p][i].iov_len = length;
      msgs[p][i].msg_hdr.msg_iov = &iov[p][i];
      msgs[p][i].msg_hdr.msg_iovlen = 1;
      msgs[p][i].msg_hdr.msg_name = &to;
      msgs[p][i].msg_hdr.msg_namelen = sizeof to;
    }
  }
  long sent = 0, round = 0;
  double start = now(), end = start + seconds;
  for (double t = start; t < end; t = now()) {
    if (rate > 0) {
      long due = (long)((t - start) * rate);
      if (sent >= due) {
        usleep(50);
        continue;
      }
    }
    int p = round++ % payloads;
    if (id_at >= 0)
      for (int i = 0; i < BATCH; i++) number_packet(iov[p][i].iov_base, id_at, ids[p] + i);
    int n = sendmmsg(fds[p], msgs[p], BATCH, 0);
    if (n > 0) {
      sent += n;
      ids[p] += n;
    }
  }
  printf("{\"sent\":%ld,\"seconds\":%.3f}\n", sent, now() - start);
  return 0;
}

static int do_count(int argc, char **argv) {
  if (argc < 4) return 2;
  int fd = udp_socket(NULL, atoi(argv[2]));
  static unsigned char buf[BATCH][9216];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = buf[i];
    iov[i].iov_len = sizeof buf[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  printf("{\"listening\":true}\n");
  fflush(stdout);
  long packets = 0, bytes = 0;
  double end = now() + atof(argv[3]);
  // Drains the socket and sleeps while it is empty rather than blocking in it: a blocked reader is woken for
  // every few datagrams, and on veth that wake-up (an IPI under a hypervisor) is paid by the CPU that sent the
  // packet through the whole path, the path under test included: it cost that CPU 14% of kernel forwarding's
  // packets and 23% of the BPF path's, more the slower the path, and so skewed the ratios.
  while (now() < end) {
    int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) {
      usleep(200);
      continue;
    }
    for (int i = 0; i < n; i++) bytes += msgs[i].msg_len;
    packets += n;
  }
  printf("{\"packets\":%ld,\"bytes\":%ld}\n", packets, bytes);
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "send")) return do_send(argc, argv);
  if (argc > 1 && !strcmp(argv[1], "count")) return do_count(argc, argv);
  fprintf(stderr, "usage: blast send|count ...\n");
  return 2;
}
