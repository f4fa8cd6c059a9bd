// Each write() into a tunnel interface costs the kernel a route lookup, the netfilter hooks, conntrack and
// NAT. When a batch holds consecutive packets of one TCP or UDP flow that the kernel's own segmentation would
// rebuild byte for byte, they go in as one GSO packet (virtio_net_hdr, as GRO on a NIC would hand them up):
// the kernel routes and filters it once and splits it where it leaves (gwo-X, the egress interface, or the
// receiving socket). Never merged, so that nothing changes on the wire: IPv4 options, fragments, IPv6
// extension headers, IPv4 IDs that do not count up by one (segmentation numbers them that way), bad or
// absent checksums (merging would repair them), TCP flags other than ACK (and PSH on the last), differing
// TCP options, windows or ACKs, and a short segment anywhere but last.
//
// The other way, the tunnels take TSO/USO offloads, so what the kernel routes into them may come out as one
// GSO packet; tun_split cuts it up the way the kernel would have before it goes back to the GWLB.
#define _GNU_SOURCE
#include "tun_gso.h"

#include <errno.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>

#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5  // Linux 6.2 uapi; older headers lack it
#endif

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

#define MAX_SEGMENTS GWLB_MAX_SEGMENTS
#define MAX_GSO_LENGTH 65535
#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_CWR 0x80
// IPv6 with extension headers, then TCP with options.
#define TUN_MAX_HEADERS 256

enum checksum { UNCHECKED, GOOD, BAD };

struct packet {
  uint8_t *p;
  uint32_t len;
  uint8_t version;  // 4 or 6; 0: goes alone
  uint8_t proto;
  uint8_t checksum;  // enum checksum, worked out only for packets that could join a run
  uint16_t l3;       // IP header bytes
  uint16_t l4;       // TCP or UDP header bytes
  uint32_t payload;
};

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put16(uint8_t *p, uint16_t v) {
  p[0] = v >> 8;
  p[1] = v & 0xff;
}

// One's complement arithmetic: 32-bit big-endian words fold to the same 16-bit sum as 16-bit ones.
static uint64_t sum_bytes(uint64_t sum, const uint8_t *p, size_t n) {
  for (; n >= 4; p += 4, n -= 4) sum += get32(p);
  if (n >= 2) {
    sum += get16(p);
    p += 2;
    n -= 2;
  }
  if (n) sum += (uint32_t)p[0] << 8;
  return sum;
}

static uint16_t fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

static void set_ipv4_header_checksum(uint8_t *ip) {
  put16(ip + 10, 0);
  put16(ip + 10, ~fold(sum_bytes(0, ip, (ip[0] & 0x0f) * 4)));
}

static uint64_t pseudo_header_sum(const uint8_t *ip, uint8_t version, uint8_t proto, uint32_t l4_length) {
  uint64_t sum = version == 4 ? sum_bytes(0, ip + 12, 8) : sum_bytes(0, ip + 8, 32);
  return sum + proto + l4_length;
}

// Fills k with what merging needs to know about a packet; k->version stays 0 if it must go alone.
static void parse(struct packet *k, uint8_t *p, uint32_t len) {
  memset(k, 0, sizeof *k);
  k->p = p;
  k->len = len;
  uint8_t version = len >= 20 ? p[0] >> 4 : 0, proto;
  uint16_t l3, l4;
  if (version == 4) {
    if (p[0] != 0x45 || get16(p + 2) != len || (get16(p + 6) & 0x3fff)) return;  // options, fragments
    proto = p[9];
    l3 = 20;
  } else if (version == 6) {
    if (len < 40 || get16(p + 4) + 40u != len) return;
    proto = p[6];  // an extension header would show here instead of TCP or UDP
    l3 = 40;
  } else {
    return;
  }
  if (proto == IPPROTO_UDP) {
    if (len < l3 + 8u || get16(p + l3 + 4) != len - l3 || get16(p + l3 + 6) == 0) return;
    l4 = 8;
  } else if (proto == IPPROTO_TCP) {
    if (len < l3 + 20u) return;
    l4 = (p[l3 + 12] >> 4) * 4;
    uint8_t flags = p[l3 + 13];
    if (l4 < 20 || len < (uint32_t)l3 + l4 || (p[l3 + 12] & 0x0f) || (flags & ~(TCP_ACK | TCP_PSH)) || !(flags & TCP_ACK)) return;
  } else {
    return;
  }
  if (len == (uint32_t)l3 + l4) return;  // no payload: nothing to gain
  k->version = version;
  k->proto = proto;
  k->l3 = l3;
  k->l4 = l4;
  k->payload = len - l3 - l4;
}

static int checksum_ok(struct packet *k) {
  if (k->checksum == UNCHECKED) {
    uint32_t l4_length = k->len - k->l3;
    uint64_t sum = pseudo_header_sum(k->p, k->version, k->proto, l4_length) + sum_bytes(0, k->p + k->l3, l4_length);
    k->checksum = fold(sum) == 0xffff ? GOOD : BAD;
  }
  return k->checksum == GOOD;
}

// Whether k can follow prev in a run that began with first: one flow, headers segmentation would recreate.
static int follows(const struct packet *first, const struct packet *prev, struct packet *k) {
  if (k->version != first->version || k->proto != first->proto || k->l4 != first->l4) return 0;
  if (prev->payload != first->payload || k->payload > first->payload) return 0;
  const uint8_t *a = first->p, *b = k->p;
  uint16_t l3 = first->l3;
  if (first->version == 4) {
    if (a[1] != b[1] || a[8] != b[8] || ((a[6] ^ b[6]) & 0x40) || memcmp(a + 12, b + 12, 8)) return 0;
    if (get16(b + 4) != (uint16_t)(get16(prev->p + 4) + 1)) return 0;
  } else if (memcmp(a, b, 4) || a[7] != b[7] || memcmp(a + 8, b + 8, 32)) {
    return 0;
  }
  if (memcmp(a + l3, b + l3, 4)) return 0;  // ports
  if (first->proto == IPPROTO_TCP) {
    const uint8_t *f = a + l3, *pt = prev->p + l3, *t = b + l3;
    if ((pt[13] & TCP_PSH) || get32(t + 4) != get32(pt + 4) + prev->payload) return 0;
    // ACK number, window, urgent pointer and options are copied from the first segment by segmentation.
    if (memcmp(f + 8, t + 8, 4) || memcmp(f + 14, t + 14, 2) || memcmp(f + 18, t + 18, 2) || memcmp(f + 20, t + 20, first->l4 - 20u)) return 0;
  }
  return checksum_ok(k);
}

static int write_alone(int fd, const struct packet *k) {
  struct virtio_net_hdr none = {.gso_type = VIRTIO_NET_HDR_GSO_NONE};
  struct iovec iov[2] = {{&none, sizeof none}, {k->p, k->len}};
  return writev(fd, iov, 2) == (ssize_t)(sizeof none + k->len);
}

// One GSO packet: the first packet's headers with the run's length, a partial checksum the kernel completes
// per segment, then every packet's payload in order.
static int write_run(int fd, const struct packet *run, int n, uint32_t total) {
  const struct packet *first = &run[0];
  uint16_t l3 = first->l3, headers = first->l3 + first->l4;
  uint8_t head[40 + 60];
  memcpy(head, first->p, headers);
  int tcp = first->proto == IPPROTO_TCP;
  struct virtio_net_hdr vh = {
      .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
      .gso_type = tcp ? (first->version == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6) : VIRTIO_NET_HDR_GSO_UDP_L4,
      .hdr_len = headers,
      .gso_size = first->payload,
      .csum_start = l3,
      .csum_offset = tcp ? 16 : 6,
  };
  if (tcp)
    head[l3 + 13] = run[n - 1].p[l3 + 13];  // PSH, if any, stays on the last segment
  else
    put16(head + l3 + 4, total - l3);
  if (first->version == 4) {
    put16(head + 2, total);
    set_ipv4_header_checksum(head);
  } else {
    put16(head + 4, total - 40);
  }
  put16(head + l3 + vh.csum_offset, fold(pseudo_header_sum(head, first->version, first->proto, total - l3)));
  struct iovec iov[MAX_SEGMENTS + 2] = {{&vh, sizeof vh}, {head, headers}};
  for (int i = 0; i < n; i++) iov[i + 2] = (struct iovec){run[i].p + headers, run[i].payload};
  return writev(fd, iov, n + 2) == (ssize_t)(sizeof vh + total);
}

int tun_write_packets(const int32_t *fds, uint8_t *buf, const uint32_t *offsets, const uint32_t *lens, int count,
                      int merge, uint32_t *coalesced) {
  // Kernels before 6.2 refuse UDP segmentation offload from a tunnel (EINVAL): UDP then goes packet by packet.
  static int udp_refused;
  struct packet k[GWLB_MAX_BATCH];
  if (count > GWLB_MAX_BATCH) count = GWLB_MAX_BATCH;
  for (int i = 0; i < count; i++) {
    if (merge)
      parse(&k[i], buf + offsets[i], lens[i]);
    else
      k[i] = (struct packet){.p = buf + offsets[i], .len = lens[i]};
  }
  int written = 0;
  *coalesced = 0;
  for (int i = 0, n; i < count; i += n) {
    n = 1;
    uint32_t total = k[i].len;
    if (k[i].version && !(k[i].proto == IPPROTO_UDP && udp_refused)) {
      while (i + n < count && n < MAX_SEGMENTS && fds[i + n] == fds[i] && total + k[i + n].payload <= MAX_GSO_LENGTH &&
             follows(&k[i], &k[i + n - 1], &k[i + n]) && checksum_ok(&k[i]))
        total += k[i + n++].payload;
    }
    if (n > 1 && write_run(fds[i], &k[i], n, total)) {
      written += n;
      *coalesced += n;
      continue;
    }
    if (n > 1 && errno == EINVAL && k[i].proto == IPPROTO_UDP) udp_refused = 1;
    for (int j = i; j < i + n; j++) written += write_alone(fds[j], &k[j]);
  }
  return written;
}

int tun_enable_offloads(int fd) {
  // Kernels before 6.2 do not know the UDP ones and refuse the whole set.
  unsigned with_udp = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6;
  if (ioctl(fd, TUNSETOFFLOAD, with_udp) == 0) return 0;
  return ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6);
}

// The checksum of the TCP or UDP part from l4 on, pseudo header included, into its place.
static void set_l4_checksum(uint8_t *p, uint8_t version, uint8_t proto, uint16_t l4, uint32_t len) {
  uint8_t *field = p + l4 + (proto == IPPROTO_TCP ? 16 : 6);
  put16(field, 0);
  uint16_t sum = ~fold(pseudo_header_sum(p, version, proto, len - l4) + sum_bytes(0, p + l4, len - l4));
  put16(field, proto == IPPROTO_UDP && sum == 0 ? 0xffff : sum);
}

int tun_split(const uint8_t *vhp, uint8_t *p, uint32_t len, int slot, int room, uint32_t *lens) {
  struct virtio_net_hdr vh;
  memcpy(&vh, vhp, sizeof vh);
  uint8_t version = len ? p[0] >> 4 : 0;
  if (vh.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
    if ((vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && vh.csum_start + vh.csum_offset + 2u <= len) {
      uint8_t *field = p + vh.csum_start + vh.csum_offset;  // holds the pseudo header's sum
      uint16_t sum = ~fold(sum_bytes(0, p + vh.csum_start, len - vh.csum_start));
      put16(field, vh.csum_offset == 6 && sum == 0 ? 0xffff : sum);
    }
    lens[0] = len;
    return 1;
  }
  uint8_t type = vh.gso_type & ~VIRTIO_NET_HDR_GSO_ECN, proto;
  if (type == VIRTIO_NET_HDR_GSO_UDP_L4)
    proto = IPPROTO_UDP;
  else if (type == VIRTIO_NET_HDR_GSO_TCPV4 || type == VIRTIO_NET_HDR_GSO_TCPV6)
    proto = IPPROTO_TCP;
  else
    return -1;
  uint16_t l4 = vh.csum_start, size = vh.gso_size;
  if ((version != 4 && version != 6) || !size || l4 + (proto == IPPROTO_TCP ? 20u : 8u) > len) return -1;
  uint16_t headers = l4 + (proto == IPPROTO_TCP ? (p[l4 + 12] >> 4) * 4 : 8);
  if (headers >= len) return -1;
  int count = (len - headers + size - 1) / size;
  if (count > room) return -1;
  uint8_t head[TUN_MAX_HEADERS];
  if (headers > sizeof head) return -1;
  memcpy(head, p, headers);
  uint16_t id = get16(head + 4);
  uint32_t seq = get32(head + l4 + 4);
  // Last first: each segment moves forward into its own slot, never onto payload not yet moved.
  for (int i = count - 1; i >= 0; i--) {
    uint32_t payload = i == count - 1 ? len - headers - (uint32_t)i * size : size;
    uint8_t *s = p + (size_t)i * slot;
    memmove(s + headers, p + headers + (size_t)i * size, payload);
    memcpy(s, head, headers);
    uint32_t total = headers + payload;
    if (version == 4) {
      put16(s + 2, total);
      put16(s + 4, id + i);
      set_ipv4_header_checksum(s);
    } else {
      put16(s + 4, total - 40);
    }
    if (proto == IPPROTO_TCP) {
      uint32_t n = seq + (uint32_t)i * size;
      s[l4 + 4] = n >> 24;
      s[l4 + 5] = n >> 16;
      s[l4 + 6] = n >> 8;
      s[l4 + 7] = n;
      if (i < count - 1) s[l4 + 13] &= ~(TCP_FIN | TCP_PSH);
      if (i > 0) s[l4 + 13] &= ~TCP_CWR;
    } else {
      put16(s + l4 + 4, total - l4);
    }
    set_l4_checksum(s, version, proto, l4, total);
    lens[i] = total;
  }
  return count;
}
